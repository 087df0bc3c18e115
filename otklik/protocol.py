"""Wire protocol v1: the one source of truth for topics and payloads.

Everything that speaks MQTT in Otklik (the kiosk, the button-pad firmware, the
hub, the camera counter) builds and checks its messages with this module, and
the README's protocol section is written from it.

Topics are ``otklik/v1/<branch>/<kiosk>/<kind>``.  Payloads are UTF-8 JSON
objects.  A receiver keeps fields it does not know and ignores them, so a newer
kiosk can talk to an older hub; a missing or invalid known field is a reject
with a reason that names the field.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from otklik import times
from otklik.errors import OtklikError

VERSION = 1
PREFIX = "otklik/v1"

RATING = "rating"
HEARTBEAT = "heartbeat"
STATUS = "status"
CONFIG = "config"
REACTION = "reaction"
RECEIPT = "receipt"
# What a shopper adds after a press (the follow-up's reason, a comment): a message of its own, so a
# shopper who walks away after the smiley loses nothing and an answer can never double a press.
ANSWER = "answer"
KINDS = (RATING, HEARTBEAT, STATUS, CONFIG, REACTION, RECEIPT, ANSWER)

# QoS per kind: ratings and reactions must arrive; a heartbeat is worthless
# once the next one is due; status and config are retained state. A receipt is
# QoS 1 but not retained: a lost one costs a re-send, never a press.
# Receipts go at QoS 0: a lost one costs a re-send (the kiosk re-sends what stays unconfirmed, the hub
# confirms again), while QoS 1 made the hub hold every receipt until its PUBACK, which Mosquitto sends
# only after the backlog it is already pushing to the hub: 205 MB after a 1 M backlog.
QOS = {RATING: 1, REACTION: 1, HEARTBEAT: 0, STATUS: 1, CONFIG: 1, RECEIPT: 0, ANSWER: 1}
RETAINED = {STATUS, CONFIG}
# What a kiosk keeps in its outbox until a receipt names it (hub -> kiosk, after the hub's commit).
RECEIPTED_KINDS = (RATING, REACTION, ANSWER)
# What a kiosk publishes (each under its own otklik/v1/<branch>/<kiosk>/): what the hub subscribes
# to, the broker's ACL lets a kiosk write and a store's bridge carries out.
DEVICE_KINDS = (RATING, HEARTBEAT, STATUS, REACTION, ANSWER)

# Large enough for any honest message (a rating is ~250 bytes), small enough
# that a broken or hostile sender cannot fill the hub's disk with one publish.
MAX_PAYLOAD_BYTES = 4096

SCORES = (1, 2, 3, 4)
SCORE_NAMES = {1: "very unhappy", 2: "unhappy", 3: "happy", 4: "very happy"}

# Where a press was made. Absent means buttons: kiosks and pads older than the field send none.
CHANNEL_BUTTONS, CHANNEL_TOUCH, CHANNEL_PHONE, CHANNEL_PAD = "buttons", "touch", "phone", "pad"
CHANNELS = (CHANNEL_BUTTONS, CHANNEL_TOUCH, CHANNEL_PHONE, CHANNEL_PAD)
# Made on the kiosk itself: a sign of its life with a place in its sequence. A phone's rating only
# names the kiosk whose QR code was scanned.
DEVICE_CHANNELS = (CHANNEL_BUTTONS, CHANNEL_TOUCH, CHANNEL_PAD)
# A shopper's comment is shown on pages and kept for years: bounded well inside MAX_PAYLOAD_BYTES
# (500 Persian letters are 1000 bytes of UTF-8).
MAX_COMMENT_CHARS = 500

CLOCK_SYNCED = "synced"
CLOCK_UNSYNCED = "unsynced"
KIOSK_FLAGS = ("cooldown",)

# Branch and kiosk ids are topic levels: no '/', '+', '#', no spaces, no case
# games (two kiosks "Till-1" and "till-1" would be one kiosk to a person).
# Each pattern ends in \Z, so .match() and .fullmatch() both take the whole
# string: '$' also matches before a trailing newline, and "abcdefgh12\n" would
# be a second id for the same press.
ID_MAX_CHARS = 32
ID_RE = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{ID_MAX_CHARS - 1}}}\Z")
EMPLOYEE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
EVENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}\Z")
FLAG_RE = re.compile(r"[a-z_]{1,32}\Z")

# Integers are stored in SQLite, whose INTEGER is 64-bit signed: anything wider
# would fail at the insert (OverflowError), long after validation said yes.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# age_ms comes from the kiosk's monotonic clock, which restarts at every boot,
# so it can only span one uptime without NTP. 30 days is far beyond any honest
# unsynced stretch (a kiosk syncs within minutes of reaching the network) and
# still small enough that hub time minus age is a date inside this product's life:
# 10**12 ms would have stored a press in 1995.
MAX_AGE_MS = 30 * 24 * 3600 * 1000
# Upper bounds for the numbers a device measures; a value beyond them is a bug
# or an attack, not a measurement, and would make a page print nonsense.
MAX_UPTIME_S = 100 * 365 * 24 * 3600.0
MAX_WINDOW_S = 24 * 3600.0
MAX_FPS = 10_000.0
# Free text a device reports (versions, detector names, camera state) is shown
# on pages: printable, one line, short.
MAX_LABEL_CHARS = 64
MAX_CAMERA_CHARS = 512
CAMERA_STATES = ("ok", "off")
CAMERA_UNAVAILABLE = "unavailable"
# Unknown fields are kept, but nested no deeper than this: an honest extra is
# flat, and json nested ~1000 deep (3000 '[' fit in the payload limit) would
# otherwise raise RecursionError wherever it is parsed or written back.
MAX_NESTING = 16


# The largest MQTT packet an honest client sends: a PUBLISH of a payload at the
# limit on the longest topic (otklik/v1/<branch>/<kiosk>/<kind>). The broker's
# max_packet_size is this, so a bigger one is refused before anyone stores it.
MAX_TOPIC_BYTES = len(PREFIX) + 3 + 2 * ID_MAX_CHARS + max(len(k) for k in KINDS)
# Fixed header (1 + up to 4 length bytes), topic length (2), packet id (2), and
# MQTT 5 properties (length + room for a few, e.g. a session's topic alias).
PUBLISH_OVERHEAD_BYTES = 5 + 2 + 2 + 256
MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + MAX_TOPIC_BYTES + PUBLISH_OVERHEAD_BYTES


class ProtocolError(OtklikError, ValueError):
    """A message that does not follow protocol v1; the text says what and why."""


# --- topics -----------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    branch: str
    kiosk: str
    kind: str

    def __str__(self) -> str:
        return topic(self.branch, self.kiosk, self.kind)


def topic(branch: str, kiosk: str, kind: str) -> str:
    check_id("branch", branch)
    check_id("kiosk", kiosk)
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {_short(kind)}; expected one of {', '.join(KINDS)}")
    return f"{PREFIX}/{branch}/{kiosk}/{kind}"


def subscription(kind: str = "+", branch: str = "+", kiosk: str = "+") -> str:
    """A subscription filter, e.g. ``otklik/v1/+/+/rating``."""
    return f"{PREFIX}/{branch}/{kiosk}/{kind}"


def alert_topic(branch: str) -> str:
    """Where the hub publishes a branch's alerts (QoS 1, not retained): ``otklik/v1/alerts/<branch>``.

    One level shorter than device topics, so no ``otklik/v1/+/+/<kind>`` filter receives it.
    """
    return f"{PREFIX}/alerts/{check_id('branch', branch)}"


# Every message of a kiosk names the same few topics: checked once each (refusals are not cached).
@lru_cache(maxsize=4096)
def parse_topic(name: str) -> Topic:
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX:
        raise ProtocolError(f"topic {_short(name)} is not of the form {PREFIX}/<branch>/<kiosk>/<kind>")
    _, _, branch, kiosk, kind = parts
    check_id("topic branch", branch)
    check_id("topic kiosk", kiosk)
    if kind not in KINDS:
        raise ProtocolError(f"topic {_short(name)} has unknown kind {_short(kind)}")
    return Topic(branch, kiosk, kind)


def check_id(what: str, value: Any) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise ProtocolError(
            f"{what} {_short(value)} is not a valid id: use 1-32 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


# --- time -------------------------------------------------------------------


def _ts(what: str, value: Any) -> datetime:
    """A timestamp field (otklik.times says what one is), refused as a protocol error."""
    try:
        return times.parse_ts(what, value)
    except times.TimestampError as exc:
        raise ProtocolError(str(exc)) from None


# --- messages ---------------------------------------------------------------


@dataclass
class Rating:
    branch: str
    kiosk: str
    id: str
    seq: int
    ts: datetime
    score: int
    employee: str | None = None
    clock: str = CLOCK_SYNCED
    age_ms: int | None = None
    flags: list[str] = field(default_factory=list)
    channel: str = CHANNEL_BUTTONS
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    """What a shopper added to the press ``rating``: the follow-up's ``reason`` and/or a ``comment``."""

    branch: str
    kiosk: str
    id: str
    rating: str
    ts: datetime
    reason: str | None = None
    comment: str | None = None
    # Where it was given, as the rating's (absent: buttons' kiosk, i.e. the device itself).
    channel: str = CHANNEL_BUTTONS
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Heartbeat:
    branch: str
    kiosk: str
    ts: datetime
    uptime_s: float
    version: str
    outbox_depth: int
    last_seq_sent: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Status:
    branch: str
    kiosk: str
    state: str
    ts: datetime | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reaction:
    branch: str
    kiosk: str
    id: str
    window_start: datetime
    window_s: float
    visitors: int
    smiling: int
    frames: int
    fps: float
    detector: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    branch: str
    kiosk: str
    version: int
    settings: dict[str, Any]


