"""Buttons on gpiozero mock pins: our own debounce and cooldown, driven by a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.buttons import ButtonPanel
from tests.broker import wait_until

PINS = (5, 6, 13, 19)
THANKS, STATUS = 20, 21


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self, factory: MockFactory) -> None:
        self.factory = factory
        self.presses: list[tuple[int, tuple[str, ...]]] = []
        self.led_lit_at_commit: list[bool] = []

    def __call__(self, score: int, flags: tuple[str, ...]) -> None:
        self.led_lit_at_commit.append(bool(self.factory.pin(THANKS).state))
        self.presses.append((score, flags))


@pytest.fixture
def panel(mock_pins: MockFactory) -> tuple[ButtonPanel, Recorder, FakeClock]:
    clock = FakeClock()
    recorder = Recorder(mock_pins)
    board = ButtonPanel(
        PINS, (1, 2, 3, 4), recorder, debounce_ms=50, cooldown_s=5.0,
        thanks_pin=THANKS, status_pin=STATUS, pin_factory=mock_pins, clock=clock,
    )  # fmt: skip
    yield board, recorder, clock
    board.close()


def press(factory: MockFactory, pin: int) -> None:
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def test_each_button_records_its_score(panel, mock_pins: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _board, recorder, clock = panel
    for pin in PINS:
        clock.now += 10
        press(mock_pins, pin)
    assert recorder.presses == [(1, ()), (2, ()), (3, ()), (4, ())]


def test_edges_within_the_debounce_time_are_bounce(panel, mock_pins: MockFactory) -> None:  # type: ignore[no-untyped-def]
    board, recorder, clock = panel
    pin = mock_pins.pin(13)
    pin.drive_low()  # the real press
    for _ in range(3):  # the contact chatters for a few ms
        clock.now += 0.004
        pin.drive_high()
        clock.now += 0.004
        pin.drive_low()
    clock.now += 0.2
    pin.drive_high()
    assert recorder.presses == [(3, ())]
    assert board.filter.bounces == 3
    # A deliberate second press 60 ms after the release is a press (flagged: inside the cooldown).
    clock.now += 0.06
    press(mock_pins, 13)
    assert recorder.presses == [(3, ()), (3, ("cooldown",))]


def test_debounce_is_per_button(panel, mock_pins: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _board, recorder, clock = panel
    press(mock_pins, 5)
    clock.now += 0.01
    press(mock_pins, 19)  # another button 10 ms later is not bounce of the first
    assert [score for score, _ in recorder.presses] == [1, 4]


def test_a_press_inside_the_cooldown_is_stored_and_flagged(panel, mock_pins: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _board, recorder, clock = panel
    press(mock_pins, 19)
    clock.now += 1.0
    press(mock_pins, 5)  # a different button 1 s later: kept, flagged
    clock.now += 4.5
    press(mock_pins, 5)  # 4.5 s after the previous stored press: still inside
    clock.now += 5.0
    press(mock_pins, 6)  # 5 s after: a normal press again
    assert recorder.presses == [(4, ()), (1, ("cooldown",)), (1, ("cooldown",)), (2, ())]


def test_the_thank_you_led_blinks_after_the_press_is_stored(panel, mock_pins: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _board, recorder, _clock = panel
    led = mock_pins.pin(THANKS)
    assert not any(s.state for s in led.states)
    press(mock_pins, 6)
    assert recorder.led_lit_at_commit == [False]  # the commit ran before any light
    wait_until(lambda: sum(1 for s in led.states if s.state) >= 2, timeout=3, message="two blinks")
    wait_until(lambda: not led.state, timeout=3, message="the LED to end dark")


def test_no_thanks_when_the_press_could_not_be_stored(mock_pins: MockFactory) -> None:
    def broken(score: int, flags: tuple[str, ...]) -> None:
        raise OSError("disk full")

    board = ButtonPanel(PINS, (1, 2, 3, 4), broken, thanks_pin=THANKS, pin_factory=mock_pins, clock=FakeClock())
    try:
        press(mock_pins, 5)
        assert board.failed == 1 and board.stored == 0
        assert not any(s.state for s in mock_pins.pin(THANKS).states)
    finally:
        board.close()


def test_the_status_led_follows_set_status(panel, mock_pins: MockFactory) -> None:  # type: ignore[no-untyped-def]
    board, _recorder, _clock = panel
    board.set_status(True)
    assert mock_pins.pin(STATUS).state
    board.set_status(False)
    assert not mock_pins.pin(STATUS).state


def test_a_real_kiosk_commits_before_thanking(mock_pins: MockFactory, tmp_path: Path) -> None:
    """Through the Kiosk: by the time the press callback returns, another reader sees the row."""
    import sqlite3

    from kiosk.app import Kiosk
    from kiosk.config import simple_config

    # No broker listens here: this test is about the press path only.
    config = simple_config(broker_url="mqtt://127.0.0.1:9", branch="b1", kiosk="k1", data_dir=tmp_path)
    kiosk = Kiosk(config, pin_factory=mock_pins, clock_synced=lambda: True)
    try:
        assert mock_pins.pin(STATUS).state  # offline: presses are being kept
        press(mock_pins, 19)
        with sqlite3.connect(config.outbox_path) as other:
            assert other.execute("SELECT seq, score FROM outbox").fetchall() == [(1, 4)]
        wait_until(lambda: any(s.state for s in mock_pins.pin(THANKS).states), timeout=3, message="thank-you blink")
    finally:
        kiosk.stop()
