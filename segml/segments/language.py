"""The condition language: a tokenizer and a recursive-descent parser that build segml's own
syntax tree (``syntax.py``).

User text is never handed to ``eval``, ``exec``, ``compile`` or Python's parser. The grammar is
small and closed: column names, ``@threshold`` references, numbers, quoted text, ``true``/
``false``, arithmetic (``+ - * /``), comparisons (``== != < <= > >=``), ``in (...)``,
``between ... and ...``, ``is [not] null``, ``and``/``or``/``not`` with parentheses, and calls of
the named helpers in ``functions.HELPERS`` (``days_since(x)``, ``coalesce(a, b)``, ...). A call
of any other name, attribute access, indexing and assignments are refused while parsing, so
nothing in a condition can name or run Python code. Length and nesting are bounded, so no input
can exhaust the parser.

    expr    := or
    or      := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | compare
    compare := sum [ op sum | ['not'] 'in' list | ['not'] 'between' sum 'and' sum
                   | 'is' ['not'] 'null' ]
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := '-' unary | atom
    atom    := NUMBER | TEXT | 'true' | 'false' | NAME | HELPER '(' [expr (',' expr)*] ')'
             | '@' NAME | '(' expr ')'
    list    := '(' literal (',' literal)* [','] ')'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from segml.segments.functions import HELPERS, allowed_helpers
from segml.segments.syntax import (
    Arith,
    Between,
    Call,
    Compare,
    ConditionError,
    Const,
    In,
    IsNull,
    Logic,
    Name,
    Neg,
    Node,
    Not,
    Param,
    depth,
    pointer,
)

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "Token", "parse_condition", "tokenize"]

MAX_LENGTH = 2000
MAX_DEPTH = 48
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "between", "true", "false"})
COMPARE_OPS = ("==", "!=", "<=", ">=", "<", ">")


@dataclass(frozen=True)
class Token:
    kind: str  # NUM, TEXT, NAME, KW, PARAM, OP, END
    text: str
    start: int
    end: int


_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | (?P<NUM>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<TEXT>'[^'\n]*'|"[^"\n]*")
      | (?P<PARAM>@[A-Za-z_][A-Za-z0-9_]*)
      | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<OP>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|,)
    """,
    re.VERBOSE | re.ASCII,
)
_HINTS = {
    "=": "use == to compare",
    "&": "use and",
    "|": "use or",
    "!": "use not, or != to compare",
    "[": "write lists in parentheses: x in ('a', 'b')",
    ".": "conditions have no attribute access (the helpers are plain calls: lower(x))",
    ";": "a condition is one expression",
    "'": "close the quote on the same line",
    '"': "close the quote on the same line",
}


def _error(source: str, start: int, message: str) -> ConditionError:
    return ConditionError(f"{message} (at column {start + 1}){pointer(source, start)}")


