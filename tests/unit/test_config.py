"""Config: one-line errors that name file, line and key; secrets from file or environment."""

import pytest

from pbx_bridge.config import ConfigError, load_config


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_example_config_is_valid(tmp_path):
    cfg = load_config("config.example.yaml", env={"PBX_BRIDGE_AMI_SECRET": "s3cret",
                                                  "PBX_BRIDGE_AGI_SECRET": "agi-secret-of-16-chars"})
    assert cfg.ami.host == "127.0.0.1"
    assert cfg.ami.secret.get_secret_value() == "s3cret"
    assert cfg.store.url.startswith("sqlite:")


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "pbx: a\nami:\n  host: h\n  hots: x\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}:4: ami.hots: unknown key"


def test_wrong_type_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\n  port: five\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: ami.port: Input should be a valid integer"):
        load_config(path, env={})


def test_missing_ami_host_is_an_error(tmp_path):
    path = write(tmp_path, "pbx: a\nami:\n  port: 5038\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: ami.host: required key is missing$"):
        load_config(path, env={})


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\n  port: [1\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: invalid YAML"):
        load_config(path, env={})


def test_secret_from_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    path = write(tmp_path, f"ami:\n  host: h\n  secret_file: {secret}\n")
    assert load_config(path, env={}).ami.secret.get_secret_value() == "from-file"


def test_environment_secret_wins_over_file(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\n  secret_file: /nonexistent\n")
    cfg = load_config(path, env={"PBX_BRIDGE_AMI_SECRET": "env"})
    assert cfg.ami.secret.get_secret_value() == "env"


def test_secret_is_masked_in_the_config_repr(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\n")
    cfg = load_config(path, env={"PBX_BRIDGE_AMI_SECRET": "hunter22"})
    assert "hunter22" not in repr(cfg)
    assert "hunter22" not in str(cfg.model_dump())


def test_ping_settings_must_notice_a_dead_peer_within_30s(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\n  ping_interval: 28\n  ping_timeout: 5\n")
    with pytest.raises(ConfigError, match="30 s or less"):
        load_config(path, env={})


def test_explicit_cadence(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\nring:\n  cadence: {on_ms: 2000, off_ms: 4000}\n")
    assert load_config(path, env={}).ring.pattern.on_ms == 2000


def test_cli_exits_2_with_one_line(tmp_path):
    from click.testing import CliRunner

    from pbx_bridge.cli import cli

    path = write(tmp_path, "ami:\n  host: h\n  bogus: 1\n")
    result = CliRunner().invoke(cli, ["config", "check", "-c", path])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"pbx-bridge: config error: {path}:3: ami.bogus: unknown key"]


def test_reconciliation_is_on_by_default_and_reads_asterisks_queue_log(tmp_path):
    cfg = load_config(write(tmp_path, "ami:\n  host: h\n"), env={}).reconcile
    assert (cfg.enabled, str(cfg.queue_log), cfg.interval, cfg.realtime) == (
        True, "/var/log/asterisk/queue_log", 15, None)


def test_realtime_queue_log_url_from_the_environment_and_checked(tmp_path):
    path = write(tmp_path, "ami:\n  host: h\nreconcile:\n  realtime:\n    url: mysql+aiomysql://asterisk@db/ast\n")
    cfg = load_config(path, env={"PBX_BRIDGE_QUEUE_LOG_URL": "mysql+aiomysql://asterisk:pw@db/ast"})
    assert cfg.reconcile.realtime.url.endswith(":pw@db/ast") and cfg.reconcile.realtime.table == "queue_log"
    bad = write(tmp_path, "ami:\n  host: h\nreconcile:\n  realtime:\n    url: not a url\n", "bad.yaml")
    with pytest.raises(ConfigError, match=r":5: reconcile.realtime.url: .*not a database URL"):
        load_config(bad, env={})


@pytest.mark.parametrize("key", ["store", "realtime"])
def test_a_bad_database_url_is_refused_without_repeating_its_password(tmp_path, key):
    bad_url = "asterisk:pw-never-echoed@db/ast"  # no scheme: not a URL SQLAlchemy can read
    if key == "store":
        text = f"ami:\n  host: h\nstore:\n  url: '{bad_url}'\n"
    else:
        text = f"ami:\n  host: h\nreconcile:\n  realtime:\n    url: '{bad_url}'\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"url: not a database URL") as raised:
        load_config(path, env={})
    assert "pw-never-echoed" not in str(raised.value)