@dataclass
class Receipt:
    """The hub has taken custody of these ids: ``ids`` are stored (now or before), ``rejected`` dead-lettered."""

    branch: str
    kiosk: str
    ids: list[str]
    rejected: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


Message = Rating | Heartbeat | Status | Reaction | Config | Receipt | Answer

_RATING_FIELDS = (
    "v", "branch", "kiosk", "id", "seq", "ts", "score", "employee", "clock", "age_ms", "flags", "channel",
)  # fmt: skip
_ANSWER_FIELDS = ("v", "branch", "kiosk", "id", "rating", "ts", "reason", "comment", "channel")
_HEARTBEAT_FIELDS = ("v", "branch", "kiosk", "ts", "uptime_s", "version", "outbox_depth", "last_seq_sent")
_RECEIPT_FIELDS = ("v", "branch", "kiosk", "ids", "rejected")
# Optional heartbeat fields with a meaning of their own (checked when present, kept in ``extra``).
HEARTBEAT_UNCONFIRMED = "unconfirmed"  # outbox rows sent but not yet named by a receipt
HEARTBEAT_UNCONFIRMED_AGE = "unconfirmed_age_s"  # how long ago the oldest of them was pressed
_STATUS_FIELDS = ("v", "branch", "kiosk", "state", "ts")
_REACTION_FIELDS = (
    "v", "branch", "kiosk", "id", "window_start", "window_s",
    "visitors", "smiling", "frames", "fps", "detector",
)  # fmt: skip


