"""The lab loads the shipped dialplan/ snippets the way FreePBX would (docs/freepbx.md): its top-level
Asterisk files hold no pbx-bridge section and name no snippet; each snippet is `#include`d exactly
once, from the FreePBX file a site edits. The lab test test_lab_freepbx.py shows Asterisk loading
them so; every other lab test runs on the same files."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_CONF = REPO / "lab" / "conf"
SHIPPED = sorted(p.name for p in (REPO / "dialplan").glob("*.conf"))

# The shipped snippet -> the FreePBX file that includes it, and the top-level file that includes that.
WHERE = {
    "extensions_pbx_bridge.conf": ("extensions_custom.conf", "extensions.conf"),
    "manager_pbx_bridge.conf": ("manager_custom.conf", "manager.conf"),
    "queues_pbx_bridge.conf": ("queues_custom.conf", "queues.conf"),
    "features_pbx_bridge.conf": ("features_applicationmap_custom.conf", "features.conf"),
}
INCLUDE = re.compile(r"^\s*#(?:try)?include\s+\"?([^\s\"]+)\"?", re.M)
SECTION = re.compile(r"^\s*\[([^\]]+)\]", re.M)


def includes(name: str) -> list[str]:
    return INCLUDE.findall((LAB_CONF / name).read_text())


def test_every_shipped_snippet_is_placed():
    assert sorted(WHERE) == SHIPPED


def test_each_shipped_snippet_is_included_once_from_its_freepbx_custom_file():
    for snippet, (custom, top) in WHERE.items():
        including = [p.name for p in sorted(LAB_CONF.glob("*.conf")) for inc in includes(p.name) if inc == snippet]
        assert including == [custom], snippet
        assert includes(top).count(custom) == 1, (top, custom)


def test_the_lab_top_level_files_hold_no_pbx_bridge_section_and_name_no_snippet():
    for _, top in WHERE.values():
        text = (LAB_CONF / top).read_text()
        assert not [s for s in SECTION.findall(text) if "pbx-bridge" in s], top
        assert not set(includes(top)) & set(SHIPPED), top


def test_the_agi_secret_goes_inside_globals_through_globals_custom():
    text = (LAB_CONF / "extensions.conf").read_text()
    globals_at = text.index("[globals]")
    after = text[globals_at:]
    next_section = SECTION.search(after, len("[globals]"))
    inside = after[: next_section.start()] if next_section else after
    assert "#include globals_custom.conf" in inside
    assert includes("globals_custom.conf") == ["pbx_bridge_agi_secret.conf"]
