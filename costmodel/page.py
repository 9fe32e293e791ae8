"""`page`: every generated figure of docs/comparison.md ("Which platform?") and the README's headline row.

The files carry marker comments, ``<!-- costmodel:begin NAME -->`` … ``<!-- costmodel:end NAME -->``; the text
between each pair is replaced by block NAME, on lines of its own when the begin marker ends its line, inline
otherwise (a table cell). Every block is computed here from one results folder (`--from-results DIR`, the
measured inputs) and from the documented defaults (the fallback); the prose around the blocks quotes no figure.
A marker missing from a file, or one this module does not know, is an error naming it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from costmodel.compare import DEFAULT_RANGE, DEFAULT_VOLUMES, CrossoverResult, compare, find_crossovers, scenarios
from costmodel.inputs import Resolved
from costmodel.model import PLATFORM_LABELS
from costmodel.render import (
    inputs_sentence,
    markdown_crossovers,
    markdown_inputs,
    markdown_rows,
    markdown_scenarios,
    service_rows,
)

DEFAULT_RESULTS = Path("tests/fixtures/loadtest/image-results")  # the measurements committed as fixtures
PAGE = Path("docs/comparison.md")
README = Path("README.md")
PROVENANCE = "PROVENANCE.md"  # in the results folder: the date, the machine and each folder's command
SCENARIO_VOLUMES = (100_000, 1_000_000, 2_500_000, 10_000_000)
# "What moves the crossover": each row is `crossover` on the defaults with these flags.
MOVES = (
    ("none", ""),
    ("Lambda billed 50 ms", "--duration-ms 50"),
    ("Lambda billed 100 ms", "--duration-ms 100"),
    ("Lambda billed 200 ms", "--duration-ms 200"),
    ("Lambda at 1024 MB, same duration", "--memory-mb 1024"),
    ("1 provisioned-concurrency environment", "--provisioned-concurrency 1"),
    ("Fargate tasks of 0.5 vCPU / 1 GB", "--task-vcpu 0.5 --task-memory-gb 1"),
    ("all Fargate task-hours on Spot", "--spot-share 1"),
    ("business-hours traffic", "--shape business"),
    ("25 RPS per core", "--rps-per-core 25"),
    ("function URL instead of HTTP API", "--no-api-gateway --max-volume 100M"),
)
_MARKER = re.compile(r"<!-- costmodel:(begin|end) ([a-z0-9-]+) -->")


class MarkerError(ValueError):
    """A file's marker comments do not match the blocks the generator writes."""


@dataclass(frozen=True)
class Page:
    """The generated text of each file, keyed by path."""

    files: dict[Path, str]


def begin(name: str) -> str:
    return f"<!-- costmodel:begin {name} -->"


def end(name: str) -> str:
    return f"<!-- costmodel:end {name} -->"


def fill(text: str, blocks: dict[str, str], where: Path | str) -> str:
    """``text`` with the content between each block's markers replaced; every block's markers must be there."""
    unknown = sorted({m.group(2) for m in _MARKER.finditer(text)} - set(blocks))
    if unknown:
        raise MarkerError(f"{where}: marker {begin(unknown[0])} names no generated block (known: {', '.join(blocks)})")
    for name, content in blocks.items():
        start, stop = text.find(begin(name)), text.find(end(name))
        if start < 0:
            raise MarkerError(f"{where}: marker {begin(name)} missing")
        if stop < 0:
            raise MarkerError(f"{where}: marker {end(name)} missing")
        if stop < start:
            raise MarkerError(f"{where}: {end(name)} comes before {begin(name)}")
        after = start + len(begin(name))
        block = text[after:].startswith("\n")
        body = f"\n{content}\n" if block else content
        text = text[:after] + body + text[stop:]
    return text


# ----------------------------------------------------------------------------------------------- the blocks


