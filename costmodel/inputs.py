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

# A measured input that may be absent (None) and what stands in for it: (profile field, what it stands for).
FALLBACKS = {"lambda_init_ms": ("lambda_cold_start_ms", "cold-start latency")}
# A measured RPS holds at the vCPU it was measured at: (profile field of that vCPU, the input it must equal).
MEASURED_AT = {"rps_per_task": ("rps_per_task_vcpu", "task_vcpu"), "rps_per_pod": ("rps_per_pod_vcpu", "pod_vcpu")}


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

    def measured(option: Option, values: dict[str, Any]) -> tuple[Any, str] | None:
        """The profile's value of ``option`` and its origin, or None where nothing measured applies."""
        name = option.profile
        value, origin = getattr(profile, name), profile.source(name)
        if value is None and name in FALLBACKS:
            name, stands_for = FALLBACKS[name]
            value, origin = getattr(profile, name), f"{stands_for}, {profile.source(name)}"
        if value is None:
            return None
        if option.profile in MEASURED_AT:
            vcpu_field, input_field = MEASURED_AT[option.profile]
            at, now = getattr(profile, vcpu_field), values.get(input_field)
            if at is not None and now is not None and at != now:
                profile_notes.append(f"{origin} was measured at {at:g} vCPU, not {now:g}: {option.origin} instead")
                return None
        if option.measured_as:
            origin = f"{option.measured_as}, {origin}"
        return value, origin

    profile_notes: list[str] = []

    def pick(group: str, option: Option, values: dict[str, Any]) -> Any:
        given = getattr(args, option.dest)
        found = measured(option, values) if given is None and option.profile is not None else None
        if given is not None:
            value, origin = given, f"--{option.flag}"
        elif found is not None:
            value, origin = found
        else:
            value, origin = option.default, option.origin
        rows.append(InputRow(group, option.flag, value, origin))
        return value

    def section(name: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for option in OPTIONS[name]:
            values[option.field] = pick(section_group(name), option, values)
        return values

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
    for note in profile_notes:
        profile = profile.with_note(note)
    return Resolved(inputs, profile, pricing, tuple(rows))
