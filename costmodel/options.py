"""The model inputs as command-line options: one table, with each default read from the config dataclass.

A row names the flag, the dataclass field it sets and its help; the default (and the "(default: ...)" in
the help) comes from the field itself, so a default is written once, in `costmodel.model`,
`costmodel.traffic` or `costmodel.service`. Service inputs (`profile=`) default to what
`--from-results DIR` measured, else to `ServiceProfile`'s documented assumption.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from costmodel.model import (
    EksConfig,
    FargateConfig,
    LambdaConfig,
    LoadBalancerConfig,
    ModelInputs,
    NetworkConfig,
    SharedStackConfig,
)
from costmodel.traffic import NAMED_SHAPES, Traffic

DEFAULT = "default"

# ----------------------------------------------------------------------------------------------- argument types

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def volume(text: str) -> int:
    """A daily request count: 25000, 25_000, 25K, 1.5M."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a request count: {text!r} (use e.g. 25000, 25K or 1.5M)")
    value = float(match.group(1).replace("_", "")) * _SUFFIX[match.group(2).lower()]
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number of requests: {text!r}")
    return int(value)


def volume_list(text: str) -> list[int]:
    values = [volume(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("empty volume list")
    return values


def number(kind: type, minimum: float | None = None, strict: bool = False, maximum: float | None = None):
    """An argparse type: `kind` within bounds, with a one-line message naming the bound."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if value != value:  # NaN
            raise argparse.ArgumentTypeError(f"not a number: {text!r}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '≥'} {minimum:g}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be ≤ {maximum:g}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


positive = number(float, 0, strict=True)
non_negative = number(float, 0)
positive_int = number(int, 1)
non_negative_int = number(int, 0)
fraction = number(float, 0, maximum=1)

# ----------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Option:
    """One model input: `--flag` sets `owner.field`; `kind` is value, switch (store_true) or bool (--no-...)."""

    flag: str
    owner: type
    field: str
    help: str = ""
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    kind: str = "value"
    choices: tuple[str, ...] | None = None
    profile: str | None = None  # ServiceProfile attribute that supplies the default
    measured_as: str = ""  # what the measured figure stands for, when it is not the input itself
    default_text: str | None = None  # how the default reads when its value is not self-explaining
    origin: str = DEFAULT

    @property
    def dest(self) -> str:
        return self.flag.replace("-", "_")

    @property
    def default(self) -> Any:
        """The field's default in its dataclass: the one place it is written."""
        for f in fields(self.owner):
            if f.name == self.field:
                if f.default is not MISSING:
                    return f.default
                raise TypeError(f"{self.owner.__name__}.{self.field} has no plain default")
        raise AttributeError(f"{self.owner.__name__} has no field {self.field}")

    def default_shown(self) -> str:
        if self.default_text is not None:
            return self.default_text
        value = self.default
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def full_help(self) -> str:
        if self.profile is not None:
            shown = f"measured with --from-results, else {self.default_shown()}"
        else:
            shown = self.default_shown()
        return f"{self.help} (default: {shown})".lstrip()


GROUPS = {
    "traffic": "traffic",
    "general": "all platforms",
    "lambda": "Lambda",
    "containers": "containers (Fargate and EKS)",
    "fargate": "ECS Fargate",
    "eks": "EKS",
    "network": "shared network (the same line on every platform)",
    "shared": "shared stack (infra/shared.yaml; the same line on every platform)",
}

# Service inputs default to ServiceProfile's fields, which --from-results replaces with measurements.
from costmodel.service import ServiceProfile  # noqa: E402

OPTIONS: dict[str, tuple[Option, ...]] = {
    "traffic": (
        Option(
            "peak-to-average",
            Traffic,
            "peak_to_average",
            "peak RPS within an hour ÷ that hour's mean",
            number(float, 1),
            "R",
        ),
        Option("month-hours", Traffic, "month_hours", "hours in a month", positive, "H"),
    ),
    "general": (
        Option(
            "arch",
            ModelInputs,
            "arch",
            "CPU architecture",
            choices=("x86_64", "arm64"),
            default_text="arm64, the project's",
            origin="default (the project's Graviton convention)",
        ),
        Option(
            "target-utilization",
            ModelInputs,
            "target_utilization",
            "share of a task's/pod's knee RPS to plan for",
            number(float, 0, strict=True, maximum=1),
            "U",
        ),
        Option("savings-plan", ModelInputs, "savings_plan", "apply Compute Savings Plan discounts", kind="switch"),
        Option("free-tier", ModelInputs, "free_tier", "subtract the always-free tier", kind="switch"),
    ),
    "containers": (
        Option(
            "rps-per-core",
            ServiceProfile,
            "rps_per_core",
            "knee RPS per CPU core at the p99 budget",
            positive,
            "RPS",
            profile="rps_per_core",
        ),
    ),
    "lambda": (
        Option(
            "memory-mb", LambdaConfig, "memory_mb", "function memory", positive_int, "MB", profile="lambda_memory_mb"
        ),
        Option(
            "duration-ms",
            LambdaConfig,
            "duration_ms",
            "billed duration per warm request",
            positive,
            "MS",
            profile="lambda_duration_ms",
        ),
        Option(
            "api-gateway",
            LambdaConfig,
            "api_gateway",
            "HTTP API in front of the function",
            kind="bool",
            default_text="yes; --no-api-gateway = function URL",
        ),
        Option("provisioned-concurrency", LambdaConfig, "provisioned_concurrency", "", non_negative_int, "N"),
        Option(
            "cold-starts-per-day",
            LambdaConfig,
            "cold_starts_per_day",
            "new execution environments per day",
            non_negative,
            "N",
            profile="cold_starts_per_day",
        ),
        Option(
            "init-ms",
            LambdaConfig,
            "init_ms",
            "billed INIT duration per cold start",
            non_negative,
            "MS",
            profile="lambda_init_ms",
        ),
    ),
    "load_balancer": (
        Option("load-balancer", LoadBalancerConfig, "enabled", "ALB in front of tasks and pods", kind="bool"),
        Option(
            "bytes-per-request",
            LoadBalancerConfig,
            "bytes_per_request",
            "request + response bytes through the ALB",
            non_negative,
            "B",
        ),
        Option("alb-azs", LoadBalancerConfig, "azs", "Availability Zones, one public IPv4 each", positive_int, "N"),
    ),
    "fargate": (
        Option("task-vcpu", FargateConfig, "task_vcpu", "", positive, "V"),
        Option("task-memory-gb", FargateConfig, "task_memory_gb", "", positive, "GB"),
        Option("min-tasks", FargateConfig, "min_tasks", "minimum tasks for availability", positive_int, "N"),
        Option(
            "rps-per-task",
            FargateConfig,
            "rps_per_task",
            "",
            positive,
            "RPS",
            profile="rps_per_task",
            default_text="RPS per core × task vCPU",
            origin="RPS per core × task vCPU",
        ),
        Option("spot-share", FargateConfig, "spot_share", "share of task-hours on Fargate Spot", fraction, "S"),
    ),
    "eks": (
        Option(
            "instance-type",
            EksConfig,
            "instance_type",
            "node type from the pricing file, or 'auto'",
            metavar="TYPE",
            default_text="auto, the cheapest",
            origin="default (cheapest type of the architecture)",
        ),
        Option("min-nodes", EksConfig, "min_nodes", "", positive_int, "N"),
        Option("min-pods", EksConfig, "min_pods", "", positive_int, "N"),
        Option("pod-vcpu", EksConfig, "pod_vcpu", "pod CPU request", positive, "V"),
        Option("pod-memory-gb", EksConfig, "pod_memory_gb", "pod memory request", positive, "GIB"),
        Option(
            "rps-per-pod",
            EksConfig,
            "rps_per_pod",
            "",
            positive,
            "RPS",
            profile="rps_per_pod",
            default_text="RPS per core × pod vCPU",
            origin="RPS per core × pod vCPU",
        ),
        Option("spot", EksConfig, "spot", "nodes on EC2 Spot", kind="switch"),
        Option("node-volume-gb", EksConfig, "node_volume_gb", "root volume per node (eksctl's)", non_negative, "GB"),
    ),
    "network": (
        Option("nat-gateways", NetworkConfig, "nat_gateways", "", non_negative_int, "N"),
        Option("nat-gb-per-month", NetworkConfig, "nat_gb_per_month", "", non_negative, "GB"),
        Option(
            "egress-bytes-per-request",
            NetworkConfig,
            "egress_bytes_per_request",
            "response bytes out to the internet",
            non_negative,
            "B",
        ),
    ),
    "shared": (
        Option("shared-dashboards", SharedStackConfig, "dashboards", "CloudWatch dashboards", non_negative_int, "N"),
        Option(
            "shared-alarm-metrics",
            SharedStackConfig,
            "alarm_metrics",
            "metrics the alarms read (a metric math alarm counts each)",
            non_negative_int,
            "N",
        ),
        Option("ecr-gb", SharedStackConfig, "ecr_gb", "image repository storage", non_negative, "GB"),
    ),
}

# The argparse group and the input-row group of each table section (the ALB flags read as "containers").
_SECTION_GROUP = {"load_balancer": "containers"}


def section_group(section: str) -> str:
    return _SECTION_GROUP.get(section, section)


def all_options() -> list[tuple[str, Option]]:
    return [(section_group(s), o) for s, opts in OPTIONS.items() for o in opts]


def add_model_options(parser: argparse.ArgumentParser, shape_option: bool = True) -> None:
    """The model inputs every command shares. None means 'not given': the default or a measured value applies.

    ``shape_option=False`` leaves ``--shape`` out, for a command that adds its own (`costmodel.simulate`).
    """
    groups: dict[str, argparse._ArgumentGroup] = {}

    def group(name: str) -> argparse._ArgumentGroup:
        if name not in groups:
            groups[name] = parser.add_argument_group(GROUPS[name])
        return groups[name]

    g = group("traffic")
    if shape_option:
        g.add_argument("--shape", choices=sorted(NAMED_SHAPES), help="daily shape (default: flat)")
    else:
        parser.set_defaults(shape=None)
    g.add_argument("--hourly-profile", type=Path, metavar="FILE", help="24 relative hourly weights; overrides --shape")
    for name, option in all_options():
        g = group(name)
        if option.kind == "switch":
            g.add_argument(f"--{option.flag}", action="store_true", default=None, help=option.full_help())
        elif option.kind == "bool":
            g.add_argument(
                f"--{option.flag}", action=argparse.BooleanOptionalAction, default=None, help=option.full_help()
            )
        else:
            g.add_argument(
                f"--{option.flag}",
                type=option.type,
                choices=option.choices,
                metavar=option.metavar,
                help=option.full_help(),
            )
    g = group("general")
    g.add_argument(
        "--from-results", type=Path, metavar="DIR", help="read measured service inputs from load-test/bench results"
    )
    g.add_argument(
        "--pricing", type=Path, metavar="FILE", help="pricing file (default: costmodel/pricing/us-east-1.yaml)"
    )
