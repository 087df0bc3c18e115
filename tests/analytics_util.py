"""Feeding presses to the hub exactly as MQTT would (through hub.ingest), for the analytics tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub import ingest
from otklik import protocol, times

_ids = itertools.count(1)


def press(
    when: datetime,
    score: int,
    *,
    branch: str = "b1",
    kiosk: str = "k1",
    employee: str | None = None,
    flags: list[str] | None = None,
) -> tuple[str, bytes, datetime]:
    """One rating message; ``when`` is aware (or naive = UTC). Received one second after the press."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    n = next(_ids)
    body = protocol.rating_payload(
        branch=branch, kiosk=kiosk, id=f"evt{n:010d}", seq=n, ts=times.format_ts(when), score=score,
        employee=employee, flags=flags,
    )  # fmt: skip
    return protocol.topic(branch, kiosk, "rating"), protocol.encode(body), when.astimezone(UTC).replace(microsecond=0)


def feed(db, messages: Iterable[tuple[str, bytes, datetime]], received_at: datetime | None = None) -> list[str]:
    """Ingest messages in one batch; received_at defaults to a moment after all of them."""
    batch = list(messages)
    if received_at is not None:
        batch = [(t, p, received_at) for t, p, _ in batch]
    else:
        latest = max(r for _, _, r in batch)
        batch = [(t, p, latest) for t, p, _ in batch]
    outcomes = ingest.handle_batch(db, batch)
    assert all(o.result == "stored" for o in outcomes), outcomes
    return [o.result for o in outcomes]


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))
