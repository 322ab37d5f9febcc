"""The expression language of filters, derived columns and rule conditions: parsing.

One small language serves ``transform.filter`` conditions, ``transform.derive``
expressions and rules' ``condition``. This module turns text into a syntax tree
(a tokenizer and a recursive-descent parser, pure Python, no polars), so the portal
can check an expression's syntax when a pipeline or a rule set is saved
(``portal.services.expression_checks``) without importing ``jobs``;
``jobs.transforms.expressions`` compiles the tree into polars expressions.
Nothing is ever passed to ``eval``.

Grammar (keywords are case-insensitive)::

    expr        := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | comparison
    comparison  := additive [ ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") additive
                            | "is" ["not"] "null"
                            | ["not"] "in" "(" literal ("," literal)* ")" ]
    additive    := term (("+" | "-") term)*
    term        := unary (("*" | "/" | "%") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | "null" | column
                 | NAME "(" [expr ("," expr)*] ")" | "(" expr ")"
                 | "case" ("when" expr "then" expr)+ ["else" expr] "end"
    column      := NAME | `any column name`

Strings are quoted with ``'`` or ``"`` (a doubled quote escapes it); a column
whose name is not a plain word goes in backticks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 4000
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "null", "true", "false", "case", "when", "then", "else",
     "end"}
)
COMPARISONS = {"=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">",
               ">=": ">="}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<quoted>`[^`]+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.:]*)
  | (?P<op><=|>=|==|!=|<>|[=<>+\-*/%(),])
    """,
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """An expression cannot be parsed or compiled; the message says where and why."""


@dataclass(frozen=True)
class Token:
    """One token: its kind (number, string, name, quoted, op, end), text and position."""

    kind: str
    text: str
    position: int


# --- syntax tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A constant: a number, a string, true/false or null."""

    value: Any


@dataclass(frozen=True)
class Column:
    """A reference to a column by name."""

    name: str


@dataclass(frozen=True)
class Unary:
    """``-x`` or ``not x``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    """Arithmetic (+ - * / %), a comparison (== != < <= > >=), ``and`` or ``or``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull:
    """``x is null`` (or ``is not null`` when negated)."""

    operand: Node
    negated: bool = False


@dataclass(frozen=True)
class In:
    """``x in (a, b)`` (or ``not in`` when negated); the list holds literals only."""

    operand: Node
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Call:
    """A function call, e.g. ``coalesce(a, 0)``."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Case:
    """``case when c then v ... else e end``."""

    whens: tuple[tuple[Node, Node], ...]
    otherwise: Node | None


Node = Literal | Column | Unary | Binary | IsNull | In | Call | Case


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raise ExpressionError at the first character not understood."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(
                f"at character {position + 1}: unexpected {text[position]!r}"
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- helpers --
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def keyword(self, *words: str) -> bool:
        token = self.token
        return token.kind == "name" and token.text.lower() in words

    def op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def fail(self, expected: str) -> ExpressionError:
        token = self.token
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"at character {token.position + 1}: expected {expected}, "
                               f"found {found}")

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail(f"'{word}'")
        self.advance()

    def expect_op(self, op: str) -> None:
        if not self.op(op):
            raise self.fail(f"'{op}'")
        self.advance()

    # -- grammar --
    def parse(self) -> Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty")
        node = self.or_expr()
        if self.token.kind != "end":
            raise self.fail("an operator or the end of the expression")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.keyword("or"):
            self.advance()
            node = Binary("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.keyword("and"):
            self.advance()
            node = Binary("and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.keyword("not"):
            self.advance()
            return Unary("not", self.not_expr())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        if self.op(*COMPARISONS):
            op = COMPARISONS[self.advance().text]
            return Binary(op, left, self.additive())
        if self.keyword("is"):
            self.advance()
            negated = self.keyword("not")
            if negated:
                self.advance()
            self.expect_keyword("null")
            return IsNull(left, negated)
        negated = False
        if self.keyword("not") and self.tokens[self.index + 1].text.lower() == "in":
            self.advance()
            negated = True
        if self.keyword("in"):
            self.advance()
            return In(left, self.literal_list(), negated)
        return left

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_op("(")
        values = [self.literal()]
        while self.op(","):
            self.advance()
            values.append(self.literal())
        self.expect_op(")")
        return tuple(values)

    def literal(self) -> Literal:
        sign = ""
        if self.op("-"):
            self.advance()
            sign = "-"
        token = self.token
        if token.kind == "number":
            self.advance()
            return Literal(_number(sign + token.text))
        if token.kind == "string" and not sign:
            self.advance()
            return Literal(_string(token.text))
        if self.keyword("true", "false") and not sign:
            self.advance()
            return Literal(token.text.lower() == "true")
        raise self.fail("a number or a quoted string")

    def additive(self) -> Node:
        node = self.term()
        while self.op("+", "-"):
            op = self.advance().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.op("*", "/", "%"):
            op = self.advance().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.op("-"):
            self.advance()
            operand = self.unary()
            if isinstance(operand, Literal) and isinstance(operand.value, int | float) \
                    and not isinstance(operand.value, bool):
                return Literal(-operand.value)
            return Unary("-", operand)
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            return Literal(_number(token.text))
        if token.kind == "string":
            self.advance()
            return Literal(_string(token.text))
        if token.kind == "quoted":
            self.advance()
            return Column(token.text[1:-1])
        if self.op("("):
            self.advance()
            node = self.or_expr()
            self.expect_op(")")
            return node
        if token.kind == "name":
            word = token.text.lower()
            if word in ("true", "false"):
                self.advance()
                return Literal(word == "true")
            if word == "null":
                self.advance()
                return Literal(None)
            if word == "case":
                return self.case()
            if word in KEYWORDS:
                raise self.fail("a value, a column or a function")
            self.advance()
            if self.op("("):
                return Call(word, self.arguments())
            return Column(token.text)
        raise self.fail("a value, a column or a function")

    def arguments(self) -> tuple[Node, ...]:
        self.expect_op("(")
        args: list[Node] = []
        if not self.op(")"):
            args.append(self.or_expr())
            while self.op(","):
                self.advance()
                args.append(self.or_expr())
        self.expect_op(")")
        return tuple(args)

    def case(self) -> Node:
        self.expect_keyword("case")
        whens = []
        while self.keyword("when"):
            self.advance()
            condition = self.or_expr()
            self.expect_keyword("then")
            whens.append((condition, self.or_expr()))
        if not whens:
            raise self.fail("'when'")
        otherwise = None
        if self.keyword("else"):
            self.advance()
            otherwise = self.or_expr()
        self.expect_keyword("end")
        return Case(tuple(whens), otherwise)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _string(text: str) -> str:
    quote = text[0]
    return text[1:-1].replace(quote * 2, quote)


def parse(text: str) -> Node:
    """Parse an expression into its syntax tree.

    Raises:
        ExpressionError: with the character position of the first problem.
    """
    if not isinstance(text, str):
        raise ExpressionError("an expression must be text")
    return _Parser(text).parse()


def columns_of(node: Node) -> set[str]:
    """The names of the columns an expression reads."""
    if isinstance(node, Column):
        return {node.name}
    children: list[Any] = []
    if isinstance(node, Unary | IsNull | In):
        children = [node.operand]
    elif isinstance(node, Binary):
        children = [node.left, node.right]
    elif isinstance(node, Call):
        children = list(node.args)
    elif isinstance(node, Case):
        children = [part for pair in node.whens for part in pair]
        children += [node.otherwise] if node.otherwise is not None else []
    return set().union(*(columns_of(child) for child in children)) if children else set()
