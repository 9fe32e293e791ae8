"""Line items recomputed by hand for fixed inputs, with the arithmetic written out.

Prices are the ones in costmodel/pricing/us-east-1.yaml; each test spells out the ones it uses, so a
price change shows up here as a failing, readable sum rather than a silent shift.
"""

from __future__ import annotations

import pytest

from costmodel.model import (
    EksConfig,
    FargateConfig,
    LambdaConfig,
    LoadBalancerConfig,
    ModelError,
    ModelInputs,
    NetworkConfig,
    all_costs,
    eks_cost,
    fargate_cost,
    kube_reserved_vcpu,
    lambda_cost,
    node_allocatable,
    pods_per_node,
    validate,
)
from costmodel.pricing import load_pricing
from costmodel.traffic import Traffic, business_shape, flat_shape

PRICING = load_pricing()
DAYS = 730 / 24  # 30.416666... days in the default 730-hour month


def amounts(cost) -> dict[str, float]:
    return {item.name: item.amount for item in cost.items}


def test_prices_used_below_are_the_file_s():
    assert PRICING["lambda.requests"].value == 0.20
    assert PRICING["lambda.duration_x86_64"].value == 0.0000166667
    assert PRICING["lambda.duration_arm64"].value == 0.0000133334
    assert PRICING["api_gateway.http_api_requests"].value == 1.00
    assert PRICING["fargate.vcpu_arm64"].value == 0.03238
    assert PRICING["fargate.memory_arm64"].value == 0.00356
    assert PRICING["load_balancer.alb_hour"].value == 0.0225
    assert PRICING["load_balancer.alb_lcu_hour"].value == 0.008
    assert PRICING["eks.cluster_hour"].value == 0.10
    assert PRICING.instance("c6i.xlarge").on_demand.value == 0.17


def test_lambda_line_items_by_hand():
    # 100,000 requests/day, flat, x86_64, 1024 MB, 19.2 ms billed as 20 ms, HTTP API, 10 cold starts a day
    # with a 1000.4 ms INIT billed as 1001 ms.
    inputs = ModelInputs(
        traffic=Traffic(flat_shape()),
        arch="x86_64",
        lambda_=LambdaConfig(
            memory_mb=1024, duration_ms=19.2, api_gateway=True, cold_starts_per_day=10, init_ms=1000.4
        ),
    )
    cost = lambda_cost(100_000, inputs, PRICING)
    got = amounts(cost)

    monthly = 100_000 * 730 / 24  # R = 3,041,666.67 requests
    assert cost.monthly_requests == pytest.approx(3_041_666.6667)
    # requests: 3,041,666.67 × $0.20 / 1M = $0.6083
    assert got["Lambda requests"] == pytest.approx(monthly * 0.20 / 1e6)
    assert got["Lambda requests"] == pytest.approx(0.608333, abs=1e-6)
    # compute: 3,041,666.67 × 0.020 s × 1 GB = 60,833.33 GB-s × $0.0000166667 = $1.0139
    assert got["Lambda compute (invocations)"] == pytest.approx(60_833.3333 * 0.0000166667, rel=1e-8)
    assert got["Lambda compute (invocations)"] == pytest.approx(1.013891, abs=1e-6)
    # INIT: 10 × 30.4167 = 304.17 cold starts × 1.001 s × 1 GB = 304.47 GB-s × $0.0000166667 = $0.0051
    assert got["Lambda cold-start INIT (billed)"] == pytest.approx(10 * DAYS * 1.001 * 1 * 0.0000166667)
    assert got["Lambda cold-start INIT (billed)"] == pytest.approx(0.0050745, abs=1e-6)
    # HTTP API: 3,041,666.67 × $1.00 / 1M = $3.0417
    assert got["API Gateway HTTP API requests"] == pytest.approx(3.041667, abs=1e-6)
    # total: 0.608333 + 1.013891 + 0.005075 + 3.041667 = $4.668966
    assert cost.total == pytest.approx(4.668966, abs=1e-5)
    assert cost.per_1k_requests == pytest.approx(4.668966 / 3_041.6667, rel=1e-5)