def rating_payload(
    *,
    branch: str,
    kiosk: str,
    id: str,
    seq: int,
    ts: str,
    score: int,
    employee: str | None = None,
    clock: str = CLOCK_SYNCED,
    age_ms: int | None = None,
    flags: list[str] | None = None,
    channel: str = CHANNEL_BUTTONS,
) -> dict[str, Any]:
    """Build a rating as it goes on the wire (optional fields left out when unset)."""
    body: dict[str, Any] = {
        "v": VERSION, "branch": branch, "kiosk": kiosk, "id": id, "seq": seq, "ts": ts, "score": score,
    }  # fmt: skip
    if employee:
        body["employee"] = employee
    if clock != CLOCK_SYNCED:
        body["clock"] = clock
    if age_ms is not None:
        body["age_ms"] = age_ms
    if flags:
        body["flags"] = list(flags)
    if channel != CHANNEL_BUTTONS:
        body["channel"] = channel
    return body


def answer_payload(
    *,
    branch: str,
    kiosk: str,
    id: str,
    rating: str,
    ts: str,
    reason: str | None = None,
    comment: str | None = None,
    channel: str = CHANNEL_BUTTONS,
) -> dict[str, Any]:
    """Build an answer as it goes on the wire (reason, comment and channel left out when unset)."""
    body: dict[str, Any] = {"v": VERSION, "branch": branch, "kiosk": kiosk, "id": id, "rating": rating, "ts": ts}
    if reason is not None:
        body["reason"] = reason
    if comment is not None:
        body["comment"] = comment
    if channel != CHANNEL_BUTTONS:
        body["channel"] = channel
    return body


