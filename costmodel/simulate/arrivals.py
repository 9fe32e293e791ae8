"""Offered traffic, second by second: a generated shape or a CSV trace, with Poisson arrivals from a seed.

Generated shapes give a mean rate λ(t) per second, scaled so that an unspiked day carries
``daily_requests``; the count in each second is Poisson(λ(t)) from ``numpy.random.default_rng(seed)``
and, per request, the arrival time is uniform within its second (a Poisson process, piecewise constant).

- ``flat``: λ = N / 86,400;
- ``business``: `costmodel.traffic`'s business-hours weights (80% of the day in 09:00-17:00);
- ``diurnal``: λ = mean × (1 + 0.6 sin(2π (t − 10 h) / 24 h)): lowest at 04:00, highest at 16:00
  (the amplitude is a shape choice, not a measurement);
- ``spike``: flat with a spike (``--spike 10x:5m``, default 10× for 5 minutes at ``--spike-at``, default
  12:00); a spike can be added to any other shape too;
- ``onoff``: bursts ``--on-off ON:OFF`` (default 5m:25m), the day's requests all in the ON windows.

A trace is a CSV file with a header: a ``count`` column (requests in each second, optionally with a
``second`` column giving the second), or a ``timestamp`` column (one request per row: seconds as a
number, or ISO 8601 date-times); times are taken relative to the first.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodel.traffic import business_shape

DAY_S = 86_400
SHAPES = ("flat", "business", "diurnal", "spike", "onoff")
DIURNAL_AMPLITUDE = 0.6
DIURNAL_PEAK_HOUR = 16
DEFAULT_SPIKE = "10x:5m"
DEFAULT_SPIKE_AT = "12:00"
DEFAULT_ON_OFF = "5m:25m"


class ArrivalsError(ValueError):
    """A traffic argument or trace file is invalid; the message names it."""


@dataclass(frozen=True)
class Spike:
    factor: float
    duration_s: float

    def describe(self) -> str:
        return f"{self.factor:g}× for {_clock(self.duration_s, short=True)}"


@dataclass(frozen=True)
class Arrivals:
    """Requests offered in each second; ``times`` (sorted, seconds from the start) when a trace gives them."""

    description: str
    counts: np.ndarray
    rate: np.ndarray
    start_s: float = 0.0
    times: np.ndarray | None = None

    @property
    def seconds(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def arrival_times(self, rng: np.random.Generator) -> np.ndarray:
        """Sorted arrival times: the trace's, or uniform within each second."""
        if self.times is not None:
            return self.times
        base = np.repeat(np.arange(self.seconds, dtype=np.float64), self.counts)
        return np.sort(base + rng.random(base.size))


def duration(text: str) -> float:
    """Seconds of '90', '90s', '5m', '1.5h', '1d'."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)?\s*", str(text))
    if not match:
        raise ArrivalsError(f"not a duration: {text!r} (use e.g. 90s, 5m, 2h, 1d)")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": DAY_S, None: 1}[match.group(2)]


def time_of_day(text: str) -> float:
    """Seconds after midnight of 'HH:MM' (or 'HH:MM:SS')."""
    match = re.fullmatch(r"\s*([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*", str(text))
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ArrivalsError(f"not a time of day: {text!r} (use HH:MM, e.g. 12:00)")
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3) or 0)


def parse_spike(text: str) -> Spike:
    """'10x:5m' -> 10 times the rate for 5 minutes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*[xX×]\s*:\s*(.+)", str(text))
    if not match:
        raise ArrivalsError(f"not a spike: {text!r} (use FACTORx:DURATION, e.g. 10x:5m)")
    factor, length = float(match.group(1)), duration(match.group(2))
    if factor <= 0 or length <= 0:
        raise ArrivalsError(f"spike {text!r}: factor and duration must be positive")
    return Spike(factor, length)


def parse_on_off(text: str) -> tuple[float, float]:
    parts = str(text).split(":")
    if len(parts) != 2:
        raise ArrivalsError(f"not an on/off pattern: {text!r} (use ON:OFF, e.g. 5m:25m)")
    on, off = duration(parts[0]), duration(parts[1])
    if on <= 0 or off < 0:
        raise ArrivalsError(f"on/off {text!r}: ON must be positive and OFF not negative")
    return on, off


