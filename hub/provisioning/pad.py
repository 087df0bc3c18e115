"""config.json for a MicroPython button pad (firmware/): its Wi-Fi, broker and identity.

A pad is a kiosk to the broker (same per-device user and ACL), but it runs
umqtt.simple, which speaks MQTT 3.1.1 only: a publish the ACL refuses is
acknowledged as if delivered, so a pad must be provisioned right the first time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


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
) -> dict[str, Any]:
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
    if employee:
        config["employee"] = employee
    if pins:
        # The onboard LED thanks the shopper until the technician wires one; edit on the pad.
        config["pins"] = {"buttons": pins, "thanks": "LED"}
    return config
