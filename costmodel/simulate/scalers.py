"""How ECS Fargate and EKS change their replica counts, second by second.

ECS Fargate (Application Auto Scaling target tracking, as Copilot configures it): CloudWatch gets one
datapoint a metric period (CPU utilisation averaged over the running tasks; ALB requests per target),
visible after the metric delay. When the last ``scale_out_datapoints`` are all above a policy's target,
desired = ceil(tasks × metric / target) (the largest over the policies), unless the scale-out
cooldown runs; when the last ``scale_in_datapoints`` of every policy are below the scale-in threshold,
desired falls to the largest ceil(tasks × metric / (target × threshold)), unless the scale-in cooldown
runs (so the metric after scaling in stays under the threshold: no flapping). "tasks" is the average
number of tasks serving during the datapoint's period, the ones the metric averaged over. A new
task is billed from its image pull (after provisioning) and serves after the pull, the model load and
``healthy_threshold`` × ``interval`` of health checks; a removed task leaves the load balancer at once
and is billed through its deregistration delay. Fargate bills at least one minute a task.

EKS: every HPA sync period the recommendation is ceil(CPU used by the ready pods over the last metrics
window / target), unchanged within the tolerance; scaling up takes the lowest recommendation of the
scale-up stabilisation window, at most max(4 pods, 100%) per period; scaling down the highest of the
scale-down window. A pod is scheduled on a ready node with room (pods per node from the cost model's
allocatable CPU and memory), and is ready after the pod start, the node's image pull (once per new
node), the model load and one readiness period. Pods that fit nowhere wait; every scan interval the
cluster autoscaler launches enough nodes for them (within the node groups' maximum), each ready after
the node launch time. A node empty for the scale-down-unneeded time is removed, down to the minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

INF = float("inf")


@dataclass
class Task:
    launched: float
    billed_from: float
    ready_at: float
    stopped: float | None = None


@dataclass(frozen=True)
class FargateScaling:
    min_tasks: int
    max_tasks: int
    cpu_target: float
    requests_target_per_minute: float | None
    cooldown_out_s: float
    cooldown_in_s: float
    metric_period_s: int
    metric_delay_s: float
    out_datapoints: int
    in_datapoints: int
    in_threshold: float
    provisioning_s: float
    start_s: float  # image pull + model load + health checks
    deregistration_s: float
    billing_minimum_s: float


class FargateScaler:
    def __init__(self, cfg: FargateScaling, initial: int):
        self.cfg = cfg
        self.desired = max(cfg.min_tasks, min(cfg.max_tasks, initial))
        self.tasks = [Task(0.0, 0.0, 0.0) for _ in range(self.desired)]
        self.live = list(self.tasks)
        # (visible at, cpu, requests per target per minute, tasks serving on average)
        self.points: list[tuple[float, float, float, float]] = []
        self._busy = self._ready_s = self._requests = 0.0
        self._evaluated = 0
        self.last_out = self.last_in = -INF

    def ready(self, t: float) -> int:
        return sum(1 for task in self.live if task.ready_at <= t)

    def running(self) -> int:
        return len(self.live)

    def observe(self, t: int, busy: float, requests: float, ready: int) -> None:
        self._busy += busy * ready
        self._ready_s += ready
        self._requests += requests
        if (t + 1) % self.cfg.metric_period_s == 0:
            cpu = self._busy / self._ready_s if self._ready_s else 0.0
            tasks = self._ready_s / self.cfg.metric_period_s
            per_target = self._requests / tasks if tasks else 0.0
            self.points.append((t + 1 + self.cfg.metric_delay_s, cpu, per_target, tasks))
            self._busy = self._ready_s = self._requests = 0.0

    def step(self, t: int) -> None:
        cfg = self.cfg
        if self._evaluated < len(self.points) and self.points[self._evaluated][0] <= t:
            self._evaluated += 1
            self._evaluate(t, self.points[max(0, self._evaluated - cfg.in_datapoints) : self._evaluated])
        while self.running() < self.desired:
            billed = t + cfg.provisioning_s
            task = Task(t, billed, billed + cfg.start_s)
            self.tasks.append(task)
            self.live.append(task)
        while self.running() > self.desired:
            victim = max(self.live, key=lambda task: (task.ready_at > t, task.launched))
            victim.stopped = t
            self.live.remove(victim)

    def _policies(self) -> list[tuple[int, float]]:
        """(index in a datapoint, target) of each target tracking policy."""
        policies = [(1, self.cfg.cpu_target)]
        if self.cfg.requests_target_per_minute:
            policies.append((2, self.cfg.requests_target_per_minute))
        return policies

    def _evaluate(self, t: int, visible: list[tuple[float, float, float, float]]) -> None:
        cfg = self.cfg
        latest = visible[-1]
        tasks = latest[3]  # the tasks the datapoint averaged over (not those still starting)
        out = [
            math.ceil(tasks * latest[i] / target - 1e-9)
            for i, target in self._policies()
            if len(visible) >= cfg.out_datapoints and all(p[i] > target for p in visible[-cfg.out_datapoints :])
        ]
        if out and t - self.last_out >= cfg.cooldown_out_s:
            want = min(cfg.max_tasks, max(out))
            if want > self.desired:
                self.desired, self.last_out = want, t
                return
        low = all(
            len(visible) >= cfg.in_datapoints
            and all(p[i] < target * cfg.in_threshold for p in visible[-cfg.in_datapoints :])
            for i, target in self._policies()
        )
        if low and t - self.last_in >= cfg.cooldown_in_s and t - self.last_out >= cfg.cooldown_out_s:
            # conservative: keep the predicted metric under the low alarm's threshold, so it does not flap
            want = max(
                math.ceil(tasks * latest[i] / (target * cfg.in_threshold) - 1e-9) for i, target in self._policies()
            )
            want = max(cfg.min_tasks, want)
            if want < self.desired:
                self.desired, self.last_in = want, t

    def billed_task_seconds(self, end: float) -> float:
        """Task-seconds billed in [0, end): from the image pull, at least the minimum for a stopped task."""
        total = 0.0
        for task in self.tasks:
            if task.stopped is None:
                total += max(0.0, end - task.billed_from)
                continue
            served = task.stopped >= task.ready_at  # registered with the load balancer: drains first
            stop = min(end, task.stopped + (self.cfg.deregistration_s if served else 0.0))
            if stop > task.billed_from:  # a task stopped before its pull began is never billed
                total += max(stop - task.billed_from, self.cfg.billing_minimum_s)
        return total


@dataclass
class Node:
    launched: float
    ready_at: float
    image_at: float
    pods: int = 0
    empty_since: float | None = None
    removed: float | None = None


@dataclass
class Pod:
    created: float
    node: Node | None = None
    ready_at: float = INF
    deleted: bool = False


@dataclass(frozen=True)
class EksScaling:
    min_pods: int
    max_pods: int
    cpu_target: float
    tolerance: float
    sync_period_s: int
    metrics_window_s: int
    up_window_s: float
    down_window_s: float
    up_pods: int
    up_percent: float
    pods_per_node: int
    min_nodes: int
    max_nodes: int
    pod_start_s: float  # pod start + model load + one readiness period
    image_pull_s: float
    scan_interval_s: int
    node_launch_s: float
    node_unneeded_s: float


@dataclass
class EksScaler:
    cfg: EksScaling
    initial: int
    nodes: list[Node] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.cfg
        count = max(cfg.min_pods, min(cfg.max_pods, self.initial))
        for _ in range(max(cfg.min_nodes, math.ceil(count / cfg.pods_per_node))):
            self.nodes.append(Node(0.0, 0.0, 0.0))
        for _ in range(count):
            pod = Pod(0.0, ready_at=0.0)
            self._place(pod, 0.0, ready_now=True)
            self.pods.append(pod)
        self.recommendations: list[tuple[int, int]] = []
        self._busy: list[float] = []

    def live_pods(self) -> list[Pod]:
        return [p for p in self.pods if not p.deleted]

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.removed is None]

    def ready(self, t: float) -> int:
        return sum(1 for p in self.pods if not p.deleted and p.ready_at <= t)

    def _place(self, pod: Pod, t: float, ready_now: bool = False) -> bool:
        for node in self.live_nodes():
            if node.ready_at <= t and node.pods < self.cfg.pods_per_node:
                node.pods += 1
                node.empty_since = None
                pod.node = node
                pod.ready_at = t if ready_now else t + max(0.0, node.image_at - t) + self.cfg.pod_start_s
                return True
        return False

    def observe(self, t: int, busy: float, requests: float, ready: int) -> None:
        self._busy.append(busy * ready)

    def step(self, t: int) -> None:
        cfg = self.cfg
        if t > 0 and t % cfg.sync_period_s == 0:
            self._autoscale(t)
        for pod in self.live_pods():
            if pod.node is None:
                self._place(pod, t)
        if t % cfg.scan_interval_s == 0:
            self._cluster_autoscale(t)

    def _autoscale(self, t: int) -> None:
        cfg = self.cfg
        window = self._busy[-cfg.metrics_window_s :]
        used = sum(window) / len(window) if window else 0.0  # cores busy, averaged over the window
        ready = self.ready(t)
        current = len(self.live_pods())
        ratio = used / ready / cfg.cpu_target if ready else 1.0
        rec = current if abs(ratio - 1) <= cfg.tolerance else math.ceil(used / cfg.cpu_target - 1e-9)
        rec = max(cfg.min_pods, min(cfg.max_pods, rec))
        self.recommendations.append((t, rec))
        horizon = max(cfg.up_window_s, cfg.down_window_s)
        self.recommendations = [(s, r) for s, r in self.recommendations if s > t - horizon - 1]
        up = min(r for s, r in self.recommendations if s > t - cfg.up_window_s - 1e-9)
        down = max(r for s, r in self.recommendations if s > t - cfg.down_window_s - 1e-9)
        if up > current:
            desired = min(up, current + max(cfg.up_pods, math.ceil(current * cfg.up_percent / 100)))
        elif down < current:
            desired = down
        else:
            return
        desired = max(cfg.min_pods, min(cfg.max_pods, desired))
        while len(self.live_pods()) < desired:
            pod = Pod(t)
            self._place(pod, t)
            self.pods.append(pod)
        while len(self.live_pods()) > desired:
            live = self.live_pods()
            victim = max(live, key=lambda p: (p.node is None, p.ready_at > t, p.created))
            victim.deleted = True
            if victim.node is not None:
                victim.node.pods -= 1
                if victim.node.pods == 0:
                    victim.node.empty_since = t

    def _cluster_autoscale(self, t: int) -> None:
        cfg = self.cfg
        pending = sum(1 for p in self.live_pods() if p.node is None)
        coming = sum(cfg.pods_per_node - n.pods for n in self.live_nodes() if n.ready_at > t)
        need = math.ceil(max(0, pending - coming) / cfg.pods_per_node)
        for _ in range(min(need, cfg.max_nodes - len(self.live_nodes()))):
            ready = t + cfg.node_launch_s
            self.nodes.append(Node(t, ready, ready + cfg.image_pull_s, empty_since=None))
        for node in self.live_nodes():
            if node.pods == 0 and node.ready_at <= t and node.empty_since is None:
                node.empty_since = t
            if (
                node.pods == 0
                and node.empty_since is not None
                and t - node.empty_since >= cfg.node_unneeded_s
                and len(self.live_nodes()) > cfg.min_nodes
            ):
                node.removed = t

    def node_count(self) -> int:
        return len(self.live_nodes())

    def billed_node_seconds(self, end: float) -> float:
        return sum((end if n.removed is None else n.removed) - n.launched for n in self.nodes)
