"""The escalation ladder is checked when the file is read: contradictions are one line naming the key."""

import pytest

from pbx_bridge.config import ConfigError, load_config

GOOD = """\
ami:
  host: h
escalation:
  enabled: true
  supervisors:
    Supervisor Wu: super501
    Seat 1: seat601
  queues:
    support:
      calm_for: 300
      steps:
        - name: supervisors
          waiting: 3
          longest_wait: 60
          add:
            - member: Supervisor Wu
              penalty: 1
        - name: seats
          waiting: 6
          service_level_below: 0.6
          add:
            - member: Seat 1
          priority:
            level: 10
            callers: ["13800138000"]
            dids: ["4000"]
          callback_offer_after: 20
"""


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(tmp_path, text):
    return load_config(write(tmp_path, text), env={})


def test_a_consistent_ladder_is_read_with_typed_numbers(tmp_path):
    cfg = load(tmp_path, GOOD).escalation
    steps = cfg.queues["support"].steps
    assert [s.name for s in steps] == ["supervisors", "seats"]
    assert steps[1].priority.callers == ("13800138000",)
    assert type(steps[1].priority.callers[0]).__name__ == "PhoneNumber"
    assert cfg.member("Supervisor Wu") == "Local/super501@pbx-bridge-agents/n"


def test_a_later_step_with_a_lower_waiting_threshold_names_its_line(tmp_path):
    path = write(tmp_path, GOOD.replace("waiting: 6", "waiting: 2"))
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}:19: escalation.queues.support.steps[1].waiting: 2 is lower than step 1")


def test_a_later_step_with_a_higher_service_level_threshold_is_refused(tmp_path):
    text = GOOD.replace("          longest_wait: 60\n", "          service_level_below: 0.5\n")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}:20: escalation.queues.support.steps\[1\].service_level_below: "
                                          r"0.6 is higher than step 1"):
        load_config(path, env={})


def test_a_calm_time_of_zero_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("calm_for: 300", "calm_for: 0"))
    with pytest.raises(ConfigError, match=rf"^{path}:10: escalation.queues.support.calm_for: .*more than 0"):
        load_config(path, env={})


def test_an_unknown_supervisor_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, GOOD.replace("- member: Seat 1", "- member: Seat 9"))
    with pytest.raises(ConfigError, match=rf"^{path}:22: escalation.queues.support.steps\[1\].add\[0\].member: "
                                          r"unknown supervisor 'Seat 9'"):
        load_config(path, env={})


def test_a_step_without_threshold_or_action_is_refused(tmp_path):
    text = GOOD.replace("          waiting: 3\n          longest_wait: 60\n", "")
    with pytest.raises(ConfigError, match="a step needs a threshold"):
        load(tmp_path, text)
    text = GOOD.replace("          add:\n            - member: Supervisor Wu\n              penalty: 1\n", "")
    with pytest.raises(ConfigError, match="a step needs an action"):
        load(tmp_path, text)


def test_a_vip_number_that_is_not_a_number_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace('callers: ["13800138000"]', 'callers: ["1380,0138000"]'))
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: escalation.queues.support.steps\[1\].priority.callers"
                                          r"\[0\]: .*is not a phone number"):
        load_config(path, env={})


def test_a_supervisor_added_by_two_steps_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="already added by step 1"):
        load(tmp_path, GOOD.replace("- member: Seat 1", "- member: Supervisor Wu"))
