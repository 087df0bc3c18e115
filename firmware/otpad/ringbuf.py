"""A bounded, power-loss-tolerant queue of presses in a flash file.

Layout of ``<name>.log``::

    OTPAD1 <gen>            header: format and a random generation id
    \\n<crc32 hex> <json>   one record per press, appended
    \\n<crc32 hex> <json>

Every record *starts* with a newline, so a record torn by a power cut (FAT;
littlefs already drops unsynced writes) is followed by a clean record start
and fails only its own CRC: it is skipped and counted in ``skipped``, the
rest of the buffer survives.

Sent records are not erased one by one (that would rewrite the file per
press). ``<name>.ack`` holds ``<gen> <offset>``: everything before the offset
has been published. It is replaced atomically after each PUBACK. When the
queue drains, both files are removed; when the sent prefix grows past
``compact_bytes`` the pending records are copied to a new log with a new
generation, so a stale ack (power cut between the two steps) can never skip
records of the new file: a mismatched generation means "nothing acked".

Full buffer: new presses are dropped (the caller counts them). Dropping the
newest keeps flash writes at zero while a pad is stuck offline, and keeps the
buffered run gap-free from the start of the outage; see firmware/README.md.
"""

import binascii
import os

from otpad import store

_MAGIC = b"OTPAD1 "


def _crc(body: bytes) -> bytes:
    return b"%08x" % (binascii.crc32(body) & 0xFFFFFFFF)


def _frame(body: bytes) -> bytes:
    if b"\n" in body:
        raise ValueError("a buffered record must be one line")
    return b"\n" + _crc(body) + b" " + body


def _parse(line: bytes) -> bytes | None:
    line = line.rstrip(b"\n")
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    return body if _crc(body) == line[:8] else None


class RingBuffer:
    def __init__(self, name: str, capacity: int, compact_bytes: int = 16384) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.log = name + ".log"
        self.ack = name + ".ack"
        self.capacity = capacity
        self.compact_bytes = compact_bytes
        self.skipped = 0
        self._gen = b""
        self._start = 0
        self._count = 0
        self._load()

    def __len__(self) -> int:
        return self._count

    def full(self) -> bool:
        return self._count >= self.capacity

    # --- opening ------------------------------------------------------------

    def _load(self) -> None:
        store.remove(self.log + ".tmp")
        store.remove(self.ack + ".tmp")
        self._gen, header_end = self._read_header()
        if not self._gen:
            # No log, or one whose header was torn: it cannot hold a whole record.
            store.remove(self.log)
            store.remove(self.ack)
            self._start = self._count = 0
            return
        self._start = header_end
        try:
            with open(self.ack, "rb") as f:
                parts = f.read().split()
            if len(parts) == 2 and parts[0] == self._gen and int(parts[1]) >= header_end:
                self._start = int(parts[1])
        except (OSError, ValueError):
            pass
        self._count = sum(1 for _ in self._scan(self._start, True))

    def _read_header(self) -> tuple[bytes, int]:
        try:
            with open(self.log, "rb") as f:
                head = f.read(len(_MAGIC) + 8)
        except OSError:
            return b"", 0
        if len(head) != len(_MAGIC) + 8 or not head.startswith(_MAGIC):
            return b"", 0
        return head[len(_MAGIC) :], len(head)

    def _scan(self, offset: int, tally: bool = False):  # -> iterator of (body, offset after it)
        """Valid records from ``offset`` on; torn or corrupt ones are skipped."""
        try:
            f = open(self.log, "rb")
        except OSError:
            return
        try:
            f.seek(offset)
            while True:
                line = f.readline()
                if not line:
                    break
                offset += len(line)
                if line == b"\n":
                    continue
                body = _parse(line)
                if body is None:
                    self.skipped += tally
                else:
                    yield body, offset
        finally:
            f.close()

    # --- the queue ----------------------------------------------------------

    def append(self, body: bytes) -> bool:
        """Store one record; False (nothing written) when the buffer is full."""
        if self.full():
            return False
        record = _frame(body)
        if not self._gen:
            self._gen = binascii.hexlify(os.urandom(4))
            header = _MAGIC + self._gen
            with open(self.log, "wb") as f:
                f.write(header + record)
            self._start = len(header)
        else:
            with open(self.log, "ab") as f:
                f.write(record)
        self._count += 1
        return True

    def peek(self) -> tuple[bytes, int] | None:
        """The oldest pending record and the offset to commit once it is sent."""
        if not self._count:
            return None
        for body, end in self._scan(self._start):
            return body, end
        # The count said more, the file says no: it was torn under us. Trust the file.
        self._count = 0
        self._reset()
        return None

    @property
    def generation(self) -> bytes:
        """Changes whenever offsets change meaning (a compaction, a reset)."""
        return self._gen

    def first_after(self, offset: int) -> tuple[bytes, int] | None:
        """The first valid record starting at or after ``offset`` (0: the oldest), and its end offset."""
        for body, end in self._scan(max(offset, self._start)):
            return body, end
        return None

    def ends(self, count: int) -> list:
        """End offsets of the ``count`` oldest records."""
        out: list = []
        for _, end in self._scan(self._start):
            if len(out) >= count:
                break
            out.append(end)
        return out

    def records(self):  # -> iterator of bytes
        for body, _ in self._scan(self._start):
            yield body

    def commit(self, end: int) -> None:
        """Forget everything before ``end`` (the offset peek() returned)."""
        # peek() returned the first *valid* record; torn ones before it were
        # never counted, so one commit is exactly one record less.
        self._start = end
        self._count = max(0, self._count - 1)
        if not self._count:
            self._reset()
        elif end >= self.compact_bytes:
            self._compact()
        else:
            store.replace(self.ack, self._gen + b" %d" % end)

    def _reset(self) -> None:
        # Log first: a stale ack left by a power cut here names a generation
        # no future log will have.
        store.remove(self.log)
        store.remove(self.ack)
        self._gen = b""
        self._start = 0

    def _compact(self) -> None:
        gen = binascii.hexlify(os.urandom(4))
        tmp = self.log + ".tmp"
        header = _MAGIC + gen
        with open(tmp, "wb") as out:
            out.write(header)
            for body in self.records():
                out.write(_frame(body))
        _replace_file(tmp, self.log)
        store.remove(self.ack)
        self._gen = gen
        self._start = len(header)


def _replace_file(tmp: str, path: str) -> None:
    try:
        os.rename(tmp, path)
    except OSError:
        store.remove(path)
        os.rename(tmp, path)
