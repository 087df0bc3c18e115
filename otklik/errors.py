"""The one base of every error Otklik raises about bad input or a request it cannot do.

``field`` names what was wrong (an option, a setting, a dotted config key) and
``hint`` says what to do about it. The command line turns any of them into a
click error in one place (``otklik.cli_shape``); the dashboard and the kiosk
catch the subclasses they expect.
"""

from __future__ import annotations


class OtklikError(Exception):
    """A request Otklik refuses; the text says why, ``field`` where, ``hint`` what to do."""

    # Class defaults, so subclasses with their own __init__ (a translated template, a retry time)
    # still answer both.
    field: str | None = None
    hint: str | None = None

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field
        if hint is not None:
            self.hint = hint
