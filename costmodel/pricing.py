"""The price list: one versioned YAML file per region, every price with its unit, source page and date.

`load_pricing()` reads `costmodel/pricing/us-east-1.yaml` (or the file given), checks that every entry
has `value`, `unit`, `source` and `read_on`, that every unit is one this module knows how to convert, and
that every price the model uses is present. A price is reached by its dotted key
(`pricing["lambda.requests"]`); `Price.rate` is the value in the model's base unit (USD per request,
per GB-second, per hour, per GB, per GB-month; fractions and quantities as they are).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PRICING_PATH = Path(__file__).resolve().parent / "pricing" / "us-east-1.yaml"

ARCHES = ("arm64", "x86_64")

# unit as written in the file -> factor that turns the value into the model's base unit
UNIT_FACTORS: dict[str, float] = {
    "USD per 1M requests": 1e-6,  # -> USD per request
    "USD per GB-second": 1.0,
    "USD per vCPU-hour": 1.0,
    "USD per GB-hour": 1.0,
    "USD per LCU-hour": 1.0,
    "USD per load-balancer-hour": 1.0,
    "USD per IPv4-address-hour": 1.0,
    "USD per cluster-hour": 1.0,
    "USD per instance-hour": 1.0,
    "USD per NAT-gateway-hour": 1.0,
    "USD per GB": 1.0,
    "USD per GB-month": 1.0,
    "USD per dashboard-month": 1.0,
    "USD per alarm-metric-month": 1.0,
    "fraction off the on-demand price": 1.0,
    "requests per month": 1.0,
    "GB-seconds per month": 1.0,
    "GB per month": 1.0,
    "new connections per second per LCU": 1.0,
    "GB per hour per LCU": 1.0,
}

# Every key the model reads, with the unit it expects. A file that lacks one, or gives it in another
# unit, is refused at load time rather than producing a wrong figure later.
REQUIRED_PRICES: dict[str, str] = {
    "lambda.requests": "USD per 1M requests",
    "lambda.duration_x86_64": "USD per GB-second",
    "lambda.duration_arm64": "USD per GB-second",
    "lambda.provisioned_concurrency_x86_64": "USD per GB-second",
    "lambda.provisioned_concurrency_arm64": "USD per GB-second",
    "lambda.provisioned_duration_x86_64": "USD per GB-second",
    "lambda.provisioned_duration_arm64": "USD per GB-second",
    "lambda.free_tier_requests": "requests per month",
    "lambda.free_tier_compute": "GB-seconds per month",
    "api_gateway.http_api_requests": "USD per 1M requests",
    "api_gateway.http_api_requests_over_tier": "USD per 1M requests",
    "api_gateway.http_api_tier_requests": "requests per month",
    "fargate.vcpu_x86_64": "USD per vCPU-hour",
    "fargate.memory_x86_64": "USD per GB-hour",
    "fargate.vcpu_arm64": "USD per vCPU-hour",
    "fargate.memory_arm64": "USD per GB-hour",
    "fargate.spot_discount": "fraction off the on-demand price",
    "load_balancer.alb_hour": "USD per load-balancer-hour",
    "load_balancer.alb_lcu_hour": "USD per LCU-hour",
    "load_balancer.lcu_new_connections": "new connections per second per LCU",
    "load_balancer.lcu_processed_gb": "GB per hour per LCU",
    "load_balancer.public_ipv4_hour": "USD per IPv4-address-hour",
    "eks.cluster_hour": "USD per cluster-hour",
    "ec2.spot_discount": "fraction off the on-demand price",
    "ec2.gp3_storage": "USD per GB-month",
    "savings_plans.compute_lambda_discount": "fraction off the on-demand price",
    "savings_plans.compute_fargate_discount": "fraction off the on-demand price",
    "savings_plans.compute_ec2_discount": "fraction off the on-demand price",
    "network.nat_gateway_hour": "USD per NAT-gateway-hour",
    "network.nat_gateway_gb": "USD per GB",
    "network.data_transfer_out_gb": "USD per GB",
    "network.data_transfer_out_free_gb": "GB per month",
    "cloudwatch.dashboard_month": "USD per dashboard-month",
    "cloudwatch.alarm_metric_month": "USD per alarm-metric-month",
    "ecr.storage_gb_month": "USD per GB-month",
}

_FRACTION_UNITS = {"fraction off the on-demand price"}


class PricingError(ValueError):
    """The pricing file is missing, malformed or lacks a price the model needs."""


@dataclass(frozen=True)
class Price:
    """One entry of the pricing file."""

    key: str
    value: float
    unit: str
    source: str
    read_on: dt.date
    note: str = ""

    @property
    def rate(self) -> float:
        """The value in the model's base unit (e.g. USD per request for 'USD per 1M requests')."""
        return self.value * UNIT_FACTORS[self.unit]

    def show(self) -> str:
        """The value as the page publishes it, e.g. '$0.20 per 1M requests'."""
        shown = format(Decimal(repr(self.value)).normalize(), "f")
        if self.unit.startswith("USD per "):
            if round(self.value, 2) == self.value:
                shown = f"{self.value:.2f}"  # cents, as the pages print them
            return f"${shown} per {self.unit.removeprefix('USD per ')}"
        return f"{shown} {self.unit}"


