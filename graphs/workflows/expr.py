r"""Trigger predicates for workflow edges: a tiny, safe expression language.

An edge is followed when its ``when`` predicate is true for the run context, for example::

    employee.type == 'contractor'
    outputs.create_account.status == 'ok' and employee.department in ['engineering', 'finance']

Values
    Strings in 'single' or "double" quotes (the only escapes are ``\\``, ``\'``, ``\"`` and ``\n``), integers
    and decimals (``42``, ``-1``, ``0.5``), ``true``, ``false``, ``null`` (``True``, ``False``, ``None`` also
    work) and lists of those literals, e.g. ``['a', 'b', 3]``.
Names
    Dotted paths such as ``employee.manager.email`` look up nested keys in the context. A missing key anywhere
    along the path gives ``null``. Each part starts with a letter and continues with letters, digits or ``_``
    (a leading ``_`` or a ``__`` is rejected). ``and or not in true false null`` are reserved words.
Comparisons
    ``==  !=  <  <=  >  >=  in  not in`` -- one per pair of operands (write ``a < b and b < c``, not
    ``a < b < c``). ``<``, ``<=``, ``>``, ``>=`` are false unless both sides are numbers or both are strings,
    so any ordering against ``null`` is false. ``in`` tests membership in a list, a string (substring, left
    side must be a string) or a mapping (key). When that test does not apply -- the right side is not one of
    those, e.g. ``null`` -- both ``in`` and ``not in`` are false.
Logic
    ``not`` binds tighter than ``and``, which binds tighter than ``or``; parentheses group. A bare value is
    tested for truthiness: ``null``, ``false``, ``0``, ``''`` and ``[]`` are false, anything else is true.

There are no function calls, arithmetic, attribute access or assignments. An expression may have at most
500 characters, 200 tokens and 20 levels of nesting (parentheses and ``not``). The text is tokenized and
parsed by hand and the tree is interpreted directly; Python's ``eval``/``exec``/``compile`` are never used.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_TOKENS", "ExpressionError", "Predicate", "compile_predicate"]

MAX_LENGTH: Final = 500
MAX_TOKENS: Final = 200
MAX_DEPTH: Final = 20

_SHOWN_SOURCE = 120  # longest source quoted verbatim in an error message
_LETTERS: Final = frozenset(string.ascii_letters)
_DIGITS: Final = frozenset(string.digits)
_NAME_CHARS: Final = _LETTERS | _DIGITS | {"_"}
_KEYWORDS: Final = frozenset({"and", "or", "not", "in"})
_WORD_LITERALS: Final[dict[str, Any]] = {
    "true": True, "false": False, "null": None, "True": True, "False": False, "None": None,
}
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n"}
_OPERATORS: Final = ("==", "!=", "<=", ">=", "<", ">")  # two-character ones first
_PUNCTUATION: Final = frozenset("()[],.")
_WHITESPACE: Final = frozenset(" \t\r\n")
_ORDERING: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


class ExpressionError(ValueError):
    """A predicate that cannot be compiled; ``position`` is the 0-based character offset of the problem."""

    def __init__(self, reason: str, source: str, position: int) -> None:
        shown = source if len(source) <= _SHOWN_SOURCE else source[: _SHOWN_SOURCE - 3] + "..."
        super().__init__(f"{reason} at position {position} in: {shown}")
        self.reason = reason
        self.source = source
        self.position = position


# --- tokens -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "literal", "name", "keyword", "op", "punct" or "end"
    value: Any
    position: int
    text: str


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        start = i
        if len(tokens) >= MAX_TOKENS:
            raise ExpressionError(f"too many tokens (at most {MAX_TOKENS})", source, start)
        if ch in "'\"":
            value, i = _read_string(source, i)
            tokens.append(_Token("literal", value, start, source[start:i]))
        elif ch in _DIGITS or (ch == "-" and i + 1 < n and source[i + 1] in _DIGITS):
            value, i = _read_number(source, i)
            tokens.append(_Token("literal", value, start, source[start:i]))
        elif ch in _LETTERS:
            while i < n and source[i] in _NAME_CHARS:
                i += 1
            word = source[start:i]
            if "__" in word:
                raise ExpressionError(f"name {word!r} contains '__'", source, start)
            if word in _WORD_LITERALS:
                tokens.append(_Token("literal", _WORD_LITERALS[word], start, word))
            else:
                tokens.append(_Token("keyword" if word in _KEYWORDS else "name", word, start, word))
        elif ch == "_":
            raise ExpressionError("names may not start with '_'", source, start)
        elif op := next((op for op in _OPERATORS if source.startswith(op, i)), None):
            i += len(op)
            tokens.append(_Token("op", op, start, op))
        elif ch in _PUNCTUATION:
            i += 1
            tokens.append(_Token("punct", ch, start, ch))
        else:
            raise ExpressionError(f"unexpected character {ch!r}", source, start)
    tokens.append(_Token("end", None, n, ""))
    return tokens


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote, chars, i = source[start], [], start + 1
    while i < len(source):
        ch = source[i]
        if ch == quote:
            return "".join(chars), i + 1
        if ch == "\\":
            escaped = source[i + 1] if i + 1 < len(source) else ""
            if escaped not in _ESCAPES:
                raise ExpressionError("unsupported escape (only \\\\ \\' \\\" \\n)", source, i)
            chars.append(_ESCAPES[escaped])
            i += 2
        else:
            chars.append(ch)
            i += 1
    raise ExpressionError("unterminated string", source, start)


def _read_number(source: str, start: int) -> tuple[int | float, int]:
    n, i = len(source), start + 1
    while i < n and source[i] in _DIGITS:
        i += 1
    is_decimal = i + 1 < n and source[i] == "." and source[i + 1] in _DIGITS
    if is_decimal:
        i += 1
        while i < n and source[i] in _DIGITS:
            i += 1
    if i < n and source[i] in _NAME_CHARS:
        raise ExpressionError("malformed number", source, start)
    text = source[start:i]
    return (float(text) if is_decimal else int(text)), i


# --- syntax tree ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class _List:
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Path:
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _And:
    operands: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Or:
    operands: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Compare:
    op: str
    left: _Node
    right: _Node


_Node = _Literal | _List | _Path | _Not | _And | _Or | _Compare


# --- parser ---------------------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list; collects referenced paths into ``names``."""

    def __init__(self, source: str, tokens: list[_Token]) -> None:
        self.source = source
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.names: set[str] = set()

    def parse(self) -> _Node:
        node = self._or()
        if self._peek().kind != "end":
            raise self._unexpected(self._peek())
        return node

    def _peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def _next(self) -> _Token:
        token = self._peek()
        self.index += 1
        return token

    def _at(self, kind: str, value: Any, ahead: int = 0) -> bool:
        token = self._peek(ahead)
        return token.kind == kind and token.value == value

    def _expect(self, kind: str, value: Any = None) -> _Token:
        token = self._next()
        if token.kind != kind or (value is not None and token.value != value):
            raise self._unexpected(token)
        return token

    def _unexpected(self, token: _Token) -> ExpressionError:
        reason = "unexpected end of expression" if token.kind == "end" else f"unexpected {token.text!r}"
        return ExpressionError(reason, self.source, token.position)

    def _enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nesting deeper than {MAX_DEPTH}", self.source, token.position)

    def _or(self) -> _Node:
        operands = [self._and()]
        while self._at("keyword", "or"):
            self._next()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _Or(tuple(operands))

    def _and(self) -> _Node:
        operands = [self._not()]
        while self._at("keyword", "and"):
            self._next()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else _And(tuple(operands))

    def _not(self) -> _Node:
        if not self._at("keyword", "not"):
            return self._comparison()
        self._enter(self._next())
        node = _Not(self._not())
        self.depth -= 1
        return node

    def _comparison_op(self) -> str | None:
        """The comparison operator at the cursor (consumed), if any."""
        if self._peek().kind == "op" or self._at("keyword", "in"):
            return str(self._next().value)
        if self._at("keyword", "not") and self._at("keyword", "in", ahead=1):
            self.index += 2
            return "not in"
        return None

    def _comparison(self) -> _Node:
        left = self._operand()
        op = self._comparison_op()
        if op is None:
            return left
        node = _Compare(op, left, self._operand())
        chained = self._peek()
        if self._comparison_op() is not None:
            raise ExpressionError("chained comparisons are not allowed", self.source, chained.position)
        return node

    def _operand(self) -> _Node:
        token = self._next()
        if token.kind == "literal":
            return _Literal(token.value)
        if token.kind == "name":
            return self._path(token)
        if token.kind == "punct" and token.value == "(":
            self._enter(token)
            node = self._or()
            self._expect("punct", ")")
            self.depth -= 1
            return node
        if token.kind == "punct" and token.value == "[":
            return self._list()
        raise self._unexpected(token)

    def _path(self, first: _Token) -> _Path:
        parts = [str(first.value)]
        while self._at("punct", "."):
            self._next()
            parts.append(str(self._expect("name").value))
        if self._at("punct", "("):
            raise ExpressionError("function calls are not allowed", self.source, self._peek().position)
        self.names.add(".".join(parts))
        return _Path(tuple(parts))

    def _list(self) -> _List:
        values: list[Any] = []
        if self._at("punct", "]"):
            self._next()
            return _List(())
        while True:
            values.append(self._expect("literal").value)
            token = self._next()
            if token.kind == "punct" and token.value == "]":
                return _List(tuple(values))
            if token.kind != "punct" or token.value != ",":
                raise self._unexpected(token)


