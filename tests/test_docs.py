"""The documentation: a short README whose links resolve, and pages whose tables mirror the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.cfn import load_template
from tests.test_sam_template import TEMPLATE

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
README_MAX_LINES = 200
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """The anchors MkDocs and GitHub give a page's headings (lower case, punctuation dropped, spaces to '-')."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        text = re.sub(r"[^\w\- ]", "", heading.replace("`", "")).strip().lower()
        anchors.add(re.sub(r"\s+", "-", text))
    return anchors


def local_links(markdown: str) -> list[str]:
    return [target for target in MARKDOWN_LINK.findall(markdown) if not re.match(r"^[a-z]+:", target)]


def test_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the limit is {README_MAX_LINES}"
    for command in ("make serve", "make test", "make invoke", "sam build", "copilot svc deploy"):
        assert command in README.read_text(), f"README.md's quick start does not show `{command}`"


@pytest.mark.parametrize("target", local_links(README.read_text()))
def test_every_readme_link_resolves(target):
    path_part, _, anchor = target.partition("#")
    path = (README.parent / path_part).resolve() if path_part else README
    assert path.is_file(), f"README.md links to {target}, which does not exist"
    if anchor and path.suffix == ".md":
        assert anchor in heading_anchors(path.read_text()), f"README.md links to {target}: no such heading"


def test_every_page_is_in_the_navigation():
    """Every page under docs/ is reachable from mkdocs.yml's nav (mkdocs --strict warns only about links)."""
    nav = (REPO_ROOT / "mkdocs.yml").read_text()
    pages = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md"))
    missing = [page for page in pages if f": {page}" not in nav]
    assert not missing, f"pages missing from mkdocs.yml's nav: {missing}"


def documented_table(page: Path, first_header: str) -> dict[str, str]:
    """The first column (code-quoted name) → second column of the table whose first header is `first_header`."""
    text = page.read_text()
    table = re.search(rf"^\| {re.escape(first_header)} \|.*?(?=^(?!\|))", text, flags=re.MULTILINE | re.DOTALL)
    assert table, f"{page.relative_to(REPO_ROOT)} has no table headed '{first_header}'"
    rows = {}
    for line in table.group(0).splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[name] = cells[1]
    return rows


def test_template_parameter_table_matches_the_template():

    parameters = load_template(TEMPLATE)["Parameters"]
    documented = documented_table(DOCS / "deploy" / "lambda.md", "template parameter")
    assert set(documented) == set(parameters), "docs/deploy/lambda.md's parameter table and template.yaml differ"
    for name, parameter in parameters.items():
        default = str(parameter.get("Default", ""))
        cell = documented[name]
        if default:
            assert cell.startswith(f"`{default}`"), f"{name}: template default {default!r}, the docs say {cell}"
        else:
            assert "empty" in cell, f"{name}: the template's default is empty, the docs say {cell}"


def test_cost_model_inputs_table_names_every_flag():
    """docs/costmodel.md's inputs table and the CLI's model options (costmodel/options.py) name the same flags."""
    from costmodel.options import all_options

    text = (DOCS / "costmodel.md").read_text()
    section = text.split("## Inputs and their defaults", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    documented = {flag for cell in first_cells for flag in re.findall(r"`--([a-z0-9-]+)`", cell)}
    documented |= {flag.removeprefix("no-") for flag in documented}
    flags = {option.flag for _, option in all_options()}
    assert flags - documented == set(), f"flags missing from docs/costmodel.md: {sorted(flags - documented)}"
    from costmodel.cli import build_parser

    compare = build_parser()._subparsers._group_actions[0].choices["compare"]
    known = {option.lstrip("-") for action in compare._actions for option in action.option_strings}
    assert documented - known == set(), f"docs/costmodel.md names flags compare does not take: {documented - known}"
