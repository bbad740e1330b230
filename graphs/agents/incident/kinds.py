"""Which branch of the incident decision tree a message belongs to, by trigger words (rules, not a model).

Templates: password problems (handed to the password-reset flow), phishing reports, lost or stolen devices,
and an own account that looks compromised. Follow-ups on existing tickets: status, comment, reopen, cancel.
"""

from __future__ import annotations

import re

TICKET_NUMBER = re.compile(r"\bINC\d{7}\b", re.I)

_PASSWORD = re.compile(
    r"\b(forgot(ten)? (my )?password|password (expired|has expired|reset)|reset (my )?password|locked out|"
    r"account (is )?locked|lock(ed)? my account|(new|lost) phone.{0,30}(mfa|authenticator)|authenticator|mfa reset)\b",
    re.I,
)
_PHISHING = re.compile(
    r"\b(phish\w*|suspicious (e-?mail|email|message|link|text|sms|call)|scam (e-?mail|email|message|text)|"
    r"fake (invoice|login|sign-?in|e-?mail|email)|spoof\w*|smish\w*|vish\w*|(e-?mail|email|message) (that )?looks "
    r"(fake|dodgy|suspicious)|gift ?cards?)\b",
    re.I,
)
_LOST = re.compile(
    r"\b(lost|left|misplaced|can'?t find|stolen|stole|theft|robbed|nicked|mugged)\b.{0,40}\b(laptop|phone|mobile|"
    r"iphone|tablet|ipad|macbook|badge|yubikey|security key|device|notebook)\b|\b(laptop|phone|mobile|iphone|"
    r"tablet|ipad|macbook|device|bag)\b.{0,30}\b(was|were|got|has been|been) (stolen|lost|nicked|taken)\b",
    re.I,
)
_COMPROMISED = re.compile(
    r"\b((entered|typed|put|gave|submitted|filled in) (in )?(my )?(password|credentials|login|details|username)|"
    r"(clicked|opened) .{0,40}(and|then) (logged|signed) in|logged in (on|to|at) (the|a|that) (link|page|site)|"
    r"(mfa|authenticator|sign-?in|login|approval) (prompts?|requests?|notifications?) (i )?(didn'?t|did not|"
    r"wasn'?t|never) |(unknown|unexpected|random|strange|weird) (mfa|authenticator|sign-?in|login) "
    r"(prompts?|requests?|notifications?)|approved (a|an|the) (prompt|request|sign-?in) (i|that i) (didn'?t|did not)|"
    r"someone (is|has been) (using|logged into|in) my account|my account (was|has been|is) (hacked|compromised)|"
    r"(sent|sending) (e-?mails|emails|messages) (from my account )?(that )?i didn'?t (send|write))",
    re.I,
)
_OTHER_ACCOUNT = re.compile(
    r"\b(colleague|coworker|co-worker|team ?mate|someone else|my (manager|boss|report)|(his|her|their) account)\b",
    re.I,
)
_STATUS = re.compile(
    r"\b(status|any updates?|an update|updates? on|progress|news|any word|eta|chase|chasing|what'?s happening|"
    r"where are we|still open|been fixed|fixed yet|is (it|my ticket) (done|resolved|closed))\b",
    re.I,
)
_MY_TICKET = re.compile(r"\b(my|the|that|this) (\w+ ){0,3}(ticket|incident|case)\b", re.I)
_COMMENT = re.compile(r"\b(add (a )?(comment|note|update)|comment on|tell (them|it|the team)|let them know|"
                      r"update (my|the) ticket( with)?)\b", re.I)
_REOPEN = re.compile(r"\b(reopen|re-open|open (it|the ticket|my ticket) again|(it'?s|it is) (broken|happening) "
                     r"again|came back|not (actually )?fixed)\b", re.I)
_CANCEL_TICKET = re.compile(r"\b(cancel|close|withdraw|drop)\b.{0,30}\b(ticket|incident|request|INC\d{7})\b|"
                            r"\b(ticket|INC\d{7})\b.{0,30}\b(no longer needed|not needed|can be closed|cancel)\b|"
                            r"\b(fixed itself|sorted itself|works now|working now|resolved itself)\b", re.I)


_LIST = re.compile(r"\b(my|open|all) (open |current |recent )?(tickets|incidents)\b|\bwhat tickets\b|"
                   r"\btickets (do i have|i have|i'?ve (got|raised|opened))\b", re.I)


def follow_up(text: str) -> str | None:
    """list | status | comment | reopen | cancel when the message is about existing tickets, else None."""
    if _LIST.search(text) and not TICKET_NUMBER.search(text):
        return "list"
    about_ticket = bool(TICKET_NUMBER.search(text) or _MY_TICKET.search(text))
    if _CANCEL_TICKET.search(text) and (about_ticket or (re.search(r"\b(fixed|sorted|works|working|resolved)\b",
                                                                    text, re.I) and _MY_TICKET.search(text))):
        return "cancel"
    if not about_ticket:
        return None
    if _REOPEN.search(text):
        return "reopen"
    if _COMMENT.search(text):
        return "comment"
    if _STATUS.search(text) or TICKET_NUMBER.fullmatch(text.strip()):
        return "status"
    if TICKET_NUMBER.search(text):
        return "status"
    return None


def template(text: str) -> str | None:
    """password | compromised | phishing | lost_device, or None for an ordinary incident."""
    if _COMPROMISED.search(text):
        return "compromised"
    if _PHISHING.search(text):
        return "phishing"
    if _LOST.search(text):
        return "lost_device"
    if _PASSWORD.search(text):
        return "password"
    return None


def compromised(text: str) -> bool:
    return bool(_COMPROMISED.search(text))


def about_someone_else(text: str) -> bool:
    return bool(_OTHER_ACCOUNT.search(text))


_ACCOUNT_WORDS = re.compile(r"\b(account|hacked|compromised|password|mfa|authenticator|sign-?ins?|logins?)\b", re.I)


def about_an_account(text: str) -> bool:
    """The message is about an account (anyone's): the caller checks whose it is."""
    return bool(_ACCOUNT_WORDS.search(text))
