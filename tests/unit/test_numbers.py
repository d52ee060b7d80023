"""The validated types callers' numbers and names become, and the one AGI quoting function."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from pbx_bridge.agi.quoting import agi_command, agi_exec, agi_quote
from pbx_bridge.ami.client import AmiClient, UnsafeAction
from pbx_bridge.ami.settings import AmiConfig
from pbx_bridge.nuisance.model import valid_number
from pbx_bridge.numbers import (ChannelName, DialplanName, InvalidValue, PhoneNumber, caller_id,
                                phone_number_or_none)
from pbx_bridge.voicemail.spool import parse_callerid
from tests.unit.test_hostile_caller_ids import HOSTILE

ASCII_NUMBER = re.compile(r"\+?[0-9]{1,32}")


@pytest.mark.parametrize("good", ["13800138000", "+8613800138000", "110", "0", "1" * 32, " 123 "])
def test_a_phone_number_is_an_optional_plus_then_ascii_digits(good):
    number = PhoneNumber.parse(good)
    assert number == good.strip() and isinstance(number, str)


@pytest.mark.parametrize("bad", [
    "", "+", "++1", "1+1", "１２３", "٠١٢٣", "१२३", "123\n", "12 3", "123@ctx", "1&Local/2", "1,30,g", "1(x)", "1^2",
    "1/n", '1"', "1'", "1\0", "1" * 33, "*31#", "0x12", "١", None, 123, b"123",
    "00900123@from-internal/n,30,U(evil^s^1)&Local/1",
])
def test_anything_else_is_not_a_phone_number(bad):
    with pytest.raises(InvalidValue):
        PhoneNumber.parse(bad)
    assert isinstance(InvalidValue("x"), ValueError)


def test_str_isdigit_would_have_let_non_ascii_digits_through():
    assert "１２３".isdigit() and "٠١٢".isdigit()  # why the type does not use it
    assert phone_number_or_none("１２３") is None and phone_number_or_none("٠١٢") is None


@given(HOSTILE)
def test_a_phone_number_built_from_anything_is_ascii_digits_or_refused(raw):
    try:
        number = PhoneNumber.parse(raw)
    except InvalidValue:
        assert not ASCII_NUMBER.fullmatch(raw.strip(" \t"))
    else:
        assert ASCII_NUMBER.fullmatch(number)


def test_no_number_is_quiet_and_a_bad_number_is_logged_repr_truncated():
    with capture_logs() as logs:
        assert phone_number_or_none(None) is None and phone_number_or_none("") is None
        assert phone_number_or_none("Anonymous") is None and phone_number_or_none("unknown") is None
    assert logs == []
    with capture_logs() as logs:
        assert phone_number_or_none("1@evil" + "x" * 500, source="voicemail") is None
    (entry,) = logs
    assert entry["event"] == "caller_number_refused" and entry["source"] == "voicemail"
    assert entry["raw"].startswith("'1@evil") and len(entry["raw"]) < 80


def test_the_voicemail_spool_makes_the_number_where_it_enters():
    assert parse_callerid('"张三丰" <13800138000>') == ("13800138000", "张三丰")
    assert isinstance(parse_callerid("<13800138000>")[0], PhoneNumber)
    assert parse_callerid('"x" <00900123@from-internal/n,30,U(evil^s^1)&Local/1>') == (None, "x")
    assert parse_callerid('"a <b> c" <+861>') == ("+861", "a <b> c")
    assert parse_callerid("Anonymous") == (None, "Anonymous")
    assert parse_callerid("１２３") == (None, "１２３")


def test_screening_numbers_from_the_cli_and_the_file_are_phone_numbers():
    assert valid_number("138-0013 8000") == "13800138000" and isinstance(valid_number("110"), PhoneNumber)
    for bad in ("１２３", "1@x", "*31#", "1" * 33):
        with pytest.raises(ValueError):
            valid_number(bad)


@pytest.mark.parametrize("good", ["PJSIP/trunk-0000001a", "Local/8001@vm-context-00000003;2", "SIP/a.b_c-1",
                                  "IAX2/10.0.0.1:4569-1234"])
def test_channel_names(good):
    assert ChannelName(good) == good


@pytest.mark.parametrize("bad", ["PJSIP/x,ctx,s,1", "PJSIP/x&Local/1", "Local/1@a(b)", "PJSIP/a b", "PJSIP/a\n",
                                 "PJSIP/a|b", "PJSIP/a^b", "x", "", 'PJSIP/"a"'])
def test_not_channel_names(bad):
    with pytest.raises(InvalidValue):
        ChannelName(bad)


def test_a_local_channel_is_built_only_from_a_phone_number_and_a_dialplan_name():
    assert ChannelName.local(PhoneNumber("123"), DialplanName("cb")) == "Local/123@cb/n"
    with pytest.raises(TypeError):
        ChannelName.local("123@evil", DialplanName("cb"))
    with pytest.raises(TypeError):
        ChannelName.local(PhoneNumber("123"), "cb/evil")
    with pytest.raises(InvalidValue):
        DialplanName("cb,x")


@given(st.text(max_size=200))
def test_agi_quote_keeps_any_text_one_argument_on_one_line(text):
    quoted = agi_quote(text)
    assert not re.search(r"[\x00-\x1f\x7f]", quoted)
    assert quoted.startswith('"') and quoted.endswith('"')
    inner = quoted[1:-1]
    # res_agi's reading: a backslash escapes the next character; an unescaped quote would end the argument
    assert not re.search(r'(?<!\\)(?:\\\\)*"', inner)
    assert re.sub(r"\\(.)", r"\1", inner) == re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", "", text)


def test_agi_command_passes_typed_values_bare_and_quotes_text():
    assert agi_command("SAY DIGITS", PhoneNumber("+8613800138000"), "1234") == 'SAY DIGITS +8613800138000 "1234"'
    assert agi_command("STREAM FILE", 'a" b\nEXEC x', "") == 'STREAM FILE "a\\" bEXEC x" ""'
    assert agi_command("SET VARIABLE", DialplanName("PBXB_X"), 12) == "SET VARIABLE PBXB_X 12"
    with pytest.raises(InvalidValue):
        agi_command("SAY DIGITS\nEXEC Dial", PhoneNumber("1"))
    with pytest.raises(TypeError):
        agi_command("SAY DIGITS", 1.5)


def test_agi_exec_takes_only_typed_arguments_and_option_words():
    dial = ChannelName.local(PhoneNumber("123"), DialplanName("pbx-bridge-callback"))
    assert agi_exec("Dial", dial, 30, "g") == "EXEC Dial Local/123@pbx-bridge-callback/n,30,g"
    for bad in ("123@from-internal/n", "1&Local/2", "30,U(evil)", "g\n"):
        with pytest.raises(InvalidValue):
            agi_exec("Dial", dial, 30, bad)


@given(HOSTILE)
def test_caller_id_keeps_any_name_inside_its_quotes(name):
    value = caller_id(name, PhoneNumber("13800138000"))
    assert re.fullmatch(r'"[^"\\<>\x00-\x1f\x7f-\x9f\u2028\u2029]{0,80}" <13800138000>', value), value


def test_caller_id_takes_only_a_phone_number():
    assert caller_id("静安", None) == '"静安"'
    with pytest.raises(TypeError):
        caller_id("x", "123> <evil")


async def test_an_ami_action_with_a_line_break_is_refused_not_sent():
    sent = []

    class Protocol:
        closed = False

        def send(self, action, as_list=None):
            sent.append(action)
            future = asyncio.get_running_loop().create_future()
            future.set_result({"Response": "Success"})
            return future

    cfg = AmiConfig(host="127.0.0.1", port=5038, username="u", secret="s", connect_timeout=1, ping_interval=1,
                    ping_timeout=1, reconnect_min=1, reconnect_max=2)
    client = AmiClient(cfg, "s", lambda m: None)
    client.protocol = Protocol()
    for fields in ({"Action": "Originate", "CallerID": '"x"\r\nAction: Hangup'},
                   {"Action": "Originate", "Variable": ["A=1", "B=2\nChannel: x"]}, {"Action": "Ping\0"}):
        with pytest.raises(UnsafeAction):
            await client.send_action(fields)
    assert sent == []
    await client.send_action({"Action": "Ping"})
    assert len(sent) == 1
