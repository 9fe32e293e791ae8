"""Lambda and (optionally) API Gateway: requests, billed duration, cold starts, provisioned concurrency.

Lambda (`lambda_cost`)
    d        = ceil(duration_ms) / 1000 s            billed duration, rounded up to 1 ms
    G        = memory_mb / 1024 GB
    C_pc     = PC × 3600 / d                           requests one hour of provisioned concurrency serves
    R_pc     = D × Σ_h min(N w_h, C_pc);  R_od = D × Σ_h max(0, N w_h − C_pc)      (R_od = R when PC = 0)
    requests = max(0, R − free_requests) × $0.20/1M
    compute  = max(0, R_od × d × G − free_GBs) × duration price(arch) × (1 − sp)
    cold     = S × D with S = min(N, cold_starts_per_day), or 0 when PC ≥ peak concurrency max_h p_h × d
    INIT     = max(0, S × D × ceil(init_ms)/1000 × G − free GB-s left) × duration price × (1 − sp)
    PC       = PC × G × H × 3600 × PC price(arch) × (1 − sp)
    PC dur.  = R_pc × d × G × PC duration price(arch) × (1 − sp)
    HTTP API = min(R, 300M) × $1.00/1M + max(0, R − 300M) × $0.90/1M      (only with --api-gateway)
    free_requests and free_GBs are 0 unless --free-tier (1M requests, 400,000 GB-s).
"""

from __future__ import annotations

import math

from costmodel.model.config import LAMBDA_DEFAULT_CONCURRENCY_QUOTA, ModelInputs
from costmodel.model.items import LineItem, PlatformCost, discount_text, every_platform_items, item, num
from costmodel.pricing import Pricing
from costmodel.traffic import SECONDS_PER_HOUR


