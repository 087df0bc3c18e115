"""MicroPython's socket API (stream ``read``/``write``) over CPython sockets.

Like MicroPython: a blocking ``read(n)`` returns n bytes or fewer only at end
of stream; a non-blocking one returns None when nothing is waiting; ``write``
accepts str and an optional length; no default timeout.
"""

import socket as _socket

AF_INET = _socket.AF_INET
SOCK_STREAM = _socket.SOCK_STREAM


def getaddrinfo(host, port, af=AF_INET, type=SOCK_STREAM, proto=0, flags=0):
    return _socket.getaddrinfo(host, port, af, type, proto, flags)


class socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        self._s = _socket.socket(af, type, proto)
        self._blocking = True

    def connect(self, address):
        self._s.connect(address)

    def setblocking(self, flag):
        self._blocking = bool(flag)
        self._s.setblocking(flag)

    def settimeout(self, value):
        self._blocking = value is None or value > 0
        self._s.settimeout(value)

    def write(self, buf, n=None):
        if isinstance(buf, str):
            buf = buf.encode()
        data = bytes(buf if n is None else memoryview(buf)[:n])
        self._s.sendall(data)
        return len(data)

    send = write

    def read(self, n=-1):
        if not self._blocking:
            try:
                return self._s.recv(n)
            except BlockingIOError:
                return None
        out = b""
        while len(out) < n:
            chunk = self._s.recv(n - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self):
        self._s.close()
