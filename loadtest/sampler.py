"""A background thread that samples one reading every few seconds while a load runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Sampler(Generic[T]):
    """Calls ``read`` every ``every_s`` seconds in a thread, from ``with`` until its end, keeping
    ``(monotonic seconds, reading)`` for each reading that is not ``None``."""

    def __init__(self, read: Callable[[], T | None], every_s: float, name: str) -> None:
        self.read, self.every_s = read, every_s
        self.samples: list[tuple[float, T]] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Sampler[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def since_start(self) -> list[tuple[float, T]]:
        """The samples with their time as seconds since the sampler was made (two decimals)."""
        return [(round(at - self.started, 2), value) for at, value in self.samples]

    def _run(self) -> None:
        while True:
            value = self.read()
            if value is not None:
                self.samples.append((time.monotonic(), value))
            if self._stop.wait(self.every_s):
                return
