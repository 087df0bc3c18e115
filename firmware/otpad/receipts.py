"""Presses sent but not yet confirmed by the hub's receipt, as the kiosk's outbox keeps them.

The broker's PUBACK does not make a press safe (a broker killed between two
snapshots loses it; with no hub subscribed it drops it), so a press stays in
the flash ring buffer until a receipt on ``otklik/v1/<branch>/<pad>/receipt``
names its id. The buffer can only forget its oldest records, so records are
committed from the front as their ids are confirmed.

``sent`` holds, in buffer order, the records published since the last
(re)start of sending: ``[id, end offset, press uptime or -1]``. A record whose
id is None needs no receipt (an unreadable one, dropped when it reaches the
front). When nothing has been confirmed for ``resend_ms`` sending starts over
from the front, the wait doubling up to ``resend_max_ms``; a new MQTT session
starts over too, since receipts published while the pad was away are lost.
Starting over sends one record, a probe, until a receipt shows the hub is
listening: a hub away for a day costs a probe per interval, not the whole
window each time. The hub de-duplicates on the id.
"""

import json

from otpad.ringbuf import RingBuffer

RESEND_MS = 30000
RESEND_MAX_MS = 600000
WINDOW = 32  # records in flight at most: bounds RAM, and what one timeout re-sends


class Unconfirmed:
    def __init__(self, resend_ms: int = RESEND_MS, resend_max_ms: int = RESEND_MAX_MS, window: int = WINDOW) -> None:
        self.resend_ms = resend_ms
        self.resend_max_ms = max(resend_ms, resend_max_ms)
        self.window = window
        self.sent: list = []
        self.confirmed: dict = {}  # ids named by a receipt and still in ``sent`` (a dict: MicroPython's cheap set)
        self.next_from = 0  # buffer offset to send from; 0: the front
        self.gen = b""
        self._wait_ms = resend_ms
        self._resend_at = -1
        self.resends = 0
        self.probing = False

    def __len__(self) -> int:
        return len(self.sent)

    def room(self) -> bool:
        return len(self.sent) < (1 if self.probing else self.window)

    def restart(self) -> None:
        """Send everything unconfirmed again, from the front, starting with a probe (a new session, or a timeout)."""
        self.sent = []
        self.confirmed = {}
        self.next_from = 0
        self._resend_at = -1
        self.probing = True

    def note_sent(self, event_id: str | None, end: int, pressed_up: int, up: int, gen: bytes) -> None:
        if not self.sent:
            self._resend_at = up + self._wait_ms
        self.sent.append([event_id, end, pressed_up])
        self.next_from = end
        self.gen = gen

    def take_receipt(self, raw: bytes, branch: str, device: str) -> int:
        """Note the ids a receipt names (stored or rejected alike); returns how many were ours in flight."""
        try:
            body = json.loads(raw)
        except ValueError:
            return 0
        if not isinstance(body, dict) or body.get("branch") != branch or body.get("kiosk") != device:
            return 0
        named = {}
        for key in ("ids", "rejected"):
            values = body.get(key)
            if isinstance(values, list):
                for value in values:
                    if isinstance(value, str):
                        named[value] = True
        hits = 0
        for entry in self.sent:
            if entry[0] in named and entry[0] not in self.confirmed:
                self.confirmed[entry[0]] = True
                hits += 1
        if named:
            self.probing = False  # the hub answers: the whole window may go
        return hits

    def commit(self, buffer: RingBuffer, up: int) -> int:
        """Forget confirmed presses from the front of ``buffer``, as far as they go in order."""
        done = 0
        while True:
            end = self.front_done()
            if end < 0:
                return done
            buffer.commit(end)
            self.pop_front(up)
            done += 1
            gen = buffer.generation
            if gen != self.gen and self.sent:
                # Compacted: the records still in flight moved to the new log's front.
                self.rebase(buffer.ends(len(self.sent)), gen)

    def front_done(self) -> int:
        """The end offset of the front record if it may leave the buffer now, else -1."""
        if not self.sent:
            return -1
        event_id, end, _ = self.sent[0]
        return end if event_id is None or event_id in self.confirmed else -1

    def pop_front(self, up: int) -> None:
        """The front record was committed: progress, so the re-send wait starts over at its minimum."""
        event_id = self.sent.pop(0)[0]
        self.confirmed.pop(event_id, None)
        self.probing = False
        self._wait_ms = self.resend_ms
        self._resend_at = up + self._wait_ms if self.sent else -1
        if not self.sent:
            self.next_from = 0  # the buffer may have been reset: the next record to send is its front

    def rebase(self, ends: list, gen: bytes) -> None:
        """The buffer was compacted: the records in flight are at its front now, at these end offsets."""
        for i, end in enumerate(ends[: len(self.sent)]):  # no zip(strict=) in MicroPython
            self.sent[i][1] = end
        self.next_from = self.sent[-1][1] if self.sent else 0
        self.gen = gen

    def due(self, up: int) -> bool:
        """True (once) when the oldest record in flight has waited too long: re-send from the front."""
        if self._resend_at < 0 or up < self._resend_at:
            return False
        self._wait_ms = min(self._wait_ms * 2, self.resend_max_ms)
        self.resends += 1
        self.restart()
        return True

    def oldest_age_s(self, up: int) -> float | None:
        """How long ago the oldest press in flight was made (this boot's presses only)."""
        for _, _, pressed in self.sent:
            if pressed >= 0:
                return max(0, up - pressed) // 100 / 10
        return None