def _clock(seconds: float, short: bool = False) -> str:
    if short:
        if seconds % 3600 == 0:
            return f"{seconds / 3600:g} h"
        if seconds % 60 == 0:
            return f"{seconds / 60:g} min"
        return f"{seconds:g} s"
    s = int(seconds) % DAY_S
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def rate_profile(
    shape: str,
    daily_requests: float,
    seconds: int,
    start_s: float = 0.0,
    spike: Spike | None = None,
    spike_at_s: float | None = None,
    on_off: tuple[float, float] | None = None,
) -> tuple[np.ndarray, str]:
    """λ(t) for each simulated second, and a one-line description."""
    if shape not in SHAPES:
        raise ArrivalsError(f"unknown shape {shape!r} (choose {', '.join(SHAPES)})")
    if daily_requests < 0:
        raise ArrivalsError("daily requests must not be negative")
    tod = (start_s + np.arange(seconds, dtype=np.float64)) % DAY_S  # time of day of each second
    mean = daily_requests / DAY_S
    if shape == "business":
        weights = np.array(business_shape().weights)
        rate = daily_requests * weights[(tod // 3600).astype(int)] / 3600
    elif shape == "diurnal":
        phase = 2 * math.pi * (tod - (DIURNAL_PEAK_HOUR - 6) * 3600) / DAY_S
        rate = mean * (1 + DIURNAL_AMPLITUDE * np.sin(phase))
    elif shape == "onoff":
        on, off = on_off or parse_on_off(DEFAULT_ON_OFF)
        rate = np.where(tod % (on + off) < on, mean * (on + off) / on, 0.0)
    else:
        rate = np.full(seconds, mean)
    text = f"{shape}, {daily_requests:,.0f} requests/day"
    if shape == "onoff":
        on, off = on_off or parse_on_off(DEFAULT_ON_OFF)
        text += f", on {_clock(on, True)} / off {_clock(off, True)}"
    if shape == "spike" and spike is None:
        spike = parse_spike(DEFAULT_SPIKE)
    if spike is not None:
        at = time_of_day(DEFAULT_SPIKE_AT) if spike_at_s is None else spike_at_s
        inside = ((tod - at) % DAY_S) < spike.duration_s
        rate = np.where(inside, rate * spike.factor, rate)
        text += f", spike {spike.describe()} at {_clock(at)}"
    return rate, text


def generate(
    shape: str,
    daily_requests: float,
    seconds: int,
    seed: int,
    start_s: float = 0.0,
    spike: Spike | None = None,
    spike_at_s: float | None = None,
    on_off: tuple[float, float] | None = None,
) -> Arrivals:
    """Poisson counts per second for a generated shape."""
    rate, text = rate_profile(shape, daily_requests, seconds, start_s, spike, spike_at_s, on_off)
    counts = np.random.default_rng(seed).poisson(rate).astype(np.int64)
    return Arrivals(f"{text}; Poisson arrivals, seed {seed}", counts, rate, start_s)


def _parse_time(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ArrivalsError(f"{path.name} line {line}: timestamp {text!r} is neither seconds nor ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def load_trace(path: Path | str) -> Arrivals:
    """A CSV trace: a ``count`` column (per second) or a ``timestamp`` column (one row per request)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ArrivalsError(f"cannot read trace {path}: {error.strerror or error}") from None
    reader = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    if "count" in columns:
        by_second: dict[int, int] = {}
        for i, row in enumerate(reader, start=2):
            try:
                count = int(float(row["count"]))
                second = int(float(row["second"])) if "second" in columns else i - 2
            except (TypeError, ValueError):
                raise ArrivalsError(f"{path.name} line {i}: count and second must be numbers") from None
            if count < 0 or second < 0:
                raise ArrivalsError(f"{path.name} line {i}: count and second must not be negative")
            by_second[second] = by_second.get(second, 0) + count
        if not by_second:
            raise ArrivalsError(f"{path.name}: no rows")
        counts = np.zeros(max(by_second) + 1, dtype=np.int64)
        for second, count in by_second.items():
            counts[second] = count
        return Arrivals(
            f"trace {path.name} ({counts.sum():,} requests per second counts)", counts, counts.astype(float)
        )
    if "timestamp" in columns:
        times = np.array([_parse_time(row["timestamp"] or "", path, i) for i, row in enumerate(reader, start=2)])
        if times.size == 0:
            raise ArrivalsError(f"{path.name}: no rows")
        times = np.sort(times - times.min())
        counts = np.bincount(times.astype(np.int64)).astype(np.int64)
        return Arrivals(
            f"trace {path.name} ({times.size:,} request timestamps)", counts, counts.astype(float), 0.0, times
        )
    raise ArrivalsError(f"{path.name}: needs a header with a 'count' column or a 'timestamp' column, got {columns}")


def hourly_weights(arrivals: Arrivals) -> list[float]:
    """Share of the offered requests in each hour of the day (for the cost model's daily shape)."""
    tod_hour = (((arrivals.start_s + np.arange(arrivals.seconds)) % DAY_S) // 3600).astype(int)
    totals = np.bincount(tod_hour, weights=arrivals.rate, minlength=24)
    return [float(v) for v in totals]
