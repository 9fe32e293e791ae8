"""The deployed shapes, read from the deployment files: CPUs, memory and environment of each platform's unit.

- Fargate task: ``cpu`` (1024 units a vCPU), ``memory`` (MiB), ``variables`` of ``copilot/api/manifest.yml``;
- EKS pod: the ``api`` container's ``resources.limits`` and ``env`` in ``eksctl/k8s/deployment.yaml``;
- Lambda environment: ``MemorySize`` of ``template.yaml``, with the CPU share Lambda gives it
  (one vCPU per 1,769 MB).

Each shape also says which health check the platform runs *inside* the container, if any: Copilot's
``image.healthcheck.command``, a Kubernetes ``exec`` probe. The load balancer's checks and ``httpGet`` probes come
from outside and run nothing there. Neither ECS nor Kubernetes runs the image's own ``HEALTHCHECK`` (that is
Docker's).

``docker_run_flags`` turns a shape into ``docker run`` limits, so an image runs as it is deployed: with the
platform's in-container check or none. Docker's ``HEALTHCHECK`` would otherwise start a Python process every
15 s in the container's cgroup, on a CPU the pinned server leaves free, and that process's CPU is charged to the
same quota: the server is throttled for tens of ms while it runs (``nr_throttled`` in the cgroup's
``cpu.stat``), a stall no deployed task sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.settings import REPO_ROOT

SAM_TEMPLATE = REPO_ROOT / "template.yaml"
COPILOT_MANIFEST = REPO_ROOT / "copilot" / "api" / "manifest.yml"
EKS_DEPLOYMENT = REPO_ROOT / "eksctl" / "k8s" / "deployment.yaml"
CONTAINER_NAME = "api"
LAMBDA_MB_PER_VCPU = 1769
MEMORY_UNITS_MIB = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024**2,
    "K": 1e3 / 2**20,
    "M": 1e6 / 2**20,
    "G": 1e9 / 2**20,
}


DEFAULT_HEALTH_INTERVAL_S = 10.0  # Copilot's image.healthcheck.interval and a probe's periodSeconds, when unset


class ShapeError(ValueError):
    """A deployment file does not give the shape; the message names the file and what is missing."""


@dataclass(frozen=True)
class HealthCommand:
    """A health check the platform runs inside the container: a shell command line, every ``interval_s``."""

    command: str
    interval_s: float = DEFAULT_HEALTH_INTERVAL_S


@dataclass(frozen=True)
class Shape:
    """What one unit of a platform gets: CPUs, memory, environment, in-container health check, and its file."""

    name: str
    cpus: float
    memory_mb: int
    source: str
    environment: dict[str, str] = field(default_factory=dict)
    health_command: HealthCommand | None = None

    def as_dict(self) -> dict[str, object]:
        """The shape as a summary records it."""
        return {
            "shape": self.name,
            "cpus": self.cpus,
            "memory_mb": self.memory_mb,
            "environment": self.environment,
            "health_command": None if self.health_command is None else self.health_command.command,
            "source": self.source,
        }


def _load(path: Path) -> object:
    import yaml

    if not path.is_file():
        raise ShapeError(f"{path}: not found")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def kubernetes_cpus(quantity: str | int | float) -> float:
    """CPUs of a Kubernetes CPU quantity (``"1"``, ``"500m"``, ``1.5``)."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def kubernetes_memory_mb(quantity: str | int) -> int:
    """MiB of a Kubernetes memory quantity (``"2Gi"``, ``"512Mi"``, ``"1G"``, bytes)."""
    match = re.fullmatch(r"([0-9.]+)([KMGT]i?)?", str(quantity))
    if not match:
        raise ShapeError(f"memory quantity {quantity!r} is not understood")
    number, unit = float(match.group(1)), match.group(2)
    return round(number * MEMORY_UNITS_MIB[unit]) if unit else round(number / 2**20)


def _command_line(command: list[str]) -> str:
    """A shell command line for an ECS ``CMD``/``CMD-SHELL`` array or a Kubernetes ``exec`` command."""
    import shlex

    if command and command[0] == "CMD-SHELL":
        return " ".join(command[1:])
    return shlex.join(command[1:] if command and command[0] == "CMD" else command)


def copilot_health_command(image: dict[str, Any]) -> HealthCommand | None:
    """The container health check of a Copilot ``image`` block (``image.healthcheck.command``), if any."""
    check = image.get("healthcheck") if isinstance(image, dict) else None
    if not isinstance(check, dict) or not check.get("command"):
        return None
    from loadtest.runner import parse_duration

    interval = parse_duration(str(check.get("interval", DEFAULT_HEALTH_INTERVAL_S)))
    return HealthCommand(_command_line([str(part) for part in check["command"]]), interval)


def kubernetes_health_command(container: dict[str, Any]) -> HealthCommand | None:
    """The first ``exec`` probe of a Kubernetes container (startup, liveness, readiness), if any."""
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(kind) or {}
        command = (probe.get("exec") or {}).get("command")
        if command:
            interval = float(probe.get("periodSeconds", DEFAULT_HEALTH_INTERVAL_S))
            return HealthCommand(_command_line([str(part) for part in command]), interval)
    return None


