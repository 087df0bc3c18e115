"""Receipts: after each commit, tell every kiosk which of its presses the hub now holds.

A broker's PUBACK only says the broker has the message, and Mosquitto keeps
its queue in a periodic snapshot: a broker killed between two snapshots, or one
that answers "no matching subscribers" while the hub is away, loses presses the
kiosk had already let go of. So the kiosk keeps every press until a receipt
from the hub names it, and the hub sends one only after the transaction that
stored it has committed.

This module is the pure part: the outcomes of one committed batch in, the
receipt messages out (one or a few per kiosk, however many presses the batch
held). ``hub.service`` publishes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from hub.ingest import DUPLICATE, REJECTED, STORED, Outcome
from otklik import protocol

Message = tuple[str, bytes]  # topic, payload


def receipts_for_batch(messages: Sequence[Message], outcomes: Sequence[Outcome]) -> list[Message]:
    """The receipts for a committed batch: ``messages[i]`` had ``outcomes[i]``.

    Stored and already-stored ids are confirmed (a kiosk's re-send must be
    confirmed too, or it would re-send forever); dead-lettered ones are named
    as ``rejected``, since the hub keeps them in its dead letters and another
    send would be rejected the same way.
    """
    per_kiosk: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for (topic, payload), outcome in zip(messages, outcomes, strict=True):
        if outcome.result not in (STORED, DUPLICATE, REJECTED):
            continue
        where = _receipted_topic(topic)
        if where is None:
            continue
        if outcome.result == REJECTED:
            event_id = _id_in(payload)
            if event_id is None:
                continue  # nothing the kiosk could match it to
            per_kiosk.setdefault((where.branch, where.kiosk), ([], []))[1].append(event_id)
        elif outcome.id is not None:
            per_kiosk.setdefault((where.branch, where.kiosk), ([], []))[0].append(outcome.id)
    out: list[Message] = []
    for (branch, kiosk), (ids, rejected) in per_kiosk.items():
        to = protocol.topic(branch, kiosk, protocol.RECEIPT)
        out.extend((to, body) for body in protocol.receipt_payloads(branch, kiosk, ids, rejected))
    return out


def _receipted_topic(topic: str) -> protocol.Topic | None:
    try:
        where = protocol.parse_topic(topic)
    except protocol.ProtocolError:
        return None
    return where if where.kind in protocol.RECEIPTED_KINDS else None


def _id_in(payload: bytes) -> str | None:
    """The id a rejected message carried, if it is one a receipt can name (rejects are rare: parsing again is cheap)."""
    try:
        body = json.loads(payload[: protocol.MAX_PAYLOAD_BYTES])
    except (ValueError, RecursionError):
        return None
    event_id = body.get("id") if isinstance(body, dict) else None
    if isinstance(event_id, str) and protocol.EVENT_ID_RE.fullmatch(event_id):
        return event_id
    return None
