from app.services.audit import SqlAuditLog


def test_append_and_query(db) -> None:
    log = SqlAuditLog(db)
    a = log.append("alice", "ticket.created", thread_id="t1", number="INC0000001")
    log.append("bob", "turn.received", thread_id="t2", text="hi")
    log.append("alice", "turn.received", thread_id="t1", text="again")
    assert a.id > 0 and a.details == {"number": "INC0000001"}
    assert [e.event_type for e in log.events(thread_id="t1")] == ["ticket.created", "turn.received"]
    assert [e.actor for e in log.events(event_type="turn.received")] == ["bob", "alice"]
    assert [e.id for e in log.events(after_id=a.id)] == [a.id + 1, a.id + 2]
    assert log.last_id() == a.id + 2


def test_details_are_redacted_before_storage(db) -> None:
    log = SqlAuditLog(db)
    log.append(
        "alice", "note", thread_id="t1", text="my email is a@b.co", nested={"card": "4111 1111 1111 1111"}
    )
    stored = log.events(thread_id="t1")[0].details
    assert stored == {"text": "my email is [EMAIL]", "nested": {"card": "[CARD]"}}


def test_audit_is_append_only_by_interface(db) -> None:
    log = SqlAuditLog(db)
    assert not any(hasattr(log, name) for name in ("delete", "update", "remove"))