def lambda_cost(daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    """Lambda + (optionally) API Gateway HTTP API; see the module docstring for the formulas."""
    cfg, traffic, arch = inputs.lambda_, inputs.traffic, inputs.arch
    days, hours = traffic.days_per_month, traffic.month_hours
    monthly = traffic.monthly_requests(daily)
    gb = cfg.memory_mb / 1024
    billed_ms = math.ceil(cfg.duration_ms)
    billed_s = billed_ms / 1000
    sp = pricing.rate("savings_plans.compute_lambda_discount") if inputs.savings_plan else 0.0
    sp_text = discount_text(sp, "Savings Plan")
    items: list[LineItem] = []
    notes: list[str] = []

    pc = cfg.provisioned_concurrency
    if pc:
        per_hour = pc * SECONDS_PER_HOUR / billed_s
        hourly = traffic.hourly_requests(daily)
        on_pc = days * sum(min(r, per_hour) for r in hourly)
        on_demand = days * sum(max(0.0, r - per_hour) for r in hourly)
    else:
        per_hour, on_pc, on_demand = 0.0, 0.0, monthly
    peak_rps = max(traffic.hourly_peak_rps(daily))
    peak_concurrency = peak_rps * billed_s
    covered = pc > 0 and pc >= peak_concurrency
    cold_per_day = 0.0 if covered else min(float(daily), cfg.cold_starts_per_day)
    cold_monthly = cold_per_day * days
    init_s = math.ceil(cfg.init_ms) / 1000

    # requests
    req = pricing["lambda.requests"]
    if inputs.free_tier:
        free_req = pricing.rate("lambda.free_tier_requests")
        amount = max(0.0, monthly - free_req) * req.rate
        items.append(
            item(
                "Lambda requests",
                "max(0, R − free-tier requests) × request price",
                f"max(0, {num(monthly)} − {num(free_req)}) × {req.show()}",
                amount,
            )
        )
    else:
        items.append(item("Lambda requests", "R × request price", f"{num(monthly)} × {req.show()}", monthly * req.rate))

    # on-demand compute: invocations, then INIT of cold starts; the free tier covers invocations first
    dur = pricing[f"lambda.duration_{arch}"]
    free_gbs = pricing.rate("lambda.free_tier_compute") if inputs.free_tier else 0.0
    invoke_gbs = on_demand * billed_s * gb
    init_gbs = cold_monthly * init_s * gb
    invoke_billable = max(0.0, invoke_gbs - free_gbs)
    init_billable = max(0.0, init_gbs - max(0.0, free_gbs - invoke_gbs))
    requests_label = "R_od (on-demand requests)" if pc else "R"
    gbs_text = f"{num(on_demand)} × {billed_ms} ms × {gb:g} GB"
    if free_gbs:
        items.append(
            item(
                "Lambda compute (invocations)",
                f"max(0, {requests_label} × billed duration × memory − free-tier GB-s) × GB-s price({arch}) × (1 − sp)",
                f"max(0, {gbs_text} − {num(free_gbs)} GB-s) × {dur.show()}{sp_text}",
                invoke_billable * dur.rate * (1 - sp),
            )
        )
    else:
        items.append(
            item(
                "Lambda compute (invocations)",
                f"{requests_label} × billed duration × memory × GB-s price({arch}) × (1 − sp)",
                f"{gbs_text} = {num(invoke_gbs)} GB-s × {dur.show()}{sp_text}",
                invoke_billable * dur.rate * (1 - sp),
            )
        )
    cold_text = (
        "provisioned concurrency covers the peak: 0 cold starts"
        if covered
        else f"min({num(daily)}, {num(cfg.cold_starts_per_day)}) × {num(days)} days = {num(cold_monthly)} cold starts"
    )
    init_gbs_text = f"{num(cold_monthly)} × {math.ceil(cfg.init_ms)} ms × {gb:g} GB"
    if free_gbs:
        init_formula = f"max(0, cold starts × INIT duration × memory − free GB-s left) × GB-s price({arch}) × (1 − sp)"
        free_left = max(0.0, free_gbs - invoke_gbs)
        init_arith = f"{cold_text}; max(0, {init_gbs_text} − {num(free_left)} free GB-s left)"
    else:
        init_formula = f"cold starts × INIT duration × memory × GB-s price({arch}) × (1 − sp)"
        init_arith = f"{cold_text}; {init_gbs_text}"
    items.append(
        item(
            "Lambda cold-start INIT (billed)",
            init_formula,
            f"{init_arith} = {num(init_billable)} GB-s × {dur.show()}{sp_text}",
            init_billable * dur.rate * (1 - sp),
        )
    )

    if pc:
        pc_price = pricing[f"lambda.provisioned_concurrency_{arch}"]
        pc_gbs = pc * gb * hours * SECONDS_PER_HOUR
        items.append(
            item(
                "Lambda provisioned concurrency",
                f"PC × memory × H × 3600 s × PC price({arch}) × (1 − sp)",
                f"{pc} × {gb:g} GB × {num(hours)} h × 3600 s = {num(pc_gbs)} GB-s × {pc_price.show()}{sp_text}",
                pc_gbs * pc_price.rate * (1 - sp),
            )
        )
        pcd = pricing[f"lambda.provisioned_duration_{arch}"]
        pcd_gbs = on_pc * billed_s * gb
        items.append(
            item(
                "Lambda duration on provisioned concurrency",
                f"R_pc × billed duration × memory × PC duration price({arch}) × (1 − sp)",
                f"R_pc = {num(days)} × Σ_h min(N·w_h, {num(per_hour)}) = {num(on_pc)}; "
                f"{num(on_pc)} × {billed_ms} ms × {gb:g} GB = {num(pcd_gbs)} GB-s × {pcd.show()}{sp_text}",
                pcd_gbs * pcd.rate * (1 - sp),
            )
        )

    if cfg.api_gateway:
        first = pricing["api_gateway.http_api_requests"]
        over = pricing["api_gateway.http_api_requests_over_tier"]
        tier = pricing.rate("api_gateway.http_api_tier_requests")
        in_tier, above = min(monthly, tier), max(0.0, monthly - tier)
        arithmetic = f"{num(in_tier)} × {first.show()}"
        if above:
            arithmetic += f" + {num(above)} × {over.show()}"
        items.append(
            item(
                "API Gateway HTTP API requests",
                "min(R, 300M) × first-tier price + max(0, R − 300M) × next-tier price",
                arithmetic,
                in_tier * first.rate + above * over.rate,
            )
        )
    else:
        notes.append("No API Gateway: a Lambda function URL (no per-request charge) is assumed.")

    if peak_concurrency > LAMBDA_DEFAULT_CONCURRENCY_QUOTA:
        notes.append(
            f"Peak concurrency {peak_concurrency:,.0f} exceeds the default account quota of "
            f"{LAMBDA_DEFAULT_CONCURRENCY_QUOTA:,}; a quota increase is needed."
        )
    if pc and not covered:
        notes.append(
            f"Provisioned concurrency {pc} is below the peak concurrency {peak_concurrency:.2f}: "
            "requests above it run on demand and can cold-start."
        )
    items.extend(every_platform_items(daily, inputs, pricing))
    derived = {
        "arch": arch,
        "monthly_requests": monthly,
        "billed_duration_ms": billed_ms,
        "memory_gb": gb,
        "peak_rps": peak_rps,
        "peak_concurrency": peak_concurrency,
        "provisioned_concurrency": pc,
        "provisioned_covers_peak": covered,
        "requests_on_provisioned": on_pc,
        "requests_on_demand": on_demand,
        "cold_starts_per_day": cold_per_day,
        "cold_starts_per_month": cold_monthly,
    }
    return PlatformCost("lambda", daily, monthly, tuple(items), derived, tuple(notes))
