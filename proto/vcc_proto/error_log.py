"""Unexpected errors of RPC handlers in the log: bounded per method, numbers masked.

A handler that fails unexpectedly answers INTERNAL (:mod:`vcc_proto.status`) and its
traceback goes to the log. A client that can trigger it at will must not be able to fill
the disk or drown the other lines, and a traceback must not carry a customer's number:

* at most :data:`PER_MINUTE` tracebacks per method in a minute; the others of that minute
  are counted and said in one line (``suppressed K more``) at the method's next error
  after the minute, or at :meth:`ErrorLog.flush`;
* every run of 7 or more digits in the text (the message and each frame) is masked
  (:func:`vcc_domain.privacy.mask_numbers_in`), and a traceback keeps at most
  :data:`MAX_FRAMES` innermost frames and :data:`MAX_CHARS` characters (a recursion
  error is thousands of frames).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from vcc_domain.privacy import mask_numbers_in

PER_MINUTE = 5
WINDOW_S = 60.0
MAX_FRAMES = 20
MAX_CHARS = 8_000
MAX_METHODS = 1_000  # methods tracked at once (a server has a fixed, smaller set)


def masked_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (innermost frames), with numbers masked, bounded."""
    text = "".join(traceback.format_exception(exc, limit=-MAX_FRAMES))
    text = mask_numbers_in(text)
    if len(text) > MAX_CHARS:
        text = "...\n" + text[-MAX_CHARS:]
    return text


@dataclass(slots=True)
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


class ErrorLog:
    """Logs unexpected errors per method: :data:`PER_MINUTE` a minute, then a count."""

    def __init__(
        self,
        logger: logging.Logger,
        per_minute: int = PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def error(self, method: str, exc: BaseException) -> bool:
        """Log ``exc`` of ``method`` unless its minute is full; True when logged."""
        now = self.clock()
        window = self._windows.get(method)
        if window is None or now - window.start >= WINDOW_S:
            if window is not None:
                self._say_suppressed(method, window)
            elif len(self._windows) >= MAX_METHODS:
                self._windows.pop(next(iter(self._windows)))
            window = self._windows[method] = _Window(now)
        if window.logged >= self.per_minute:
            window.suppressed += 1
            return False
        window.logged += 1
        self.logger.error("unexpected error in %s: %s", method, masked_traceback(exc).rstrip("\n"))
        return True

    def flush(self) -> None:
        """Say the suppressed counts of the minutes that are over."""
        now = self.clock()
        for method, window in list(self._windows.items()):
            if now - window.start >= WINDOW_S:
                self._say_suppressed(method, window)
                del self._windows[method]

    def _say_suppressed(self, method: str, window: _Window) -> None:
        if window.suppressed:
            self.logger.error(
                "unexpected errors in %s: suppressed %d more in the minute (at most %d "
                "tracebacks a minute are logged)",
                method,
                window.suppressed,
                self.per_minute,
            )
            window.suppressed = 0