def test_lambda_free_tier_and_provisioned_concurrency_by_hand():
    # 1,200,000/day flat = 50,000 requests an hour; arm64, 2048 MB (2 GB), 100 ms; PC 1 serves
    # 3600 / 0.1 = 36,000 requests an hour, so 14,000 an hour spill to on-demand. Peak RPS
    # 1.2M / 86,400 × 2 = 27.8, peak concurrency 2.78 > 1: PC does not cover the peak, 50 cold starts a day.
    inputs = ModelInputs(
        traffic=Traffic(flat_shape(), peak_to_average=2.0),
        arch="arm64",
        free_tier=True,
        lambda_=LambdaConfig(
            memory_mb=2048,
            duration_ms=100,
            api_gateway=False,
            provisioned_concurrency=1,
            cold_starts_per_day=50,
            init_ms=2000,
        ),
    )
    cost = lambda_cost(1_200_000, inputs, PRICING)
    got = amounts(cost)
    assert cost.derived["provisioned_covers_peak"] is False
    # requests: (36,500,000 − 1,000,000 free) × $0.20 / 1M = $7.10
    assert got["Lambda requests"] == pytest.approx(7.10)
    # on-demand: 14,000 × 24 × 30.4167 = 10,220,000 requests × 0.1 s × 2 GB = 2,044,000 GB-s;
    # − 400,000 free = 1,644,000 GB-s × $0.0000133334 = $21.9201
    assert cost.derived["requests_on_demand"] == pytest.approx(10_220_000)
    assert got["Lambda compute (invocations)"] == pytest.approx(1_644_000 * 0.0000133334)
    # INIT: 50 × 30.4167 = 1,520.83 × 2 s × 2 GB = 6,083.33 GB-s (free tier already used up) × $0.0000133334
    assert got["Lambda cold-start INIT (billed)"] == pytest.approx(6_083.3333 * 0.0000133334, rel=1e-7)
    # PC: 1 × 2 GB × 730 h × 3600 s = 5,256,000 GB-s × $0.0000033334 = $17.5204
    assert got["Lambda provisioned concurrency"] == pytest.approx(5_256_000 * 0.0000033334)
    # duration on PC: 36,000 × 24 × 30.4167 = 26,280,000 requests × 0.1 s × 2 GB = 5,256,000 GB-s × $0.0000077778
    assert got["Lambda duration on provisioned concurrency"] == pytest.approx(5_256_000 * 0.0000077778)
    assert "API Gateway HTTP API requests" not in got
    # total: 7.10 + 21.9201 + 0.0811 + 17.5204 + 40.8801 = $87.5017
    assert cost.total == pytest.approx(87.5017, abs=1e-4)


def test_fargate_line_items_by_hand():
    # 2,000,000/day, business shape (8 hours of 10%, 16 hours of 1.25%), peak-to-average 1.5, arm64,
    # 0.5 vCPU / 1 GB tasks at 20 RPS, target utilisation 0.8 -> 16 RPS per task; 25% on Spot; Savings Plan.
    inputs = ModelInputs(
        traffic=Traffic(business_shape(), peak_to_average=1.5),
        arch="arm64",
        target_utilization=0.8,
        savings_plan=True,
        fargate=FargateConfig(task_vcpu=0.5, task_memory_gb=1.0, min_tasks=2, rps_per_task=20, spot_share=0.25),
        load_balancer=LoadBalancerConfig(enabled=True, azs=2, bytes_per_request=2048),
    )
    cost = fargate_cost(2_000_000, inputs, PRICING)
    got = amounts(cost)
    # business hour: 2,000,000 × 0.10 / 3600 = 55.56 RPS × 1.5 = 83.33 peak / 16 = 5.21 -> 6 tasks
    # other hours:   2,000,000 × 0.0125 / 3600 = 6.94 RPS × 1.5 = 10.42 peak / 16 = 0.65 -> 1, min 2 tasks
    assert cost.derived["tasks_per_hour"] == [2] * 9 + [6] * 8 + [2] * 7
    # T = (8 × 6 + 16 × 2) = 80 task-hours a day × 30.4167 = 2,433.33 task-hours
    task_hours = 80 * DAYS
    assert cost.derived["task_hours_per_month"] == pytest.approx(2_433.3333, rel=1e-7)
    # on demand (75%): 1,825 task-h × 0.5 vCPU × $0.03238 × (1 − 0.20) = $23.6374
    assert got["Fargate vCPU (on-demand)"] == pytest.approx(task_hours * 0.75 * 0.5 * 0.03238 * 0.8)
    assert got["Fargate vCPU (on-demand)"] == pytest.approx(23.6374, abs=1e-4)
    # 1,825 × 1 GB × $0.00356 × 0.8 = $5.1976
    assert got["Fargate memory (on-demand)"] == pytest.approx(5.1976, abs=1e-4)
    # Spot (25%): 608.33 × 0.5 × $0.03238 × (1 − 0.70) = $2.9547; 608.33 × 1 × $0.00356 × 0.3 = $0.6497
    assert got["Fargate Spot vCPU"] == pytest.approx(2.954675, abs=1e-6)
    assert got["Fargate Spot memory"] == pytest.approx(0.6497, abs=1e-6)
    # ALB: 730 × $0.0225 = $16.425; 2 IPv4 × 730 × $0.005 = $7.30;
    # LCU: 2,000,000 / 3600 × 30.4167 × max(1/25, 2048 × 3600 / 1e9) = 675.93 LCU-h × $0.008 = $5.4074
    assert got["ALB hours"] == pytest.approx(16.425)
    assert got["ALB public IPv4 addresses"] == pytest.approx(7.30)
    assert got["ALB LCU-hours"] == pytest.approx(2_000_000 / 3600 * DAYS * 0.04 * 0.008)
    assert got["ALB LCU-hours"] == pytest.approx(5.407407, abs=1e-6)
    # total: 23.6374 + 5.1976 + 2.9547 + 0.6497 + 16.425 + 7.30 + 5.4074 = $61.5718
    assert cost.total == pytest.approx(61.5718, abs=1e-4)