@dataclass(frozen=True)
class Instance:
    """An EC2 instance type the EKS node model can use."""

    name: str
    arch: str
    vcpu: float
    memory_gib: float
    max_pods: int
    on_demand: Price
    counterpart: str | None = None


@dataclass(frozen=True)
class Pricing:
    """A parsed, checked pricing file."""

    path: Path
    version: Any
    region: str
    currency: str
    prices: dict[str, Price]
    instances: dict[str, Instance]

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise PricingError(f"{self.path.name}: no price {key!r}") from None

    def rate(self, key: str) -> float:
        """Shorthand for ``pricing[key].rate``."""
        return self[key].rate

    def instance(self, name: str) -> Instance:
        try:
            return self.instances[name]
        except KeyError:
            known = ", ".join(sorted(self.instances))
            raise PricingError(f"instance type {name!r} is not in {self.path.name} (known: {known})") from None

    def instances_for(self, arch: str) -> list[Instance]:
        """Instance types of one architecture, in file order."""
        return [inst for inst in self.instances.values() if inst.arch == arch]

    def all_prices(self) -> list[Price]:
        """Every price entry, instance prices included."""
        return [*self.prices.values(), *(inst.on_demand for inst in self.instances.values())]


def _parse_date(raw: Any, where: str) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise PricingError(f"{where}: read_on must be a date (YYYY-MM-DD), got {raw!r}")


def _parse_price(key: str, raw: Any) -> Price:
    if not isinstance(raw, dict):
        raise PricingError(f"{key}: expected a mapping with value, unit, source and read_on")
    missing = [field for field in ("value", "unit", "source", "read_on") if field not in raw]
    if missing:
        raise PricingError(f"{key}: missing {', '.join(missing)}")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PricingError(f"{key}: value must be a non-negative number, got {value!r}")
    unit = raw["unit"]
    if unit not in UNIT_FACTORS:
        raise PricingError(f"{key}: unknown unit {unit!r}")
    if unit in _FRACTION_UNITS and value >= 1:
        raise PricingError(f"{key}: a discount must be below 1, got {value!r}")
    source = raw["source"]
    if not isinstance(source, str) or not source.startswith("https://"):
        raise PricingError(f"{key}: source must be the https URL of the pricing page, got {source!r}")
    extra = set(raw) - {"value", "unit", "source", "read_on", "note"}
    if extra:
        raise PricingError(f"{key}: unexpected fields {', '.join(sorted(extra))}")
    return Price(
        key=key,
        value=float(value),
        unit=unit,
        source=source,
        read_on=_parse_date(raw["read_on"], key),
        note=str(raw.get("note", "")),
    )


