"""The import graph of the five packages, read from the source (no import is run).

* No cycle among ``edgevision``, ``calibration``, ``exporters``, ``training`` and
  ``benchmarks``, neither between packages nor between modules, counting every
  import statement: module level and inside functions (lazy imports). Imports under
  ``if TYPE_CHECKING:`` are not counted: they never run.
* The runtime package imports none of the host packages.
* No module outside ``edgevision/backends/`` touches an ONNX Runtime session (the
  runner seam is closed): no ``.session`` attribute, no ``InferenceSession``, no
  ``_infer_impl`` call; the few places that must open a bare session are listed with
  the reason.

``from . import name`` is resolved to the submodule ``name`` when there is one (a
``.py`` file or a compiled extension such as ``edgevision._core``), not to the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edgevision", "calibration", "exporters", "training", "benchmarks")
HOST = ("calibration", "exporters", "training", "benchmarks")

#: Files outside edgevision/backends/ allowed to open their own ONNX Runtime session, and why.
SESSION_ALLOWED = {
    # It measures the Predictor's overhead over a bare ``InferenceSession.run`` fed by the same
    # kernel: the baseline is the session itself, by design.
    "benchmarks/predictor.py",
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pk in PACKAGES:
        for f in (ROOT / pk).rglob("*"):
            if "__pycache__" in f.parts or f.suffix not in (".py", ".pyi", ".so", ".pyd"):
                continue
            rel = f.relative_to(ROOT)
            name = ".".join(rel.parts[:-1] + (rel.name.split(".")[0],))
            if name.endswith(".__init__"):
                name = name[: -len(".__init__")]
            if f.suffix == ".py" or name not in mods:
                mods[name] = f
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for sub in node.body:
                    for n in ast.walk(sub):
                        skip.add(id(n))
    return skip


def _targets(mod: str, path: Path, node: ast.AST, mods: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        parts = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([base] if base else []))
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in mods else base)  # a submodule, else a name defined in ``base``
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (nearest enclosing module of each target)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        if f.suffix != ".py":
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                for t in _targets(m, f, node, mods):
                    while t and t not in mods:
                        t = t.rpartition(".")[0]
                    if t and t != m:
                        graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return out


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    pk: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for m, targets in graph.items():
        for t in targets:
            a, b = m.split(".")[0], t.split(".")[0]
            if a != b:
                pk[a].add(b)
    return pk


def test_the_scanner_sees_lazy_imports_and_skips_type_checking():
    graph = import_graph()
    # lazy (inside functions): the latency benchmark's run imports calibration.metrics in a function
    assert "calibration.metrics" in graph["calibration._latency.run"]
    # ``from . import _core`` is the compiled submodule, not the package
    assert "edgevision" not in graph["edgevision.preprocess"]
    # calibration.errors imports .readers only for type annotations
    assert "calibration.readers" not in graph["calibration.errors"]


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_packages():
    pk = package_graph(import_graph())
    assert cycles(pk) == [], {k: sorted(v) for k, v in pk.items()}


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_the_runtime_imports_no_host_package():
    pk = package_graph(import_graph())
    assert not pk["edgevision"] & set(HOST), sorted(pk["edgevision"])


def _session_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("session", "InferenceSession", "_infer_impl"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "InferenceSession":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: InferenceSession")
        elif isinstance(node, ast.alias) and node.name.split(".")[-1] == "InferenceSession":
            found.append(f"{path.relative_to(ROOT)}: imports InferenceSession")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "InferenceSession(" in node.value:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: InferenceSession( in code text")
    return found


def test_no_session_outside_the_backends():
    found = []
    for pk in PACKAGES:
        for f in sorted((ROOT / pk).rglob("*.py")):
            rel = f.relative_to(ROOT).as_posix()
            if rel.startswith("edgevision/backends/") or rel in SESSION_ALLOWED:
                continue
            found += _session_uses(f)
    assert found == []


def test_the_session_check_sees_a_session(tmp_path):
    f = ROOT / "edgevision" / "backends" / "onnxruntime.py"  # the one place that must hold one
    assert any(".session" in u for u in _session_uses(f))
    assert any("InferenceSession" in u for u in _session_uses(f))
