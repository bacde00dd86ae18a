"""The condition language's syntax tree: segml's own node types, built by the parser in
``language.py`` and read by the type checker in ``compile.py``. Nothing here runs user text."""

from __future__ import annotations

from dataclasses import dataclass

from segml.errors import ConfigError

__all__ = [
    "Arith",
    "Between",
    "Call",
    "Compare",
    "ConditionError",
    "Const",
    "In",
    "IsNull",
    "Logic",
    "Name",
    "Neg",
    "Node",
    "Not",
    "Param",
    "children",
    "depth",
    "pointer",
]


class ConditionError(ConfigError):
    """A condition that cannot be parsed or does not fit the data; the message points at it."""


def pointer(source: str, start: int) -> str:
    """The condition with a caret under position ``start``, for error messages."""
    return f"\n    {source}\n    {' ' * start}^"


@dataclass(frozen=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Param(Node):
    name: str


@dataclass(frozen=True)
class Const(Node):
    value: float | int | str | bool


@dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True)
class Arith(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class In(Node):
    operand: Node
    values: tuple[Const, ...]
    negated: bool


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class Logic(Node):
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    """A call of a whitelisted helper (``segml.segments.functions.HELPERS``); the parser
    builds one only for a known name with an allowed number of arguments."""

    name: str
    args: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node."""
    if isinstance(node, Neg | Not | IsNull):
        return (node.operand,)
    if isinstance(node, Arith | Compare | Logic):
        return (node.left, node.right)
    if isinstance(node, In):
        return (node.operand, *node.values)
    if isinstance(node, Between):
        return (node.operand, node.low, node.high)
    if isinstance(node, Call):
        return node.args
    return ()


def depth(root: Node) -> int:
    """How deeply the tree nests (a lone value: 1)."""
    deepest, stack = 0, [(root, 1)]
    while stack:  # iterative, so a deep tree cannot exhaust Python's stack here
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(node))
    return deepest
