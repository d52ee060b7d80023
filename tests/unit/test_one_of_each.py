"""One definition of each thing: a second copy drifts (issue #13, "One of each")."""

import ast
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from pbx_bridge.reports import kpi, ring_twice

PACKAGE = Path(__file__).resolve().parents[2] / "pbx_bridge"


def _classes(module: Path) -> list[str]:
    return [n.name for n in ast.parse(module.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef)]


def test_each_report_line_type_is_defined_once():
    names = Counter(name for module in (PACKAGE / "reports").glob("*.py") for name in _classes(module))
    assert [name for name, n in names.items() if n > 1] == []
    assert names["AgentLine"] == 1 and names["OfferCounts"] == 1


def test_the_sql_report_counts_against_the_ring_twice_limit_of_the_python_report():
    assert ring_twice.within_two_rings_limit_s(6.0) == 6.25
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    query = kpi.agent_offers_query("sqlite", at, at, 6.0).compile(compile_kwargs={"literal_binds": True})
    assert "ring_s <= 6.25" in str(query)


def test_tenacity_is_neither_declared_nor_imported():
    setup = (PACKAGE.parent / "setup.cfg").read_text(encoding="utf-8")
    assert "tenacity" not in setup
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert "tenacity" not in imported


def test_the_fake_ami_wire_is_defined_once_in_tests_support():
    tests = PACKAGE.parent / "tests"
    where = [str(p.relative_to(tests)) for p in tests.rglob("*.py") if {"FakeTransport", "Collector"} & set(_classes(p))]
    assert where == ["support/ami_wire.py"]
