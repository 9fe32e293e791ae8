"""What the model answers: line items and a platform's cost, their number formats, and the lines every
platform carries alike.

Shared network (`network_items`, the same line on every platform)
    NAT      = gateways × H × $0.045 + NAT GB × $0.045
    egress   = max(0, R × egress bytes / 10^9 − free GB) × $0.09      (free 100 GB only with --free-tier)

Shared stack (`shared_items`, infra/shared.yaml, the same line on every platform)
    dashboards × $3.00 + alarm metrics × $0.10 + ECR GB × $0.10 a month
"""

from __future__ import annotations

from dataclasses import dataclass, field

from costmodel.model.config import ModelInputs
from costmodel.pricing import Pricing


@dataclass(frozen=True)
class LineItem:
    """One monthly charge: what it is, its formula, the formula with numbers, and the amount in USD."""

    name: str
    formula: str
    arithmetic: str
    amount: float


@dataclass(frozen=True)
class PlatformCost:
    platform: str
    daily_requests: int
    monthly_requests: float
    items: tuple[LineItem, ...]
    derived: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(line.amount for line in self.items)

    @property
    def per_1k_requests(self) -> float | None:
        return self.total / (self.monthly_requests / 1000) if self.monthly_requests > 0 else None


def usd(amount: float) -> str:
    """Money as the breakdown shows it: 4 decimals, so the arithmetic can be checked."""
    return f"${amount:,.4f}"


def num(value: float) -> str:
    """A quantity with thousands separators and at most 4 decimals."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def item(name: str, formula: str, arithmetic: str, amount: float) -> LineItem:
    """A line item whose arithmetic ends with its amount."""
    return LineItem(name, formula, f"{arithmetic} = {usd(amount)}", amount)


def discount_text(discount: float, label: str) -> str:
    """`` × (1 − discount label)``, or nothing without a discount."""
    return f" × (1 − {discount:g} {label})" if discount else ""


def network_items(daily: int, inputs: ModelInputs, pricing: Pricing) -> list[LineItem]:
    """NAT gateways and data transfer out: the same lines on every platform (empty unless asked for)."""
    net, traffic = inputs.network, inputs.traffic
    if not net.enabled:
        return []
    items = []
    hours = traffic.month_hours
    if net.nat_gateways:
        nat = pricing["network.nat_gateway_hour"]
        items.append(
            item(
                "Shared network: NAT gateway hours",
                "gateways × H × NAT-gateway-hour price",
                f"{net.nat_gateways} × {num(hours)} h × {nat.show()}",
                net.nat_gateways * hours * nat.rate,
            )
        )
    if net.nat_gb_per_month:
        nat_gb = pricing["network.nat_gateway_gb"]
        items.append(
            item(
                "Shared network: NAT data processed",
                "NAT GB × NAT GB price",
                f"{num(net.nat_gb_per_month)} GB × {nat_gb.show()}",
                net.nat_gb_per_month * nat_gb.rate,
            )
        )
    if net.egress_bytes_per_request:
        out = pricing["network.data_transfer_out_gb"]
        free = pricing.rate("network.data_transfer_out_free_gb") if inputs.free_tier else 0.0
        gb = traffic.monthly_requests(daily) * net.egress_bytes_per_request / 1e9
        items.append(
            item(
                "Shared network: data transfer out",
                "max(0, R × egress bytes / 1e9 − free GB) × GB price",
                f"max(0, {num(gb)} GB − {num(free)} GB) × {out.show()}",
                max(0.0, gb - free) * out.rate,
            )
        )
    return items


def shared_items(inputs: ModelInputs, pricing: Pricing) -> list[LineItem]:
    """The shared stack's dashboard, alarms and image storage: the same lines on every platform (empty unless
    asked for)."""
    shared = inputs.shared
    parts = (
        ("dashboards", shared.dashboards, "cloudwatch.dashboard_month", "dashboards × dashboard-month price"),
        ("alarm metrics", shared.alarm_metrics, "cloudwatch.alarm_metric_month", "alarm metrics × alarm-metric price"),
        ("ECR storage", shared.ecr_gb, "ecr.storage_gb_month", "GB × GB-month price"),
    )
    items = []
    for label, quantity, key, formula in parts:
        if quantity:
            price = pricing[key]
            items.append(
                item(f"Shared stack: {label}", formula, f"{num(quantity)} × {price.show()}", quantity * price.rate)
            )
    return items


def every_platform_items(daily: int, inputs: ModelInputs, pricing: Pricing) -> list[LineItem]:
    """The lines every platform's bill ends with: the shared network, then the shared stack."""
    return [*network_items(daily, inputs, pricing), *shared_items(inputs, pricing)]
