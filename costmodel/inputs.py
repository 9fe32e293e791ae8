"""Resolve the command line into model inputs: each value from a flag, a measurement or its default, with its origin."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from costmodel.model import (
    EksConfig,
    FargateConfig,
    LambdaConfig,
    LoadBalancerConfig,
    ModelInputs,
    NetworkConfig,
    SharedStackConfig,
    validate,
)
from costmodel.options import DEFAULT, OPTIONS, Option, section_group
from costmodel.pricing import load_pricing
from costmodel.results import load_results
from costmodel.service import ServiceProfile
from costmodel.traffic import Traffic, load_hourly_profile, named_shape


@dataclass(frozen=True)
class InputRow:
    group: str
    name: str
    value: Any
    origin: str


@dataclass(frozen=True)
class Resolved:
    inputs: ModelInputs
    profile: ServiceProfile
    pricing: Any
    rows: tuple[InputRow, ...]

    def rows_json(self) -> dict:
        return {r.name: {"value": r.value, "origin": r.origin} for r in self.rows}


def resolve(args: argparse.Namespace) -> Resolved:
    """Model inputs from the flags, the measured results and the documented defaults, with each origin."""
    pricing = load_pricing(args.pricing)
    profile = load_results(args.from_results) if args.from_results else ServiceProfile()
    rows: list[InputRow] = []

    def pick(group: str, option: Option) -> Any:
        given = getattr(args, option.dest)
        if given is not None:
            value, origin = given, f"--{option.flag}"
        elif option.profile is not None:
            value, origin = getattr(profile, option.profile), profile.source(option.profile)
            if option.measured_as:
                origin = f"{option.measured_as}, {origin}"
        else:
            value, origin = option.default, option.origin
        rows.append(InputRow(group, option.flag, value, origin))
        return value

    def section(name: str) -> dict[str, Any]:
        return {o.field: pick(section_group(name), o) for o in OPTIONS[name]}

    if args.hourly_profile is not None:
        shape = load_hourly_profile(args.hourly_profile)
        rows.append(InputRow("traffic", "shape", shape.name, "--hourly-profile"))
    else:
        name = args.shape or "flat"
        rows.append(InputRow("traffic", "shape", name, "--shape" if args.shape else DEFAULT))
        shape = named_shape(name)
    traffic = Traffic(shape, **section("traffic"))
    general = section("general")
    rps_per_core = section("containers")["rps_per_core"]
    inputs = ModelInputs(
        traffic=traffic,
        rps_per_core=rps_per_core,
        lambda_=LambdaConfig(**section("lambda")),
        load_balancer=LoadBalancerConfig(**section("load_balancer")),
        fargate=FargateConfig(**section("fargate")),
        eks=EksConfig(**section("eks")),
        network=NetworkConfig(**section("network")),
        shared=SharedStackConfig(**section("shared")),
        **general,
    )
    validate(inputs, pricing)
    return Resolved(inputs, profile, pricing, tuple(rows))