def heartbeat_payload(
    *,
    branch: str,
    kiosk: str,
    uptime_s: float,
    version: str,
    outbox_depth: int,
    last_seq_sent: int,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "v": VERSION, "branch": branch, "kiosk": kiosk, "ts": times.now_ts(), "uptime_s": round(uptime_s, 1),
        "version": version, "outbox_depth": outbox_depth, "last_seq_sent": last_seq_sent,
    }  # fmt: skip
    body.update(extra)
    camera = body.get("camera")
    if isinstance(camera, str):
        body["camera"] = camera_text(camera)
    return body


def camera_text(state: str) -> str:
    """A camera state as the protocol takes it: one printable line, cut to MAX_CAMERA_CHARS.

    The kiosk reports "unavailable: <the error>", and an error text may span lines.
    """
    line = "".join(c if c.isprintable() else " " for c in state)
    return line[:MAX_CAMERA_CHARS]


def status_payload(branch: str, kiosk: str, state: str, *, with_ts: bool = True) -> dict[str, Any]:
    # The last will is fixed at connect time, so a timestamp in it would be stale.
    body: dict[str, Any] = {"v": VERSION, "branch": branch, "kiosk": kiosk, "state": state}
    if with_ts:
        body["ts"] = times.now_ts()
    return body


def receipt_payloads(branch: str, kiosk: str, ids: Iterable[str], rejected: Iterable[str] = ()) -> list[bytes]:
    """Encoded receipts naming every id once, split so each stays within MAX_PAYLOAD_BYTES.

    ``ids`` the hub has committed (stored now or already stored), ``rejected``
    the ones it dead-lettered: the kiosk deletes both, so a poison press is not
    re-sent forever. No receipt at all when both are empty.
    """
    check_id("branch", branch)
    check_id("kiosk", kiosk)
    lists = {"ids": _event_ids("ids", ids), "rejected": _event_ids("rejected", rejected)}
    head = {"v": VERSION, "branch": branch, "kiosk": kiosk}
    # Sized by arithmetic, not by re-encoding: an id is ASCII, so it costs its
    # length plus two quotes and a comma; the empty body carries both lists.
    base = len(encode({**head, "ids": [], "rejected": []}))
    out: list[bytes] = []
    chunk: dict[str, list[str]] = {"ids": [], "rejected": []}
    size = base
    for name, values in lists.items():
        for value in values:
            cost = len(value) + 2 + (1 if chunk[name] else 0)
            if size + cost > MAX_PAYLOAD_BYTES:
                out.append(_receipt_chunk(head, chunk))
                chunk, size = {"ids": [], "rejected": []}, base
                cost = len(value) + 2
            chunk[name].append(value)
            size += cost
    if chunk["ids"] or chunk["rejected"]:
        out.append(_receipt_chunk(head, chunk))
    return out


def _receipt_chunk(head: dict[str, Any], chunk: dict[str, list[str]]) -> bytes:
    body = {**head, "ids": chunk["ids"]}
    if chunk["rejected"]:
        body["rejected"] = chunk["rejected"]
    return encode(body)


