"""The README documents the protocol and the quick start; these keep it honest as the code changes."""

import re
from pathlib import Path

from otklik import protocol

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_every_kind_is_in_the_topic_table_with_its_qos_and_retain():
    table = section("Wire protocol v1")
    for kind in protocol.KINDS:
        row = re.search(rf"^\| `{kind}` \|[^|]*\| (\d) \| (yes|no) \|", table, re.MULTILINE)
        assert row, f"kind {kind!r} missing from the README's topic table"
        assert int(row.group(1)) == protocol.QOS[kind], f"README QoS for {kind}"
        assert (row.group(2) == "yes") == (kind in protocol.RETAINED), f"README retain for {kind}"


def test_every_rating_field_is_documented():
    table = section("Wire protocol v1")
    for name in protocol._RATING_FIELDS:
        assert f"`{name}`" in table, f"rating field {name!r} not documented in the README"
    assert f"at most {protocol.MAX_PAYLOAD_BYTES} bytes" in table


def test_receipt_and_its_heartbeat_fields_are_documented():
    table = section("Wire protocol v1")
    for name in (*protocol._RECEIPT_FIELDS, protocol.HEARTBEAT_UNCONFIRMED, protocol.HEARTBEAT_UNCONFIRMED_AGE):
        assert f"`{name}`" in table, f"field {name!r} not documented in the README's protocol section"
    assert "receipt" in section("How a press travels")


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", README, re.DOTALL)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./dev demo", "./dev test"]
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


def test_the_exact_rules_and_dead_letter_bounds_match_the_code():
    from hub import dead_letters

    table = section("Wire protocol v1")
    days = protocol.MAX_AGE_MS // (24 * 3600 * 1000)
    assert f"`age_ms` is 0 … {protocol.MAX_AGE_MS:,} ({days} days)" in table
    assert f"nested at most {protocol.MAX_NESTING} deep" in table
    assert f"at most {protocol.MAX_CAMERA_CHARS} printable" in table
    assert f"1–{protocol.MAX_LABEL_CHARS} printable" in table
    assert f"at most {protocol.MAX_WINDOW_S:.0f}" in table and f"`fps` 0 … {protocol.MAX_FPS:.0f}" in table
    assert f"first {dead_letters.KEEP_BYTES} bytes" in table
    assert f"may write {dead_letters.RATE_PER_MINUTE} a minute" in table
    assert f"pruned after {dead_letters.RETENTION_DAYS} days" in table
    for pattern in (protocol.ID_RE, protocol.EVENT_ID_RE, protocol.EMPLOYEE_RE, protocol.FLAG_RE):
        assert f"`{pattern.pattern.removesuffix(chr(92) + 'Z')}`" in table, pattern.pattern
