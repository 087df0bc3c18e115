"""A kiosk off the Pi: gpiozero mock pins, pressed by a thread at a chosen rate.

The presser drives the mock button pins exactly as a finger would close the
switch (``drive_low`` then ``drive_high``), so the simulated kiosk runs the same
debounce, cooldown, outbox and publisher code as a real one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence

from gpiozero.pins.mock import MockFactory

from kiosk.config import Config

log = logging.getLogger(__name__)

# Real feedback terminals skew happy: most shoppers press when pleased, a
# few when annoyed. Weights for scores 1..4.
SCORE_MIX = {1: 0.08, 2: 0.12, 3: 0.32, 4: 0.48}


class Presser:
    """Presses the mock buttons with Poisson arrivals (``rate`` per second) and a skewed score mix."""

    def __init__(
        self,
        factory: MockFactory,
        pins: Sequence[int],
        scores: Sequence[int],
        *,
        rate: float,
        count: int | None = None,
        debounce_s: float = 0.05,
        seed: int | None = None,
        on_done: Callable[[], object] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0 presses per second")
        self.factory = factory
        self.pins = list(pins)
        self.scores = list(scores)
        self.rate = rate
        self.count = count
        # The kiosk would take a faster repeat on one button for contact bounce.
        self.gap_s = debounce_s * 1.5 + 0.002
        self.random = random.Random(seed)
        self.on_done = on_done
        self.pressed = 0
        self.by_score: dict[int, int] = dict.fromkeys(self.scores, 0)
        self.done = threading.Event()
        self._stop = threading.Event()
        self._last: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, name="presser", daemon=True)

    def start(self) -> Presser:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        weights = [SCORE_MIX[s] for s in self.scores]
        try:
            while self.count is None or self.pressed < self.count:
                if self._stop.wait(self.random.expovariate(self.rate)):
                    return
                index = self.random.choices(range(len(self.pins)), weights)[0]
                self.press(index)
        finally:
            self.done.set()
            if self.on_done is not None and not self._stop.is_set():
                self.on_done()

    def press(self, index: int) -> None:
        pin = self.pins[index]
        wait = self._last.get(pin, -1e9) + self.gap_s - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
        mock = self.factory.pin(pin)
        mock.drive_low()
        mock.drive_high()
        self._last[pin] = time.monotonic()
        self.pressed += 1
        self.by_score[self.scores[index]] += 1


def presser_for(
    config: Config, factory: MockFactory, *, rate: float, count: int | None = None, seed: int | None = None
) -> Presser:
    return Presser(
        factory,
        config.buttons.pins,
        config.buttons.scores,
        rate=rate,
        count=count,
        debounce_s=config.buttons.debounce_ms / 1000,
        seed=seed,
    )
