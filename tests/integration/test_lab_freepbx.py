"""The lab's Asterisk loads the shipped snippets through FreePBX's custom-file includes
(docs/freepbx.md): the lab's extensions.conf, manager.conf, queues.conf and features.conf hold none
of them (tests/unit/test_freepbx_layout.py), yet every piece is there, read from the shipped file."""

import pytest

pytestmark = pytest.mark.lab


def test_shipped_snippets_load_through_the_freepbx_custom_includes(lab):
    inbound = lab.cli("dialplan show pbx-bridge-inbound")
    assert "Context 'pbx-bridge-inbound'" in inbound
    assert "Queue(${PBXB_QUEUE},r,,,${PBXB_MAXWAIT})" in inbound
    assert "[extensions_pbx_bridge.conf:" in inbound
    # the FastAGI secret reached [globals] through globals_custom.conf
    assert lab.agi_secret in lab.cli("dialplan show globals")

    # the shipped queue, with the shipped template's settings and the lab's members from
    # queues_post_custom.conf ([support](+))
    support = lab.cli("queue show support")
    assert "'rrmemory' strategy" in support and "within 20s" in support
    assert "Agent 201" in support

    features = lab.cli("features show")
    assert "pbxb-warn" in features and "pbxb-threat" in features

    # manager_custom.conf: the shipped user logs in, and [general](+) turned timestampevents on
    with lab.ami(raw=False, events=False) as shipped_user:
        assert shipped_user.action("Ping")["Response"] == "Success"
    settings = {k.strip(): v.strip() for k, _, v in
                (line.partition(":") for line in lab.cli("manager show settings").splitlines())}
    assert settings["Timestamp events"] == "Yes"
