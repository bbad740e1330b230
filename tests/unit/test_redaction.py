import pytest

from app.redaction import redact, redact_obj


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        ("mail me at jane.doe@northwind.example", "email", "jane.doe@northwind.example"),
        ("call +44 20 7946 0958 please", "phone", "7946 0958"),
        ("my card 4111 1111 1111 1111 was charged", "card", "4111 1111 1111 1111"),
        ("IBAN GB33BUKB20201555555555 for salary", "iban", "GB33BUKB20201555555555"),
        ("SSN 123-45-6789", "national_id", "123-45-6789"),
        ("NI number QQ 12 34 56 C", "national_id", "QQ 12 34 56 C"),
        ("my password is Hunter2!x", "secret", "Hunter2!x"),
        ("sort code 12-34-56 account number 12345678", "bank", "12345678"),
    ],
)
def test_pii_is_redacted(text: str, kind: str, secret: str) -> None:
    r = redact(text)
    assert kind in r.kinds
    assert secret not in r.text


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password",
        "my password expired yesterday",
        "status of INC0012345 please",
        "leave from 2026-03-03 to 2026-03-07",
        "the VPN error GP-1003 again",
        "I need 5 days off in August",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text).text == text


def test_redact_obj_walks_structures() -> None:
    out = redact_obj({"a": ["x@y.com", 3], "b": {"c": "tel 07700 900123"}})
    assert out == {"a": ["[EMAIL]", 3], "b": {"c": "tel [PHONE]"}}
