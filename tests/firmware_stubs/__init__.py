"""Make ``firmware/`` importable under CPython with the MicroPython stand-ins in this folder."""

import json
import sys
import time
from pathlib import Path

STUBS = Path(__file__).resolve().parent
FIRMWARE = STUBS.parent.parent / "firmware"
UMQTT_SIMPLE_SHA256 = "8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5"  # PyPI 1.3.4


def install() -> None:
    for path in (str(FIRMWARE), str(STUBS)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import mpy_time

    if not hasattr(time, "ticks_ms"):
        mpy_time.install()


def pad_config(broker_host: str = "127.0.0.1", broker_port: int = 1883, **overrides: object) -> dict:
    """A config.json as `otklik provision` writes it, for tests."""
    cfg: dict = {
        "wifi": {"ssid": "shop", "password": "wifi-secret"},
        "broker": {"host": broker_host, "port": broker_port, "username": "pad-b1-p1", "password": "mqtt-secret"},
        "branch": "b1",
        "device": "p1",
        "employee": "e17",
        "pins": {"buttons": [2, 3, 4, 5], "thanks": 15, "status": "LED"},
        "cooldown_s": 5.0,
        "debounce_ms": 0,
        "heartbeat_s": 60,
        "buffer_capacity": 50,
    }
    cfg.update(overrides)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(json.dumps(cfg))
    return path
