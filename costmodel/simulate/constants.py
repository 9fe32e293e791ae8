"""The simulator's behavioural constants, read from `constants.yaml`: each with unit, source page, date read.

`load_constants()` checks every entry has ``value``, ``unit``, ``source`` (an https page) and ``read_on``;
``assumption: true`` marks a value no page states. A constant is reached by its dotted key
(``constants["lambda.idle_lifetime"]`` is the value; ``constants.entry(key)`` the whole entry).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONSTANTS_PATH = Path(__file__).resolve().parent / "constants.yaml"
FIELDS = ("value", "unit", "source", "read_on")


class ConstantsError(ValueError):
    """The constants file is missing, malformed, or an entry lacks a field."""


@dataclass(frozen=True)
class Constant:
    key: str
    value: float
    unit: str
    source: str
    read_on: dt.date
    assumption: bool = False
    note: str = ""


@dataclass(frozen=True)
class Constants:
    path: Path
    entries: dict[str, Constant]

    def __getitem__(self, key: str) -> float:
        return self.entry(key).value

    def entry(self, key: str) -> Constant:
        try:
            return self.entries[key]
        except KeyError:
            raise ConstantsError(f"{self.path.name}: no constant {key!r}") from None

    def assumptions(self) -> list[Constant]:
        return [c for c in self.entries.values() if c.assumption]


def _parse(key: str, raw: Any) -> Constant:
    if not isinstance(raw, dict):
        raise ConstantsError(f"{key}: expected a mapping with {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        raise ConstantsError(f"{key}: missing {', '.join(missing)}")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConstantsError(f"{key}: value must be a non-negative number, got {value!r}")
    if not str(raw["source"]).startswith("https://"):
        raise ConstantsError(f"{key}: source must be an https page, got {raw['source']!r}")
    read_on = raw["read_on"]
    if not isinstance(read_on, dt.date):
        raise ConstantsError(f"{key}: read_on must be a date (YYYY-MM-DD), got {read_on!r}")
    extra = set(raw) - {*FIELDS, "assumption", "note"}
    if extra:
        raise ConstantsError(f"{key}: unexpected fields {', '.join(sorted(extra))}")
    return Constant(
        key,
        float(value),
        str(raw["unit"]),
        str(raw["source"]),
        read_on,
        bool(raw.get("assumption")),
        raw.get("note", ""),
    )


def load_constants(path: Path | str | None = None) -> Constants:
    path = Path(path) if path is not None else DEFAULT_CONSTANTS_PATH
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConstantsError(f"cannot read constants file {path}: {error.strerror or error}") from None
    if not isinstance(document, dict):
        raise ConstantsError(f"{path.name}: expected a mapping at the top level")
    entries = {}
    for group, items in document.items():
        if group == "version":
            continue
        if not isinstance(items, dict):
            raise ConstantsError(f"{path.name}: {group} must be a mapping of constants")
        for name, raw in items.items():
            key = f"{group}.{name}"
            entries[key] = _parse(key, raw)
    return Constants(path, entries)
