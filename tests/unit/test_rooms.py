"""The wall between the product and the tools room: the service never imports streamproc.testing."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.harness import ROOT

TOOLS = "streamproc.testing"
# The command line loads the tool commands (`streamproc simulate`, `produce`, `kafka`, `oracle`).
MAY_IMPORT_TOOLS = {Path("streamproc/cli.py")}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute names (``from a import b`` gives a and a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def product_modules() -> list[Path]:
    modules = [*ROOT.glob("streamproc/**/*.py"), *ROOT.glob("exporter/**/*.py")]
    return sorted(
        p.relative_to(ROOT)
        for p in modules
        if not p.relative_to(ROOT).is_relative_to("streamproc/testing")
    )


def test_no_product_module_imports_the_tools_room() -> None:
    offenders = {
        str(path): sorted(m for m in imported_modules(ROOT / path) if m.startswith(TOOLS))
        for path in product_modules()
        if path not in MAY_IMPORT_TOOLS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_the_imports_it_guards_against() -> None:
    """The command line does import the tools (else the check above could pass blind)."""
    assert len(product_modules()) > 40
    cli = imported_modules(ROOT / "streamproc/cli.py")
    assert {f"{TOOLS}.simulate", f"{TOOLS}.oracle", f"{TOOLS}.produce"} <= cli
