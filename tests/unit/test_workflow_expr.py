"""Workflow trigger predicates: grammar, evaluation semantics, names extraction and hostile input."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from graphs.workflows.expr import MAX_DEPTH, ExpressionError, Predicate, compile_predicate

CONTEXT: dict[str, Any] = {
    "employee": {
        "type": "contractor",
        "department": "engineering",
        "remote": True,
        "level": 3,
        "salary": 1234.5,
        "tags": ["vpn", "laptop"],
        "manager": {"email": "boss@example.com", "name": None},
        "nickname": "",
    },
    "outputs": {"create_account": {"status": "ok", "id": 42}},
}


def ev(source: str, context: dict[str, Any] | None = None) -> bool:
    return compile_predicate(source).evaluate(CONTEXT if context is None else context)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("employee.type == 'contractor'", True),
        ("employee.type != 'contractor'", False),
        ("outputs.create_account.status == 'ok' and employee.department in ['engineering', 'finance']", True),
        ('employee.manager.email == "boss@example.com"', True),
        ("outputs.create_account.id == 42", True),
        ("employee.remote", True),
        ("employee.nickname", False),
        ("not employee.nickname", True),
        ("employee.tags == ['vpn', 'laptop']", True),  # list literal equals a list from YAML/JSON
        ("'vpn' in employee.tags and 'printer' not in employee.tags", True),
        ("'engi' in employee.department", True),
        ("'type' in employee", True),  # mapping membership tests keys
        ("'salary' not in employee", False),
    ],
)
def test_basic_evaluation(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true or true and false", True),  # and binds tighter than or
        ("(true or true) and false", False),
        ("not false and false", False),  # not binds tighter than and
        ("not (false and false)", True),
        ("not true or true", True),
        ("not (true or true)", False),
        ("false and false or true", True),
        ("false and (false or true)", False),
        ("not not true", True),
        ("not employee.type == 'employee'", True),  # not applies to the whole comparison
        ("((((employee.level == 3))))", True),
        ("True and not None", True),
    ],
)
def test_precedence_and_parentheses(source: str, expected: bool) -> None:
    assert ev(source) is expected


def test_missing_names_are_null() -> None:
    assert ev("nobody.here == null")
    assert ev("employee.manager.name == null")
    assert ev("employee.type.length == null")  # walking into a string gives null
    assert not ev("nobody.here")
    assert ev("not nobody.here")
    assert not ev("nobody.here == 'x'")
    assert ev("nobody.here != 'x'")
    assert ev("x == null", {})


def test_paths_only_walk_mappings() -> None:
    class Spy:
        calls = 0

        def __eq__(self, other: object) -> bool:
            Spy.calls += 1
            return True

        __hash__ = object.__hash__

    assert ev("a.b == null", {"a": object()})
    assert ev("s.upper == null", {"s": "text"})  # no getattr, so no bound method
    assert ev("d.keys == null", {"d": {"x": 1}})
    assert ev("spy == 'anything'", {"spy": Spy()})  # comparing may use a value's __eq__; that is fine
    assert Spy.calls == 1
    lazy: defaultdict[str, int] = defaultdict(int)
    assert ev("lazy.x == null", {"lazy": lazy})
    assert "x" not in lazy  # lookup must not create keys


def test_string_escapes() -> None:
    assert ev(r"""s == 'it\'s'""", {"s": "it's"})
    assert ev(r'''s == "say \"hi\""''', {"s": 'say "hi"'})
    assert ev(r"s == 'a\\b'", {"s": "a\\b"})
    assert ev(r"s == 'line\nbreak'", {"s": "line\nbreak"})
    assert ev("""s == "it's" """, {"s": "it's"})
    assert ev("s == ''", {"s": ""})
    with pytest.raises(ExpressionError, match="escape"):
        compile_predicate(r"s == 'tab\t'")


def test_numbers() -> None:
    assert ev("n == 42", {"n": 42})
    assert ev("n == 0.5", {"n": 0.5})
    assert ev("n == -1", {"n": -1})
    assert ev("n > -1.5", {"n": 0})
    assert ev("n == 2.0", {"n": 2})
    assert ev("employee.salary >= 1000 and employee.salary < 2000")
    for bad in ("1abc", "1.5.3", "1.", ".5", "- 1", "1e5"):
        with pytest.raises(ExpressionError):
            compile_predicate(f"n == {bad}")


def test_lists_with_in_and_not_in() -> None:
    assert ev("x in [1, 2, 3]", {"x": 2})
    assert not ev("x in []", {"x": 2})
    assert ev("x not in []", {"x": 2})
    assert ev("x in ['a', \"b\", null, true, 1.5]", {"x": None})
    assert ev("x not in ['a', 'b']", {"x": "c"})
    assert not ev("x not in ['a', 'b']", {"x": "a"})
    assert ev("[1, 2] == x", {"x": [1, 2]})


def test_in_with_non_container_is_false_both_ways() -> None:
    for right in (None, 5, 1.5, True, object()):
        assert not ev("x in y", {"x": 1, "y": right})
        assert not ev("x not in y", {"x": 1, "y": right})
    assert not ev("x in 'abc'", {"x": 1})  # non-string in a string does not apply
    assert not ev("x not in 'abc'", {"x": 1})
    assert not ev("x in s", {"x": [1], "s": {1, 2}})  # unhashable item against a set
    assert not ev("x not in s", {"x": [1], "s": {1, 2}})


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        (1, "<", 2, True),
        (2.5, ">=", 2, True),
        ("abc", "<", "abd", True),
        ("b", ">", "a", True),
        (None, "<", 1, False),
        (1, ">", None, False),
        (None, "<=", None, False),
        (1, "<", "2", False),
        ("2", ">", 1, False),
        (True, ">", 0, False),  # bools are not numbers here
        (0, "<", True, False),
        ([1], "<", [2], False),
        (1, "<=", 1, True),
    ],
)
def test_ordering(left: Any, op: str, right: Any, expected: bool) -> None:
    assert ev(f"a {op} b", {"a": left, "b": right}) is expected


def test_names_extraction() -> None:
    predicate = compile_predicate(
        "outputs.create_account.status == 'ok' and (employee.type in ['a'] or not employee.type) and x"
    )
    assert isinstance(predicate, Predicate)
    assert predicate.names == frozenset({"outputs.create_account.status", "employee.type", "x"})
    assert predicate.source.startswith("outputs.")
    assert compile_predicate("'employee.type' == 1").names == frozenset()


def test_predicate_is_frozen_and_comparable() -> None:
    a, b = compile_predicate("x == 1"), compile_predicate("x == 1")
    assert a == b
    with pytest.raises(AttributeError):
        a.source = "y"  # type: ignore[misc]


def test_keywords_are_lowercase_or_python_aliases() -> None:
    assert ev("x == True and y == None and z == False", {"x": True, "y": None, "z": False})
    with pytest.raises(ExpressionError):
        compile_predicate("a AND b")


def test_error_carries_source_and_position() -> None:
    source = "employee.type == ( 'x'"
    with pytest.raises(ExpressionError) as info:
        compile_predicate(source)
    assert info.value.source == source
    assert info.value.position == len(source)
    assert str(info.value) == f"unexpected end of expression at position {len(source)} in: {source}"
    with pytest.raises(ExpressionError) as info:
        compile_predicate("employee.type(12)")
    assert info.value.position == 13
    assert "at position 13 in: employee.type(12)" in str(info.value)
    with pytest.raises(ExpressionError) as info:
        compile_predicate("a == 1 )")
    assert str(info.value) == "unexpected ')' at position 7 in: a == 1 )"
    assert isinstance(info.value, ValueError)


def test_limits() -> None:
    compile_predicate("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH)
    with pytest.raises(ExpressionError, match="nesting"):
        compile_predicate("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1))
    compile_predicate("not " * MAX_DEPTH + "x")
    with pytest.raises(ExpressionError, match="nesting"):
        compile_predicate("not " * (MAX_DEPTH + 1) + "x")
    compile_predicate("x in [" + ",".join("1" * 98) + "]")  # 199 tokens
    with pytest.raises(ExpressionError, match="tokens") as info:
        compile_predicate("x in [" + ",".join("1" * 99) + "]")  # 201 tokens
    assert info.value.position == 6 + (200 - 3)  # the 201st token: "x", "in", "[" then one token per char
    compile_predicate("x == '" + "a" * 480 + "'")
    with pytest.raises(ExpressionError, match="longer"):
        compile_predicate("x == '" + "a" * 500 + "'")


HOSTILE = [
    "",
    "   \n\t ",
    "__import__('os').system('x')",
    "a.__class__",
    "a._private",
    "_a == 1",
    "open('f')",
    "a.b()",
    "().__class__",
    "()",
    "a; b",
    "lambda: 1",
    "x if y else z",
    "1 +",
    "a + 1",
    "a * 2",
    "a == -b",
    "x" * 501,
    "(" * 50,
    "(" * 50 + "x" + ")" * 50,
    "[1, 2",
    "[1, 2,]",
    "[a, b]",
    "[[1]]",
    "'unterminated",
    '"unterminated\\"',
    "a == b == c",
    "a < b < c",
    "a in b not in c",
    "{}",
    "{'a': 1}",
    "`ls`",
    "@decorator",
    "a = 1",
    "a is None",
    "a == 1 and",
    "or a",
    "not",
    "a not b",
    "a b",
    "a.",
    "a..b",
    "a.1",
    "a[0]",
    "a == 'x' # comment",
    "$HOME",
    "a\\b",
    "f'{x}' == 1",
    "é == 1",
    "x == ２",
    "not in x",
    "a.in == 1",
]


@pytest.mark.parametrize("source", HOSTILE, ids=lambda s: repr(s[:30]))
def test_hostile_inputs_are_rejected(source: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_predicate(source)
    assert 0 <= info.value.position <= len(source)
    assert info.value.source == source


def test_non_string_source_is_rejected() -> None:
    with pytest.raises(ExpressionError):
        compile_predicate(True)  # type: ignore[arg-type]


def test_long_source_is_truncated_in_message() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_predicate("x" * 1000)
    assert len(str(info.value)) < 250
    assert info.value.source == "x" * 1000
