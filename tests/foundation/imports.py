"""The project's imports as read from the source with `ast`: who imports whom, at module level or inside a
function, and which only for type checking. `python -m tests.foundation.imports` prints the arrows between
rooms (docs/architecture.md)."""
from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "dialogues", "nlu", "storage")
BOT_ROOMS = ("core", "channels", "docread", "backoffice", "broadcast", "updates", "stories", "cli")
SETTINGS_FILES = ("bot.config", "bot.ops_settings")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a project module, or the top-level name of a library)
    line: int
    local: bool  # inside a function
    type_only: bool  # under `if TYPE_CHECKING:`
    project: bool  # the target is a module of the project
    implied: bool = False  # a package that runs because a module inside it is imported


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project packages."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def room(module: str) -> str:
    """The room a module lives in (docs/architecture.md)."""
    parts = module.split(".")
    if parts[0] != "bot":
        return parts[0]
    if len(parts) > 1 and parts[1] in BOT_ROOMS:
        return f"bot.{parts[1]}"
    return "bot.config" if module in SETTINGS_FILES else "bot.assembly"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _library(node: ast.Import | ast.ImportFrom) -> str | None:
    """The top-level name of the library an import names, None for the project's own modules."""
    if isinstance(node, ast.ImportFrom):
        first = "" if node.level else (node.module or "").split(".")[0]
        return first if node.level == 0 and first not in PACKAGES else None
    first = node.names[0].name.split(".")[0]
    return first if first not in PACKAGES else None


def _walk(node: ast.AST, local: bool, type_only: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, local, type_only
            continue
        inner_local = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), inner_local, True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), inner_local, type_only)
            continue
        yield from _walk(child, inner_local, type_only)


def project_imports(root: Path = ROOT) -> list[Import]:
    """Every import statement of the project's modules (one entry per imported project module or library).
    Importing `a.b.c` also runs the packages `a` and `a.b`: those arrows are added too."""
    modules = project_modules(root)
    found: list[Import] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        for node, local, type_only in _walk(tree, False, False):
            names = _targets(node, module, is_package)
            library = _library(node)
            if library is not None:
                found.append(Import(module, library, node.lineno, local, type_only, False))
                continue
            seen: set[str] = set()
            # `from package import name` inside the package needs the package's names: an arrow like any other
            takes_names = isinstance(node, ast.ImportFrom) and any(
                f"{names[-1]}.{alias.name}" not in modules for alias in node.names)
            for name in names:
                target = _resolve(name, modules)
                if target is None or target == module or target in seen:
                    continue
                seen.add(target)
                parts = target.split(".")
                for i in range(1, len(parts) + 1):  # the packages on the way run too
                    step = ".".join(parts[:i])
                    inside = module.startswith(step + ".") and not (takes_names and step == target == names[-1])
                    if step in modules and step != module and not inside:
                        found.append(Import(module, step, node.lineno, local, type_only, True, step != target))
                if isinstance(node, ast.ImportFrom) and name == names[-1]:
                    break
    return found


def circles(arrows: list[Import]) -> list[list[str]]:
    """Groups of modules that import each other in a loop (strongly connected components, Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for arrow in arrows:
        graph[arrow.source].add(arrow.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def room_arrows(arrows: list[Import]) -> dict[str, set[str]]:
    """Room -> the rooms it imports at run time."""
    out: dict[str, set[str]] = defaultdict(set)
    for arrow in arrows:
        if arrow.project and not arrow.type_only and room(arrow.source) != room(arrow.target):
            out[room(arrow.source)].add(room(arrow.target))
    return out


if __name__ == "__main__":
    for source, targets in sorted(room_arrows(project_imports()).items()):
        print(f"{source} -> {', '.join(sorted(targets))}")
