"""Config push: settings versioned on the hub, checked on both ends, applied by a running kiosk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub import config_push
from hub.provisioning import ProvisionError, registry
from kiosk.remote_config import RemoteConfig
from otklik import protocol
from otklik.settings import SettingsError, parse_settings, wire_hours
from tests.broker import wait_until
from tests.test_provision_broker import heartbeat_extra, hub_service, make_kiosk
from tests.test_provision_env import Store, store_fixture


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


@pytest.mark.broker
def test_running_kiosk_applies_pushed_cooldown_and_labels(store: Store, mock_pins: MockFactory) -> None:
    bundle_dir = store.provision_kiosk("b1", "k1", "--cooldown", "5")
    hub = hub_service(store)
    kiosk = make_kiosk(store, bundle_dir, mock_pins)
    try:
        assert kiosk.wait_connected(10)
        assert kiosk.panel.filter.cooldown_s == 5.0
        out = store.push_config("b1", "k1", "--cooldown", "0.5", *[a for x in "ABCD" for a in ("--label", x)])
        assert "config version 2" in out and "pushed b1/k1 config version 2" in out
        wait_until(lambda: kiosk.remote_config.version == 2, message="the kiosk to apply version 2")
        assert kiosk.panel.filter.cooldown_s == 0.5
        assert kiosk.config.buttons.labels == ("A", "B", "C", "D")
        wait_until(lambda: heartbeat_extra(store, "b1", "k1").get("config_version") == 2,
                   message="the heartbeat stored by the hub to report config version 2")  # fmt: skip
        # A restart keeps the applied settings before the broker is even reached.
        kiosk.stop()
        again = make_kiosk(store, bundle_dir, mock_pins)
        try:
            assert again.remote_config.version == 2 and again.panel.filter.cooldown_s == 0.5
        finally:
            again.stop()
    finally:
        kiosk.stop()
        hub.stop()


def test_versions_only_go_up_and_bad_settings_never_get_a_version(hub_target: str | Path) -> None:
    db = registry.open_hub_db(hub_target)
    assert config_push.set_settings(db, "b1", "k1", {"cooldown_s": 3}) == 1
    assert config_push.set_settings(db, "b1", "k1", {"cooldown_s": 3}) == 1  # no change, no new version
    assert config_push.set_settings(db, "b1", "k1", {"labels": ["a", "b", "c", "d"]}) == 2
    with pytest.raises(ProvisionError, match="cooldown_s"):
        config_push.set_settings(db, "b1", "k1", {"cooldown_s": -1})
    with pytest.raises(ProvisionError, match="unknown setting"):
        config_push.set_settings(db, "b1", "k1", {"colour": "red"})
    assert config_push.set_settings(db, "b1", "k1", {"cooldown_s": None}) == 3
    version, settings = config_push.get_settings(db, "b1", "k1")
    assert (version, settings) == (3, {"labels": ["a", "b", "c", "d"]})
    body = json.loads(config_push.payload(version, settings))
    decoded = protocol.decode("otklik/v1/b1/k1/config", json.dumps(body).encode())
    assert isinstance(decoded, protocol.Config) and decoded.version == 3
    assert config_push.targets(db, pending_only=True) == [("b1", "k1")]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"labels": ["a", ""]}, "labels[1]"),
        ({"labels": "abcd"}, "labels"),
        ({"cooldown_s": True}, "cooldown_s"),
        ({"opening_hours": {"mon": ["20:00-08:00"]}}, "opening_hours.mon"),
        ({"opening_hours": {"someday": []}}, "opening_hours.someday"),
        ({"employee": "no spaces"}, "employee"),
        ({"locale": "Russian"}, "locale"),
    ],
)
def test_bad_settings_name_the_field(settings: dict, field: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings(1, settings)
    assert err.value.field == field


def test_hours_short_form() -> None:
    hours = wire_hours("mon-fri=08:00-20:00;sat=10:00-16:00")
    assert hours["wed"] == ["08:00-20:00"] and hours["sat"] == ["10:00-16:00"] and hours["sun"] == []
    assert wire_hours("09:00-18:00")["sun"] == ["09:00-18:00"]
    with pytest.raises(SettingsError):
        wire_hours("fri-mon=08:00-09:00;xyz=1")


def test_kiosk_side_refuses_bad_pushes_and_ignores_old_versions(tmp_path: Path) -> None:
    applied: list[int] = []

    def apply(settings: object) -> None:
        if getattr(settings, "labels", None) and len(settings.labels) != 4:  # type: ignore[attr-defined]
            raise SettingsError("labels", "3 labels for this kiosk's 4 buttons")
        applied.append(settings.version)  # type: ignore[attr-defined]

    state = tmp_path / "state.json"
    rc = RemoteConfig("b1", "k1", apply, state_path=state)
    topic = "otklik/v1/b1/k1/config"
    assert rc.handle(topic, b'{"v":1,"version":2,"cooldown_s":1}')
    assert not rc.handle(topic, b'{"v":1,"version":2,"cooldown_s":1}')  # the retained copy again
    assert not rc.handle(topic, b'{"v":1,"version":3,"cooldown_s":"fast"}')
    assert "cooldown_s" in (rc.last_error or "")
    assert not rc.handle(topic, b'{"v":1,"version":4,"labels":["a","b","c"]}')
    assert not rc.handle("otklik/v1/b1/k2/config", b'{"v":1,"version":9}')
    assert not rc.handle(topic, b"not json")
    assert (rc.version, applied) == (2, [2])
    assert RemoteConfig("b1", "k1", apply, state_path=state).version == 2  # survives a restart
