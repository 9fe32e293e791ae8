"""docs/comparison.md and the README's "cheapest below / above" row are what `python -m costmodel page` writes
from the committed measurements, so the page cannot go stale; a missing marker is an error naming it."""

from __future__ import annotations

import shutil

import pytest

from costmodel import page
from costmodel.cli import main
from costmodel.compare import DEFAULT_RANGE, find_crossovers
from tests.test_loadtest_image_targets import IMAGE_RESULTS, REPO_ROOT


@pytest.fixture(scope="module")
def generated():
    """The page generated in memory from the committed fixtures (paths as the docs name them: from the repo)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO_ROOT)
        measured, defaults = page.resolve_pair(page.DEFAULT_RESULTS)
        return page.generate(measured, defaults, page.DEFAULT_RESULTS), measured


def test_the_default_results_are_the_committed_fixtures():
    assert (REPO_ROOT / page.DEFAULT_RESULTS).resolve() == IMAGE_RESULTS.resolve()


@pytest.mark.parametrize("path", [page.PAGE, page.README], ids=str)
def test_the_committed_page_is_what_the_generator_writes(generated, path):
    pages, _ = generated
    committed = (REPO_ROOT / path).read_text(encoding="utf-8")
    assert committed == pages.files[path], (
        f"{path} is out of date: run python -m costmodel page --from-results {page.DEFAULT_RESULTS}"
    )


def test_the_page_leads_with_the_measured_section_and_keeps_the_defaults_as_fallback(generated):
    pages, measured = generated
    text = pages.files[page.PAGE]
    assert text.index(page.begin("measured-costs")) < text.index(page.begin("default-costs"))
    fallback = text.index("## Fallback: the documented defaults (used when no results exist)")
    assert text.index(page.begin("measured-crossovers")) < fallback < text.index(page.begin("default-costs"))
    # the README's row is the measured crossover, not the defaults'
    first = find_crossovers(*DEFAULT_RANGE, measured.inputs, measured.pricing).crossovers[0]
    assert f"at {first.daily_requests:,} requests a day" in pages.files[page.README]


@pytest.mark.parametrize("name", ["measured-costs", "provenance"])
def test_a_marker_missing_from_the_page_is_an_error_naming_it(generated, name):
    pages, measured = generated
    broken = pages.files[page.PAGE].replace(page.end(name), "")
    with pytest.raises(page.MarkerError, match=f"docs/comparison.md: marker {page.end(name)} missing"):
        page.fill(broken, page.page_blocks(measured, measured, page.DEFAULT_RESULTS), page.PAGE)
    broken = pages.files[page.PAGE].replace(page.begin(name), "")
    with pytest.raises(page.MarkerError, match=f"marker {page.begin(name)} missing"):
        page.fill(broken, page.page_blocks(measured, measured, page.DEFAULT_RESULTS), page.PAGE)


def test_the_command_names_a_missing_marker_and_writes_the_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    doc, readme, png = tmp_path / "comparison.md", tmp_path / "README.md", tmp_path / "cost.png"
    shutil.copy(page.PAGE, doc)
    readme.write_text("| cheapest below / above | 1.6 M |\n")
    argv = ["page", "--page", str(doc), "--readme", str(readme), "--plot", str(png)]
    assert main(argv) == 2
    assert f"{readme}: marker {page.begin('cheapest')} missing" in capsys.readouterr().err
    assert not png.exists()

    readme.write_text(
        f"| capacity | {page.begin('capacity')}{page.end('capacity')} |\n"
        f"| cheapest below / above | {page.begin('cheapest')}1.6 M{page.end('cheapest')} |\n"
    )
    assert main([*argv, "--check"]) == 1  # stale, and --check writes nothing
    assert "1.6 M" in readme.read_text() and not png.exists()
    assert main(argv) == 0
    assert "1.6 M" not in readme.read_text() and doc.read_text() == page.PAGE.read_text()
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 0 and height > 0
    assert main([*argv, "--check"]) == 0
