"""Files only their owner may read (databases of presses, accounts and credentials), private from the start.

Every Otklik service on a machine runs as the one user ``otklik`` (deploy/systemd),
so owner-only (0600) is enough for the hub, the dashboard and the kiosk to share
their databases, and nobody else on the machine reads them.
"""

from __future__ import annotations

import os
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
