"""The package's structure as its imports show it: at most 10 top-level modules, no import cycles,
no private names imported across modules, and `models` never importing `inference`."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "smoseq"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("smoseq",) + path.relative_to(PACKAGE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _target(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports():
    """(edges module -> imported modules, private names imported from other modules), imports in functions included."""
    modules, edges, private = _modules(), defaultdict(set), []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = _target(module, path, node)
                for alias in node.names if target.startswith("smoseq") else []:
                    submodule = f"{target}.{alias.name}"
                    destination = submodule if submodule in modules else target
                    if destination in modules and destination != module:
                        edges[module].add(destination)
                    if submodule not in modules and alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append(f"{module} imports {target}.{alias.name}")
            elif isinstance(node, ast.Import):
                edges[module].update(a.name for a in node.names if a.name in modules and a.name != module)
    return modules, edges, private


def _cycles(modules, edges) -> list[list[str]]:
    """Strongly connected groups of modules (a package's __init__ importing its own children is no cycle)."""
    def own_child(a, b):
        return modules[a].name == "__init__.py" and b.startswith(a + ".")

    graph = {a: {b for b in bs if not own_child(a, b)} for a, bs in edges.items()}
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node), on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(modules):
        if node not in index:
            visit(node)
    return groups


def test_at_most_ten_top_level_modules():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 10, top


def test_no_import_cycles():
    modules, edges, _ = _imports()
    assert _cycles(modules, edges) == []


def test_no_private_names_imported_across_modules():
    assert _imports()[2] == []


def test_models_never_import_inference():
    _, edges, _ = _imports()
    crossings = [(a, b) for a, targets in edges.items() for b in targets
                 if a.startswith("smoseq.models") and b.startswith("smoseq.inference")]  # fmt: skip
    assert crossings == []


def test_a_cycle_is_detected():
    """The checker itself: two modules importing each other form a cycle."""
    modules = {"a": Path("a.py"), "b": Path("b.py"), "c": Path("c.py")}
    assert _cycles(modules, {"a": {"b"}, "b": {"a", "c"}}) == [["a", "b"]]
