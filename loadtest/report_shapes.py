"""The report's deployed-shape parts: which targets ran (image or process) in which shape, and latency against
offered load for the three deployed shapes (Fargate task, EKS pod, Lambda environment) side by side."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtest.report import Result

DEPLOYED_SHAPES = (("fargate", "Fargate task"), ("eks", "EKS pod"), ("lambda", "Lambda environment"))


def kind_of(summary: dict[str, Any]) -> str:
    """``image`` (a built image in a deployed shape), ``process`` (a stand-in on this machine) or ``URL``."""
    target = summary["target"]
    if target.startswith("image-"):
        return "image"
    if target.startswith(("http://", "https://")):
        return "URL"
    return "process"


def shape_of(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The deployed shape an image target ran in (``server.shape``), or ``None``."""
    shape = summary["server"].get("shape")
    return shape if isinstance(shape, dict) else None


def targets_table(results: list[Result]) -> str:
    """Which targets ran, image or process, and each one's shape: CPUs, memory, workers, image, source file."""
    lines = [
        "| result | target | ran as | shape | CPUs | memory | workers | image | shape from |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for result in results:
        summary = result.summary
        server = summary["server"]
        shape = shape_of(summary) or {}
        memory = shape.get("memory_mb") or server.get("memory_mb")
        workers = shape.get("workers", server.get("workers"))
        fallback = "this machine" if kind_of(summary) == "process" else "–"
        if shape.get("per"):
            workers = f"{workers} environments (1 invocation each)"
        lines.append(
            f"| {result.label} | {summary['target']} | {kind_of(summary)} | {shape.get('shape', '–')} | "
            f"{server.get('cpus', '–')} | {f'{memory} MB' if memory else '–'} | {workers if workers else '–'} | "
            f"{shape.get('image', '–')} | {shape.get('source', fallback)} |"
        )
    return "\n".join(lines)


def ran_sentence(results: list[Result]) -> str:
    """One line: image targets, process targets, or both."""
    kinds = sorted({kind_of(result.summary) for result in results})
    if kinds == ["image"]:
        return "The images ran, each in its deployed shape (Docker on this machine)."
    if "image" not in kinds:
        return "The process targets ran (no Docker or no images here): stand-ins on this machine's cores."
    return "Both ran: the images in their deployed shapes and process stand-ins on this machine's cores."


def _probe_for(results: list[Result], shape_name: str) -> Result | None:
    probes = [
        result
        for result in results
        if result.summary.get("capacity") and (shape_of(result.summary) or {}).get("shape") == shape_name
    ]
    return probes[-1] if probes else None


def plot_deployed_shapes(results: list[Result], path: Path) -> Path | None:
    """p50 and p99 against offered RPS per deployed shape, one panel each; ``None`` without any such probe."""
    probes = {name: _probe_for(results, name) for name, _ in DEPLOYED_SHAPES}
    if not any(probes.values()):
        return None
    from loadtest.report import _pyplot

    plt = _pyplot()
    figure, panels = plt.subplots(1, len(DEPLOYED_SHAPES), figsize=(14, 4.5), sharey=True)
    for axes, (name, title) in zip(panels, DEPLOYED_SHAPES, strict=True):
        result = probes[name]
        if result is None:
            axes.text(0.5, 0.5, "not measured", ha="center", va="center", transform=axes.transAxes)
            axes.set_title(title)
            continue
        capacity = result.summary["capacity"]
        shape = shape_of(result.summary) or {}
        steps = sorted(capacity["steps"], key=lambda step: step["offered_rps"])
        offered = [step["offered_rps"] for step in steps]
        axes.plot(offered, [max(step["p50_ms"], 0.01) for step in steps], marker="o", label="p50")
        axes.plot(offered, [max(step["p99_ms"], 0.01) for step in steps], marker="o", label="p99")
        axes.axhline(capacity["p99_budget_ms"], color="red", linestyle="--", linewidth=1, label="p99 budget")
        if capacity.get("knee_rps") is not None:
            axes.axvline(capacity["knee_rps"], color="grey", linestyle=":", linewidth=1, label="knee")
        axes.set_title(f"{title}: {shape.get('cpus')} vCPU, {shape.get('memory_mb')} MB")
        axes.set_xlabel(f"offered RPS ({capacity.get('texts', 'reviews')})")
        axes.set_yscale("log")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize="small")
    panels[0].set_ylabel("latency (ms, log scale)")
    figure.suptitle("Latency against offered load, in each platform's deployed shape")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
