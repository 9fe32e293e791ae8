"""Properties of the model over random inputs (hypothesis): cost never falls as volume grows, arm64 is
never dearer than x86 for the same duration, and the solved crossovers are exactly where the cheapest
platform changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from costmodel.compare import find_crossovers, totals_at
from costmodel.model import (
    AUTO_INSTANCE,
    FARGATE_SIZES,
    PLATFORMS,
    EksConfig,
    FargateConfig,
    LambdaConfig,
    LoadBalancerConfig,
    ModelError,
    ModelInputs,
    NetworkConfig,
    cheapest,
    platform_cost,
    validate,
)
from costmodel.pricing import load_pricing
from costmodel.traffic import DailyShape, Traffic, business_shape, flat_shape

PRICING = load_pricing()
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.one_of(
    st.just(flat_shape()),
    st.just(business_shape()),
    st.lists(st.floats(0, 10), min_size=24, max_size=24)
    .filter(lambda v: sum(v) > 0.01)
    .map(lambda v: DailyShape.from_relative("random", v)),
)
fargate_sizes = st.sampled_from([(v, g) for v, sizes in FARGATE_SIZES.items() for g in sizes])


@st.composite
def model_inputs(draw, arch=None):
    arch = arch or draw(st.sampled_from(["arm64", "x86_64"]))
    vcpu, memory = draw(fargate_sizes)
    instance = draw(st.sampled_from([AUTO_INSTANCE, *(i.name for i in PRICING.instances_for(arch))]))
    inputs = ModelInputs(
        traffic=Traffic(
            draw(shapes), peak_to_average=draw(st.floats(1, 5)), month_hours=draw(st.sampled_from([730, 720, 744]))
        ),
        arch=arch,
        target_utilization=draw(st.floats(0.2, 1.0)),
        rps_per_core=draw(st.floats(0.5, 500)),
        savings_plan=draw(st.booleans()),
        free_tier=draw(st.booleans()),
        lambda_=LambdaConfig(
            memory_mb=draw(st.integers(128, 10240)),
            duration_ms=draw(st.floats(0.5, 3000)),
            api_gateway=draw(st.booleans()),
            provisioned_concurrency=draw(st.integers(0, 20)),
            cold_starts_per_day=draw(st.floats(0, 1000)),
            init_ms=draw(st.floats(0, 10_000)),
        ),
        fargate=FargateConfig(
            task_vcpu=vcpu,
            task_memory_gb=memory,
            min_tasks=draw(st.integers(1, 4)),
            rps_per_task=draw(st.none() | st.floats(0.5, 1000)),
            spot_share=draw(st.floats(0, 1)),
        ),
        eks=EksConfig(
            instance_type=instance,
            min_nodes=draw(st.integers(1, 4)),
            min_pods=draw(st.integers(1, 6)),
            pod_vcpu=draw(st.sampled_from([0.25, 0.5, 1.0, 1.5])),
            pod_memory_gb=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
            rps_per_pod=draw(st.none() | st.floats(0.5, 1000)),
            spot=draw(st.booleans()),
            node_volume_gb=draw(st.floats(0, 200)),
        ),
        load_balancer=LoadBalancerConfig(
            enabled=draw(st.booleans()), azs=draw(st.integers(1, 3)), bytes_per_request=draw(st.floats(0, 100_000))
        ),
        network=NetworkConfig(
            nat_gateways=draw(st.integers(0, 3)),
            nat_gb_per_month=draw(st.floats(0, 1000)),
            egress_bytes_per_request=draw(st.floats(0, 10_000)),
        ),
    )
    try:
        validate(inputs, PRICING)
    except ModelError:
        assume(False)
    return inputs


def x86_twin(inputs: ModelInputs) -> ModelInputs:
    """The same inputs on x86_64: same duration, throughput and sizes; EKS on the same-size x86 type."""
    eks = inputs.eks
    if eks.instance_type != AUTO_INSTANCE:
        eks = replace(eks, instance_type=PRICING.instance(eks.instance_type).counterpart)
    return replace(inputs, arch="x86_64", eks=eks)


@SETTINGS
@given(inputs=model_inputs(), a=st.integers(0, 50_000_000), b=st.integers(0, 50_000_000))
def test_cost_never_decreases_with_volume(inputs, a, b):
    low, high = sorted((a, b))
    for platform in PLATFORMS:
        assert (
            platform_cost(platform, low, inputs, PRICING).total <= platform_cost(platform, high, inputs, PRICING).total
        )


@SETTINGS
@given(inputs=model_inputs(), start=st.integers(0, 5_000_000))
def test_cost_never_decreases_over_neighbouring_volumes(inputs, start):
    # steps are where monotonicity could slip; walk a run of consecutive integers
    previous = totals_at(start, inputs, PRICING)
    for n in range(start + 1, start + 40):
        current = totals_at(n, inputs, PRICING)
        assert all(current[p] >= previous[p] for p in PLATFORMS)
        previous = current


@SETTINGS
@given(inputs=model_inputs(arch="arm64"), n=st.integers(0, 50_000_000))
def test_arm64_never_dearer_than_x86_for_the_same_duration(inputs, n):
    twin = x86_twin(inputs)
    validate(twin, PRICING)
    for platform in PLATFORMS:
        arm = platform_cost(platform, n, inputs, PRICING)
        x86 = platform_cost(platform, n, twin, PRICING)
        assert arm.total <= x86.total, platform


@SETTINGS
@given(
    inputs=model_inputs(),
    low=st.integers(0, 200_000),
    span=st.integers(1, 20_000_000),
    probes=st.lists(st.floats(0, 1), min_size=5, max_size=5),
)
def test_crossovers_bracket_every_change_of_cheapest_platform(inputs, low, span, probes):
    high = low + span
    result = find_crossovers(low, high, inputs, PRICING)
    previous = low
    for c in result.crossovers:
        assert low < c.daily_requests <= high
        assert c.daily_requests > previous or c is result.crossovers[0]
        previous = c.daily_requests
        before, at = totals_at(c.daily_requests - 1, inputs, PRICING), totals_at(c.daily_requests, inputs, PRICING)
        assert cheapest(before) == c.from_platform != c.to_platform == cheapest(at)
    # and nothing was missed: anywhere in the range, the segments give the true cheapest platform
    for fraction in probes:
        n = low + round(fraction * span)
        assert result.cheapest_at(n) == cheapest(totals_at(n, inputs, PRICING))


def test_crossovers_match_an_exhaustive_scan_through_a_staircase():
    # A tiny per-task capacity makes Fargate a staircase: +1 task ($7.21 a month) every 151.2 requests/day.
    # A slow 10 GB Lambda costs about 1.1 × the staircase's mean slope, so it climbs past the top of each
    # step and falls back below the next one, about ten times, before it stays dearer. Every integer in
    # the range is checked.
    inputs = ModelInputs(
        rps_per_core=0.02,
        lambda_=LambdaConfig(memory_mb=10240, duration_ms=12900, cold_starts_per_day=0),
        fargate=FargateConfig(task_vcpu=0.25, task_memory_gb=0.5, min_tasks=1),
        load_balancer=LoadBalancerConfig(enabled=False),
    )
    low, high = 1, 3_000
    result = find_crossovers(low, high, inputs, PRICING)
    changes, last = [], cheapest(totals_at(low, inputs, PRICING))
    for n in range(low + 1, high + 1):
        now = cheapest(totals_at(n, inputs, PRICING))
        if now != last:
            changes.append((n, last, now))
            last = now
    assert [(c.daily_requests, c.from_platform, c.to_platform) for c in result.crossovers] == changes
    assert len(changes) >= 10  # the back-and-forth the solver must not miss
    assert result.evaluations < (high - low) / 5


def test_default_crossover_is_found_with_few_evaluations():
    result = find_crossovers(1_000, 10_000_000, ModelInputs(), PRICING)
    assert result.start == "lambda"
    assert result.crossovers and result.evaluations < 500


def test_invalid_range_is_refused():
    with pytest.raises(ModelError):
        find_crossovers(10, 10, ModelInputs(), PRICING)
