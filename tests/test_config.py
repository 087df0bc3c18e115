"""otklik/config.py names every OTKLIK_* variable once; the code, the systemd units and the README agree with it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from otklik import config
from otklik.cli import cli

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
README = (ROOT / "README.md").read_text()
NAME = re.compile(r"\bOTKLIK_[A-Z0-9_]+\b")
KNOWN = set(config.BY_NAME) | {n for v in config.VARS for n in v.legacy}


def _sources() -> list[Path]:
    found = [p for pkg in ("hub", "kiosk", "otklik", "dashboard") for p in (ROOT / pkg).rglob("*.py")]
    return [*found, *(ROOT / "deploy").rglob("*.sh"), *UNITS.glob("*.service")]


def unit_environment(name: str) -> dict[str, str]:
    text = (UNITS / name).read_text()
    return dict(line.split("=", 2)[1:] for line in text.splitlines() if line.startswith("Environment="))


def unit_commands(name: str) -> list[list[str]]:
    """The `otklik ...` command lines a unit runs (ExecStart, ExecStartPre, ExecStartPost)."""
    out = []
    for line in (UNITS / name).read_text().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("ExecStart") and "/bin/otklik " in value:
            out.append(shlex.split(value.lstrip("-"))[1:])
    return out


def resolve(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp: Path) -> dict[str, object]:
    """The parameters click gives the command ``args`` names under ``env``, without running it.

    Files under /etc/otklik/ (password files, which must exist) are stood in for by empty ones in ``tmp``.
    """
    for key in list(config.BY_NAME) + list(config.RETIRED) + [n for v in config.VARS for n in v.legacy]:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    for i, arg in enumerate(rest):
        if arg.startswith("/etc/otklik/"):
            rest[i] = str(tmp / Path(arg).name)
            Path(rest[i]).touch()
    return command.make_context(command.name or "", rest).params


def test_every_variable_the_code_and_the_deploy_files_name_is_in_the_config() -> None:
    for path in _sources():
        if path.name == "config.py" and path.parent.name == "otklik":
            continue
        for name in NAME.findall(path.read_text()):
            assert name in KNOWN, f"{path.relative_to(ROOT)} names {name}, which otklik/config.py does not"


def test_nothing_reads_an_otklik_variable_behind_the_configs_back() -> None:
    reads = re.compile(r"(os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*[\"']OTKLIK_")
    for path in _sources():
        if path.suffix == ".py" and not (path.name == "config.py" and path.parent.name == "otklik"):
            assert not reads.search(path.read_text()), f"{path.relative_to(ROOT)} reads OTKLIK_* itself"


def test_the_readme_table_lists_every_variable_with_its_default() -> None:
    section = README[README.index("### Environment") :]
    section = section[: section.index("\n### ", 1)]
    for var in config.VARS:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{var.name}`")), None)
        assert row, f"the README's Environment table lacks {var.name}"
        assert var.meaning in row and (var.default or "—") in row, row
    for old in config.RETIRED:
        assert f"`{old}`" in section, f"the README does not say {old} is retired"
    for name in set(NAME.findall(README)):
        assert name in KNOWN or name in config.RETIRED, f"the README names {name}, unknown to otklik/config.py"


def test_the_hub_unit_and_the_dashboard_unit_open_the_same_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub_env, dash_env = unit_environment("otklik-hub.service"), unit_environment("otklik-dashboard.service")
    assert hub_env["OTKLIK_DB"] == dash_env["OTKLIK_DB"] == "/var/lib/otklik/hub.db"
    commands = unit_commands("otklik-hub.service")
    assert [c[:2] for c in commands] == [["db", "migrate"], ["hub", "--username"], ["config", "push"]]
    for args in commands:
        params = resolve(args, hub_env, monkeypatch, tmp_path)
        assert str(params["db_path"]) == hub_env["OTKLIK_DB"], args
        if "broker_url" in params:
            assert params["broker_url"] == hub_env["OTKLIK_BROKER"], args
    # A hub.env written for the old unit (OTKLIK_HUB_BROKER) still points the hub at its broker.
    moved = resolve(commands[1], {**hub_env, "OTKLIK_HUB_BROKER": "mqtt://10.0.0.5:1883"}, monkeypatch, tmp_path)
    assert moved["broker_url"] == "mqtt://10.0.0.5:1883"


def test_the_readme_first_admin_lands_where_the_dashboard_unit_looks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dash_env = unit_environment("otklik-dashboard.service")
    block = re.search(r"sudo -u otklik /opt/otklik/venv/bin/otklik (users add admin[^\n]*\\\n[^\n]*)", README)
    assert block, "the README does not show how to create the first admin in production"
    args = shlex.split(block.group(1).replace("\\\n", " "))
    params = resolve(args, {}, monkeypatch, tmp_path)
    assert params["role"] == "admin"
    assert str(params["db_path"]) == dash_env["OTKLIK_DB"]
    assert str(params["auth_db"]) == dash_env["OTKLIK_AUTH_DB"]
    # With the dashboard's environment, the same command needs neither option.
    from_env = resolve(["users", "add", "admin", "--role", "admin"], dash_env, monkeypatch, tmp_path)
    assert str(from_env["auth_db"]) == dash_env["OTKLIK_AUTH_DB"]


def test_a_legacy_name_still_works_and_a_retired_one_is_refused() -> None:
    assert config.get("OTKLIK_SECRET_KEY", {"SECRET_KEY": "old"}) == "old"
    assert config.get("OTKLIK_SECRET_KEY", {"OTKLIK_SECRET_KEY": "new"}) == "new"
    with pytest.raises(config.ConfigError, match="OTKLIK_HUB_DB is no longer read") as refused:
        config.check_retired({"OTKLIK_HUB_DB": "/var/lib/otklik/hub.db"})
    assert refused.value.hint == "use OTKLIK_DB instead, and unset OTKLIK_HUB_DB"
    with pytest.raises(config.ConfigError, match="OTKLIK_TRUSTED_PROXIES='one' must be a whole number"):
        config.get_int("OTKLIK_TRUSTED_PROXIES", 0, environ={"OTKLIK_TRUSTED_PROXIES": "one"})
