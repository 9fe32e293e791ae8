"""``make bench-batching``: texts a second of the bundled model by batch size, three ways of running a batch.

All run in one process on the same SST-2 dev sentences, one ONNX Runtime thread (a task's or a pod's one
vCPU), best of a few rounds:

- **serving path, one run per text**: ``SentimentModel.predict_batch``, what the micro-batcher calls; no
  padding at all;
- **sorted runs of 16**: the batch sorted by characters, runs of up to 16 texts each padded to its longest
  (the serving path until each text ran alone);
- **one padded run**: the whole batch in one run padded to its longest text (``SentimentModel.probabilities``).

The model computes every position of every row, padding included, so a row padded from 12 to 60 tokens costs
what a 60-token row costs. Writes ``results/bench/batching.json`` and ``batching.png``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from inference.model import SentimentModel
from inference.settings import BUNDLED_MODEL_DIR
from model_export.bench import time_batches
from model_export.data import DEFAULT_DEV_TSV, read_labeled_tsv

RESULTS_DIR = Path("results/bench")
BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def texts_per_second(run: Callable[[list[str]], object], texts: list[str], batch_size: int, rounds: int) -> float:
    """Best of ``rounds`` passes over ``texts`` in batches of ``batch_size``, after one warm-up batch."""
    run(texts[:batch_size])
    return max(time_batches(run, texts, batch_size) for _ in range(rounds))


SORTED_RUN = 16
WAYS = ("serving path, one run per text", f"sorted runs of {SORTED_RUN}", "one padded run")


def sorted_runs(model: SentimentModel, texts: list[str]) -> None:
    """The batch sorted by characters, in padded runs of up to ``SORTED_RUN`` texts."""
    ordered = sorted(texts, key=len)
    for start in range(0, len(ordered), SORTED_RUN):
        model.probabilities(ordered[start : start + SORTED_RUN])


def run_bench(count: int, rounds: int, threads: int = 1) -> list[dict[str, float]]:
    """One row per batch size: texts a second of each way."""
    from rich.progress import track

    model = SentimentModel.load(BUNDLED_MODEL_DIR, threads=threads)
    texts = read_labeled_tsv(DEFAULT_DEV_TSV).texts[:count]
    runs: tuple[Callable[[list[str]], object], ...] = (
        model.predict_batch,
        lambda batch: sorted_runs(model, batch),
        model.probabilities,
    )
    ways = dict(zip(WAYS, runs, strict=True))
    rows = []
    for size in track(BATCH_SIZES, description="timing batch sizes"):
        row: dict[str, float] = {"batch_size": size}
        for way, run in ways.items():
            row[way] = round(texts_per_second(run, texts, size, rounds), 1)
        rows.append(row)
    return rows


def plot(rows: list[dict[str, float]], path: Path) -> None:
    """Texts a second against batch size, each way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["batch_size"] for row in rows]
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for way in WAYS:
        axes.plot(sizes, [row[way] for row in rows], marker="o", label=way)
    axes.set(xscale="log", xlabel="texts per batch", ylabel="texts / s (1 thread)", title="Bundled int8 model")
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_ylim(bottom=0)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Time, print the table with ratios, write JSON and PNG."""
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(prog="python -m model_export.bench_batching", description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=640, help="SST-2 dev sentences timed")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = run_bench(args.texts, args.rounds)
    table = Table(title=f"{args.texts} SST-2 dev sentences, 1 thread, best of {args.rounds}: texts/s")
    for column in ("batch", *WAYS, "serving / sorted runs"):
        table.add_column(column, justify="right")
    for row in rows:
        ratio = row[WAYS[0]] / row[WAYS[1]]
        table.add_row(str(row["batch_size"]), *(f"{row[way]:.1f}" for way in WAYS), f"{ratio:.2f}×")
    Console().print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "batching.json").write_text(
        json.dumps({"texts": args.texts, "rounds": args.rounds, "rows": rows}, indent=2) + "\n"
    )
    plot(rows, RESULTS_DIR / "batching.png")
    print(f"wrote {RESULTS_DIR / 'batching.json'} and {RESULTS_DIR / 'batching.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
