"""Small JSON files on flash, replaced atomically.

A write goes to ``<path>.tmp`` and is renamed over the old file: on littlefs
(the default on rp2 and ESP32) rename is atomic, so a power cut leaves either
the old or the new file, never half of one. FAT cannot rename over an
existing file; there the old file is removed first (a short unsafe window,
documented in the README).
"""

import json
import os


def exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def replace(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        os.rename(tmp, path)
    except OSError:
        remove(path)
        os.rename(tmp, path)


def read_json(path: str, default: object = None) -> object:
    """The file's JSON value, or ``default`` when it is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return default


def write_json(path: str, value: object) -> None:
    replace(path, json.dumps(value).encode())
