"""Leave rules and the handoff desk through the supervisor (keyword router, stub knowledge base), plus the
authorization lines: own leave / direct reports / HR queue / IT queue."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from app.conversation import ConversationService
from app.errors import AccessDenied
from app.models.fake import FakeChatModel
from app.models.registry import Models
from app.services.leave import leave_types, notice_problem, public_holidays, working_days
from app.services.registry import Services
from graphs.agents.leave_dates import parse_dates
from graphs.supervisor import build_supervisor
from tests.fakes import StubRetriever, fake_router

TODAY = date(2026, 11, 24)


@pytest.fixture
def service(settings, db) -> ConversationService:
    graph = build_supervisor().compile(checkpointer=InMemorySaver())
    services = Services.from_db(db, settings, retriever=StubRetriever(answerable=False))
    models = Models(settings, answer_model=FakeChatModel(responses=["ok"]), small_model=FakeChatModel(responses=["s"]))
    return ConversationService(settings, graph, services, models, fake_router())


def weekday(service, days: int) -> date:
    """A working day (not a weekend or UK public holiday) at least ``days`` from today."""
    d = service.services.clock().date() + timedelta(days=days)
    while d.weekday() >= 5 or d in public_holidays("uk"):
        d += timedelta(days=1)
    return d


async def say(service, user_id, text, thread="t1"):
    return await service.ask(service.services.people.get(user_id), thread, text)


def test_working_days_skip_weekends_and_the_locations_public_holidays() -> None:
    assert public_holidays("uk")[date(2026, 12, 25)] == "Christmas Day"
    days, skipped = working_days(date(2026, 12, 21), date(2027, 1, 1), "uk")
    assert days == 7 and [d for d, _ in skipped] == [date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)]
    assert working_days(date(2027, 3, 8), date(2027, 3, 8), "berlin")[0] == 0  # Frauentag, Berlin only
    assert working_days(date(2027, 3, 8), date(2027, 3, 8), "uk")[0] == 1
    assert working_days(date(2027, 3, 1), date(2027, 3, 5), "uk", "pm")[0] == 4.5


def test_notice_rule_is_twice_the_length_and_four_weeks_for_long_leave() -> None:
    annual = leave_types()["annual"]
    assert notice_problem(annual, TODAY + timedelta(days=5), 3, TODAY) == {"needed": 6, "given": 5}
    assert notice_problem(annual, TODAY + timedelta(days=6), 3, TODAY) is None
    assert notice_problem(annual, TODAY + timedelta(days=25), 11, TODAY)["needed"] == 28


@pytest.mark.parametrize(
    ("text", "start", "end", "half"),
    [("3 to 7 March", date(2027, 3, 3), date(2027, 3, 7), "full"),
     ("from 28 March to 2 April", date(2027, 3, 28), date(2027, 4, 2), "full"),
     ("tomorrow afternoon", date(2026, 11, 25), date(2026, 11, 25), "pm"),
     ("next week", date(2026, 11, 30), date(2026, 12, 4), "full")],
)
def test_leave_dates(text, start, end, half) -> None:
    d = parse_dates(text, TODAY)
    assert (d.start, d.end, d.start_half) == (start, end, half)


async def _request(service, user, text, thread="t1"):
    out = await say(service, user, text, thread)
    assert out["state"]["flow_step"] == "confirm", out["reply"]
    return await say(service, user, "yes", thread)


async def test_request_approve_and_the_employee_hears_it_next_turn(service) -> None:
    start = weekday(service, 60)
    out = await _request(service, "alice", f"I want annual leave on {start:%-d %B %Y}")
    ref = re.search(r"LV\d{7}", out["reply"]).group(0)
    assert "Bob Martins" in out["reply"]
    bob = service.services.people.get("bob")
    approval = service.services.approvals.pending_for(bob)[0]
    decided = await say(service, "bob", f"approve {approval.reference}", thread="b1")
    assert "approved" in decided["reply"]
    told = await say(service, "alice", "thanks", thread="t1")
    assert told["reply"].startswith(f"Update on your leave: {ref}") and "approved" in told["reply"]
    again = await say(service, "alice", "hello", thread="t1")
    assert "Update on your leave" not in again["reply"]  # told once


async def test_overlap_and_insufficient_balance_are_explained(service) -> None:
    start = weekday(service, 40)
    await _request(service, "alice", f"annual leave on {start:%-d %B %Y}")
    out = await say(service, "alice", f"annual leave on {start:%-d %B %Y}", thread="t2")
    assert "overlaps" in out["reply"] and out["state"]["active_flow"] is None
    year = start.year
    service.services.leave.set_balance("alice", year, "annual", entitlement=1)
    far = weekday(service, 54)
    out = await say(service, "alice", f"leave from {far:%-d %B %Y} to {far + timedelta(days=7):%-d %B %Y}", thread="t3")
    assert "I can't submit it" in out["reply"] and not service.services.leave.overlapping("alice", far, far)


async def test_cancel_restores_the_balance(service) -> None:
    start = weekday(service, 50)
    await _request(service, "erin", f"annual leave on {start:%-d %B %Y}")
    before = service.services.leave.balance("erin", "annual", start.year).remaining
    out = await say(service, "erin", "cancel my leave request", thread="t9")
    assert "back in your balance" in out["reply"]
    assert service.services.leave.balance("erin", "annual", start.year).remaining == before + 1
    assert not service.services.approvals.pending_for(service.services.people.get("bob"))


async def test_sick_day_needs_no_approval_and_tells_the_manager(service) -> None:
    out = await say(service, "carol", "I'm sick today")
    assert "recorded sick leave for today" in out["reply"] and "Frank Osei" in out["reply"]
    assert service.services.outbox.messages("frank")[0].kind == "sick_notice"
    req = service.services.leave.mine("carol")[0]
    assert (req.leave_type, req.state) == ("sick", "approved")


def test_leave_visibility_own_reports_hr(service) -> None:
    people = service.services.people
    leave = service.services.leave
    assert leave.visible_to(people.get("bob"), "alice", people)  # alice reports to bob
    assert not leave.visible_to(people.get("frank"), "alice", people)  # not frank's report
    assert not leave.visible_to(people.get("dave"), "alice", people)
    assert leave.visible_to(people.get("hannah"), "alice", people)
    with pytest.raises(AccessDenied):
        leave.for_viewer(people.get("dave"), "alice", people)


async def test_only_the_manager_or_hr_can_decide_a_leave_request(service) -> None:
    start = weekday(service, 70)
    await _request(service, "alice", f"annual leave on {start:%-d %B %Y}")
    ref = service.services.leave.mine("alice")[0].reference
    with pytest.raises(AccessDenied):
        service.services.leave.decide(ref, service.services.people.get("frank"), approve=True)
    with pytest.raises(AccessDenied):
        service.services.leave.decide(ref, service.services.people.get("alice"), approve=True)


async def _queued(service, user="alice", text="I want to talk to a person about my payslip being wrong", thread="e1"):
    out = await say(service, user, text, thread)
    return re.search(r"HND\d{7}", out["reply"]).group(0)


async def test_sensitive_matters_are_visible_to_hr_only(service) -> None:
    ref = await _queued(service, text="my manager keeps harassing me")
    ivan, hannah = (service.services.people.get(u) for u in ("ivan", "hannah"))
    assert ref in [h.reference for h in service.services.handoffs.for_staff(hannah)]
    assert ref not in [h.reference for h in service.services.handoffs.for_staff(ivan)]
    out = await say(service, "ivan", f"show {ref}", thread="s1")
    assert "can't find a handoff" in out["reply"]
    assert "access.denied" in [e.event_type for e in service.services.audit.events(thread_id="s1")]


async def test_bot_is_silent_while_a_person_owns_the_conversation(service) -> None:
    ref = await _queued(service)
    await say(service, "hannah", f"claim {ref}", thread="s1")
    quiet = await say(service, "alice", "are you there?", thread="e1")
    assert quiet["reply"] == "" and quiet["state"]["route_info"]["layer"] == "human_owned"
    await say(service, "hannah", f"reply {ref}: Yes, I'm here", thread="s1")
    shown = await say(service, "alice", "ok", thread="e1")  # not open live in a channel: shown on the next turn
    assert shown["reply"] == "Hannah Reyes: Yes, I'm here"
    await say(service, "hannah", f"hand back {ref}", thread="s1")
    back = await say(service, "alice", "hello", thread="e1")
    assert back["reply"] and back["state"]["route_info"]["layer"] != "human_owned"


async def test_only_the_claimant_replies_and_employees_have_no_desk(service) -> None:
    ref = await _queued(service)
    await say(service, "hannah", f"claim {ref}", thread="s1")
    out = await say(service, "alice", f"reply {ref}: I'm staff now", thread="e2")
    assert "I'm staff now" not in str(service.services.handoffs.undelivered("e1"))
    assert out["state"]["route_info"]["layer"] != "command"
    waiting = service.services.handoffs.get(ref, service.services.people.get("hannah"))
    assert waiting.time_to_claim() is not None and waiting.assigned_to == "hannah"


async def test_dead_end_and_not_helping_are_handoff_sources(service) -> None:
    ref = await _queued(service, text="Talk to a person", thread="d1")
    assert service.services.handoffs.get(ref, service.services.people.get("alice")).reason == "dead_end"
    ref2 = await _queued(service, text="this isn't helping", thread="d2")
    assert service.services.handoffs.get(ref2, service.services.people.get("alice")).reason == "not_helping"


# Regressions from review.
@pytest.mark.parametrize(
    ("text", "start", "end", "half"),
    [("I am taking Friday off", date(2026, 11, 27), date(2026, 11, 27), "full"),
     ("I would like to book 10 August to 14 August", date(2027, 8, 10), date(2027, 8, 14), "full"),
     ("Monday to Wednesday", date(2026, 11, 30), date(2026, 12, 2), "full")],
)
def test_leave_dates_regressions(text, start, end, half) -> None:
    d = parse_dates(text, TODAY)
    assert (d.start, d.end, d.start_half) == (start, end, half)


def test_short_words_are_not_dates() -> None:
    from graphs.agents.dates import find_date

    assert find_date("we hired Priya Shah in finance", TODAY) is None


async def test_questions_about_cancelling_or_sickness_change_nothing(service) -> None:
    start = weekday(service, 45)
    await _request(service, "alice", f"annual leave on {start:%-d %B %Y}")
    await say(service, "alice", "What happens if I cancel a holiday request?", thread="q1")
    assert service.services.leave.mine("alice")[0].state == "pending"
    await say(service, "alice", "my son is sick today, can I take the day off?", thread="q2")
    assert not [r for r in service.services.leave.mine("alice") if r.leave_type == "sick"]


async def test_two_staff_claiming_at_once_one_wins(service) -> None:
    from app.services.handoffs import HandoffError

    ref = await _queued(service)
    hannah = service.services.people.get("hannah")
    other = hannah.__class__("hr2", "Second HR", roles=("employee", "hr_staff"))
    service.services.handoffs.claim(ref, hannah)
    with pytest.raises(HandoffError):
        service.services.handoffs.claim(ref, other)
