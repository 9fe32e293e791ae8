"""Calibrate the service inputs from what this project measured: `--from-results DIR`.

Reads, defensively, whatever is present:

- ``DIR/<name>/summary.json`` (and ``DIR/summary.json``), written by the load-test runner. Each is
  classified by its ``target``: ``image-container`` (the service image in a deployed shape),
  ``local-container`` (or a URL on ``elb.amazonaws.com``) describe the container that Fargate and EKS run;
  ``image-lambda``, ``local-lambda`` (or a URL on ``execute-api``/``lambda-url``) describe Lambda;
  ``baseline`` and other URLs are not a platform and are skipped. Of several summaries of one kind the
  image target wins (it ran what is deployed, in its shape), then one with a capacity knee, then a local
  one (it carries the CPU count and the billed duration), then the newest. An ``image-container`` summary
  whose ``server.shape.shape`` is ``eks`` describes the EKS pod.
- ``DIR/bench/bench.json`` (or any ``bench.json`` under DIR), written by ``make bench``.

What each file gives (a value only replaces the default when it is present and valid):

| input | from |
| --- | --- |
| RPS per Fargate task | ``capacity.knee_rps`` of ``image-container`` in the Fargate shape, at the task's own vCPU |
| RPS per EKS pod | ``capacity.knee_rps`` of ``image-container --shape eks``, at the pod's own vCPU |
| container RPS per core | ``capacity.knee_rps / server.cpus`` (container summary; the shape's vCPU for images) |
| container p99 budget, p99 | ``capacity.p99_budget_ms`` (p99 at or below the knee is within it) |
| capacity steps | ``capacity.steps`` (to re-size for a tighter SLO in ``recommend``; the EKS-shape run's for pods) |
| EKS pod p99 | ``capacity.p99_budget_ms`` of the EKS-shape run |
| container p99 without a capacity probe | ``latency_ms.p99`` (container summary) |
| Lambda billed duration | ``lambda.billed_duration_ms.median`` (local-lambda summary) |
| Lambda memory | ``lambda.memory_mb`` |
| Lambda warm p99 | ``latency_ms.p99`` (Lambda summary) |
| Lambda cold start latency | ``cold_starts.alone_median_ms`` (environments that started alone), else ``median_ms`` |
| Lambda billed INIT | ``lambda.runtime_init_ms.median`` (RIE's INIT REPORT), else the cold-start latency |
| Lambda billed duration, no local-lambda summary | bench ``single_p50_ms`` of the served model (see below) |

The bench row is the one named "bundled" (the served int8 MiniLM-L6), else one naming both "minilm" and
"int8", else any "int8" row, else the first. Its one-core model time is scaled by Lambda's CPU share,
× 1769 / memory MB when the memory is below 1,769 MB (one full vCPU); it times the model only, not the
handler.

A measured RPS per task (pod) applies while the task (pod) has the vCPU it was measured at; otherwise, and
without image results: RPS per task/pod = knee RPS per core × task/pod vCPU, i.e. throughput scales with
the vCPU a task gets (true for CPU-bound serving with one worker per core; a Fargate x86 vCPU is a
hyperthread, a Graviton vCPU a physical core, so x86 may serve less per vCPU than a local core).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from costmodel.service import LAMBDA_MB_PER_VCPU, CapacityStep, ServiceProfile

CONTAINER, LAMBDA, POD = "container", "lambda", "pod"
IMAGE_CONTAINER, IMAGE_LAMBDA = "image-container", "image-lambda"


def _number(data: Any, *path: str, positive: bool = True) -> float | None:
    """data[path...] as a float if it is a finite number (> 0 when ``positive``), else None."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
        return None
    if positive and data <= 0:
        return None
    return float(data)


def classify(target: Any) -> str | None:
    """Which platform kind a summary's ``target`` measured, or None when it is not a platform."""
    if not isinstance(target, str):
        return None
    if target in ("local-container", IMAGE_CONTAINER):
        return CONTAINER
    if target in ("local-lambda", IMAGE_LAMBDA):
        return LAMBDA
    lowered = target.lower()
    if lowered.startswith(("http://", "https://")):
        if "execute-api" in lowered or "lambda-url" in lowered:
            return LAMBDA
        if "elb.amazonaws.com" in lowered:
            return CONTAINER
    return None