def test_eks_line_items_by_hand():
    # 5,000,000/day flat, peak-to-average 2, x86_64 on c6i.xlarge (4 vCPU, 8 GiB, 58 pods max, $0.17/h),
    # pods of 1 vCPU / 2 GiB at 20 RPS, utilisation 0.5 -> 10 RPS per pod; 50 GB root volumes; 20 kB per
    # request through the ALB, so processed bytes (0.072 GB/h per RPS) outweigh new connections (0.04).
    inputs = ModelInputs(
        traffic=Traffic(flat_shape(), peak_to_average=2.0),
        arch="x86_64",
        target_utilization=0.5,
        eks=EksConfig(
            instance_type="c6i.xlarge",
            min_nodes=2,
            min_pods=2,
            pod_vcpu=1,
            pod_memory_gb=2,
            rps_per_pod=20,
            node_volume_gb=50,
        ),
        load_balancer=LoadBalancerConfig(enabled=True, azs=2, bytes_per_request=20_000),
    )
    cost = eks_cost(5_000_000, inputs, PRICING)
    got = amounts(cost)
    # allocatable CPU: 4 − (0.06 + 0.01 + 2 × 0.005) − 0.125 = 3.795 -> 3 pods
    # allocatable memory: 8 − (255 + 11 × 58 + 100) / 1024 = 8 − 0.9697 = 7.03 GiB -> 3 pods of 2 GiB
    assert cost.derived["pods_per_node"] == 3
    # peak 5,000,000 / 86,400 × 2 = 115.74 RPS / 10 = 11.6 -> 12 pods -> 4 nodes every hour
    assert cost.derived["pods_per_hour"] == [12] * 24
    assert cost.derived["nodes_per_hour"] == [4] * 24
    # control plane: 730 × $0.10 = $73
    assert got["EKS control plane"] == pytest.approx(73.0)
    # nodes: 4 × 24 × 30.4167 = 2,920 node-hours × $0.17 = $496.40
    assert got["EKS nodes (c6i.xlarge, on-demand)"] == pytest.approx(496.40)
    # volumes: 2,920 / 730 = 4 nodes on average × 50 GB × $0.08 = $16
    assert got["EKS node root volumes (gp3)"] == pytest.approx(16.0)
    # LCU: 5,000,000 / 3600 × 30.4167 × 0.072 = 3,041.67 LCU-h × $0.008 = $24.3333
    assert got["ALB LCU-hours"] == pytest.approx(24.3333, abs=1e-4)
    # total: 73 + 496.40 + 16 + 16.425 + 7.30 + 24.3333 = $633.4583
    assert cost.total == pytest.approx(633.4583, abs=1e-4)


def test_eks_spot_and_savings_plan_by_hand():
    base = ModelInputs(arch="arm64", eks=EksConfig(instance_type="c7g.large"))
    # low volume: the minimum 2 nodes all month = 1,460 node-hours × $0.0725
    on_demand = amounts(eks_cost(1000, base, PRICING))["EKS nodes (c7g.large, on-demand)"]
    assert on_demand == pytest.approx(1460 * 0.0725)
    savings = ModelInputs(arch="arm64", savings_plan=True, eks=EksConfig(instance_type="c7g.large"))
    assert amounts(eks_cost(1000, savings, PRICING))["EKS nodes (c7g.large, on-demand)"] == pytest.approx(
        1460 * 0.0725 * (1 - 0.27)
    )
    spot = ModelInputs(arch="arm64", savings_plan=True, eks=EksConfig(instance_type="c7g.large", spot=True))
    # Spot: the Savings Plan does not apply; 1,460 × $0.0725 × (1 − 0.60)
    assert amounts(eks_cost(1000, spot, PRICING))["EKS nodes (c7g.large, Spot)"] == pytest.approx(1460 * 0.0725 * 0.4)