def _walk_prices(tree: dict, prefix: str, out: dict[str, Price]) -> None:
    for name, node in tree.items():
        key = f"{prefix}{name}"
        if isinstance(node, dict) and "value" in node:
            out[key] = _parse_price(key, node)
        elif isinstance(node, dict):
            _walk_prices(node, f"{key}.", out)
        else:
            raise PricingError(f"{key}: expected a price entry or a group of them")


def _parse_instance(name: str, raw: Any) -> Instance:
    if not isinstance(raw, dict):
        raise PricingError(f"instances.{name}: expected a mapping")
    arch = raw.get("arch")
    if arch not in ARCHES:
        raise PricingError(f"instances.{name}: arch must be one of {', '.join(ARCHES)}, got {arch!r}")
    numbers = {}
    for field in ("vcpu", "memory_gib", "max_pods"):
        value = raw.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise PricingError(f"instances.{name}: {field} must be a positive number, got {value!r}")
        numbers[field] = value
    price = _parse_price(f"instances.{name}.on_demand", raw.get("on_demand"))
    if price.unit != "USD per instance-hour":
        raise PricingError(f"instances.{name}.on_demand: unit must be 'USD per instance-hour', got {price.unit!r}")
    counterpart = raw.get("counterpart")
    return Instance(
        name=name,
        arch=arch,
        vcpu=float(numbers["vcpu"]),
        memory_gib=float(numbers["memory_gib"]),
        max_pods=int(numbers["max_pods"]),
        on_demand=price,
        counterpart=str(counterpart) if counterpart else None,
    )


def parse_pricing(document: Any, path: Path) -> Pricing:
    """Check and convert a loaded pricing document."""
    if not isinstance(document, dict):
        raise PricingError(f"{path.name}: expected a mapping at the top level")
    for field in ("version", "region", "currency", "prices", "instances"):
        if field not in document:
            raise PricingError(f"{path.name}: missing top-level field {field!r}")
    if document["currency"] != "USD":
        raise PricingError(f"{path.name}: only USD prices are supported, got {document['currency']!r}")
    if not isinstance(document["prices"], dict) or not isinstance(document["instances"], dict):
        raise PricingError(f"{path.name}: prices and instances must be mappings")

    prices: dict[str, Price] = {}
    _walk_prices(document["prices"], "", prices)
    for key, unit in REQUIRED_PRICES.items():
        if key not in prices:
            raise PricingError(f"{path.name}: missing price {key!r}")
        if prices[key].unit != unit:
            raise PricingError(f"{path.name}: {key} must be in {unit!r}, got {prices[key].unit!r}")

    instances = {str(name): _parse_instance(str(name), raw) for name, raw in document["instances"].items()}
    for inst in instances.values():
        if inst.counterpart is None:
            continue
        other = instances.get(inst.counterpart)
        if other is None:
            raise PricingError(f"instances.{inst.name}: counterpart {inst.counterpart!r} is not listed")
        if other.arch == inst.arch:
            raise PricingError(f"instances.{inst.name}: counterpart {other.name} has the same architecture")
    for arch in ARCHES:
        if not any(inst.arch == arch for inst in instances.values()):
            raise PricingError(f"{path.name}: no {arch} instance type listed")
    return Pricing(
        path=path,
        version=document["version"],
        region=str(document["region"]),
        currency="USD",
        prices=prices,
        instances=instances,
    )


def load_pricing(path: Path | str | None = None) -> Pricing:
    """Read and check a pricing file (default: the bundled us-east-1 file)."""
    path = Path(path) if path is not None else DEFAULT_PRICING_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PricingError(f"cannot read pricing file {path}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PricingError(f"{path.name} is not valid YAML: {error}".splitlines()[0]) from None
    return parse_pricing(document, path)
