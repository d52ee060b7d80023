"""FastAGI authentication: only a session carrying the dialplan's secret (`?auth=` in the AGI URL)
reaches a route; any other local process is refused, counted, and never sees its secret logged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs as _capture_logs

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import ConfigError, load_config
from tests.support.agi_peer import AGI_SECRET, AgiPeer

ROOT = Path(__file__).resolve().parents[2]


def capture_logs():
    """Every log entry with its bound context (the session, the script), as the daemon writes it."""
    return _capture_logs(processors=[structlog.contextvars.merge_contextvars])


@contextlib.asynccontextmanager
async def serving(secret=AGI_SECRET):
    """A server whose one route records that it ran."""
    ran = []

    async def route(session):
        ran.append(session.args)
        await session.command("SET VARIABLE PBXB_RING_TWICE ok")

    cfg = AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5, secret=secret)
    server = FastAgiServer(cfg, {"ring_twice": route, "callback_request": route})
    task = asyncio.create_task(server.run(), name="fastagi-auth-under-test")
    try:
        async with asyncio.timeout(10):
            while not server.listening:
                await asyncio.sleep(0.01)
        server.ran = ran
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def call(server, script="ring_twice", secret=AGI_SECRET, **kw):
    peer = AgiPeer.fastagi(script, ["inbound"], port=server.port, secret=secret, **kw)
    async with asyncio.timeout(10):
        return await peer.call_fastagi("127.0.0.1", server.port)


async def test_the_dialplan_s_secret_is_served():
    async with serving() as server:
        assert await call(server) == ["SET VARIABLE PBXB_RING_TWICE ok"]
        assert server.ran == [["inbound"]] and server.served == 1 and server.unauthenticated == 0


@pytest.mark.parametrize("offered", [
    None,                                # agi://127.0.0.1:4573/ring_twice: no query at all
    "",                                  # ?auth= (the dialplan's global is not set)
    "wrong-secret-of-some-length",
    AGI_SECRET.upper(),                  # another case
    AGI_SECRET[:-1],                     # a prefix
    AGI_SECRET + "x",                    # the secret and more
    f"{AGI_SECRET}&auth=other",          # two auth values
])
async def test_a_session_without_the_secret_is_refused_before_any_route_runs(offered):
    async with serving() as server:
        commands = await call(server, secret=offered)
        assert commands == [], "the server said nothing: it closed the connection"
        assert server.ran == []
        assert server.unauthenticated == 1 and server.health()["unauthenticated"] == 1
        assert server.served == 0 and not server.active


async def test_a_forged_callback_request_never_reaches_the_route():
    async with serving() as server:
        assert await call(server, "callback_request", secret="guess-guess-guess") == []
        assert await call(server, "callback_request", secret=None) == []
        assert server.ran == [] and server.unauthenticated == 2


async def test_the_refusal_is_logged_once_without_the_offered_or_the_real_secret():
    offered = "offered-but-wrong-secret"
    async with serving() as server:
        with capture_logs() as logs:
            await call(server, secret=offered)
            await call(server, secret=None)
    refusals = [entry for entry in logs if entry["event"] == "fastagi_unauthenticated"]
    assert [(entry["reason"], entry["agi_script"]) for entry in refusals] == [
        ("wrong secret", "ring_twice"), ("no secret", "ring_twice")]
    assert refusals[-1]["unauthenticated"] == 2
    text = repr(logs)
    assert offered not in text and AGI_SECRET not in text


async def test_an_unknown_script_is_logged_by_name_not_by_its_url():
    """agi_request is the whole URL, secret included: it never goes into a log line."""
    async with serving() as server:
        with capture_logs() as logs:
            assert await call(server, "no_such_route") == []
    assert [entry["agi_script"] for entry in logs if entry["event"] == "fastagi_unknown_script"] == ["no_such_route"]
    assert AGI_SECRET not in repr(logs)


def test_a_server_without_a_secret_cannot_be_made():
    with pytest.raises(ValueError, match="agi.secret"):
        FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5), {})


# --- configuration -----------------------------------------------------------------------------

def config_file(tmp_path, agi: str = "") -> str:
    path = tmp_path / "config.yaml"
    path.write_text("ami:\n  host: 127.0.0.1\n" + (f"agi:\n{agi}" if agi else ""))
    return str(path)


def test_the_secret_comes_from_agi_secret_file_and_the_environment_wins(tmp_path):
    secret_file = tmp_path / "agi-secret"
    secret_file.write_text("from-the-file-0123456789\n")
    path = config_file(tmp_path, f"  secret_file: {secret_file}\n")
    assert load_config(path, env={}).agi.secret.get_secret_value() == "from-the-file-0123456789"
    env = {"PBX_BRIDGE_AGI_SECRET": "from-the-environment-01"}
    assert load_config(path, env=env).agi.secret.get_secret_value() == "from-the-environment-01"
    assert load_config(config_file(tmp_path), env=env).agi.secret.get_secret_value() == "from-the-environment-01"
    assert "from-the-file" not in repr(load_config(path, env={}))


@pytest.mark.parametrize("source,problem", [
    ("/dev/zero", "not a regular file"),
    ("empty", "empty"),
    ("/nonexistent/agi-secret", "cannot read"),
])
def test_an_unusable_secret_file_is_a_config_error_naming_the_key(tmp_path, source, problem):
    if source == "empty":
        (tmp_path / "empty").write_text("\n")
        source = str(tmp_path / "empty")
    path = config_file(tmp_path, f"  secret_file: {source}\n")
    with pytest.raises(ConfigError, match=f"agi.secret_file: {source}: {problem}"):
        load_config(path, env={})


@pytest.mark.parametrize("secret", ["short", "has,a,comma-in-it!", "has space in the middle", "semi;colon-is-a-comment"])
def test_a_secret_that_would_break_the_dialplan_url_is_refused_without_being_shown(tmp_path, secret):
    with pytest.raises(ConfigError, match="agi.secret") as raised:
        load_config(config_file(tmp_path), env={"PBX_BRIDGE_AGI_SECRET": secret})
    assert secret not in str(raised.value)


def test_the_daemon_refuses_to_start_without_an_agi_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_BRIDGE_")}
    env["PBX_BRIDGE_AMI_SECRET"] = "ami-secret"
    done = subprocess.run([sys.executable, "-m", "pbx_bridge", "run", "-c", config_file(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"pbx-bridge: config error: {tmp_path}/config.yaml: agi.secret: no FastAGI secret: "
        "set agi.secret_file or the environment variable PBX_BRIDGE_AGI_SECRET"]
