"""The comparison report on hand-made fixture results (tests/fixtures/loadtest/hand-made-results)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadtest import report
from loadtest.__main__ import main

FIXTURES = Path(__file__).parent / "fixtures" / "loadtest" / "hand-made-results"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return report.write_report([FIXTURES / "baseline", FIXTURES / "container", FIXTURES / "lambda"], out)


def _row(markdown: str, name: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {name} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_has_a_column_per_result_and_a_winner_per_row(written_report):
    text = written_report.read_text()
    assert "| figure | baseline | local-container | local-lambda ¹ | winner |" in text
    assert _row(text, "p99 latency") == ["p99 latency (ms)", "1,150", "41.0 (0.036×)", "950 (0.83×)", "local-container"]
    assert _row(text, "capacity knee") == ["capacity knee (req/s)", "20.0", "540 (27×)", "–", "local-container"]
    assert _row(text, "cold start (median)")[1:] == ["–", "–", "850", "–"]  # one value: nothing to compare
    assert _row(text, "cold start alone (median)")[1:] == ["–", "–", "780", "–"]
    assert _row(text, "success rate")[-1] == "baseline, local-container"
    assert _row(text, "success rate")[3] == "99.78 % (1×)"


def test_report_marks_the_emulation_and_names_its_inputs(written_report):
    text = written_report.read_text()
    assert "not AWS figures" in text
    assert str(FIXTURES / "lambda") in text
    assert "| local-lambda | local-lambda | burst | 900 | 2 | 20 users, 60.0 s |" in text


def test_report_notes_capacity_budgets_that_differ(tmp_path):
    relaxed = tmp_path / "baseline"
    shutil.copytree(FIXTURES / "baseline", relaxed)
    summary = json.loads((relaxed / "summary.json").read_text())
    summary["capacity"]["p99_budget_ms"] = 1000.0
    (relaxed / "summary.json").write_text(json.dumps(summary))
    text = report.write_report([relaxed, FIXTURES / "container"], tmp_path / "out").read_text()
    assert "different p99 budgets (baseline 1000 ms, local-container 100 ms)" in text
    assert "different p99 budgets" not in report.write_report([FIXTURES / "container"], tmp_path / "o2").read_text()


def test_report_writes_every_plot(written_report):
    for name in ("latency_percentiles.png", "rps_p99_over_time.png", "capacity_curve.png", "cold_starts.png"):
        path = written_report.parent / name
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert path.stat().st_size > 10_000, name
        assert f"]({name})" in written_report.read_text()


def test_history_rps_comes_from_the_request_count():
    points = report.read_history(FIXTURES / "container")
    assert [point["rps"] for point in points] == [38.0, 41.0, 40.0, 41.0]
    assert [point.get("p99") for point in points] == [35.0, 38.0, 41.0, 40.0]


def test_plots_are_skipped_without_their_data(tmp_path):
    only_baseline = tmp_path / "baseline"
    shutil.copytree(FIXTURES / "baseline", only_baseline)
    summary = json.loads((only_baseline / "summary.json").read_text())
    del summary["capacity"]
    (only_baseline / "summary.json").write_text(json.dumps(summary))
    written = report.write_report([only_baseline], tmp_path / "out")
    assert sorted(p.name for p in written.parent.glob("*.png")) == ["latency_percentiles.png"]
    assert "winner" in written.read_text()


def test_duplicate_labels_get_their_folder_name(tmp_path):
    for name in ("first", "second"):
        shutil.copytree(FIXTURES / "container", tmp_path / name)
    results = report.load_results([tmp_path / "first", tmp_path / "second"])
    assert [result.label for result in results] == ["local-container (first)", "local-container (second)"]


def test_cli_reports_a_bad_folder_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text('{"target": "local-container"}')
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'}: no such results folder"
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'summary.json'}: no such summary file"
    assert main(["report", str(broken), "--out", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "label is missing" in error and "Traceback" not in error


def test_ratios_use_the_baseline_probed_with_the_same_texts(tmp_path):
    for name in ("baseline", "container"):
        folder = tmp_path / f"{name}-sentences"
        shutil.copytree(FIXTURES / name, folder)
        summary = json.loads((folder / "summary.json").read_text())
        summary["capacity"]["texts"] = "sentences"
        summary["capacity"]["knee_rps"] *= 2 if name == "container" else 1.25
        summary["label"] += " (sentences)"
        (folder / "summary.json").write_text(json.dumps(summary))
    folders = [
        FIXTURES / "baseline",
        tmp_path / "baseline-sentences",
        FIXTURES / "container",
        tmp_path / "container-sentences",
    ]
    text = report.write_report(folders, tmp_path / "out").read_text()
    assert _row(text, "capacity knee")[1:5] == ["20.0", "25.0", "540 (27×)", "1,080 (43×)"]
