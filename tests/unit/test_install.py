"""`make install` (scripts/install.sh) staged under DESTDIR: the tree, the modes, the site's files
kept, the unit verified by systemd. The virtualenv step is skipped for speed
(PBX_BRIDGE_INSTALL_SKIP_VENV=1) unless PBX_BRIDGE_TEST_INSTALL_VENV=1 asks for it; accounts and
chown run against stand-in commands that only log their arguments."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install.sh"
SNIPPETS = sorted(p.name for p in (ROOT / "dialplan").glob("*_pbx_bridge.conf"))
AGI_SECRET_CONF = "pbx_bridge_agi_secret.conf"  # written by install.sh, not shipped


def install(destdir: Path, *args: str, skip_venv: bool = True, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "DESTDIR": str(destdir), **env}
    if skip_venv:
        full["PBX_BRIDGE_INSTALL_SKIP_VENV"] = "1"
    if "PBX_BRIDGE_INSTALL_ACCOUNTS" not in env:
        full.pop("PBX_BRIDGE_INSTALL_ACCOUNTS", None)
    # under root's strictest umask: what the daemon's user and Asterisk must read stays readable
    done = subprocess.run(["bash", str(SCRIPT), *args], env=full, capture_output=True, text=True, timeout=600,
                          preexec_fn=lambda: os.umask(0o077))
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def staged(tmp_path):
    dest = tmp_path / "stage"
    return dest, install(dest)


def test_the_staged_tree_has_everything_in_place(staged):
    dest, done = staged
    etc = dest / "etc/pbx-bridge"
    assert mode(etc) == 0o750
    assert (etc / "config.yaml").read_text() == (ROOT / "config.example.yaml").read_text()
    assert (etc / "rota.yaml").read_text() == (ROOT / "rota.example.yaml").read_text()
    for name in ("config.yaml", "rota.yaml", "ami-secret", "agi-secret"):
        assert mode(etc / name) == 0o640, name
    assert mode(dest / "var/lib/pbx-bridge") == 0o750
    assert sorted(p.name for p in (dest / "etc/asterisk").iterdir()) == sorted([*SNIPPETS, AGI_SECRET_CONF])
    assert all(mode(p) == 0o640 for p in (dest / "etc/asterisk").iterdir())
    unit = dest / "etc/systemd/system/pbx-bridge.service"
    assert unit.read_text() == (ROOT / "systemd/pbx-bridge.service").read_text() and mode(unit) == 0o644
    assert mode(dest / "usr/share/pbx-bridge") == 0o755 and mode(dest / "usr/share/pbx-bridge/agi") == 0o755
    agi = dest / "usr/share/pbx-bridge/agi/ring_twice.py"
    assert agi.read_text().splitlines()[0] == "#!/opt/pbx-bridge/bin/python" and mode(agi) == 0o755
    docs = dest / "usr/share/doc/pbx-bridge"
    assert {"README.md", "config.example.yaml", "rota.example.yaml"} <= {p.name for p in docs.iterdir()}
    assert sorted(p.name for p in (docs / "dialplan").iterdir()) == sorted(p.name for p in (ROOT / "dialplan").iterdir())
    for snippet in SNIPPETS:
        assert f"/etc/asterisk/{snippet.replace('_pbx_bridge', '')}:  #include {snippet}" in done.stdout


def test_the_ami_secret_is_random_and_the_same_on_both_sides(tmp_path):
    secrets = []
    for n in (1, 2):
        dest = tmp_path / f"stage{n}"
        install(dest)
        secret = (dest / "etc/pbx-bridge/ami-secret").read_text().strip()
        manager = (dest / "etc/asterisk/manager_pbx_bridge.conf").read_text()
        assert len(secret) == 32 and secret.isalnum()
        assert f"secret = {secret}\n" in manager and "CHANGE-ME" not in manager
        secrets.append(secret)
    assert secrets[0] != secrets[1]


def agi_secrets(dest: Path) -> tuple[str, list[str]]:
    """The daemon's copy, and the non-comment lines of Asterisk's [globals] include."""
    conf = (dest / "etc/asterisk" / AGI_SECRET_CONF).read_text().splitlines()
    return (dest / "etc/pbx-bridge/agi-secret").read_text().strip(), [line for line in conf if not line.startswith(";")]


def test_the_fastagi_secret_is_random_the_same_on_both_sides_and_shown_to_nobody(tmp_path):
    secrets = []
    for n in (1, 2):
        dest = tmp_path / f"stage{n}"
        done = install(dest)
        secret, globals_lines = agi_secrets(dest)
        assert len(secret) == 32 and secret.isalnum()
        assert globals_lines == [f"PBXB_AGI_SECRET={secret}"], "one line for the site's [globals]"
        assert mode(dest / "etc/asterisk" / AGI_SECRET_CONF) == 0o640
        assert mode(dest / "etc/pbx-bridge/agi-secret") == 0o640
        assert f"/etc/asterisk/extensions.conf, INSIDE [globals]:  #include {AGI_SECRET_CONF}" in done.stdout
        assert secret not in done.stdout + done.stderr
        secrets.append(secret)
    assert secrets[0] != secrets[1]
    assert secrets[0] != (tmp_path / "stage1/etc/pbx-bridge/ami-secret").read_text().strip()


def test_a_second_install_keeps_both_fastagi_secrets_and_restores_a_missing_side(staged):
    dest, _ = staged
    secret, _ = agi_secrets(dest)
    done = install(dest)
    assert agi_secrets(dest) == (secret, [f"PBXB_AGI_SECRET={secret}"]) and "differs" not in done.stdout
    (dest / "etc/asterisk" / AGI_SECRET_CONF).unlink()
    install(dest)
    assert agi_secrets(dest) == (secret, [f"PBXB_AGI_SECRET={secret}"]), "Asterisk's side from the daemon's"
    (dest / "etc/pbx-bridge/agi-secret").unlink()
    install(dest)
    assert agi_secrets(dest) == (secret, [f"PBXB_AGI_SECRET={secret}"]), "the daemon's side from Asterisk's"
    (dest / "etc/pbx-bridge/agi-secret").write_text("the-site-changed-this-one\n")
    done = install(dest)
    assert f"the secret in /etc/asterisk/{AGI_SECRET_CONF} differs from /etc/pbx-bridge/agi-secret" in done.stdout
    assert (dest / "etc/pbx-bridge/agi-secret").read_text() == "the-site-changed-this-one\n"


def test_a_kept_config_without_the_agi_secret_file_is_pointed_out(staged):
    dest, _ = staged
    (dest / "etc/pbx-bridge/config.yaml").write_text("ami:\n  host: 127.0.0.1\n")
    done = install(dest)
    assert "/etc/pbx-bridge/config.yaml has no agi.secret_file" in done.stdout


def test_a_second_install_keeps_the_site_s_files(staged):
    dest, _ = staged
    edited = {
        "etc/pbx-bridge/config.yaml": "pbx: site-edited\n",
        "etc/pbx-bridge/rota.yaml": "companies: []\n",
        "etc/pbx-bridge/ami-secret": "the-site's|secret&\n",
        "etc/asterisk/queues_pbx_bridge.conf": "; the site's queues\n",
    }
    for path, text in edited.items():
        (dest / path).write_text(text)
    (dest / "etc/asterisk/extensions_pbx_bridge.conf").unlink()  # gone: comes back
    done = install(dest)
    for path, text in edited.items():
        assert (dest / path).read_text() == text, path
        assert f"kept /{path}" in done.stdout
    # a snippet installed anew takes the site's secret, special characters and all
    assert (dest / "etc/asterisk/extensions_pbx_bridge.conf").exists()
    assert "differs from /etc/pbx-bridge/ami-secret" in done.stdout  # the site changed only one side
    (dest / "etc/asterisk/manager_pbx_bridge.conf").unlink()
    install(dest)
    assert "secret = the-site's|secret&\n" in (dest / "etc/asterisk/manager_pbx_bridge.conf").read_text()


def test_the_directories_asterisk_and_systemd_already_have_keep_their_modes(tmp_path):
    dest = tmp_path / "stage"
    for path in ("etc/asterisk", "etc/systemd/system"):
        (dest / path).mkdir(parents=True)
        (dest / path).chmod(0o770)
    install(dest)
    assert mode(dest / "etc/asterisk") == 0o770 and mode(dest / "etc/systemd/system") == 0o770


def test_a_second_install_over_an_untouched_one_has_nothing_to_report(staged):
    dest, _ = staged
    done = install(dest)
    assert "(the site's)" not in done.stdout and "differs" not in done.stdout


def test_prefix_moves_the_virtualenv_the_unit_and_the_agi_script(tmp_path):
    dest = tmp_path / "stage"
    install(dest, PREFIX="/srv/pbxb/")
    unit = (dest / "etc/systemd/system/pbx-bridge.service").read_text()
    assert "ExecStart=/srv/pbxb/bin/pbx-bridge run -c /etc/pbx-bridge/config.yaml\n" in unit
    assert "/opt/pbx-bridge" not in unit
    assert (dest / "usr/share/pbx-bridge/agi/ring_twice.py").read_text().startswith("#!/srv/pbxb/bin/python\n")


def test_the_installed_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze on this machine")
    prefix = tmp_path / "venv"  # ExecStart must name an executable that exists
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin/pbx-bridge").write_text("#!/bin/sh\n")
    (prefix / "bin/pbx-bridge").chmod(0o755)
    dest = tmp_path / "stage"
    install(dest, PREFIX=str(prefix))
    verified = subprocess.run(["systemd-analyze", "verify", str(dest / "etc/systemd/system/pbx-bridge.service")],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    problems = [line for line in verified.stderr.splitlines() if "pbx-bridge.service" in line]
    assert problems == [], problems


def stand_ins(tmp_path: Path, asterisk_group: bool) -> tuple[Path, Path]:
    """getent/groupadd/useradd/usermod/chown/systemctl that log their arguments and change nothing."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    groups = "asterisk" if asterisk_group else ""
    scripts = {
        "getent": f'echo "getent $*" >> {log}; [ "$1" = group ] && [ "$2" = "{groups}" ] && echo "$2:x:115:"; '
                  f'[ "$1" = group ] && [ "$2" = "{groups}" ]',
        "groupadd": f'echo "groupadd $*" >> {log}',
        "useradd": f'echo "useradd $*" >> {log}',
        "usermod": f'echo "usermod $*" >> {log}',
        "chown": f'echo "chown $*" >> {log}',
        "systemctl": f'echo "systemctl $*" >> {log}',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir, log


@pytest.mark.skipif(os.geteuid() != 0, reason="the script refuses to manage accounts unless root")
@pytest.mark.parametrize("asterisk_group", [True, False], ids=["with-asterisk", "without-asterisk"])
def test_the_user_and_the_ownership_on_a_host(tmp_path, asterisk_group):
    bin_dir, log = stand_ins(tmp_path, asterisk_group)
    dest = tmp_path / "stage"
    install(dest, PBX_BRIDGE_INSTALL_ACCOUNTS="yes", PATH=f"{bin_dir}:{os.environ['PATH']}")
    calls = log.read_text().splitlines()
    assert "groupadd --system pbx-bridge" in calls
    assert ("useradd --system --gid pbx-bridge --home-dir /var/lib/pbx-bridge --no-create-home "
            "--shell /usr/sbin/nologin --comment pbx-bridge daemon pbx-bridge") in calls
    assert ("usermod --append --groups asterisk pbx-bridge" in calls) == asterisk_group
    chowns = {line.split()[2]: line.split()[1] for line in calls if line.startswith("chown ")}
    assert chowns[f"{dest}/etc/pbx-bridge"] == "root:pbx-bridge"
    for name in ("config.yaml", "rota.yaml", "ami-secret", "agi-secret"):
        assert chowns[f"{dest}/etc/pbx-bridge/{name}"] == "root:pbx-bridge"
    assert chowns[f"{dest}/var/lib/pbx-bridge"] == "pbx-bridge:pbx-bridge"
    group = "asterisk" if asterisk_group else "root"
    for snippet in [*SNIPPETS, AGI_SECRET_CONF]:
        assert chowns[f"{dest}/etc/asterisk/{snippet}"] == f"root:{group}"
    agi_secret, _ = agi_secrets(dest)
    assert agi_secret not in log.read_text(), "the FastAGI secret is never a command's argument"
    assert not [line for line in calls if line.startswith("systemctl")], "no daemon-reload under DESTDIR"


def test_uninstall_removes_the_package_and_keeps_the_configuration_and_data(tmp_path):
    dest = tmp_path / "stage"
    install(dest)
    venv = dest / "opt/pbx-bridge"  # what a virtualenv leaves, as far as uninstall looks
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin/pbx-bridge").write_text("#!/bin/sh\n")
    install(dest, "--uninstall")
    assert not venv.exists()
    assert not (dest / "etc/systemd/system/pbx-bridge.service").exists()
    assert not (dest / "usr/share/pbx-bridge").exists() and not (dest / "usr/share/doc/pbx-bridge").exists()
    for kept in ("etc/pbx-bridge/config.yaml", "etc/pbx-bridge/ami-secret", "var/lib/pbx-bridge",
                 *(f"etc/asterisk/{s}" for s in SNIPPETS)):
        assert (dest / kept).exists(), kept


def test_uninstall_leaves_a_prefix_that_is_not_our_virtualenv(tmp_path):
    dest = tmp_path / "stage"
    other = dest / "srv/data"
    other.mkdir(parents=True)
    (other / "precious").write_text("x")
    done = install(dest, "--uninstall", PREFIX="/srv/data")
    assert (other / "precious").exists() and "not a pbx-bridge virtualenv" in done.stdout


@pytest.mark.skipif(os.environ.get("PBX_BRIDGE_TEST_INSTALL_VENV") == "0",
                    reason="PBX_BRIDGE_TEST_INSTALL_VENV=0: the virtualenv step (PyPI or a WHEELHOUSE, ~20 s) is off")
def test_the_staged_virtualenv_runs_the_daemon_s_command(tmp_path):
    dest = tmp_path / "stage"
    install(dest, skip_venv=False)
    venv = dest / "opt/pbx-bridge"
    assert (venv / "bin/pbx-bridge").read_text().startswith("#!/opt/pbx-bridge/bin/python")
    assert str(dest) not in (venv / "pyvenv.cfg").read_text()
    package = next((venv / "lib").glob("python3*/site-packages/pbx_bridge"))
    assert mode(package) & 0o005 == 0o005 and mode(package / "daemon.py") & 0o004  # the daemon's user reads it
    done = subprocess.run([str(venv / "bin/python"), "-m", "pbx_bridge", "config", "check", "-c",
                           str(dest / "etc/pbx-bridge/config.yaml")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PBX_BRIDGE_AMI_SECRET": "x", "PBX_BRIDGE_AGI_SECRET": "x" * 16})
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_the_ami_secret_is_on_no_command_line_the_install_runs(tmp_path):
    """ps and /proc/PID/cmdline show every user the arguments of a running command."""
    dest = tmp_path / "stage"
    trace = tmp_path / "execve.trace"
    env = {**os.environ, "DESTDIR": str(dest), "PBX_BRIDGE_INSTALL_SKIP_VENV": "1"}
    env.pop("PBX_BRIDGE_INSTALL_ACCOUNTS", None)
    for run in (1, 2):  # a first install (a new secret), then one over it (the kept secret is checked)
        done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-s", "65536", "-o", f"{trace}.{run}",
                               "bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr + done.stdout
    secret = (dest / "etc/pbx-bridge/ami-secret").read_text().strip()
    assert len(secret) == 32
    for run in (1, 2):
        commands = [line for line in Path(f"{trace}.{run}").read_text().splitlines() if "execve(" in line]
        assert any('"install"' in line or "/install\"" in line for line in commands)  # the trace saw the commands
        assert [line for line in commands if secret in line] == []


def test_a_site_s_secret_with_sed_s_special_characters_is_written_as_it_is(tmp_path):
    dest = tmp_path / "stage"
    (dest / "etc/pbx-bridge").mkdir(parents=True)
    odd = r"a|b&c\d/e$f*g[h]"
    (dest / "etc/pbx-bridge/ami-secret").write_text(odd + "\n")
    done = install(dest)
    manager = (dest / "etc/asterisk/manager_pbx_bridge.conf").read_text()
    assert f"\nsecret = {odd}\n" in manager
    assert manager.replace(odd, "CHANGE-ME-pbx-bridge-secret") == (ROOT / "dialplan/manager_pbx_bridge.conf").read_text()
    assert "differs from" not in done.stdout


def test_the_drop_in_documented_next_to_the_store_url_opens_the_unit_to_a_remote_database(tmp_path):
    """The unit allows loopback only; config.example.yaml's store section shows the way out."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze on this machine")
    example = (ROOT / "config.example.yaml").read_text()
    store = example[example.index("\nstore:"):example.index("\n  url:", example.index("\nstore:"))]
    assert "systemctl edit pbx-bridge" in store
    allow = [line.strip(" #").split()[0] for line in store.splitlines() if "IPAddressAllow=" in line
             and line.strip(" #").startswith("IPAddressAllow=")]
    assert len(allow) == 1
    prefix = tmp_path / "venv"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin/pbx-bridge").write_text("#!/bin/sh\n")
    (prefix / "bin/pbx-bridge").chmod(0o755)
    dest = tmp_path / "stage"
    install(dest, PREFIX=str(prefix))
    units = dest / "etc/systemd/system"

    def allow_list() -> str:
        done = subprocess.run(["systemd-analyze", "security", "--offline=true", str(units / "pbx-bridge.service")],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
        assert "ipaddress.conf" not in done.stderr, done.stderr  # the drop-in is understood
        return next(line for line in done.stdout.splitlines() if "IP address allow list" in line)

    assert "only localhost" in allow_list()
    (units / "pbx-bridge.service.d").mkdir()
    (units / "pbx-bridge.service.d/ipaddress.conf").write_text(f"[Service]\n{allow[0]}\n")
    assert "non-localhost" in allow_list()
