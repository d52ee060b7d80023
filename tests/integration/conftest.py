"""The lab: a real Asterisk 22 with the project's dialplan/, started once per test session.

Off CI, a machine that cannot build or start the lab (no root, no network for the first build)
skips these tests with a message saying how to enable them; in CI (CI=true) that is a failure.
"""

import os

import pytest

from tests.conftest import LAB_FILE_PREFIX
from tests.support import postgres
from tests.support.daemon import DaemonProcess

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"lab unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"lab unavailable ({reason}); run `make lab` as root to enable the lab tests")


def pytest_collection_modifyitems(items):
    """`make test` runs two pytest-xdist workers and sends every test of a `test_lab_*.py` file to
    one of them (tests/conftest.py, by file name: the controller sees only test ids). A lab test
    elsewhere would run beside the lab worker's, on the same Asterisk and FastAGI port: refused."""
    for item in items:
        if ("lab" in getattr(item, "fixturenames", ()) or item.get_closest_marker("lab")) \
                and not item.path.name.startswith(LAB_FILE_PREFIX):
            raise pytest.UsageError(f"{item.nodeid} uses the lab: it belongs in a {LAB_FILE_PREFIX}*.py file")


@pytest.fixture(scope="session")
def lab():
    try:
        from lab import Lab
    except ImportError as exc:  # pragma: no cover
        _unavailable(str(exc))
    if os.geteuid() != 0:
        _unavailable("the lab needs root (chroot, mount)")
    from lab.core import exclusive_lab

    with exclusive_lab():
        instance = Lab()
        try:
            instance.ensure().start()
        except Exception as exc:  # noqa: BLE001 - any reason the lab cannot run
            _unavailable(repr(exc))
        yield instance
        instance.stop()


@pytest.fixture
def lab_ami(lab):
    """The lab's unfiltered manager connection, for driving traffic."""
    with lab.ami() as ami:
        yield ami


@pytest.fixture(scope="session")
def pg_server():
    if not postgres.available():
        if IN_CI:
            pytest.fail("PostgreSQL server not installed in CI", pytrace=False)
        pytest.skip("PostgreSQL not installed: apt-get install postgresql")
    server = postgres.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test():
    """A failed test must not leave its daemon holding the FastAGI port for the next one."""
    yield
    while DaemonProcess.running:
        DaemonProcess.running.pop().stop()
