"""Files only their owner may read (databases of presses, accounts and credentials), private from the start.

Every Otklik service on a machine runs as the one user ``otklik`` (deploy/systemd),
so owner-only (0600) is enough for the hub, the dashboard and the kiosk to share
their databases, and nobody else on the machine reads them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600


def create_private(path: str | Path, mode: int = PRIVATE_MODE) -> None:
    """Create ``path`` empty with ``mode`` unless it exists; an existing file is left as it is.

    Made by ``os.open`` with the mode, not chmod-ed afterwards: there is no moment
    when it is readable by others. SQLite takes an empty file as a new database
    and gives its -wal and -shm files the database file's mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    os.close(fd)


def read_or_create_secret(path: str | Path) -> str:
    """The secret kept in ``path`` (0600), made once (random) if the file does not exist yet.

    O_EXCL: two processes starting together (gunicorn workers, a CLI beside the dashboard)
    must not write two different keys; the loser reads the winner's.
    """
    path = Path(path)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