def _event_ids(what: str, values: Iterable[str]) -> list[str]:
    # dict.fromkeys: one mention per id, first-seen order kept.
    out = list(dict.fromkeys(values))
    for value in out:
        _check_event_id(what, value)
    return out


def _check_event_id(what: str, value: Any) -> str:
    if not isinstance(value, str) or not EVENT_ID_RE.fullmatch(value):
        raise ProtocolError(f"{what} {_short(value)} must be 8-64 characters of letters, digits, '-' or '_'")
    return value


def encode(body: dict[str, Any]) -> bytes:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return data


def decode(topic_name: str, payload: bytes) -> Message:
    """Check one received message against protocol v1 and return it typed.

    Raises ProtocolError, and nothing else, with a reason that names the field:
    whatever bytes arrive, the caller has one exception to turn into a dead letter.
    """
    if not isinstance(topic_name, str):
        raise ProtocolError(f"topic must be a string, got {_type(topic_name)}")
    where = parse_topic(topic_name)
    body = _load(payload)
    if where.kind == CONFIG:
        return _config(where, body)
    _version(body)
    for name in ("branch", "kiosk"):
        value = _required(body, name)
        if value != getattr(where, name):
            expected = getattr(where, name)
            raise ProtocolError(f"payload {name} {_short(value)} does not match the topic's {name} {expected!r}")
    if where.kind == RATING:
        return _rating(where, body)
    if where.kind == HEARTBEAT:
        return _heartbeat(where, body)
    if where.kind == STATUS:
        return _status(where, body)
    if where.kind == RECEIPT:
        return _receipt(where, body)
    if where.kind == ANSWER:
        return _answer(where, body)
    return _reaction(where, body)


def _rating(where: Topic, body: dict[str, Any]) -> Rating:
    event_id = _event_id(body)
    employee = body.get("employee")
    if employee is not None and (not isinstance(employee, str) or not EMPLOYEE_RE.fullmatch(employee)):
        raise ProtocolError(f"employee {_short(employee)} must be 1-64 letters, digits, '.', '-' or '_'")
    clock = body.get("clock", CLOCK_SYNCED)
    if clock not in (CLOCK_SYNCED, CLOCK_UNSYNCED):
        raise ProtocolError(f"clock {_short(clock)} must be {CLOCK_SYNCED!r} or {CLOCK_UNSYNCED!r}")
    age = body.get("age_ms")
    if age is not None:
        age = _int(body, "age_ms", low=0, high=MAX_AGE_MS)
    flags = body.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) and FLAG_RE.fullmatch(f) for f in flags):
        raise ProtocolError(f"flags {_short(flags)} must be a list of short lowercase words")
    return Rating(
        branch=where.branch,
        kiosk=where.kiosk,
        id=event_id,
        seq=_int(body, "seq", low=1),
        ts=_ts("ts", _required(body, "ts")),
        score=_int(body, "score", low=1, high=4),
        employee=employee,
        clock=clock,
        age_ms=age,
        flags=sorted(set(flags)),
        channel=_channel(body),
        extra=_extra(body, _RATING_FIELDS),
    )


def _answer(where: Topic, body: dict[str, Any]) -> Answer:
    event_id = _event_id(body)
    rating = _check_event_id("rating", _required(body, "rating"))
    if rating == event_id:
        raise ProtocolError(f"id {event_id!r} is the rating's own id; an answer needs an id of its own")
    reason = body.get("reason")
    if reason is not None:
        reason = check_id("reason", reason)
    comment = body.get("comment")
    if comment is not None:
        comment = check_comment(comment)
    if reason is None and not comment:
        raise ProtocolError("an answer must carry a reason or a non-empty comment")
    return Answer(
        branch=where.branch,
        kiosk=where.kiosk,
        id=event_id,
        rating=rating,
        ts=_ts("ts", _required(body, "ts")),
        reason=reason,
        comment=comment,
        channel=_channel(body),
        extra=_extra(body, _ANSWER_FIELDS),
    )


