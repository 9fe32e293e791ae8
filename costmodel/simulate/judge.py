"""`recommend --shape spike|diurnal|onoff | --trace FILE`: judge each platform by its simulated p99.

The p99 a user sees counts refused and dropped requests as slower than any SLO, so a platform meets a
p99 SLO when at most 1% of the offered requests were slower than the SLO, throttled or dropped
(`PlatformRun.share_over_slo`). When cold starts are not acceptable, a platform that had any fails.
Cost is the simulated period's, scaled to the month. The recommendation is the cheapest that meets;
the runner-up the next that meets, or the cheapest that fails when only one meets.
"""

from __future__ import annotations

from dataclasses import dataclass

from costmodel.model import PLATFORM_LABELS, PLATFORMS

P99_SHARE = 0.01


@dataclass(frozen=True)
class Verdict:
    platform: str
    label: str
    monthly_usd: float
    p99_ms: float  # of the requests served
    share_over_slo: float
    cold_starts: float
    failed: float
    meets: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "platform": self.platform,
            "label": self.label,
            "monthly_usd": self.monthly_usd,
            "p99_served_ms": self.p99_ms,
            "share_over_slo": self.share_over_slo,
            "cold_starts": self.cold_starts,
            "throttled_or_dropped": self.failed,
            "meets_requirements": self.meets,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class SimulatedRecommendation:
    verdicts: tuple[Verdict, ...]  # cheapest first
    recommended: Verdict | None
    runner_up: Verdict | None


def judge(outcome, slo_ms: float, cold_starts_acceptable: bool) -> SimulatedRecommendation:
    verdicts = []
    for p in PLATFORMS:
        run = outcome.simulation.runs[p]
        share = run.share_over_slo(slo_ms)
        reasons = []
        meets = share <= P99_SHARE
        reasons.append(
            f"{share:.2%} of requests slower than {slo_ms:g} ms or refused: p99 "
            + ("within" if meets else "above")
            + " the SLO under the simulated traffic"
        )
        if run.failed:
            reasons.append(f"{run.throttled:,.0f} throttled, {run.dropped:,.0f} dropped")
        if run.cold_starts and not cold_starts_acceptable:
            meets = False
            reasons.append(f"{run.cold_starts:,.0f} cold starts, and cold starts are not acceptable")
        elif p == "lambda":
            reasons.append(f"{run.cold_starts:,.0f} cold starts")
        verdicts.append(
            Verdict(
                p,
                PLATFORM_LABELS[p],
                outcome.monthly(p),
                run.percentile_ms(0.99),
                share,
                run.cold_starts,
                run.failed,
                meets,
                tuple(reasons),
            )
        )
    verdicts.sort(key=lambda v: (v.monthly_usd, PLATFORMS.index(v.platform)))
    passing = [v for v in verdicts if v.meets]
    recommended = passing[0] if passing else None
    if recommended is None:
        runner_up = None
    elif len(passing) > 1:
        runner_up = passing[1]
    else:
        runner_up = next((v for v in verdicts if v is not recommended), None)
    return SimulatedRecommendation(tuple(verdicts), recommended, runner_up)


def print_recommendation(outcome, rec: SimulatedRecommendation, slo_ms: float, cold_ok: bool) -> None:
    from rich.table import Table

    from costmodel.render import money, new_console, print_notes, text

    sim = outcome.simulation
    console = new_console()
    table = Table(
        title=f"{sim.arrivals.description} ({sim.seconds / 3600:g} h simulated, {sim.mode} mode); p99 SLO "
        f"{slo_ms:g} ms, cold starts {'acceptable' if cold_ok else 'not acceptable'}",
        title_justify="left",
        show_lines=True,
    )
    for name, justify in (
        ("option", "left"),
        ("$/month", "right"),
        ("p99 served ms", "right"),
        (f"> {slo_ms:g} ms or refused", "right"),
        ("meets", "left"),
        ("why", "left"),
    ):
        table.add_column(name, justify=justify)
    for v in rec.verdicts:
        table.add_row(
            text(v.label),
            money(v.monthly_usd),
            f"{v.p99_ms:,.0f}",
            f"{v.share_over_slo:.2%}",
            "yes" if v.meets else "no",
            text("; ".join(v.reasons)),
        )
    console.print(table)
    if rec.recommended is None:
        console.print(text("No platform meets these requirements under the simulated traffic."), style="bold red")
    else:
        r = rec.recommended
        console.print(text(f"Recommended: {r.label} at {money(r.monthly_usd)}/month."), style="bold green")
        if rec.runner_up is not None:
            u = rec.runner_up
            state = "also meets the requirements" if u.meets else "does not meet them: " + "; ".join(u.reasons)
            console.print(text(f"Runner-up: {u.label} at {money(u.monthly_usd)}/month; {state}."))
    console.print(text("Service times: " + "; ".join(f"{k} from {v}" for k, v in sim.config.service.sources.items())))
    print_notes(console, outcome.resolved)
