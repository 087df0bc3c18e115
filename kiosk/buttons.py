"""The kiosk's buttons and LEDs (gpiozero), with our own debounce and cooldown.

Debounce and cooldown are plain time arithmetic on an injectable clock rather
than gpiozero's ``bounce_time``: that one is ignored by mock pins (so it could
not be tested) and drops edges silently inside the driver.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from gpiozero import LED, Button
from gpiozero.pins import Factory

log = logging.getLogger(__name__)

COOLDOWN = "cooldown"

# Called with (score, flags); must commit the press before returning.
PressHandler = Callable[[int, tuple[str, ...]], object]


class PressFilter:
    """Per-button debounce and the kiosk-wide repeat-press cooldown.

    An edge within ``debounce_s`` of the previous edge (pressed or released)
    on the same button is contact bounce, not a press. A press within
    ``cooldown_s`` of the previous stored press on this kiosk (any button) is
    still a press - stored with the flag ``cooldown`` so the hub can leave it
    out of scores - never dropped.
    """

    def __init__(self, debounce_s: float, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.debounce_s = debounce_s
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._last_edge: dict[int, float] = {}
        self._last_press: float | None = None
        self._lock = threading.Lock()
        self.bounces = 0

    def pressed(self, button: int) -> tuple[str, ...] | None:
        """None for a bounce, else the flags of the press to store."""
        with self._lock:
            now = self.clock()
            if self._is_bounce(button, now):
                self.bounces += 1
                return None
            flags: tuple[str, ...] = ()
            if self._last_press is not None and now - self._last_press < self.cooldown_s:
                flags = (COOLDOWN,)
            self._last_press = now
            return flags

    def released(self, button: int) -> None:
        with self._lock:
            self._is_bounce(button, self.clock())

    def _is_bounce(self, button: int, now: float) -> bool:
        last = self._last_edge.get(button)
        self._last_edge[button] = now
        return last is not None and now - last < self.debounce_s


class ButtonPanel:
    """Buttons for the scores, a thank-you LED and an offline status LED."""

    def __init__(
        self,
        pins: Sequence[int],
        scores: Sequence[int],
        on_press: PressHandler,
        *,
        debounce_ms: int = 50,
        cooldown_s: float = 5.0,
        thanks_pin: int | None = None,
        status_pin: int | None = None,
        pin_factory: Factory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(pins) != len(scores):
            raise ValueError("one score per pin")
        self.filter = PressFilter(debounce_ms / 1000, cooldown_s, clock)
        self.on_press = on_press
        self.scores = tuple(scores)
        self.buttons: list[Button] = []
        self.thanks: LED | None = None
        self.status: LED | None = None
        try:
            for index, pin in enumerate(pins):
                # Buttons wire the pin to ground: pull-up, pressed = low.
                button = Button(pin, pull_up=True, pin_factory=pin_factory)
                button.when_pressed = self._handler(self._pressed, index)
                button.when_released = self._handler(self.filter.released, index)
                self.buttons.append(button)
            if thanks_pin is not None:
                self.thanks = LED(thanks_pin, pin_factory=pin_factory)
            if status_pin is not None:
                self.status = LED(status_pin, pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise
        self.stored = 0
        self.failed = 0
        self._offline = False
        self._asleep = False

    @staticmethod
    def _handler(target: Callable[[int], object], index: int) -> Callable[[], None]:
        # gpiozero passes the device to one-argument callbacks; ours take none.
        def handler() -> None:
            target(index)

        return handler

    def _pressed(self, index: int) -> None:
        flags = self.filter.pressed(index)
        if flags is None:
            return
        score = self.scores[index]
        try:
            self.on_press(score, flags)
        except Exception:
            # No thank-you blink for a press we could not store: the shopper's
            # LED must never lie. The kiosk keeps running for the next press.
            self.failed += 1
            log.exception("could not store a press of button %d (score %d)", index, score)
            return
        self.stored += 1
        self.blink_thanks()

    def blink_thanks(self) -> None:
        if self.thanks is not None:
            self.thanks.blink(on_time=0.15, off_time=0.1, n=2, background=True)

    def set_status(self, on: bool) -> None:
        """The offline light: on while presses wait for the broker (dark while asleep)."""
        self._offline = on
        self._show_status()

    def set_asleep(self, asleep: bool) -> None:
        """Outside opening hours: no light burns in the closed store; presses still count and blink."""
        self._asleep = asleep
        self._show_status()

    def _show_status(self) -> None:
        if self.status is not None and not self.status.closed:
            if self._offline and not self._asleep:
                self.status.on()
            else:
                self.status.off()

    def close(self) -> None:
        for device in [*self.buttons, self.thanks, self.status]:
            if device is not None:
                device.close()