# --- evaluation -----------------------------------------------------------------------------------------------


def _lookup(context: Any, parts: tuple[str, ...]) -> Any:
    """Walk nested Mappings only; anything missing or not a Mapping along the way gives None."""
    current = context
    for part in parts:
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _membership(item: Any, container: Any) -> bool | None:
    """``item in container``, or None when the test does not apply (not a container, wrong item type)."""
    if isinstance(container, str):
        return item in container if isinstance(item, str) else None
    if isinstance(container, list | tuple | set | frozenset | Mapping):
        try:
            return item in container
        except TypeError:  # unhashable item against a set or mapping
            return None
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "in":
        return _membership(left, right) is True
    if op == "not in":
        return _membership(left, right) is False
    if (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return _ORDERING[op](left, right)
    return False


def _evaluate(node: _Node, context: Mapping[str, Any]) -> Any:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Path):
        return _lookup(context, node.parts)
    if isinstance(node, _List):
        return list(node.values)  # a list, so it equals list values coming from YAML/JSON
    if isinstance(node, _Not):
        return not _evaluate(node.operand, context)
    if isinstance(node, _And):
        return all(_evaluate(operand, context) for operand in node.operands)
    if isinstance(node, _Or):
        return any(_evaluate(operand, context) for operand in node.operands)
    return _compare(node.op, _evaluate(node.left, context), _evaluate(node.right, context))


# --- public API -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Predicate:
    """A compiled predicate: its source, the dotted paths it reads and an ``evaluate`` method."""

    source: str
    names: frozenset[str]
    _tree: _Node = field(repr=False, compare=False)

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """Evaluate against ``context`` (nested mappings); never raises for missing or odd-typed values."""
        return bool(_evaluate(self._tree, context))


def compile_predicate(source: str) -> Predicate:
    """Parse ``source`` into a :class:`Predicate`; raise :class:`ExpressionError` on any problem."""
    if not isinstance(source, str):
        raise ExpressionError(f"expected a string, got {type(source).__name__}", str(source), 0)
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", source, MAX_LENGTH)
    if not source.strip():
        raise ExpressionError("empty expression", source, 0)
    parser = _Parser(source, _tokenize(source))
    tree = parser.parse()
    return Predicate(source, frozenset(parser.names), tree)
