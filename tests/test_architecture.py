"""The import rules of docs/architecture.md, checked on the source: one direction, no circle."""

import ast

from tests.helpers import REPO

ROOT = REPO / "profkit"


def _modules():
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name, path):
    """Every profkit module `name` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles():
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    assert _cycles() == []


def _reaching(prefix, target):
    return sorted((m, i) for m, deps in GRAPH.items() if m.startswith(prefix) for i in deps if i.startswith(target))


def test_capture_imports_no_analysis():
    assert _reaching("profkit.capture", "profkit.analysis") == []


def test_report_imports_only_the_facade_and_the_result_types():
    allowed = ("profkit.analysis.analyze", "profkit.analysis.result")
    assert [(m, i) for m, i in _reaching("profkit.report", "profkit.analysis") if not i.startswith(allowed)] == []


def test_lower_layers_import_nothing_above_them():
    for low in ("profkit.trace", "profkit.common", "profkit.runfiles"):
        for above in ("profkit.analysis", "profkit.report", "profkit.capture", "profkit.sweep", "profkit.cli"):
            assert _reaching(low, above) == [], (low, above)
    assert _reaching("profkit.analysis", "profkit.report") == []
    assert _reaching("profkit.analysis", "profkit.capture") == []


def test_no_module_over_600_lines():
    assert [p.name for p in MODULES.values() if len(p.read_text().splitlines()) > 600] == []
