"""The pricing file parses, and every price in it has a unit, a source page and a date."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from costmodel.pricing import (
    DEFAULT_PRICING_PATH,
    REQUIRED_PRICES,
    UNIT_FACTORS,
    PricingError,
    load_pricing,
    parse_pricing,
)
from costmodel.traffic import (
    DailyShape,
    Traffic,
    TrafficError,
    business_shape,
    flat_shape,
    load_hourly_profile,
    named_shape,
)


def test_pricing_file_parses_with_source_and_date_for_every_price():
    pricing = load_pricing()
    assert pricing.region == "us-east-1"
    assert pricing.currency == "USD"
    prices = pricing.all_prices()
    assert len(prices) >= len(REQUIRED_PRICES) + len(pricing.instances)
    for price in prices:
        assert price.unit in UNIT_FACTORS, price.key
        assert price.source.startswith("https://aws.amazon.com/"), price.key
        assert isinstance(price.read_on, dt.date), price.key
        assert price.read_on <= dt.date.today(), price.key


def test_every_raw_entry_has_the_four_fields():
    # read the YAML directly, so a field the loader might default could not hide
    document = yaml.safe_load(DEFAULT_PRICING_PATH.read_text())

    def leaves(tree):
        for node in tree.values():
            if isinstance(node, dict) and "value" in node:
                yield node
            elif isinstance(node, dict):
                yield from leaves(node)

    entries = list(leaves(document["prices"])) + [inst["on_demand"] for inst in document["instances"].values()]
    assert entries
    for entry in entries:
        assert {"value", "unit", "source", "read_on"} <= set(entry), entry


def test_header_says_these_are_list_prices_to_recheck():
    header = DEFAULT_PRICING_PATH.read_text().split("version:")[0].lower()
    assert "list prices" in header
    assert "re-check" in header


def test_assumed_values_say_so():
    pricing = load_pricing()
    for key in ("ec2.spot_discount", "savings_plans.compute_fargate_discount"):
        assert "ASSUMPTION" in pricing[key].note


def test_instances_have_specs_and_symmetric_counterparts():
    pricing = load_pricing()
    for inst in pricing.instances.values():
        assert inst.vcpu > 0 and inst.memory_gib > 0 and inst.max_pods > 0
        assert inst.counterpart is not None
        other = pricing.instance(inst.counterpart)
        assert other.arch != inst.arch
        assert other.counterpart == inst.name
        assert (other.vcpu, other.memory_gib, other.max_pods) == (inst.vcpu, inst.memory_gib, inst.max_pods)
    assert pricing.instances_for("arm64") and pricing.instances_for("x86_64")


def test_rates_convert_published_units():
    pricing = load_pricing()
    assert pricing.rate("lambda.requests") == pytest.approx(0.20e-6)
    assert pricing["lambda.requests"].show() == "$0.20 per 1M requests"
    assert pricing["lambda.duration_arm64"].show() == "$0.0000133334 per GB-second"


def _document():
    return yaml.safe_load(DEFAULT_PRICING_PATH.read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["prices"]["lambda"]["requests"].pop("source"), "missing source"),
        (lambda d: d["prices"]["lambda"]["requests"].update(read_on="last week"), "read_on must be a date"),
        (lambda d: d["prices"]["lambda"]["requests"].update(unit="USD per banana"), "unknown unit"),
        (lambda d: d["prices"]["lambda"]["requests"].update(unit="USD per GB-second"), "must be in"),
        (lambda d: d["prices"]["lambda"].pop("duration_arm64"), "missing price 'lambda.duration_arm64'"),
        (lambda d: d["prices"]["fargate"]["spot_discount"].update(value=1.5), "discount must be below 1"),
        (lambda d: d["prices"]["lambda"]["requests"].update(source="somewhere"), "https URL"),
        (lambda d: d["instances"]["c7g.large"].update(counterpart="m7g.large"), "same architecture"),
        (lambda d: d["instances"]["c7g.large"].update(vcpu=0), "vcpu must be a positive number"),
        (lambda d: d.update(currency="EUR"), "only USD"),
    ],
)
def test_broken_pricing_files_are_refused(mutate, message, tmp_path):
    document = _document()
    mutate(document)
    with pytest.raises(PricingError, match=message):
        parse_pricing(document, tmp_path / "broken.yaml")


def test_unreadable_pricing_file_is_a_clean_error(tmp_path):
    with pytest.raises(PricingError, match="cannot read pricing file"):
        load_pricing(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("prices: [unclosed")
    with pytest.raises(PricingError, match="not valid YAML"):
        load_pricing(bad)


# ----------------------------------------------------------------------------------------------- traffic


def test_named_shapes():
    assert sum(flat_shape().weights) == pytest.approx(1)
    business = business_shape()
    assert sum(business.weights) == pytest.approx(1)
    assert business.weights[9] == pytest.approx(0.10) and business.weights[3] == pytest.approx(0.0125)
    assert business.peak_hour_factor == pytest.approx(2.4)
    with pytest.raises(TrafficError, match="unknown shape"):
        named_shape("weekends")


def test_traffic_formulas():
    traffic = Traffic(flat_shape(), peak_to_average=2.0, month_hours=730)
    assert traffic.days_per_month == pytest.approx(30.416667, abs=1e-6)
    assert traffic.monthly_requests(1000) == pytest.approx(30_416.6667, abs=1e-3)
    assert traffic.hourly_mean_rps(86_400) == pytest.approx([1.0] * 24)
    assert traffic.hourly_peak_rps(86_400) == pytest.approx([2.0] * 24)
    with pytest.raises(TrafficError):
        Traffic(flat_shape(), peak_to_average=0.5)


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(list(range(1, 25))),
        json.dumps({"hourly": list(range(1, 25))}),
        "\n".join(str(v) for v in range(1, 25)),
        "hour,weight\n" + "\n".join(f"{h},{h + 1}" for h in reversed(range(24))),
        "# a comment\n" + ", ".join(str(v) for v in range(1, 25)),
    ],
)
def test_hourly_profile_layouts(content, tmp_path):
    path = tmp_path / "profile.txt"
    path.write_text(content)
    shape = load_hourly_profile(path)
    assert shape.weights[0] == pytest.approx(1 / 300)
    assert shape.weights[23] == pytest.approx(24 / 300)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1\n2\n3", "need 24"),
        (json.dumps([0] * 24), "all be zero"),
        (json.dumps([-1] + [1] * 23), "negative"),
        ("[1, 2", "invalid JSON"),
        ("\n".join(f"{h},1" for h in range(23)) + "\n5,1", "hours must be 0-23, each once"),
    ],
)
def test_bad_hourly_profiles(content, message, tmp_path):
    path = tmp_path / "profile.txt"
    path.write_text(content)
    with pytest.raises(TrafficError, match=message):
        load_hourly_profile(path)
    with pytest.raises(TrafficError, match="cannot read"):
        load_hourly_profile(tmp_path / "missing.csv")


def test_daily_shape_checks_its_weights():
    with pytest.raises(TrafficError):
        DailyShape("bad", tuple([0.5] * 24))
