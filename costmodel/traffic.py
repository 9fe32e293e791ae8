"""Traffic profile: requests per day, how they spread over the 24 hours, and the burst within an hour.

Formulas (N = daily requests, w_h = share of the day's requests in hour h, Σ w_h = 1):

    days per month      D     = month_hours / 24                     (730 h -> 30.4167 days)
    monthly requests    R     = N × D
    mean RPS in hour h  m_h   = N × w_h / 3600
    peak RPS in hour h  p_h   = m_h × peak_to_average

`peak_to_average` is the ratio of the highest request rate within an hour to that hour's mean: the
rate that capacity (Fargate tasks, EKS pods, Lambda provisioned concurrency) must be sized for. The
daily shape already carries the hour-to-hour swing; this ratio carries the bursts inside the hour.

Shapes:
- ``flat``: w_h = 1/24 for every hour.
- ``business``: 80% of the day's requests in the 8 hours 09:00-17:00 (10% each) and 20% spread over the
  other 16 hours (1.25% each); the busiest hour carries 2.4 × the daily mean rate.
- an hourly profile file: 24 non-negative weights, normalised to sum to 1 (see `load_hourly_profile`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600
DEFAULT_MONTH_HOURS = 730.0
DEFAULT_PEAK_TO_AVERAGE = 2.0
BUSINESS_HOURS = range(9, 17)
BUSINESS_SHARE = 0.80


class TrafficError(ValueError):
    """A traffic input is invalid (bad shape name, unreadable profile file, non-positive ratio...)."""


@dataclass(frozen=True)
class DailyShape:
    """How the day's requests are spread over its 24 hours; ``weights`` sum to 1."""

    name: str
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != HOURS_PER_DAY:
            raise TrafficError(f"shape {self.name!r}: need {HOURS_PER_DAY} hourly weights, got {len(self.weights)}")
        if any(w < 0 for w in self.weights):
            raise TrafficError(f"shape {self.name!r}: hourly weights must not be negative")
        if abs(sum(self.weights) - 1.0) > 1e-9:
            raise TrafficError(f"shape {self.name!r}: hourly weights must sum to 1")

    @classmethod
    def from_relative(cls, name: str, values: list[float]) -> DailyShape:
        """A shape from 24 relative values (any scale), normalised to sum to 1."""
        if len(values) != HOURS_PER_DAY:
            raise TrafficError(f"shape {name!r}: need {HOURS_PER_DAY} hourly values, got {len(values)}")
        if any(v < 0 for v in values):
            raise TrafficError(f"shape {name!r}: hourly values must not be negative")
        total = float(sum(values))
        if total <= 0:
            raise TrafficError(f"shape {name!r}: hourly values must not all be zero")
        return cls(name, tuple(v / total for v in values))

    @property
    def peak_hour_factor(self) -> float:
        """Busiest hour's mean rate over the daily mean rate (24 × max w_h)."""
        return HOURS_PER_DAY * max(self.weights)


def flat_shape() -> DailyShape:
    return DailyShape("flat", tuple([1.0 / HOURS_PER_DAY] * HOURS_PER_DAY))


def business_shape() -> DailyShape:
    on = BUSINESS_SHARE / len(BUSINESS_HOURS)
    off = (1.0 - BUSINESS_SHARE) / (HOURS_PER_DAY - len(BUSINESS_HOURS))
    return DailyShape("business", tuple(on if h in BUSINESS_HOURS else off for h in range(HOURS_PER_DAY)))


NAMED_SHAPES = {"flat": flat_shape, "business": business_shape}


def named_shape(name: str) -> DailyShape:
    try:
        return NAMED_SHAPES[name]()
    except KeyError:
        raise TrafficError(
            f"unknown shape {name!r} (choose {', '.join(NAMED_SHAPES)}, or give --hourly-profile)"
        ) from None


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def load_hourly_profile(path: Path | str) -> DailyShape:
    """Read 24 relative hourly weights from a file.

    Accepted layouts: a JSON list of 24 numbers, or a JSON object with an ``hourly`` list; or text with one
    value per line (``weight``, or ``hour,weight`` with hours 0-23 in any order), or 24 values on one line
    separated by commas or spaces. Lines starting with ``#`` and a non-numeric header line are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TrafficError(f"cannot read hourly profile {path}: {error.strerror or error}") from None
    name = f"profile:{path.name}"
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise TrafficError(f"hourly profile {path.name}: invalid JSON ({error.msg})") from None
        if isinstance(data, dict):
            data = data.get("hourly")
        if not isinstance(data, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in data):
            raise TrafficError(f"hourly profile {path.name}: expected a list of 24 numbers")
        return DailyShape.from_relative(name, [float(v) for v in data])

    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        numbers = _NUMBER.findall(line)
        if not numbers:
            continue  # header such as "hour,weight"
        rows.append([float(n) for n in numbers])
    if len(rows) == 1 and len(rows[0]) == HOURS_PER_DAY:
        return DailyShape.from_relative(name, rows[0])
    if rows and all(len(r) == 2 for r in rows):
        by_hour: dict[int, float] = {}
        for hour, weight in rows:
            if hour != int(hour) or not 0 <= hour < HOURS_PER_DAY or int(hour) in by_hour:
                raise TrafficError(f"hourly profile {path.name}: hours must be 0-23, each once")
            by_hour[int(hour)] = weight
        if len(by_hour) != HOURS_PER_DAY:
            raise TrafficError(f"hourly profile {path.name}: need all 24 hours, got {len(by_hour)}")
        return DailyShape.from_relative(name, [by_hour[h] for h in range(HOURS_PER_DAY)])
    if rows and all(len(r) == 1 for r in rows):
        return DailyShape.from_relative(name, [r[0] for r in rows])
    raise TrafficError(f"hourly profile {path.name}: expected 24 weights (one per line, or hour,weight lines)")


@dataclass(frozen=True)
class Traffic:
    """The traffic profile, less the daily volume (which the comparison varies)."""

    shape: DailyShape
    peak_to_average: float = DEFAULT_PEAK_TO_AVERAGE
    month_hours: float = DEFAULT_MONTH_HOURS

    def __post_init__(self) -> None:
        if not self.peak_to_average >= 1.0:
            raise TrafficError(f"peak-to-average ratio must be at least 1, got {self.peak_to_average}")
        if not self.month_hours > 0:
            raise TrafficError(f"month hours must be positive, got {self.month_hours}")

    @property
    def days_per_month(self) -> float:
        """D = month_hours / 24."""
        return self.month_hours / HOURS_PER_DAY

    def monthly_requests(self, daily: float) -> float:
        """R = N × D."""
        return daily * self.days_per_month

    def hourly_requests(self, daily: float) -> list[float]:
        """Requests in each hour of the day: N × w_h."""
        return [daily * w for w in self.shape.weights]

    def hourly_mean_rps(self, daily: float) -> list[float]:
        """m_h = N × w_h / 3600."""
        return [daily * w / SECONDS_PER_HOUR for w in self.shape.weights]

    def hourly_peak_rps(self, daily: float) -> list[float]:
        """p_h = m_h × peak_to_average."""
        return [daily * w / SECONDS_PER_HOUR * self.peak_to_average for w in self.shape.weights]

    def describe(self) -> str:
        return (
            f"{self.shape.name} shape (busiest hour {self.shape.peak_hour_factor:.2f}× the daily mean), "
            f"peak-to-average {self.peak_to_average:g} within the hour, month = {self.month_hours:g} h"
        )