def _read_json(path: Path, notes: list[str]) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        notes.append(f"{path}: unreadable ({error}); skipped")
        return None
    except json.JSONDecodeError as error:
        notes.append(f"{path}: not valid JSON ({error.msg}, line {error.lineno}); skipped")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path}: expected a JSON object; skipped")
        return None
    return data


def _summary_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*/summary.json"))
    top = directory / "summary.json"
    if top.is_file():
        files.insert(0, top)
    return files


def _bench_file(directory: Path) -> Path | None:
    preferred = directory / "bench" / "bench.json"
    if preferred.is_file():
        return preferred
    found = sorted(directory.rglob("bench.json"))
    return found[0] if found else None


def shape_of(data: dict) -> dict | None:
    """The deployed shape an image target ran in (``server.shape``), or None."""
    shape = data.get("server", {}).get("shape") if isinstance(data.get("server"), dict) else None
    return shape if isinstance(shape, dict) else None


def _is_pod(data: dict) -> bool:
    return data.get("target") == IMAGE_CONTAINER and (shape_of(data) or {}).get("shape") == "eks"


def _pick(candidates: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    """An image target first (what is deployed, in its shape), then one with a capacity knee, then a local
    measurement (it carries CPUs and billed duration), then the newest file."""
    if not candidates:
        return None

    def rank(candidate: tuple[Path, dict]) -> tuple:
        target = str(candidate[1].get("target", ""))
        knee = _number(candidate[1], "capacity", "knee_rps") is not None
        return (target.startswith("image-"), knee, target.startswith("local-"), candidate[0].stat().st_mtime)

    return max(candidates, key=rank)


def _apply_container(profile: ServiceProfile, path: Path, data: dict) -> ServiceProfile:
    knee = _number(data, "capacity", "knee_rps")
    cpus = _number(data, "server", "cpus")
    budget = _number(data, "capacity", "p99_budget_ms")
    shape = shape_of(data) if data.get("target") == IMAGE_CONTAINER else None
    if knee is not None and cpus is not None and shape is not None:
        where = f"{path}: capacity.knee_rps {knee:g} of {IMAGE_CONTAINER} in the {shape.get('shape')} shape"
        where += f" ({cpus:g} vCPU, {shape.get('source')})"
        profile = profile.with_value("rps_per_core", knee / cpus, f"{where} / its {cpus:g} vCPU")
        profile = profile.with_value("rps_per_task", knee, where)
        profile = replace(profile, rps_per_task_vcpu=cpus)
    elif knee is not None and cpus is not None:
        profile = profile.with_value(
            "rps_per_core", knee / cpus, f"{path}: capacity.knee_rps {knee:g} / server.cpus {cpus:g}"
        )
    if knee is not None and cpus is not None:
        steps = _steps(data)
        if steps:
            profile = replace(
                profile.with_value("capacity_steps", tuple(steps), f"{path}: capacity.steps"), capacity_cpus=cpus
            )
    elif knee is not None:
        profile = profile.with_note(
            f"{path}: capacity.knee_rps present but server.cpus missing; RPS per core not derived"
        )
    if budget is not None:
        profile = profile.with_value("p99_budget_ms", budget, f"{path}: capacity.p99_budget_ms")
        profile = profile.with_value(
            "container_p99_ms", budget, f"{path}: capacity.p99_budget_ms (p99 at or below the knee)"
        )
    else:
        p99 = _number(data, "latency_ms", "p99")
        if p99 is not None:
            profile = profile.with_value("container_p99_ms", p99, f"{path}: latency_ms.p99 (no capacity probe)")
    return profile


def _steps(data: dict) -> tuple[CapacityStep, ...]:
    """The capacity probe's steps that carry an achieved RPS, a p99 and a failure count."""
    steps = []
    raw_steps = data["capacity"].get("steps")
    for raw in raw_steps if isinstance(raw_steps, list) else []:
        achieved, p99 = _number(raw, "achieved_rps", positive=False), _number(raw, "p99_ms")
        failures = raw.get("failures", 0) if isinstance(raw, dict) else None
        if achieved is None or p99 is None or not isinstance(failures, int):
            continue
        steps.append(CapacityStep(_number(raw, "offered_rps", positive=False) or 0.0, achieved, p99, failures))
    return tuple(steps)


def _alone(candidate: tuple[Path, dict]) -> float:
    return _number(candidate[1], "cold_starts", "alone_count", positive=False) or 0.0


def _pick_lambda(candidates: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    """As ``_pick`` (an image target, then a local one), then a steady run (scenario ``mix``) with the most
    invocations before a burst or a one-user cold-start run: the billed duration is a warm request's."""
    if not candidates:
        return None

    def rank(candidate: tuple[Path, dict]) -> tuple:
        target, data = str(candidate[1].get("target", "")), candidate[1]
        invocations = _number(data, "lambda", "invocations", positive=False) or 0.0
        steady = data.get("scenario", "mix") == "mix"
        local = target.startswith("local-")
        return (target.startswith("image-"), local, steady, invocations, candidate[0].stat().st_mtime)

    return max(candidates, key=rank)


def _apply_pod(profile: ServiceProfile, path: Path, data: dict) -> ServiceProfile:
    """RPS per EKS pod: the knee of the image in the pod's shape, at the pod's own vCPU."""
    knee = _number(data, "capacity", "knee_rps")
    cpus = _number(data, "server", "cpus")
    if knee is None or cpus is None:
        return profile.with_note(f"{path}: the EKS-shape run has no capacity.knee_rps; RPS per pod not measured")
    shape = shape_of(data) or {}
    where = f"{path}: capacity.knee_rps {knee:g} of {IMAGE_CONTAINER} in the eks shape ({cpus:g} vCPU, "
    profile = profile.with_value("rps_per_pod", knee, where + f"{shape.get('source')})")
    steps = _steps(data)
    if steps:
        profile = profile.with_value("pod_capacity_steps", steps, f"{path}: capacity.steps")
    budget = _number(data, "capacity", "p99_budget_ms")
    if budget is not None:
        profile = profile.with_value("pod_p99_ms", budget, f"{path}: capacity.p99_budget_ms (p99 at or below the knee)")
    return replace(profile, rps_per_pod_vcpu=cpus)


def _apply_lambda(profile: ServiceProfile, path: Path, data: dict) -> ServiceProfile:
    billed = _number(data, "lambda", "billed_duration_ms", "median")
    if billed is not None:
        profile = profile.with_value("lambda_duration_ms", billed, f"{path}: lambda.billed_duration_ms.median")
    memory = _number(data, "lambda", "memory_mb")
    if memory is not None and memory.is_integer() and 128 <= memory <= 10240:
        profile = profile.with_value("lambda_memory_mb", int(memory), f"{path}: lambda.memory_mb")
    p99 = _number(data, "latency_ms", "p99")
    if p99 is not None:
        profile = profile.with_value("lambda_warm_p99_ms", p99, f"{path}: latency_ms.p99")
    return _apply_cold_start(profile, path, data)


def _apply_cold_start(profile: ServiceProfile, path: Path, data: dict) -> ServiceProfile:
    """Cold-start latency (environments that started alone, where any did) and the billed INIT."""
    count = _number(data, "cold_starts", "count", positive=False)
    cold = _number(data, "cold_starts", "median_ms")
    alone = _number(data, "cold_starts", "alone_median_ms")
    if count and alone is not None:
        profile = profile.with_value(
            "lambda_cold_start_ms", alone, f"{path}: cold_starts.alone_median_ms (environments starting alone)"
        )
    elif count and cold is not None:
        profile = profile.with_value("lambda_cold_start_ms", cold, f"{path}: cold_starts.median_ms")
    init = _number(data, "lambda", "runtime_init_ms", "median")
    if init is not None:
        profile = profile.with_value(
            "lambda_init_ms", init, f"{path}: lambda.runtime_init_ms.median (RIE's INIT REPORT)"
        )
    return profile


def _bench_row(data: dict) -> dict | None:
    raw_rows = data.get("rows")
    rows = [r for r in raw_rows if isinstance(r, dict)] if isinstance(raw_rows, list) else []
    if not rows:
        return None
    names = [str(r.get("name", "")).lower() for r in rows]
    # the served model: the bundled int8 MiniLM-L6 (`make bench` also times DistilBERT and FP32 baselines)
    for wanted in (("bundled",), ("minilm", "int8"), ("int8",)):
        for row, name in zip(rows, names, strict=True):
            if all(word in name for word in wanted):
                return row
    return rows[0]


def load_results(directory: Path | str, profile: ServiceProfile | None = None) -> ServiceProfile:
    """The profile with every input the files in ``directory`` provide; ``notes`` says what was read or skipped."""
    directory = Path(directory)
    profile = profile or ServiceProfile()
    if not directory.is_dir():
        return profile.with_note(f"{directory}: no such results directory; every service input is the default")

    notes: list[str] = []
    kinds: dict[str, list[tuple[Path, dict]]] = {CONTAINER: [], LAMBDA: [], POD: []}
    for path in _summary_files(directory):
        data = _read_json(path, notes)
        if data is None:
            continue
        kind = classify(data.get("target"))
        if kind is None:
            notes.append(f"{path}: target {data.get('target')!r} is not a platform measurement; skipped")
            continue
        kinds[POD if _is_pod(data) else kind].append((path, data))

    chosen = _pick(kinds[CONTAINER])
    if chosen:
        profile = _apply_container(profile, *chosen)
    chosen_lambda = _pick_lambda(kinds[LAMBDA])
    cold_run = None
    if chosen_lambda:
        profile = _apply_lambda(profile, *chosen_lambda)
        # Cold start and INIT from the run of the same target where most environments started alone.
        same = [c for c in kinds[LAMBDA] if c[1].get("target") == chosen_lambda[1].get("target")]
        cold_run = max(same, key=_alone)
        if cold_run is not chosen_lambda and _alone(cold_run) > _alone(chosen_lambda):
            profile = _apply_cold_start(profile, *cold_run)
        else:
            cold_run = None
    chosen_pod = _pick(kinds[POD])
    if chosen_pod:
        profile = _apply_pod(profile, *chosen_pod)
    for kind, candidates in kinds.items():
        used = {CONTAINER: chosen, LAMBDA: chosen_lambda, POD: chosen_pod}[kind]
        notes.extend(
            f"{path}: another {kind} summary; {used[0]} was used"
            for path, _ in candidates
            if used and path != used[0] and not (cold_run and path == cold_run[0])
        )
    if cold_run:
        notes.append(f"{cold_run[0]}: Lambda cold start and INIT (its environments started alone)")

    bench_path = _bench_file(directory)
    if bench_path is not None:
        bench = _read_json(bench_path, notes)
        row = _bench_row(bench) if bench is not None else None
        p50 = _number(row, "single_p50_ms") if row is not None else None
        if row is None or p50 is None:
            if bench is not None:
                notes.append(f"{bench_path}: no row with single_p50_ms; skipped")
        elif "lambda_duration_ms" in profile.sources:
            notes.append(f"{bench_path}: read, but the Lambda duration came from the Lambda summary")
        else:
            scale = max(1.0, LAMBDA_MB_PER_VCPU / profile.lambda_memory_mb)
            profile = profile.with_value(
                "lambda_duration_ms",
                p50 * scale,
                f"{bench_path}: single_p50_ms {p50:g} of row {row.get('name')!r}"
                + (f" × {scale:.3f} (CPU share at {profile.lambda_memory_mb} MB)" if scale > 1 else "")
                + "; model time only, handler overhead not measured",
            )
    if not any(k in profile.sources for k in ("rps_per_core", "lambda_duration_ms", "container_p99_ms")):
        notes.append(f"{directory}: no usable measurements found; service inputs are the documented defaults")
    for note in notes:
        profile = profile.with_note(note)
    return profile