def tokenize(source: str) -> Iterator[Token]:
    """Tokens left to right, ending with END; a character outside the language is an error
    raised only when the parser reaches it (so the first problem is the one reported)."""
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            char = source[pos]
            hint = _HINTS.get(char, "only names, numbers, quoted text and operators are allowed")
            raise _error(source, pos, f"unexpected character {char!r}: {hint}")
        kind = match.lastgroup or ""
        if kind != "space":
            text = match.group()
            if kind == "NAME" and text.lower() in KEYWORDS:
                kind, text = "KW", text.lower()
            yield Token(kind, text, pos, match.end())
        pos = match.end()
    yield Token("END", "", len(source), len(source))


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.stream = tokenize(source)
        self.tokens: list[Token] = []
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        if self.i == len(self.tokens):
            self.tokens.append(next(self.stream))
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def at(self, kind: str, *texts: str) -> bool:
        return self.tok.kind == kind and (not texts or self.tok.text in texts)

    def expect(self, kind: str, text: str, what: str) -> Token:
        if not self.at(kind, text):
            raise self.unexpected(f"expected {what}")
        return self.take()

    def unexpected(self, expected: str) -> ConditionError:
        tok = self.tok
        found = "the end of the condition" if tok.kind == "END" else repr(tok.text)
        previous = self.tokens[self.i - 1] if self.i else None
        if tok.text == "*" and previous is not None and previous.text == "*":
            return _error(self.source, tok.start, "there is no power operator '**'")
        return _error(self.source, tok.start, f"{expected}, found {found}")

    def parse(self) -> Node:
        node = self.or_()
        if not self.at("END"):
            if self.at("KW", "between") or self.tok.text in COMPARE_OPS:
                raise _error(
                    self.source,
                    self.tok.start,
                    "chained comparisons are not supported; join them with and, "
                    "e.g. 1 < x and x < 5",
                )
            raise self.unexpected("expected and, or or the end of the condition")
        return node

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(self.source, self.tok.start, f"nested deeper than {MAX_DEPTH} levels")

    def or_(self) -> Node:
        node = self.and_()
        while self.at("KW", "or"):
            self.take()
            right = self.and_()
            node = Logic(node.start, right.end, "or", node, right)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("KW", "and"):
            self.take()
            right = self.not_()
            node = Logic(node.start, right.end, "and", node, right)
        return node

    def not_(self) -> Node:
        if self.at("KW", "not"):
            start = self.take().start
            self.nested()
            operand = self.not_()
            self.depth -= 1
            return Not(start, operand.end, operand)
        return self.compare()

    def compare(self) -> Node:
        left = self.sum_()
        if self.at("OP", *COMPARE_OPS):
            op = self.take().text
            right = self.sum_()
            return Compare(left.start, right.end, op, left, right)
        negated = self.at("KW", "not")
        if negated:
            self.take()
            if not self.at("KW", "in", "between"):
                raise self.unexpected("expected in or between after not")
        if self.at("KW", "in"):
            self.take()
            values, end = self.literal_list()
            return In(left.start, end, left, values, negated)
        if self.at("KW", "between"):
            self.take()
            low = self.sum_()
            self.expect("KW", "and", "and in 'between low and high'")
            high = self.sum_()
            return Between(left.start, high.end, left, low, high, negated)
        if self.at("KW", "is"):
            self.take()
            negated = self.at("KW", "not")
            if negated:
                self.take()
            end = self.expect("KW", "null", "null after is").end
            return IsNull(left.start, end, left, negated)
        return left

    def literal_list(self) -> tuple[tuple[Const, ...], int]:
        self.expect("OP", "(", "a list in parentheses, e.g. ('GB', 'DE')")
        values = []
        while not self.at("OP", ")"):
            atom = self.unary()
            if isinstance(atom, Neg) and isinstance(atom.operand, Const):
                atom = Const(atom.start, atom.end, -atom.operand.value)  # type: ignore[operator]
            if not isinstance(atom, Const):
                raise _error(
                    self.source, atom.start, "a list holds only numbers, quoted text or true/false"
                )
            values.append(atom)
            if not self.at("OP", ")"):
                self.expect("OP", ",", "',' or ')' in the list")
        end = self.take().end
        if not values:
            raise _error(self.source, end - 1, "the list is empty")
        return tuple(values), end

    def sum_(self) -> Node:
        node = self.product()
        while self.at("OP", "+", "-"):
            op = self.take().text
            right = self.product()
            node = Arith(node.start, right.end, op, node, right)
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.at("OP", "*", "/"):
            op = self.take().text
            right = self.unary()
            node = Arith(node.start, right.end, op, node, right)
        return node

    def unary(self) -> Node:
        if self.at("OP", "-"):
            start = self.take().start
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return Neg(start, operand.end, operand)
        return self.atom()

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "NUM":
            self.take()
            exact = tok.text.isdigit() and len(tok.text) < 16
            return Const(tok.start, tok.end, int(tok.text) if exact else float(tok.text))
        if tok.kind == "TEXT":
            self.take()
            return Const(tok.start, tok.end, tok.text[1:-1])
        if tok.kind == "KW" and tok.text in ("true", "false"):
            self.take()
            return Const(tok.start, tok.end, tok.text == "true")
        if tok.kind == "NAME":
            self.take()
            return self.call(tok) if self.at("OP", "(") else Name(tok.start, tok.end, tok.text)
        if tok.kind == "PARAM":
            self.take()
            return Param(tok.start, tok.end, tok.text[1:])
        if self.at("OP", "("):
            start = self.take().start
            self.nested()
            inner = self.or_()
            self.depth -= 1
            end = self.expect("OP", ")", "')'").end
            return _reframe(inner, start, end)
        raise self.unexpected("expected a column, a number, quoted text or '('")

    def call(self, name: Token) -> Call:
        """A helper call; any name outside the whitelist is refused before its arguments."""
        helper = HELPERS.get(name.text.lower())
        if helper is None:
            close = difflib.get_close_matches(name.text.lower(), list(HELPERS), n=1, cutoff=0.7)
            hint = f"did you mean {close[0]}()? " if close else ""
            raise _error(
                self.source,
                name.start,
                f"unknown function {name.text!r}: {hint}conditions can call only the helpers "
                f"{allowed_helpers()} (see docs/segments.md)",
            )
        self.take()  # '('
        self.nested()
        args = []
        while not self.at("OP", ")"):
            args.append(self.or_())
            if not self.at("OP", ")"):
                self.expect("OP", ",", f"',' or ')' after an argument of {helper.name}()")
        end = self.take().end
        self.depth -= 1
        if not helper.accepts(len(args)):
            raise _error(
                self.source,
                name.start,
                f"{helper.name}() takes {helper.arity()}, got {len(args)}: {helper.signature}",
            )
        return Call(name.start, end, helper.name, tuple(args))


def _reframe(node: Node, start: int, end: int) -> Node:
    """The same node, spanning its parentheses (so messages quote them too)."""
    fields = {k: v for k, v in vars(node).items() if k not in ("start", "end")}
    return type(node)(start, end, **fields)


def parse_condition(source: str) -> Node:
    """Parse a condition into segml's AST; a ConditionError points at what is wrong."""
    if not isinstance(source, str):
        raise ConditionError(f"a condition must be text, got {type(source).__name__}")
    if not source.strip():
        raise ConditionError("the condition is empty; write e.g. rfm__recency_days > 90")
    if len(source) > MAX_LENGTH:
        raise ConditionError(
            f"the condition is {len(source)} characters long; the limit is {MAX_LENGTH}. "
            "Split it into thresholds or simpler segments."
        )
    node = _Parser(source).parse()
    if depth(node) > MAX_DEPTH:
        raise ConditionError(
            f"the condition nests more than {MAX_DEPTH} operations; split it into thresholds or "
            f"simpler segments.{pointer(source, 0)}"
        )
    return node