def _channel(body: dict[str, Any]) -> str:
    channel = body.get("channel", CHANNEL_BUTTONS)
    if channel not in CHANNELS:
        raise ProtocolError(f"channel {_short(channel)} must be one of {', '.join(CHANNELS)}")
    return channel


def check_comment(value: Any) -> str:
    """A comment as the protocol takes it: text of at most MAX_COMMENT_CHARS, line breaks allowed."""
    if not isinstance(value, str):
        raise ProtocolError(f"comment must be a string, got {_type(value)}")
    if len(value) > MAX_COMMENT_CHARS:
        raise ProtocolError(f"comment is {len(value)} characters; the limit is {MAX_COMMENT_CHARS}")
    if not is_text(value.replace("\n", "")):
        raise ProtocolError(f"comment {_short(value)} must be printable text (line breaks allowed)")
    return value


# Control characters, lone surrogates and line or paragraph separators. Format characters stay:
# Persian spells words with the zero-width non-joiner (U+200C), which str.isprintable() refuses.
_NOT_TEXT = frozenset(("Cc", "Cs", "Zl", "Zp"))


def is_text(value: str) -> bool:
    """One line of text a person can read and a page can show (shopper-facing words, in any script)."""
    return not any(unicodedata.category(c) in _NOT_TEXT for c in value)


# Optional heartbeat fields the fleet page shows: checked when present, kept in ``extra``.
_HEARTBEAT_OPTIONAL_COUNTS = ("refused", "config_version", "dropped", HEARTBEAT_UNCONFIRMED)


def _heartbeat(where: Topic, body: dict[str, Any]) -> Heartbeat:
    for name in _HEARTBEAT_OPTIONAL_COUNTS:
        if name in body:
            _int(body, name, low=0)
    if "camera" in body:
        _camera(body["camera"])
    if HEARTBEAT_UNCONFIRMED_AGE in body:
        # Wall-clock age for presses from an earlier boot: bounded like an uptime, not like age_ms.
        _number(body, HEARTBEAT_UNCONFIRMED_AGE, low=0, high=MAX_UPTIME_S)
    return Heartbeat(
        branch=where.branch,
        kiosk=where.kiosk,
        ts=_ts("ts", _required(body, "ts")),
        uptime_s=_number(body, "uptime_s", low=0, high=MAX_UPTIME_S),
        version=_label(body, "version"),
        outbox_depth=_int(body, "outbox_depth", low=0),
        last_seq_sent=_int(body, "last_seq_sent", low=0),
        # The optional fields checked above stay in extra, where the registry keeps them.
        extra=_extra(body, _HEARTBEAT_FIELDS),
    )


def _camera(value: Any) -> str:
    if isinstance(value, str) and (
        value in CAMERA_STATES
        or (value.startswith(CAMERA_UNAVAILABLE) and len(value) <= MAX_CAMERA_CHARS and _printable(value))
    ):
        return value
    raise ProtocolError(
        f"camera {_short(value)} must be {' or '.join(map(repr, CAMERA_STATES))} or "
        f"'{CAMERA_UNAVAILABLE}: <why>' (at most {MAX_CAMERA_CHARS} printable characters)"
    )


def _status(where: Topic, body: dict[str, Any]) -> Status:
    state = _required(body, "state")
    if state not in ("online", "offline"):
        raise ProtocolError(f"state {_short(state)} must be 'online' or 'offline'")
    ts = _ts("ts", body["ts"]) if "ts" in body else None
    return Status(where.branch, where.kiosk, state, ts, _extra(body, _STATUS_FIELDS))


def _reaction(where: Topic, body: dict[str, Any]) -> Reaction:
    event_id = _event_id(body)
    detector = _label(body, "detector")
    visitors = _int(body, "visitors", low=0)
    smiling = _int(body, "smiling", low=0)
    if smiling > visitors:
        raise ProtocolError(f"smiling ({smiling}) cannot exceed visitors ({visitors})")
    return Reaction(
        branch=where.branch,
        kiosk=where.kiosk,
        id=event_id,
        window_start=_ts("window_start", _required(body, "window_start")),
        window_s=_number(body, "window_s", low=0, high=MAX_WINDOW_S, low_open=True),
        visitors=visitors,
        smiling=smiling,
        frames=_int(body, "frames", low=0),
        fps=_number(body, "fps", low=0, high=MAX_FPS),
        detector=detector,
        extra=_extra(body, _REACTION_FIELDS),
    )


