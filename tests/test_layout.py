"""The package's layout, read from its imports (``ast``, nothing imported).

Rooms are the top-level modules and packages of ``sklearn_samplecnn``; every
import counts, also those inside functions. Data flows one way, so the rooms
sit on floors and import only from floors below: no circle, no import from
a higher floor, and no use of another room's ``_private`` names.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_samplecnn"

#: The floors, bottom to top. Floor 0 is the ground: exceptions and small utilities
#: (standard library, numpy, sklearn or torch only; ``pooling`` is the pooling registry,
#: standard library only so the command line reads it). ``pipeline`` and ``_runtime`` are
#: deprecated aliases of ``engine`` and ``tunables``.
FLOORS = [
    {"exceptions", "_checks", "_compat", "_deprecate", "_fileio", "_hub", "_progress",
     "_sizes", "tunables", "models", "augment", "visualize", "pooling"},
    {"audio", "segments", "nn", "datasets", "distributed", "_runtime"},
    {"engine", "pretrained"},
    {"features", "pipeline"},
    {"estimators"},
    {"cli"},
]
FLOOR = {room: k for k, rooms in enumerate(FLOORS) for room in rooms}


def _room(parts: list[str]) -> str | None:
    """``["sklearn_samplecnn", "engine", "loop"]`` -> ``"engine"``."""
    return parts[1] if len(parts) > 1 and parts[0] == "sklearn_samplecnn" else None


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["sklearn_samplecnn", *path.relative_to(PACKAGE).with_suffix("").parts]
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, parts, package, ast.parse(path.read_text(encoding="utf-8"))


def _imported(node, package: list[str]) -> list[list[str]]:
    """The modules (as name parts) an import statement names; ``from x import y`` gives
    ``x.y`` too (y may be a module)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".") for a in node.names]
    base = package[:len(package) - node.level + 1] if node.level else []
    module = base + (node.module.split(".") if node.module else [])
    return [module] + [module + [a.name] for a in node.names]


@cache
def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for _, parts, package, tree in _modules():
        src = _room(parts)
        if src is None:
            continue
        edges.setdefault(src, set())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(node, package):
                    dst = _room(target)
                    if dst is not None and dst != src and dst in _rooms():
                        edges[src].add(dst)
    return edges


@cache
def _rooms() -> frozenset[str]:
    return frozenset(p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                     if (p.suffix == ".py" and p.stem != "__init__")
                     or (p.is_dir() and (p / "__init__.py").exists()))


def _longest_chain(edges: dict[str, set[str]]) -> int:
    @cache
    def depth(room: str) -> int:
        return 1 + max((depth(d) for d in edges.get(room, ())), default=0)

    return max(depth(r) for r in edges)


def test_every_room_sits_on_a_floor():
    assert set(_rooms()) == set(FLOOR), "place a new module on a floor in FLOORS"


def test_imports_go_down_only():
    upward = sorted(f"{src} (floor {FLOOR[src]}) imports {dst} (floor {FLOOR[dst]})"
                    for src, dsts in _graph().items() for dst in dsts
                    if FLOOR[dst] >= FLOOR[src])
    assert upward == []


def test_no_import_circle_and_fewer_floors():
    edges = _graph()
    seen, on_path = set(), []

    def visit(room):
        assert room not in on_path, f"import circle: {' -> '.join([*on_path, room])}"
        if room in seen:
            return
        on_path.append(room)
        for dst in sorted(edges.get(room, ())):
            visit(dst)
        on_path.pop()
        seen.add(room)

    for room in sorted(edges):
        visit(room)
    # the longest chain of imports: 8 floors before the engine floor (issue 21)
    assert _longest_chain(edges) == len(FLOORS) == 6


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_room_uses_another_rooms_private_names():
    """``from ..x import _y`` and ``obj._y`` where ``_y`` is defined only in other rooms
    (a method or attribute of another package's classes) are private doors."""
    defined: dict[str, set[str]] = {}
    modules = list(_modules())
    for _, parts, _, tree in modules:
        room = _room(parts)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names = [node.attr]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            for name in filter(_private, names):
                defined.setdefault(name, set()).add(room)
    found = []
    for path, parts, package, tree in modules:
        room = _room(parts)
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = _imported(node, package)[0]
                if _room(module) not in (None, room):
                    found += [f"{where}:{node.lineno}: imports {a.name}"
                              for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                    continue
                rooms = defined.get(node.attr, set())
                if rooms and room not in rooms:
                    found.append(f"{where}:{node.lineno}: .{node.attr} of {sorted(rooms)}")
    assert found == []


def test_the_checks_catch_what_they_look_for(tmp_path, monkeypatch):
    """The import reader resolves relative imports, and a private door is seen."""
    tree = ast.parse("from ..engine.loop import _loader\nfrom . import cache\n")
    first, second = tree.body
    package = ["sklearn_samplecnn", "features"]
    assert _imported(first, package)[0] == ["sklearn_samplecnn", "engine", "loop"]
    assert _imported(second, package)[1] == ["sklearn_samplecnn", "features", "cache"]
    assert _room(_imported(first, package)[0]) == "engine" and _private("_loader")
    assert _longest_chain({"a": {"b"}, "b": {"c"}, "c": set()}) == 3
