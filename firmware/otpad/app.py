"""The pad: buttons -> flash ring buffer -> MQTT, one cooperative loop (``Pad.step``).

Every press goes to the flash buffer first and is published from there, so
there is one path for online and offline: a press is deleted from flash only
when the hub's receipt names it, oldest first (otpad/receipts.py).
"""

import json
import os
import time

import machine
import ntptime

from otpad import VERSION, payload, store
from otpad.clock import Clock
from otpad.config import ConfigError, PadConfig
from otpad.config import load as load_config
from otpad.link import Session, Wifi
from otpad.presses import Cooldown, Debouncer
from otpad.receipts import Unconfirmed
from otpad.ringbuf import RingBuffer

DRAIN_PER_STEP = 8  # publishes per loop turn, so buttons and LEDs stay responsive during a backlog
NTP_RETRY_MS = 30000
NTP_RESYNC_MS = 6 * 3600 * 1000
MQTT_RETRY_MIN_MS = 1000
MQTT_RETRY_MAX_MS = 30000


class Buttons:
    """Four buttons on IRQs; the handler only records (button, ticks) for the loop."""

    def __init__(self, pins: list, active_low: bool, debounce_ms: int) -> None:
        self.active_low = active_low
        self.pending: list = []
        self.debouncers = [Debouncer(debounce_ms) for _ in pins]
        self.pins = []
        pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
        for index, pin_id in enumerate(pins):
            pin = machine.Pin(pin_id, machine.Pin.IN, pull)
            pin.irq(handler=self._handler(index), trigger=machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
            self.pins.append(pin)

    def _handler(self, index: int):  # -> the IRQ callback for one button
        def on_edge(pin: machine.Pin) -> None:
            now = time.ticks_ms()
            pressed = pin.value() == (0 if self.active_low else 1)
            if self.debouncers[index].edge(pressed, now) and len(self.pending) < 32:
                self.pending.append((index, now))

        return on_edge

    def take(self) -> list:
        state = machine.disable_irq()
        try:
            taken, self.pending = self.pending, []
        finally:
            machine.enable_irq(state)
        return taken


class Pad:
    def __init__(self, config_path: str = "config.json", data_dir: str = "") -> None:
        self.data = data_dir.rstrip("/") + "/" if data_dir else ""
        self.cfg: PadConfig = load_config(config_path)
        self.cfg.load_push(self.data + "pushed.json")
        self.clock = Clock(machine.RTC(), ntptime)
        if self.cfg.ntp_host:
            ntptime.host = self.cfg.ntp_host
        self.buffer = RingBuffer(self.data + "presses", self.cfg.buffer_capacity)
        self.unconfirmed = Unconfirmed(self.cfg.resend_s * 1000)
        self._receipts: list = []
        self._load_state()
        self.cooldown = Cooldown(int(self.cfg.cooldown_s * 1000))
        self.buttons = Buttons(self.cfg.button_pins, self.cfg.active_low, self.cfg.debounce_ms)
        self.thanks = machine.Pin(self.cfg.thanks_pin, machine.Pin.OUT, value=0)
        self.status = machine.Pin(self.cfg.status_pin, machine.Pin.OUT, value=0)
        self.wifi = Wifi(self.cfg.wifi_ssid, self.cfg.wifi_password)
        self.session: Session | None = None
        self.last_seq_sent = 0
        self._thanks_until = -1
        self._mqtt_retry_at = 0
        self._mqtt_backoff = MQTT_RETRY_MIN_MS
        self._ntp_at = 0
        self._heartbeat_at = 0
        self._active_at = 0
        self._pushes: list = []
        print("otpad: started", VERSION, self.cfg, "buffered", len(self.buffer))

    # --- state on flash -----------------------------------------------------

    def _load_state(self) -> None:
        saved = store.read_json(self.data + "state.json", {})
        state = saved if isinstance(saved, dict) else {}
        self.seq = int(state.get("seq", 0))
        self.dropped = int(state.get("dropped", 0))
        self.boot = int(state.get("boot", 0)) + 1
        tag = state.get("tag")
        self.tag = tag if isinstance(tag, str) and tag else _new_tag()
        # The state file is written before each buffer append, but a FAT pad
        # may lose it: never reuse a seq still in the buffer.
        for body in self.buffer.records():
            try:
                self.seq = max(self.seq, json.loads(body)["s"])
            except (ValueError, KeyError):
                pass
        self._save_state()

    def _save_state(self) -> None:
        store.write_json(
            self.data + "state.json", {"seq": self.seq, "dropped": self.dropped, "boot": self.boot, "tag": self.tag}
        )

    # --- presses ------------------------------------------------------------

    def press(self, index: int, ticks: int) -> bool:
        """Record a press of button ``index`` (score index+1); False when it had to be dropped."""
        up = self.clock.uptime_at(ticks)
        flags = self.cooldown.flags(up)
        self.seq += 1
        rec = payload.press_record(
            self.seq,
            payload.event_id(self.cfg.device, self.tag, self.seq),
            index + 1,
            self.cfg.employee,
            flags,
            self.boot,
            up,
            self.clock.wall_at(up),
            self.clock.rtc_ms(),
        )
        try:
            stored = self.buffer.append(payload.encode(rec))
        except OSError as err:  # flash full or failing: count it as a drop, keep running
            print("otpad: could not buffer a press:", err)
            stored = False
        if not stored:
            self.dropped += 1
        labels = self.cfg.labels  # the pushed button names, in the serial log as on a kiosk's journal
        name = labels[index] if index < len(labels) else index + 1
        print("otpad: press", self.seq, name, "stored" if stored else "dropped")
        self._save_state()
        self.thanks.value(1)
        self._thanks_until = up + self.cfg.thanks_ms
        return stored

    # --- the loop -----------------------------------------------------------

    def step(self) -> None:
        for index, ticks in self.buttons.take():
            self.press(index, ticks)
        up = self.clock.uptime_ms()
        if self._thanks_until >= 0 and up >= self._thanks_until:
            self.thanks.value(0)
            self._thanks_until = -1
        online = self.session is not None
        # Status LED: steady when connected, blinking (1 Hz) while offline.
        self.status.value(1 if online else (up // 500) % 2)
        if not self.wifi.up(up):
            if self.session:
                self._lost("Wi-Fi down")
            return
        if up >= self._ntp_at:
            self._ntp_at = up + (NTP_RESYNC_MS if self.clock.sync() else NTP_RETRY_MS)
        if self.session is None:
            if up < self._mqtt_retry_at:
                return
            self._connect(up)
            if self.session is None:
                return
        try:
            self._online(up)
        except Exception as err:
            self._lost(repr(err))

    def run(self) -> None:
        while True:
            self.step()
            time.sleep_ms(10)

    def _connect(self, up: int) -> None:
        try:
            session = Session(self.cfg, self._pushes.append, self._receipts.append)
            self.session = session
            session.announce(self.clock.now_ms(), self.cfg.receipts)
        except Exception as err:
            self._lost("connect: %r" % (err,))
            return
        print("otpad: connected to", self.cfg.broker_host)
        # Receipts sent while the pad was away are gone: everything unconfirmed goes again.
        self.unconfirmed.restart()
        self._receipts.clear()
        self._mqtt_backoff = MQTT_RETRY_MIN_MS
        self._heartbeat_at = up  # one right away: the hub learns the buffer depth and drops
        self._active_at = up

    def _lost(self, why: str) -> None:
        print("otpad: MQTT session lost:", why)
        if self.session:
            self.session.close()
        self.session = None
        self._mqtt_retry_at = self.clock.uptime_ms() + self._mqtt_backoff
        self._mqtt_backoff = min(self._mqtt_backoff * 2, MQTT_RETRY_MAX_MS)

    def _online(self, up: int) -> None:
        session = self.session
        assert session is not None
        session.poll()
        self._apply_pushes()
        self._apply_receipts(up)
        if self.unconfirmed.due(up):
            print("otpad: no receipt in time; re-sending", len(self.buffer), "buffered presses")
        for _ in range(DRAIN_PER_STEP):
            if not self.unconfirmed.room():
                break
            item = self.buffer.first_after(self.unconfirmed.next_from)
            if item is None:
                break
            body, end = item
            gen = self.buffer.generation
            try:
                rec = json.loads(body)
                wire = payload.encode(payload.rating(self.cfg.branch, self.cfg.device, rec, self.boot, up, self.clock))
            except (ValueError, KeyError, TypeError) as err:
                # CRC-valid but not a press (a bug, never a torn write): sending it would block the queue forever.
                print("otpad: dropping unreadable buffered record:", err)
                self.unconfirmed.note_sent(None, end, -1, up, gen)
                continue
            session.publish("rating", wire, qos=1)
            # The broker has it; the hub's receipt (or, without receipts, this PUBACK) lets it go.
            event_id = None if not self.cfg.receipts else rec["i"]
            self.unconfirmed.note_sent(event_id, end, rec["u"] if rec.get("n") == self.boot else -1, up, gen)
            self.last_seq_sent = rec["s"]
            self._active_at = up
        self.unconfirmed.commit(self.buffer, up)
        if up >= self._heartbeat_at:
            self._heartbeat_at = up + self.cfg.heartbeat_s * 1000
            session.publish("heartbeat", payload.encode(self.heartbeat(up)), qos=0)
            self._active_at = up
        elif up - self._active_at >= self.cfg.keepalive_s * 500:
            session.ping()
            self._active_at = up

    def heartbeat(self, up: int) -> dict:
        body = payload.heartbeat(
            self.cfg.branch, self.cfg.device, self.clock.now_ms(), up, VERSION, len(self.buffer), self.last_seq_sent,
            self.dropped, self.cfg.config_version, self.clock.synced,
        )  # fmt: skip
        if self.cfg.receipts:
            body["unconfirmed"] = len(self.unconfirmed)
            age = self.unconfirmed.oldest_age_s(up)
            if age is not None:
                body["unconfirmed_age_s"] = age
        return body

    def _apply_receipts(self, up: int) -> None:
        while self._receipts:
            self.unconfirmed.take_receipt(self._receipts.pop(0), self.cfg.branch, self.cfg.device)
        self.unconfirmed.commit(self.buffer, up)

    def _apply_pushes(self) -> None:
        while self._pushes:
            raw = self._pushes.pop(0)
            try:
                changed = self.cfg.apply_push(json.loads(raw))
            except ValueError as err:  # ConfigError is a ValueError, and so is bad JSON
                print("otpad: refused config push:", err)
                continue
            if changed:
                self.cooldown.cooldown_ms = int(self.cfg.cooldown_s * 1000)
                self.cfg.save_push(self.data + "pushed.json")
                print("otpad: applied config version", self.cfg.config_version, self.cfg)


def _new_tag() -> str:
    return "".join("%02x" % b for b in os.urandom(4))


def main() -> None:
    try:
        pad = Pad()
    except ConfigError as err:
        print("otpad: cannot start:", err)
        return
    pad.run()
