"""A tiny, safe expression language for flow conditions (a subset of Python syntax).

Allowed: names (slots, `pilgrim`, `rules`, `verified`, `today`), dotted access into mappings,
literals, lists, comparisons, `and`/`or`/`not`, `x if c else y`, and the functions `age(date)`,
`has(name)`. Dates are ISO strings, so they compare correctly as text.
"""
from __future__ import annotations

import ast
from datetime import date
from typing import Any, Callable

from dialogues.parsing import years_between

_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq, ast.NotEq,
            ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Name, ast.Load,
            ast.Constant, ast.Attribute, ast.List, ast.Tuple, ast.Call, ast.IfExp, ast.BinOp, ast.Add, ast.Sub)
FUNCTIONS = ("age", "has")


class ConditionError(ValueError):
    pass


def compile_condition(source: str) -> ast.Expression:
    """Parse and check an expression; raise ConditionError on anything outside the subset."""
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"invalid expression '{source}': {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ConditionError(f"'{source}': {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise ConditionError(f"'{source}': only the functions {', '.join(FUNCTIONS)} may be called")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ConditionError(f"'{source}': private names are not allowed")
    return tree


class _Missing:
    """Stands for an unset value: compares unequal to everything, false in conditions."""

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Missing)

    def __hash__(self) -> int:
        return 0

    def __getattr__(self, name: str) -> "_Missing":
        return self

    def _cmp(self, other: object) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _cmp


MISSING = _Missing()


def evaluate(tree: ast.Expression, names: dict[str, Any], today: date) -> Any:
    funcs: dict[str, Callable[..., Any]] = {
        "age": lambda d: years_between(date.fromisoformat(str(d)), today) if d and d is not MISSING else -1,
        "has": lambda v: v is not MISSING and v not in (None, ""),
    }
    return _eval(tree.body, names, funcs)


def _eval(node: ast.AST, names: dict[str, Any], funcs: dict[str, Callable[..., Any]]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        value = names.get(node.id, MISSING)
        return MISSING if value is None else value
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, names, funcs)
        if isinstance(base, dict):
            value = base.get(node.attr, MISSING)
            return MISSING if value is None else value
        return MISSING
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, names, funcs) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, names, funcs) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _eval(node.operand, names, funcs)
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, names, funcs) else node.orelse, names, funcs)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, names, funcs), _eval(node.right, names, funcs)
        if left is MISSING or right is MISSING:
            return MISSING
        return left + right if isinstance(node.op, ast.Add) else left - right
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return funcs[node.func.id](*[_eval(a, names, funcs) for a in node.args])
    if isinstance(node, ast.Compare):
        left = _eval(node.left, names, funcs)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, names, funcs)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    raise ConditionError(f"unsupported node {type(node).__name__}")


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    if isinstance(op, ast.Eq):
        return left == right
    if isinstance(op, ast.NotEq):
        return not left == right
    if isinstance(op, ast.Is):
        return left is right
    if isinstance(op, ast.IsNot):
        return left is not right
    if isinstance(op, (ast.In, ast.NotIn)):
        inside = left in right if isinstance(right, (list, tuple, dict, str)) and left is not MISSING else False
        return inside if isinstance(op, ast.In) else not inside
    if left is MISSING or right is MISSING:
        return False
    try:
        if isinstance(op, ast.Lt):
            return left < right
        if isinstance(op, ast.LtE):
            return left <= right
        if isinstance(op, ast.Gt):
            return left > right
        return left >= right
    except TypeError:
        return False
