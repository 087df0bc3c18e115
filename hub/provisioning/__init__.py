"""Provisioning: per-device MQTT credentials, the broker's password and ACL files, kiosk bundles.

The hub database is the registry (table ``credentials``); the broker's password
file and ACL file are rendered from it in full every time, so they can never
drift from what the registry says, and a revoke is one row update plus a reload.
"""

from __future__ import annotations

from otklik.errors import OtklikError


class ProvisionError(OtklikError):
    """A provisioning request that cannot be done; the text says why, ``hint`` what to do."""

    def __init__(self, message: str, hint: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message, field=field, hint=hint)
