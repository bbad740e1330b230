"""Rules of the ITSM agents: report details, decision-tree branches, priority matrix, catalog validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.redaction import redact
from app.services.catalog import Catalog, CatalogError
from app.services.tickets import priority_for
from app.settings import Settings
from graphs.agents.incident import kinds
from graphs.agents.incident.details import Details, extract, is_critical, read_answer, severity
from graphs.agents.password_reset import detect_kind, parse_channel


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    s = Settings(_env_file=None)
    return Catalog.load(s.ci_catalog, s.vendor_catalog)


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [(1, 1, "P1"), (1, 2, "P2"), (2, 1, "P2"), (1, 3, "P3"), (2, 2, "P3"), (3, 1, "P3"), (2, 3, "P4"),
     (3, 2, "P4"), (3, 3, "P4")],
)
def test_priority_matrix(impact, urgency, priority) -> None:
    assert priority_for(impact, urgency) == priority


def test_priority_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        priority_for(0, 2)


def test_extract_reads_details_in_any_order(catalog) -> None:
    found = extract('Outlook says "Cannot connect to server" since yesterday, whole team, we are blocked', catalog)
    assert found == {"ci": "outlook", "error": "Cannot connect to server", "since": "since yesterday",
                     "affected": "team", "business_impact": "blocked"}
    assert extract("hello", catalog) == {}


def test_specific_items_beat_general_ones(catalog) -> None:
    assert catalog.find("my laptop won't connect to the vpn").id == "globalprotect"
    assert catalog.find("the docking station for my laptop").id == "docking_station"


def test_plain_answer_fills_the_one_open_question(catalog) -> None:
    assert read_answer("about 3 days", ["since"], catalog) == {"since": "about 3 days"}
    assert read_answer("only me", ["affected", "business_impact"], catalog) == {"affected": "me"}
    assert read_answer("no idea really", ["ci"], catalog) == {"ci": "other:no idea really"}


def test_severity_and_critical() -> None:
    me_blocked = Details("laptop", "x", "today", "me", "blocked")
    assert severity("", me_blocked) == (3, 1) and not is_critical("laptop broken", me_blocked)
    many = Details("outlook", "x", "today", "many", "degraded")
    assert severity("", many) == (1, 2) and is_critical("", many)
    assert severity("production is down", Details()) == (1, 1) and is_critical("production is down", Details())
    assert is_critical("I think we have a data breach", Details())


@pytest.mark.parametrize(
    ("text", "branch"),
    [
        ("I got a phishing email", "phishing"),
        ("there's a suspicious text message asking for gift cards", "phishing"),
        ("I clicked the link and then logged in on that page", "compromised"),
        ("I keep getting MFA prompts I didn't start", "compromised"),
        ("I left my laptop on the train", "lost_device"),
        ("my phone was stolen", "lost_device"),
        ("I forgot my password", "password"),
        ("my monitor is flickering", None),
    ],
)
def test_template_branches(text, branch) -> None:
    assert kinds.template(text) == branch


@pytest.mark.parametrize(
    ("text", "follow"),
    [
        ("what's the status of INC0001234?", "status"),
        ("any update on my docking station ticket?", "status"),
        ("INC0001234", "status"),
        ("please add a comment to INC0001234: it happens daily", "comment"),
        ("reopen INC0001234, it's broken again", "reopen"),
        ("cancel my printer ticket", "cancel"),
        ("my printer is broken", None),
    ],
)
def test_follow_ups(text, follow) -> None:
    assert kinds.follow_up(text) == follow


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I forgot my password", "reset"),
        ("my password expired", "reset"),
        ("I'm locked out", "unlock"),
        ("reset my password, I'm locked out", "reset"),
        ("new phone, need to set up the authenticator again", "mfa"),
        ("how do I change my password?", "change"),
        ("my account has been disabled", "disabled"),
        ("help", None),
    ],
)
def test_password_kinds(text, kind) -> None:
    assert detect_kind(text) == kind


def test_channel_choice() -> None:
    assert parse_channel("text me") == "sms" and parse_channel("e-mail please") == "email"
    assert parse_channel("either") is None


@pytest.mark.parametrize(
    ("text", "redacted"),
    [("Summer2024!", True), ("my pw is Tr0ub4dor&3 now", True), ("P@ssw0rd", True), ("Windows11 laptop", False),
     ("status of INC0012345?", False), ("error 0x80070005", False), ("AADSTS50076", False),
     ("iPhone15", False), ("NW-L-10432", False), ("v2.3.1-beta", False), ("**Route:** x", False),
     ("I typed Summer2024 and", True), ("Tr0ub4dor_3", True), ("P@ss.word1", True), ("Error#1603", False),
     ("https://login.example.com/?a=B1!", False)],
)
def test_password_like_tokens(text, redacted) -> None:
    assert ("secret" in redact(text).kinds) is redacted


def test_catalog_errors_name_file_and_entry(tmp_path: Path) -> None:
    vendors = tmp_path / "vendors.yaml"
    vendors.write_text("vendors:\n  - {id: acme, name: Acme, contact: x, sla_hours: 4}\n")
    items = tmp_path / "items.yaml"
    items.write_text("items:\n  - {id: thing, name: Thing, category: hw, group: g, keywords: [thing], vendor: nope}\n")
    with pytest.raises(CatalogError, match=r"items\.yaml: item #1 \(thing\): unknown vendor 'nope'"):
        Catalog.load(items, vendors)
    items.write_text("items:\n  - {id: thing, name: Thing, keywords: [thing]}\n")
    with pytest.raises(CatalogError, match=r"item #1 \(thing\): missing or invalid field 'category'"):
        Catalog.load(items, vendors)
    vendors.write_text("vendors: []\n")
    with pytest.raises(CatalogError, match="non-empty list"):
        Catalog.load(items, vendors)


# Regressions from review: phrasings that used to take the wrong branch.
def test_a_code_with_new_phone_is_a_code_not_a_resend() -> None:
    from graphs.agents.password_reset import _CODE, _NEW_CODE

    text = "123456 on my new phone"
    assert _CODE.search(text) and not _NEW_CODE.search(text)
    assert _NEW_CODE.search("send me a new code") and _NEW_CODE.search("resend please")


def test_personal_outage_words_are_not_major_incidents() -> None:
    assert not is_critical("my VPN is down since this morning", Details(affected="me"))
    assert not is_critical("the battery goes down fast", Details())
    assert is_critical("the VPN is down", Details())
    assert is_critical("email went down", Details())


@pytest.mark.parametrize(
    "text",
    ["Since the Windows update my laptop has this issue, it freezes", "the printer issue came back after the update"],
)
def test_new_reports_are_not_follow_ups(text) -> None:
    assert kinds.follow_up(text) is None


def test_mentioned_names_are_not_the_account_owner() -> None:
    from types import SimpleNamespace

    from app.identity import User
    from graphs.agents.password_reset import other_person

    people = [User("alice", "Alice Johnson"), User("frank", "Frank Osei"), User("dave", "Dave Kim")]
    ctx = SimpleNamespace(user=people[0], services=SimpleNamespace(people=SimpleNamespace(all=lambda: people)))
    assert other_person(ctx, "I forgot my password, Frank's team said to ask here") is None
    assert other_person(ctx, "my account got locked after Dave's presentation") is None
    assert other_person(ctx, "please reset Frank's password").id == "frank"
    assert other_person(ctx, "Dave is locked out").id == "dave"


def test_comment_text_keeps_the_employees_words() -> None:
    from graphs.agents.incident.flow import _comment_text

    assert _comment_text("please add a comment to INC0000001: the printer on floor 2 still jams") == (
        "the printer on floor 2 still jams")
    assert _comment_text("add a comment to INC0000001") == ""
