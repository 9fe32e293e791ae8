"""Run the three platforms on one traffic: pure functions from arrivals + configuration + prices to runs.

Mode: ``event`` simulates every request; ``fluid`` works per second with expected values (see
`costmodel.simulate.lambda_` and `costmodel.simulate.serving`); ``auto`` picks event-driven up to
``EVENT_MAX_REQUESTS`` requests and fluid above (about 6 requests/s averaged over a day).
Controllers (Fargate's alarms, the HPA, the cluster autoscaler) run per second in both modes. Every
platform starts settled for the first minute's mean rate: the tasks and pods it needs at the target
utilisation, and the warm Lambda environments it keeps alive (`lambda_.settled_environments`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.model import ModelInputs
from costmodel.pricing import Pricing
from costmodel.simulate import MODES, costs
from costmodel.simulate import lambda_ as lambda_model
from costmodel.simulate.arrivals import Arrivals
from costmodel.simulate.config import ContainerShape, SimConfig, initial_replicas
from costmodel.simulate.result import PlatformRun
from costmodel.simulate.scalers import EksScaler, FargateScaler
from costmodel.simulate.serving import EventServing, FluidServing

EVENT_MAX_REQUESTS = 500_000
SETTLE_S = 60  # the first minute's mean rate sizes the initial replicas


@dataclass
class Simulation:
    arrivals: Arrivals
    mode: str
    runs: dict[str, PlatformRun]
    config: SimConfig

    @property
    def seconds(self) -> int:
        return self.arrivals.seconds


def pick_mode(mode: str, arrivals: Arrivals) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (choose {', '.join(MODES)})")
    if mode != "auto":
        return mode
    return "event" if arrivals.total <= EVENT_MAX_REQUESTS else "fluid"


def _first_rate(arrivals: Arrivals) -> float:
    return float(arrivals.rate[:SETTLE_S].mean()) if arrivals.seconds else 0.0


def run_lambda(arrivals: Arrivals, cfg: SimConfig, inputs: ModelInputs, pricing: Pricing, mode: str, seed: int):
    rng = np.random.default_rng([seed, 1])
    warm = lambda_model.settled_environments(
        _first_rate(arrivals), cfg.service.lambda_warm.mean_s, cfg.lambda_.idle_lifetime_s
    )
    if mode == "event":
        times = arrivals.arrival_times(np.random.default_rng([seed, 0]))
        run, billing = lambda_model.simulate_events(times, arrivals.seconds, cfg.lambda_, cfg.service, rng, warm)
    else:
        run, billing = lambda_model.simulate_fluid(arrivals.counts, cfg.lambda_, cfg.service, rng, warm)
    run.cost = costs.lambda_cost(
        billing, cfg.lambda_.memory_mb, cfg.lambda_.provisioned, arrivals.seconds, inputs, pricing
    )
    return run


def _run_containers(platform: str, scaler, shape: ContainerShape, arrivals: Arrivals, cfg: SimConfig, mode, seed):
    seconds = arrivals.seconds
    rng = np.random.default_rng([seed, 2 if platform == "fargate" else 3])
    if mode == "event":
        times = arrivals.arrival_times(np.random.default_rng([seed, 0]))
        serving = EventServing(times, seconds, shape.service, cfg.request_timeout_s, rng)
    else:
        serving = FluidServing(arrivals.counts, shape.service, cfg.request_timeout_s, rng)
    served = np.zeros(seconds)
    replicas = np.zeros(seconds, dtype=np.int64)
    nodes = np.zeros(seconds, dtype=np.int64) if platform == "eks" else None
    for t in range(seconds):
        scaler.step(t)
        ready = scaler.ready(t)
        serving.set_servers(ready * shape.workers, t)
        done, busy = serving.serve(t)
        scaler.observe(t, busy, float(arrivals.counts[t]), ready)
        served[t], replicas[t] = done, ready
        if nodes is not None:
            nodes[t] = scaler.node_count()
    run = PlatformRun(
        platform, mode, arrivals.counts, served, replicas, serving.latencies(seconds), dropped=float(serving.dropped)
    )
    run.nodes = nodes
    return run


def run_fargate(arrivals: Arrivals, cfg: SimConfig, inputs: ModelInputs, pricing: Pricing, mode: str, seed: int):
    shape = cfg.fargate_shape
    scaler = FargateScaler(cfg.fargate, initial_replicas(_first_rate(arrivals), shape.rps, cfg.fargate.cpu_target))
    run = _run_containers("fargate", scaler, shape, arrivals, cfg, mode, seed)
    task_s = scaler.billed_task_seconds(arrivals.seconds)
    run.cost = costs.fargate_cost(task_s, shape.vcpu, shape.memory_gb, arrivals.seconds, run.requests, inputs, pricing)
    run.notes.append(f"{len(scaler.tasks)} tasks over the period, {task_s / 3600:,.2f} task-hours billed")
    if inputs.fargate.spot_share:
        run.notes.append("--spot-share is not simulated: every task is billed on demand")
    return run


def run_eks(arrivals: Arrivals, cfg: SimConfig, inputs: ModelInputs, pricing: Pricing, mode: str, seed: int):
    shape = cfg.eks_shape
    scaler = EksScaler(cfg.eks, initial_replicas(_first_rate(arrivals), shape.rps, cfg.eks.cpu_target))
    run = _run_containers("eks", scaler, shape, arrivals, cfg, mode, seed)
    node_s = scaler.billed_node_seconds(arrivals.seconds)
    run.cost = costs.eks_cost(
        node_s, cfg.instance_type, cfg.node_volume_gb, arrivals.seconds, run.requests, inputs, pricing
    )
    run.notes.append(
        f"{len(scaler.nodes)} {cfg.instance_type} nodes over the period ({cfg.eks.pods_per_node} pods each), "
        f"{node_s / 3600:,.2f} node-hours"
    )
    return run


RUNNERS = {"lambda": run_lambda, "fargate": run_fargate, "eks": run_eks}


def simulate(
    arrivals: Arrivals,
    cfg: SimConfig,
    inputs: ModelInputs,
    pricing: Pricing,
    seed: int = 0,
    mode: str = "auto",
    platforms: tuple[str, ...] = ("lambda", "fargate", "eks"),
) -> Simulation:
    """Every platform on the same arrivals (the same seed gives the same arrival times to each)."""
    chosen = pick_mode(mode, arrivals)
    runs = {p: RUNNERS[p](arrivals, cfg, inputs, pricing, chosen, seed) for p in platforms}
    if inputs.free_tier:
        for run in runs.values():
            run.notes.append("--free-tier is monthly and not applied to the simulated period")
    return Simulation(arrivals, chosen, runs, cfg)
