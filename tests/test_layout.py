"""The code's shape, as a reviewer checks it: no module over 300 lines, no class over 200, no import
cycle between the toolkit's modules (imports inside functions included), and one public surface:
``toolkit.__all__`` over private modules, none of whose names is shadowed by an attribute."""

from __future__ import annotations

import ast
from pathlib import Path

import toolkit

PKG = Path(toolkit.__file__).parent
MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 200


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every toolkit module ``name`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t != "toolkit":
                found.add(t)
    return found


def test_no_module_over_300_lines():
    long = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in _modules().items()}
    assert {n: c for n, c in long.items() if c > MAX_MODULE_LINES} == {}


def test_no_class_over_200_lines():
    big = {}
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                big[f"{name}.{node.name}"] = node.end_lineno - node.lineno + 1
    assert big == {}


def test_no_import_cycles():
    mods = _modules()
    graph = {n: _imports(n, p, set(mods)) for n, p in mods.items()}
    # a package's __init__ importing its own submodules is how a package is made, not a cycle
    graph = {n: {d for d in deps if not d.startswith(n + ".")} for n, deps in graph.items()}
    cycles, state = [], {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d] if d in stack else [n, d])
            elif d not in state:
                visit(d, stack + [d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_every_module_but_the_package_is_private():
    public = [n for n in _modules() if n != "toolkit" and not any(p.startswith("_") for p in n.split(".")[1:])]
    assert public == []


def test_public_names_resolve_and_shadow_no_module():
    for name in toolkit.__all__:
        obj = getattr(toolkit, name)
        assert obj is not None, name
        assert not (hasattr(obj, "__path__") or type(obj).__name__ == "module"), f"toolkit.{name} is a module"


def test_public_errors_are_named_as_users_import_them():
    import pickle

    for name in ("ToolkitError", "ConfigError", "InputError", "ClusterError"):
        cls = getattr(toolkit, name)
        assert f"{cls.__module__}.{cls.__qualname__}" == f"toolkit.{name}"
        assert type(pickle.loads(pickle.dumps(cls("x")))) is cls