def fargate_shape(path: Path = COPILOT_MANIFEST) -> Shape:
    """The Copilot service's task: ``cpu``/1024 vCPUs, ``memory`` MiB, its ``variables`` and container check."""
    manifest = _load(path)
    if not isinstance(manifest, dict) or "cpu" not in manifest or "memory" not in manifest:
        raise ShapeError(f"{path}: no top-level cpu and memory")
    variables = {str(name): str(value) for name, value in (manifest.get("variables") or {}).items()}
    health = copilot_health_command(manifest.get("image") or {})
    cpus, memory = int(manifest["cpu"]) / 1024, int(manifest["memory"])
    return Shape("fargate", cpus, memory, _relative(path), variables, health)


def eks_shape(path: Path = EKS_DEPLOYMENT, container: str = CONTAINER_NAME) -> Shape:
    """The EKS pod's ``container``: its resource limits and ``env`` values."""
    import yaml

    if not path.is_file():
        raise ShapeError(f"{path}: not found")
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not isinstance(document, dict) or document.get("kind") != "Deployment":
            continue
        for spec in document["spec"]["template"]["spec"].get("containers", []):
            if spec.get("name") != container:
                continue
            limits = (spec.get("resources") or {}).get("limits") or {}
            if "cpu" not in limits or "memory" not in limits:
                raise ShapeError(f"{path}: container {container!r} has no cpu and memory limits")
            env = {item["name"]: str(item["value"]) for item in spec.get("env") or [] if "value" in item}
            cpus, memory = kubernetes_cpus(limits["cpu"]), kubernetes_memory_mb(limits["memory"])
            return Shape("eks", cpus, memory, _relative(path), env, kubernetes_health_command(spec))
    raise ShapeError(f"{path}: no Deployment with a container named {container!r}")


def _template_loader():
    """A YAML loader that reads CloudFormation tags: ``!Ref X`` as ``{"Ref": "X"}``, the others as plain values."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            return {"Ref": value} if suffix == "Ref" else value
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    Loader.add_multi_constructor("!", any_tag)
    return Loader


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """``{"Ref": P}`` replaced by parameter P's default, in lists too."""
    if isinstance(value, list):
        return [_resolve(item, parameters) for item in value]
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return (parameters.get(value["Ref"]) or {}).get("Default")
    return value


def template_function(path: Path = SAM_TEMPLATE, handler: str = "functions.handler.lambda_handler") -> dict[str, Any]:
    """``MemorySize`` and ``Timeout`` of the SAM function that runs ``handler`` (parameter defaults resolved).

    Values the template does not give (or no template) are absent from the answer.
    """
    if not path.is_file():
        return {}
    import yaml

    try:
        template = yaml.load(path.read_text(encoding="utf-8"), Loader=_template_loader())
    except yaml.YAMLError:
        return {}
    if not isinstance(template, dict):
        return {}
    parameters = template.get("Parameters") or {}
    defaults = (template.get("Globals") or {}).get("Function") or {}
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **(resource.get("Properties") or {})}
        command = _resolve((properties.get("ImageConfig") or {}).get("Command"), parameters)
        if handler not in (command or [_resolve(properties.get("Handler"), parameters)]):
            continue
        found = {}
        for key, name in (("MemorySize", "memory_mb"), ("Timeout", "timeout_s")):
            value = _resolve(properties.get(key), parameters)
            if isinstance(value, int | str) and str(value).isdigit():
                found[name] = int(value)
        return found
    return {}


def template_memory_mb(path: Path = SAM_TEMPLATE, handler: str = "functions.handler.lambda_handler") -> int | None:
    """``MemorySize`` of the SAM function that runs ``handler``, if the template says."""
    return template_function(path, handler).get("memory_mb")


def lambda_shape(path: Path = SAM_TEMPLATE) -> Shape:
    """The SAM function's environment: ``MemorySize`` MB and ``MemorySize / 1769`` vCPUs."""
    memory = template_function(path).get("memory_mb")
    if not memory:
        raise ShapeError(f"{path}: no MemorySize for the function running functions.handler.lambda_handler")
    return Shape("lambda", round(memory / LAMBDA_MB_PER_VCPU, 3), int(memory), _relative(path))


def docker_run_flags(shape: Shape) -> list[str]:
    """``docker run`` flags that give a container the shape's CPUs, memory, environment and health check.

    The platform's in-container check replaces the image's ``HEALTHCHECK``; with none, none runs
    (``--no-healthcheck``), as on the platform.
    """
    flags = ["--cpus", f"{shape.cpus:g}", "--memory", f"{shape.memory_mb}m"]
    if shape.health_command is None:
        flags.append("--no-healthcheck")
    else:
        check = shape.health_command
        flags += ["--health-cmd", check.command, "--health-interval", f"{check.interval_s:g}s"]
    for name, value in shape.environment.items():
        flags += ["-e", f"{name}={value}"]
    return flags
