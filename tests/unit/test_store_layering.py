"""The store is core: it imports no feature, and features reach the store's helpers without reports/."""

import ast
from pathlib import Path

import pbx_bridge

PACKAGE = Path(pbx_bridge.__file__).parent
SHARED = {"pbx_bridge.store", "pbx_bridge.backoff", "pbx_bridge.settings"}  # what store/ may import from the project


def imports(path: Path) -> set[str]:
    """Every pbx_bridge module a file imports, function-local imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("pbx_bridge.")}


def test_the_store_imports_no_feature():
    upward = {f"{path.relative_to(PACKAGE)}: {name}" for path in (PACKAGE / "store").rglob("*.py")
              for name in imports(path) if not any(name.startswith(ok + ".") for ok in SHARED)}
    assert upward == set()


def test_no_feature_imports_reports_for_the_day_helpers():
    """The local-day and database-bound helpers live in store/days.py: below the features, where a
    feature (callbacks/store.py) may use them. Only the top layer (cli/, daemon.py, config.py),
    the report pages (web/, a layer above reports) and reports/ itself import reports/."""
    outside = {f"{path.relative_to(PACKAGE)}: {name}" for path in PACKAGE.rglob("*.py")
               if len(path.relative_to(PACKAGE).parts) > 1
               and path.relative_to(PACKAGE).parts[0] not in ("reports", "cli", "web")
               for name in imports(path) if name.startswith("pbx_bridge.reports.")}
    assert outside == set()
