"""Shared fixtures. Lab and PostgreSQL fixtures live in tests/integration/conftest.py."""

import os
from datetime import datetime, timezone

import pytest
from hypothesis import settings

# Hypothesis profiles. `ci` (the default) keeps `make test` short on a shared 2-core machine; the
# fuzz tests take a share of its example count (tests/support/fuzzing.py). `long` is for a fuzzing
# run by hand: HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/unit/test_fuzz_*.py
# Under CI (CI=true) the examples are derandomized: a red CI is reproducible and never a roll of the
# dice; a developer's run keeps drawing new examples, which is where the fuzzers find things.
settings.register_profile("ci", max_examples=100, deadline=None,
                          derandomize=os.environ.get("CI", "").lower() in ("1", "true", "yes"))
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from pbx_bridge.calls.records import CallRecord, OfferRecord

# The lab's tests: files named so (tests/integration/conftest.py refuses a lab test elsewhere).
LAB_FILE_PREFIX = "test_lab_"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` (setup.cfg) with every lab test in one group, run in file order on one
    worker: the machine has one lab (fixed ports, one Asterisk per session, a file lock), and its
    tests mostly wait on calls, so the other workers run the CPU-bound unit tests beside them.
    By file name, because the controller sees only test ids; and because pytest 9 ignores the id
    suffix through which xdist's own `xdist_group` mark groups tests."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class LabOnOneWorker(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::", 1)[0].rsplit("/", 1)[-1].startswith(LAB_FILE_PREFIX):
                return "lab"
            return super()._split_scope(nodeid)

    return LabOnOneWorker(config, log)


_niced = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """An xdist worker running tests beside the lab yields the CPU to it: the lab's Asterisk, SIPp
    phones and daemons keep their timing (rings, waits) however busy the unit tests keep the
    other core. Once per worker; the lab worker's tests all come first (one scope, scheduled first)."""
    global _niced
    if not _niced and os.environ.get("PYTEST_XDIST_WORKER") and not item.path.name.startswith(LAB_FILE_PREFIX):
        _niced = True
        os.nice(10)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/store.db"


def make_call(uniqueid="1700000000.1", **over):
    fields = dict(
        uniqueid=uniqueid, linkedid=uniqueid, pbx="pbx1", queue="support", caller_num="13800138000",
        caller_name="张三丰", joined_at=datetime(2026, 11, 23, 3, 0, 0, 500000, tzinfo=timezone.utc), position=1,
        outcome="answered", wait_s=4.2, agent="201", interface="Local/201@agents/n", ring_s=2.0, talk_s=30.0,
        ended_by="caller", hangup_cause="16",
    )
    fields.update(over)
    return CallRecord(**fields)


def make_offer(uniqueid="1700000000.1", offer_id="1700000000.2", **over):
    fields = dict(
        uniqueid=uniqueid, offer_id=offer_id, pbx="pbx1", queue="support", agent="201",
        interface="Local/201@agents/n", offered_at=datetime(2026, 11, 23, 3, 0, 2, tzinfo=timezone.utc),
        ring_s=2.0, rings=1, result="answered",
    )
    fields.update(over)
    return OfferRecord(**fields)