def test_shared_network_is_the_same_line_on_every_platform():
    inputs = ModelInputs(network=NetworkConfig(nat_gateways=2, nat_gb_per_month=100, egress_bytes_per_request=1000))
    costs = all_costs(1_000_000, inputs, PRICING)
    for cost in costs.values():
        got = amounts(cost)
        # 2 × 730 × $0.045 = $65.70; 100 GB × $0.045 = $4.50
        assert got["Shared network: NAT gateway hours"] == pytest.approx(65.70)
        assert got["Shared network: NAT data processed"] == pytest.approx(4.50)
        # 30,416,666.67 requests × 1000 B / 1e9 = 30.42 GB × $0.09 = $2.7375
        assert got["Shared network: data transfer out"] == pytest.approx(2.7375)
    plain = all_costs(1_000_000, ModelInputs(), PRICING)
    for platform, cost in costs.items():
        assert cost.total - plain[platform].total == pytest.approx(65.70 + 4.50 + 2.7375)


def test_http_api_second_tier():
    # 12,000,000/day = 365,000,000 a month: 300M × $1.00/1M + 65M × $0.90/1M = $358.50
    cost = lambda_cost(12_000_000, ModelInputs(), PRICING)
    assert amounts(cost)["API Gateway HTTP API requests"] == pytest.approx(300 + 65 * 0.90)


def test_billed_duration_rounds_up_to_the_millisecond():
    a = lambda_cost(10_000, ModelInputs(lambda_=LambdaConfig(duration_ms=20.01)), PRICING)
    b = lambda_cost(10_000, ModelInputs(lambda_=LambdaConfig(duration_ms=21)), PRICING)
    assert a.derived["billed_duration_ms"] == 21
    assert amounts(a)["Lambda compute (invocations)"] == amounts(b)["Lambda compute (invocations)"]


def test_kube_reserved_cpu_tiers():
    assert kube_reserved_vcpu(1) == pytest.approx(0.06)
    assert kube_reserved_vcpu(2) == pytest.approx(0.07)
    assert kube_reserved_vcpu(4) == pytest.approx(0.08)
    assert kube_reserved_vcpu(8) == pytest.approx(0.09)
    cpu, mem = node_allocatable(PRICING.instance("c7g.large"))
    assert cpu == pytest.approx(2 - 0.07 - 0.125)
    assert mem == pytest.approx(4 - (255 + 11 * 29 + 100) / 1024)
    assert pods_per_node(PRICING.instance("c7g.large"), EksConfig(pod_vcpu=0.5, pod_memory_gb=1)) == 3


def test_eks_auto_picks_the_cheapest_instance_type():
    auto = eks_cost(1000, ModelInputs(arch="arm64"), PRICING)
    explicit = [
        eks_cost(1000, ModelInputs(arch="arm64", eks=EksConfig(instance_type=i.name)), PRICING)
        for i in PRICING.instances_for("arm64")
    ]
    assert auto.total == min(c.total for c in explicit)
    assert any("chosen automatically" in note for note in auto.notes)


def test_breakdown_items_sum_to_the_total():
    for cost in all_costs(250_000, ModelInputs(), PRICING).values():
        assert sum(item.amount for item in cost.items) == cost.total
        for item in cost.items:
            assert item.formula and item.arithmetic.endswith(f"${item.amount:,.4f}")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (ModelInputs(fargate=FargateConfig(task_vcpu=1, task_memory_gb=16)), "no 1 vCPU / 16 GB task"),
        (ModelInputs(fargate=FargateConfig(task_vcpu=3)), "--task-vcpu must be one of"),
        (ModelInputs(lambda_=LambdaConfig(memory_mb=64)), "--memory-mb"),
        (ModelInputs(eks=EksConfig(instance_type="c6i.large")), "is x86_64 but --arch is arm64"),
        (ModelInputs(eks=EksConfig(pod_vcpu=8)), "fits no arm64 instance type"),
        (ModelInputs(target_utilization=1.5), "--target-utilization"),
    ],
)
def test_invalid_inputs_are_refused(inputs, message):
    with pytest.raises(ModelError, match=message):
        validate(inputs, PRICING)
