"""``make bench-batching`` on a few texts: every way timed at every batch size, table, JSON and plot written."""

from __future__ import annotations

import json

from model_export import bench_batching


def test_bench_batching_times_every_way_and_writes_json_and_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert bench_batching.main(["--texts", "4", "--rounds", "1"]) == 0
    written = json.loads((tmp_path / "results/bench/batching.json").read_text())
    assert [row["batch_size"] for row in written["rows"]] == list(bench_batching.BATCH_SIZES)
    assert all(row[way] > 0 for row in written["rows"] for way in bench_batching.WAYS)
    assert (tmp_path / "results/bench/batching.png").stat().st_size > 0
    assert "results/bench/batching.json" in capsys.readouterr().out
