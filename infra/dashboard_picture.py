"""``python -m infra.dashboard_picture``: a PNG of the shared dashboard's layout, drawn from infra/shared.yaml.

Each widget is drawn where the dashboard body puts it (CloudWatch's 24-column grid), with its title and the
metrics it plots; text widgets are grey. It shows the layout and what each widget reads, not data: the
parameters for the names the targets generate are filled with ``<ParameterName>`` placeholders.
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.cfn import Evaluator, load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "shared.yaml"
DEFAULT_OUTPUT = ROOT / "docs" / "img" / "shared-dashboard.png"
COLUMNS = 24


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard body with every empty parameter set to ``<Name>`` (as after the second deployment), after
    the prefix its ``AllowedPattern`` requires (``app/<EcsLoadBalancer>``)."""
    placeholders = {
        name: f"{allowed_prefix(spec)}<{name}>"
        for name, spec in template["Parameters"].items()
        if spec.get("Default") == "" and name != "AlarmEmail"
    }
    (properties,) = (
        Evaluator(template, placeholders, {"AlarmTopic": "<topic>"}).resources("AWS::CloudWatch::Dashboard").values()
    )
    return json.loads(properties["DashboardBody"])


def allowed_prefix(spec: dict[str, Any]) -> str:
    """The literal prefix of a parameter's ``AllowedPattern`` of the form ``^$|^<prefix>.+`` (else "")."""
    match = re.fullmatch(r"\^\$\|\^([\w/-]*)\.\+", spec.get("AllowedPattern", ""))
    return match[1] if match else ""


def metric_lines(widget: dict[str, Any]) -> list[str]:
    """One short line per plotted metric: ``namespace: metric (stat)`` or the expression's label."""
    lines = []
    default_stat = widget["properties"].get("stat", "")
    for row in widget["properties"].get("metrics", []):
        options = row[-1] if isinstance(row[-1], dict) else {}
        if isinstance(row[0], dict):
            search = re.search(r"SEARCH\('\{([^,}]+)[^}]*\} MetricName=\"([^\"]+)\"", row[0]["expression"])
            if search:
                lines.append(f"{search[1]}: {search[2]} (SEARCH, Sum)")
            continue
        if options.get("visible") is False:
            stat = options.get("stat", default_stat)
            lines.append(f"{row[0]}: {row[1]} ({stat}, × 1000)")
            continue
        lines.append(f"{row[0]}: {row[1]} ({options.get('stat', default_stat)})")
    return lines


def draw(body: dict[str, Any], output: Path) -> Path:
    """Draw the widgets of ``body`` into ``output`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    widgets = body["widgets"]
    rows = max(w["y"] + w["height"] for w in widgets)
    figure, axes = plt.subplots(figsize=(16, rows * 0.42))
    axes.set_xlim(0, COLUMNS)
    axes.set_ylim(rows, 0)
    axes.axis("off")
    for widget in widgets:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        text_widget = widget["type"] == "text"
        axes.add_patch(
            Rectangle(
                (x + 0.1, y + 0.1),
                width - 0.2,
                height - 0.2,
                facecolor="#eeeeee" if text_widget else "white",
                edgecolor="#888888",
            )
        )
        if text_widget:
            markdown = widget["properties"]["markdown"]
            heading = markdown.startswith("## ")
            wrapped = "\n".join(textwrap.wrap(markdown.removeprefix("## "), width * 6))
            axes.text(
                x + 0.4,
                y + height / 2 + 0.1,
                wrapped,
                va="center",
                fontsize=10 if heading else 7,
                weight="bold" if heading else "normal",
                color="black" if heading else "#555555",
            )
            continue
        axes.text(x + 0.4, y + 0.8, widget["properties"]["title"], fontsize=9, weight="bold", va="center")
        for index, line in enumerate(metric_lines(widget)):
            axes.text(x + 0.5, y + 1.8 + index * 0.8, line, fontsize=7, va="center", family="monospace")
    axes.set_title(f"CloudWatch dashboard layout from {TEMPLATE.relative_to(ROOT)} (no data)", fontsize=11)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dashboard_picture", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"PNG to write (default {DEFAULT_OUTPUT.relative_to(ROOT)})"
    )
    args = parser.parse_args(argv)
    path = draw(dashboard_body(load_template(TEMPLATE)), args.output)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
