"""Rate-limited logging: during an outage the same line repeats thousands of times; say it once an interval."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimitedLog:
    """Emits a message template at most once per `interval` seconds, with how many repeats were held back."""

    def __init__(self, logger: logging.Logger, *, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, template: str, *args: Any) -> bool:
        """Log unless the same template was logged less than `interval` ago; True when it was written."""
        now = self._clock()
        with self._lock:
            last = self._last.get(template)
            if last is not None and now - last < self._interval:
                self._held[template] = self._held.get(template, 0) + 1
                return False
            self._last[template] = now
            held = self._held.pop(template, 0)
        if held:
            template = f"{template} (%d similar lines in the last %gs not shown)"
            args = (*args, held, self._interval)
        self._logger.log(level, template, *args)
        return True

    def error(self, template: str, *args: Any) -> bool:
        """log() at ERROR."""
        return self.log(logging.ERROR, template, *args)

    def warning(self, template: str, *args: Any) -> bool:
        """log() at WARNING."""
        return self.log(logging.WARNING, template, *args)
