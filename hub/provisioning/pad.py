"""config.json for a MicroPython button pad (firmware/): its Wi-Fi, broker and identity.

A pad is a kiosk to the broker (same per-device user and ACL), but it runs
umqtt.simple, which speaks MQTT 3.1.1 only: a publish the ACL refuses is
acknowledged as if delivered, so a pad must be provisioned right the first time.

The settings a pad shares with the hub's config push (``otklik.settings.PAD_SETTINGS``)
are checked by that schema and written as the pad's own file values, so a pad that never
reaches the broker still runs with what it was provisioned with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from otklik.settings import PAD_SETTINGS, SCHEMA, parse_settings


def pad_config(
    *,
    branch: str,
    kiosk: str,
    username: str,
    password: str,
    broker_url: str,
    employee: str | None,
    ca_pem: str | None,
    pins: list[int] | None,
    wifi_ssid: str | None,
    wifi_password: str | None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``settings``: the kiosk settings it is provisioned with (config version 1); raises SettingsError."""
    checked = parse_settings(1, {**(settings or {}), "employee": employee})
    url = urlsplit(broker_url)
    tls = url.scheme == "mqtts"
    config: dict[str, Any] = {
        "branch": branch,
        "device": kiosk,  # firmware/otpad/config.py calls the kiosk id "device"
        "broker": {
            "host": url.hostname,
            "port": url.port or (8883 if tls else 1883),
            "username": username,
            "password": password,
            "ssl": tls,
        },
        "wifi": {"ssid": wifi_ssid or "", "password": wifi_password or ""},
    }
    if tls and ca_pem:
        config["broker"]["ca"] = ca_pem
    for name in PAD_SETTINGS:
        if checked.values.get(name) is not None:
            config[name] = SCHEMA[name].wire(checked.values[name])
    if pins:
        # The onboard LED thanks the shopper until the technician wires one; edit on the pad.
        config["pins"] = {"buttons": pins, "thanks": "LED"}
    return config
