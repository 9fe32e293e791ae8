"""The host's steal time, read from /proc/stat and set beside the seconds in which requests were refused."""

from __future__ import annotations

import os
import time
from pathlib import Path

from loadtest import steal
from loadtest.sampler import Sampler

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stat(path: Path, steal_ticks: tuple[int, int]) -> Path:
    lines = [f"cpu  10 0 10 100 0 0 0 {sum(steal_ticks)} 0 0"]
    lines += [f"cpu{cpu} 5 0 5 50 0 0 0 {ticks} 0 0" for cpu, ticks in enumerate(steal_ticks)]
    path.write_text("\n".join([*lines, "intr 12345", "ctxt 678"]) + "\n")
    return path


def test_steal_is_read_per_cpu_and_not_from_the_total_line(tmp_path):
    assert steal.read_steal_ticks(_stat(tmp_path / "stat", (3, 11))) == (3, 11)
    assert steal.read_steal_ticks(tmp_path / "absent") is None


def test_this_machine_counts_steal_for_each_of_its_cpus():
    ticks = steal.read_steal_ticks()
    assert ticks is not None and len(ticks) == os.cpu_count()


def test_steal_goes_to_the_second_each_interval_ends_in_and_beside_the_refusals():
    samples = [(10.5, (0, 0)), (10.9, (2, 0)), (11.2, (2, 5)), (11.8, (4, 5)), (12.4, (4, 5))]
    per_second = steal.by_second(samples)
    assert per_second == {10: (2 * TICK_MS, 0.0), 11: (2 * TICK_MS, 5 * TICK_MS), 12: (0.0, 0.0)}
    summary = steal.summarize(per_second, refused_at_ms=[11_100.0, 11_900.0])
    near = summary["beside_refusals"]
    assert near["with_a_refusal"] == {"seconds": 1, "mean_ms": [2 * TICK_MS, 5 * TICK_MS], "max_ms": [20.0, 50.0]}
    assert near["without"]["seconds"] == 2 and near["without"]["mean_ms"] == [TICK_MS, 0.0]
    assert summary["ms_per_cpu"] == [4 * TICK_MS, 5 * TICK_MS]
    assert summary["share_of_cpu_time"] == round(9 * TICK_MS / (1000 * 3 * 2), 4)
    assert steal.summarize({}, []) is None


def test_the_sampler_samples_until_it_is_left(tmp_path):
    stat = _stat(tmp_path / "stat", (1, 1))
    with Sampler(lambda: steal.read_steal_ticks(stat), every_s=0.01, name="steal-sampler") as sampler:
        deadline = time.monotonic() + 60  # only so a broken sampler fails instead of hanging
        while len(sampler.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    count = len(sampler.samples)
    assert count >= 3
    assert all(ticks == (1, 1) for _, ticks in sampler.samples)
    assert len(sampler.samples) == count  # stopped
