"""The house's walls, read from the source: no import cycles between the app's modules
(imports inside functions count: a lazy import is a cycle postponed), the carrier
reached only through services, and `vonage` imported only by the carrier."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "inbox"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[ast.AST]:
    """Imports under `if TYPE_CHECKING:`: annotations only, never run."""
    skip: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skip.update(ast.walk(inner))
    return skip


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The app's modules `name` imports, anywhere in its body."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    found.add(f"{source}.{alias.name}")
                elif source in modules:
                    found.add(source)
    # A package's own __init__ is imported with any of its modules: not an edge.
    return {m for m in found if m != name and not name.startswith(m + ".")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_of_the_app_imports_itself_back():
    graph = _graph()
    assert "inbox.services.sending" in graph and graph["inbox.services.sending"]
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_pages_and_the_api_reach_the_carrier_only_through_services():
    graph = _graph()
    offenders = {
        name: sorted(m for m in imports if m == "inbox.carrier" or m.startswith("inbox.carrier."))
        for name, imports in graph.items()
        if name.startswith(("inbox.web", "inbox.api"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_carrier_imports_vonage():
    importers = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n == "vonage" or n.startswith("vonage") for n in names):
                importers.add(name)
    assert importers and all(m.startswith("inbox.carrier") for m in importers), importers


def _functions_mentioning(pattern: str) -> set[str]:
    """module:function of every function of the app whose own code matches `pattern`."""
    found = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and re.search(pattern, ast.unparse(node)):
                found.add(f"{name}:{node.name}")
    return found


def test_a_delivery_to_send_has_one_writer():
    """Event webhooks: an event's deliveries, a test event and a resend are all written by
    event_hooks.add_deliveries (one INSERT, one rule for when the job is queued)."""
    inserts = _functions_mentioning(r"\binsert\(") & _functions_mentioning(r"\bWebhookDelivery\b")
    writers = inserts | _functions_mentioning(r"\bWebhookDelivery\(")
    assert writers == {"inbox.services.event_hooks:add_deliveries"}


def test_the_failure_mark_has_one_writer():
    """A conversation's has_failed is recomputed by message_status.refresh_failed_flags
    alone (a failed text, a retry, a receipt, a merge of two conversations); the demo
    data seeds it as it seeds every column."""
    writers = _functions_mentioning(r"\bhas_failed\s*=(?!=)")
    assert writers == {
        "inbox.services.message_status:refresh_failed_flags",
        "inbox.services.demo:seed_demo",
    }