def _receipt(where: Topic, body: dict[str, Any]) -> Receipt:
    lists: dict[str, list[str]] = {}
    for name in ("ids", "rejected"):
        value = body.get(name, []) if name == "rejected" else _required(body, name)
        if not isinstance(value, list):
            raise ProtocolError(f"{name} must be a list of event ids, got {_type(value)}")
        lists[name] = [_check_event_id(f"{name}[{i}]", item) for i, item in enumerate(value)]
    if not lists["ids"] and not lists["rejected"]:
        raise ProtocolError("a receipt must name at least one id in ids or rejected")
    return Receipt(where.branch, where.kiosk, lists["ids"], lists["rejected"], _extra(body, _RECEIPT_FIELDS))


def _config(where: Topic, body: dict[str, Any]) -> Config:
    _version(body)
    version = _int(body, "version", low=1)
    # Each setting's meaning is checked by otklik.settings (hub and kiosk); here only
    # that nothing in them can break a receiver (depth, 64-bit ints, text).
    settings = _extra(body, ("v", "version"))
    return Config(where.branch, where.kiosk, version, settings)


# --- field checks -----------------------------------------------------------


# A JSON object starts with '{', perhaps after JSON whitespace; '[' goes on to
# json too, for the nesting check's sake (3000 '[' is the classic poison).
_OBJECT_STARTS = (b"{", b"[", b" ", b"\t", b"\r", b"\n")


