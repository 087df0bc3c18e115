"""MicroPython's network.WLAN (station) against networks a test puts on the air."""

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = -3
STAT_NO_AP_FOUND = -2
STAT_CONNECT_FAIL = -1
STAT_GOT_IP = 3

# ssid -> password of the access points in range; tests add and remove them.
air: dict = {}


class WLAN:
    _interfaces: dict = {}  # noqa: RUF012 - one radio, shared like the real one

    def __new__(cls, interface=STA_IF):
        # Like the firmware: one object per radio interface.
        if interface not in cls._interfaces:
            wlan = super().__new__(cls)
            wlan._active = False
            wlan._ssid = None
            wlan._key = None
            wlan._status = STAT_IDLE
            cls._interfaces[interface] = wlan
        return cls._interfaces[interface]

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._status = STAT_IDLE
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("WLAN not active")
        self._ssid, self._key = ssid, key
        self._status = STAT_CONNECTING

    def disconnect(self):
        self._ssid = None
        self._status = STAT_IDLE

    def status(self, param=None):
        if self._status == STAT_CONNECTING or self._status == STAT_GOT_IP:
            if self._ssid not in air:
                self._status = STAT_NO_AP_FOUND
            elif air[self._ssid] != self._key:
                self._status = STAT_WRONG_PASSWORD
            else:
                self._status = STAT_GOT_IP
        return self._status

    def isconnected(self):
        return self._active and self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def config(self, *args, **kwargs):
        if args == ("ssid",):
            return self._ssid
        return None


def reset():
    air.clear()
    WLAN._interfaces.clear()