def cheapest_sentence(result: CrossoverResult) -> str:
    """Which platform is cheapest where, in words, from the solved crossovers."""
    start = PLATFORM_LABELS[result.start]
    if not result.crossovers:
        return f"{start} is the cheapest at every volume from {result.low:,} to {result.high:,} requests a day"
    first, rest = result.crossovers[0], result.crossovers[1:]
    sentence = (
        f"{start} is the cheapest below {first.daily_requests:,} requests a day and "
        f"{PLATFORM_LABELS[first.to_platform]} from there"
    )
    if rest:
        last = rest[-1]
        sentence += (
            f"; the cheapest changes {len(rest)} more time{'s' if len(rest) > 1 else ''} up to {result.high:,}, "
            f"the last to {PLATFORM_LABELS[last.to_platform]} at {last.daily_requests:,}"
        )
    return sentence


def cheapest_cell(result: CrossoverResult) -> str:
    """The README's "cheapest below / above" value."""
    if not result.crossovers:
        return f"{PLATFORM_LABELS[result.start]} up to {result.high:,} requests a day"
    first, more = result.crossovers[0], len(result.crossovers) - 1
    cell = (
        f"{PLATFORM_LABELS[result.start]} / {PLATFORM_LABELS[first.to_platform]} at "
        f"{first.daily_requests:,} requests a day"
    )
    return cell + (f" (then {more} more change{'s' if more > 1 else ''})" if more else "")


def _used_summaries(resolved: Resolved, directory: Path) -> list[tuple[Path, dict]]:
    """The summaries under ``directory`` that supplied an input, oldest first."""
    origins = " ".join(resolved.profile.sources.values())
    used = []
    for path in sorted(directory.glob("*/summary.json")):
        if str(path) in origins:
            used.append((path, json.loads(path.read_text(encoding="utf-8"))))
    return sorted(used, key=lambda item: str(item[1].get("created", "")))


def _provenance_file(directory: Path) -> tuple[dict[str, str], str | None]:
    """From ``DIR/PROVENANCE.md``: each folder's command (its table) and the machine bullet, where present."""
    path = directory / PROVENANCE
    if not path.is_file():
        return {}, None
    commands, machine, lines = {}, None, path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2:
            for folder in re.findall(r"`([^`]+)`", cells[0]):
                commands[folder] = " | ".join(cells[1:]).replace("|", "\\|")
        if line.startswith("- Machine:"):
            rest = [line[len("- Machine:") :].strip()]
            for more in lines[i + 1 :]:
                if not more.startswith("  "):
                    break
                rest.append(more.strip())
            machine = " ".join(rest).rstrip(".")
    return commands, machine


def provenance(resolved: Resolved, directory: Path) -> str:
    """When and where the inputs were measured, and with which command, from the summaries and PROVENANCE.md."""
    used = _used_summaries(resolved, directory)
    if not used:
        return f"No measurement in `{directory}` supplied an input: every figure below is a documented default."
    commands, machine_note = _provenance_file(directory)
    created = [str(data.get("created", "")) for _, data in used if data.get("created")]
    machines = []
    for _, data in used:
        m = data.get("machine") if isinstance(data.get("machine"), dict) else {}
        described = f"{m.get('processor', '?')}, {m.get('cpus', '?')} CPUs, {m.get('platform', '?')}"
        if described not in machines:
            machines.append(described)
    lines = [
        f"Measured from {created[0]} to {created[-1]} (each summary's `created`) on "
        + "; ".join(machines)
        + " (the summaries' `machine`)"
        + (f"; the machine as `{directory / PROVENANCE}` describes it: {machine_note}" if machine_note else "")
        + ".",
        "",
        "| folder | target | created | command |",
        "| --- | --- | --- | --- |",
    ]
    for path, data in used:
        folder = path.parent.name
        command = commands.get(folder, f"not recorded (no row in `{PROVENANCE}`)")
        lines.append(f"| `{folder}` | `{data.get('target')}` | {data.get('created', '?')} | {command} |")
    return "\n".join(lines)


def resolve_flags(command: str, flags: list[str]) -> tuple[Resolved, object]:
    """The inputs a `python -m costmodel COMMAND FLAGS` run would use, and its parsed flags."""
    from costmodel.cli import build_parser  # the command line's own parsing (cli imports the commands)
    from costmodel.inputs import resolve

    args = build_parser().parse_args([command, *flags])
    return resolve(args), args


def resolve_pair(directory: Path, pricing: Path | None = None) -> tuple[Resolved, Resolved]:
    """The measured inputs from ``directory`` and the documented defaults, both with ``pricing``."""
    priced = ["--pricing", str(pricing)] if pricing else []
    measured, _ = resolve_flags("compare", ["--from-results", str(directory), *priced])
    defaults, _ = resolve_flags("compare", priced)
    return measured, defaults