def _load(payload: bytes) -> dict[str, Any]:
    if not isinstance(payload, bytes | bytearray):
        raise ProtocolError(f"payload must be bytes, got {_type(payload)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    first = payload[:1]
    if first and first < b"\x80" and first not in _OBJECT_STARTS:
        # Checked first because it is the flood's path: ASCII junk is refused
        # without json building a JSONDecodeError (most of the hub's time per junk message).
        raise ProtocolError(f"payload is not valid JSON: an object starts with '{{', this with {first.decode()!r}")
    # orjson reads a plain message (a rating: text, integers, a list of flags) many times
    # faster than json, and the hub decodes every message. Anything else goes to json as
    # before: what orjson refuses (invalid JSON, NaN, lone surrogates, deep nesting) for
    # json's reason, and any float or nested value because orjson reads an integer beyond
    # 64 bits as a float, which json keeps as the integer the field checks refuse.
    try:
        fast = orjson.loads(payload)
    except orjson.JSONDecodeError:
        fast = None
    if type(fast) is dict and all(_plain_fast(v) for v in fast.values()):
        return fast
    try:
        # NaN and Infinity (not JSON, but Python's json takes them) and 1e400
        # arrive as non-finite floats, refused field by field with the field's name.
        body = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError("payload is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ProtocolError(f"payload is not valid JSON: {err.msg} at character {err.pos}") from None
    except RecursionError:
        raise ProtocolError(f"payload nests arrays or objects too deeply (the limit is {MAX_NESTING})") from None
    except ValueError as err:  # e.g. Python's limit on the digits of an integer
        raise ProtocolError(f"payload is not acceptable JSON: {err}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"payload must be a JSON object, got {_type(body)}")
    return body


def _plain_fast(value: Any) -> bool:
    """A value orjson reads exactly as json does: text, an integer, true/false/null, or a list of text."""
    kind = type(value)
    return kind in _FAST_SCALARS or (kind is list and all(type(v) is str for v in value))


_FAST_SCALARS = frozenset((str, int, bool, type(None)))


def _version(body: dict[str, Any]) -> None:
    v = _required(body, "v")
    # type() rather than ==: true == 1 and 1.0 == 1 in Python, but neither is the integer 1.
    if type(v) is not int or v != VERSION:
        raise ProtocolError(f"v {_short(v)} is not a protocol version this receiver speaks (expected {VERSION})")


def _required(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise ProtocolError(f"missing field {name!r}")
    return body[name]


def _event_id(body: dict[str, Any]) -> str:
    return _check_event_id("id", _required(body, "id"))


def _label(body: dict[str, Any], name: str) -> str:
    value = _required(body, name)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LABEL_CHARS or not _printable(value):
        raise ProtocolError(f"{name} {_short(value)} must be 1-{MAX_LABEL_CHARS} printable characters")
    return value


def _printable(text: str) -> bool:
    # Also refuses lone surrogates, which JSON's \ud800 escapes allow and which
    # fail only later, when SQLite or a page encodes them as UTF-8.
    return text.isprintable()


def _int(body: dict[str, Any], name: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    value = _required(body, name)
    # type() rather than isinstance: a bool is an int to Python, not to the protocol.
    if type(value) is not int:
        raise ProtocolError(f"{name} must be an integer, got {_type(value)} {_short(value)}")
    if not max(low, INT_MIN) <= value <= min(high, INT_MAX):
        raise ProtocolError(f"{name} {_short(value)} is out of range {max(low, INT_MIN)}..{min(high, INT_MAX)}")
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float, low_open: bool = False) -> float:
    value = _required(body, name)
    if type(value) is int:
        # Compared as an int first: float() of a 4000-digit integer raises OverflowError.
        if not low <= value <= high:
            raise ProtocolError(f"{name} {_short(value)} is out of range {low:g}..{high:g}")
        value = float(value)
    if type(value) is not float or not math.isfinite(value):
        raise ProtocolError(f"{name} must be a finite number, got {_type(value)} {_short(value)}")
    if value < low or (low_open and value == low) or value > high:
        shown = f"{'above' if low_open else 'at least'} {low:g} and at most {high:g}"
        raise ProtocolError(f"{name} {value:g} must be {shown}")
    return value


def _extra(body: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    """The fields this receiver does not know, kept as long as nothing in them can break whoever reads them."""
    extra = {k: v for k, v in body.items() if k not in known}
    for name, value in extra.items():
        _utf8("a field name", name)
        _plain(_name(name), value, 1)
    return extra


def _plain(where: str, value: Any, depth: int) -> None:
    if value is None or type(value) is bool:
        return
    if type(value) is int:
        if not INT_MIN <= value <= INT_MAX:
            raise ProtocolError(f"{where} {_short(value)} does not fit in 64 bits")
    elif type(value) is float:
        if not math.isfinite(value):  # 1e400 parses as inf
            raise ProtocolError(f"{where} {_short(value)} is not a finite number")
    elif type(value) is str:
        _utf8(where, value)
    elif type(value) in (list, dict):
        if depth >= MAX_NESTING:
            raise ProtocolError(f"{where} nests arrays or objects deeper than {MAX_NESTING} levels")
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in items:
            if type(key) is str:
                _utf8(f"a key in {where}", key)
            _plain(f"{where}.{_name(key)}" if type(key) is str else f"{where}[{key}]", item, depth + 1)
    else:  # json.loads makes nothing else; a caller's own dict might
        raise ProtocolError(f"{where} has a value of type {_type(value)}, which JSON cannot carry")


def _utf8(where: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ProtocolError(f"{where} contains a lone surrogate at character {err.start}, not UTF-8 text") from None


def _name(key: str) -> str:
    """A field name for an error message: as is when plain, escaped and cut otherwise."""
    return key if len(key) <= 40 and key.isascii() and key.isprintable() else _short(key)


def _short(value: Any) -> str:
    """A value for an error message: repr (which escapes surrogates and newlines), cut to 80 characters."""
    if type(value) is int and not -(10**30) < value < 10**30:
        return f"<{value.bit_length()}-bit integer>"
    try:
        text = repr(value)
    except RecursionError:  # repr of an array nested 900 deep
        return f"<deeply nested {_type(value)}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