def _moves(pricing: Path | None) -> str:
    lines = [
        "| change from the defaults | flags | Lambda → Fargate from (requests/day) |",
        "| --- | --- | ---: |",
    ]
    for label, flags in MOVES:
        resolved, args = resolve_flags("crossover", [*flags.split(), *(["--pricing", str(pricing)] if pricing else [])])
        result = find_crossovers(args.min_volume, args.max_volume, resolved.inputs, resolved.pricing)
        first = next((c for c in result.crossovers if (c.from_platform, c.to_platform) == ("lambda", "fargate")), None)
        if first is None:
            cell = f"no change up to {result.high:,}"
        else:
            rest = [c for c in result.crossovers if c.daily_requests > first.daily_requests]
            cell = f"{first.daily_requests:,}"
            if rest:
                cell += (
                    f" (then {len(rest)} more change{'s' if len(rest) > 1 else ''} up to {rest[-1].daily_requests:,})"
                )
        lines.append(f"| {label} | {f'`{flags}`' if flags else ''} | {cell} |")
    return "\n".join(lines)


def page_blocks(measured: Resolved, defaults: Resolved, directory: Path, pricing: Path | None = None) -> dict:
    """Every block of docs/comparison.md: the measured section first, then the documented defaults."""
    m_cross = find_crossovers(*DEFAULT_RANGE, measured.inputs, measured.pricing)
    d_cross = find_crossovers(*DEFAULT_RANGE, defaults.inputs, defaults.pricing)
    variants = scenarios(defaults.inputs, defaults.pricing)
    volumes = list(SCENARIO_VOLUMES)
    scenario_results = [
        (s, compare(volumes, s.inputs, defaults.pricing), find_crossovers(*DEFAULT_RANGE, s.inputs, defaults.pricing))
        for s in variants
    ]
    return {
        "headline": cheapest_sentence(m_cross) + f" (the inputs measured in `{directory}`).",
        "provenance": provenance(measured, directory),
        "measured-inputs": markdown_inputs(service_rows(measured)),
        "measured-assumptions": inputs_sentence(measured),
        "measured-costs": markdown_rows(compare(list(DEFAULT_VOLUMES), measured.inputs, measured.pricing)),
        "measured-crossovers": markdown_crossovers(m_cross),
        "default-inputs": markdown_inputs(service_rows(defaults)),
        "default-assumptions": inputs_sentence(defaults),
        "default-costs": markdown_rows(compare(list(DEFAULT_VOLUMES), defaults.inputs, defaults.pricing)),
        "default-crossovers": markdown_crossovers(d_cross),
        "default-headline": cheapest_sentence(d_cross) + " (the documented defaults).",
        "scenarios": markdown_scenarios(volumes, scenario_results),
        "moves": _moves(pricing),
    }


def capacity_cell(measured: Resolved) -> str:
    """The README's capacity value: the knees measured in the Fargate task's and the EKS pod's shapes."""
    profile = measured.profile
    if profile.rps_per_task is None:
        return "not measured (no image-container capacity run in the results)"
    pod = f"; EKS pod: {profile.rps_per_pod:g} RPS" if profile.rps_per_pod is not None else ""
    return f"{profile.rps_per_task:g} RPS per Fargate task ({profile.rps_per_task_vcpu:g} vCPU){pod}"


def readme_blocks(measured: Resolved) -> dict:
    return {
        "cheapest": cheapest_cell(find_crossovers(*DEFAULT_RANGE, measured.inputs, measured.pricing)),
        "capacity": capacity_cell(measured),
    }


def generate(
    measured: Resolved,
    defaults: Resolved,
    directory: Path,
    page: Path = PAGE,
    readme: Path = README,
    pricing: Path | None = None,
) -> Page:
    """The new text of the page and the README (nothing is written)."""
    return Page(
        {
            page: fill(page.read_text(encoding="utf-8"), page_blocks(measured, defaults, directory, pricing), page),
            readme: fill(readme.read_text(encoding="utf-8"), readme_blocks(measured), readme),
        }
    )
