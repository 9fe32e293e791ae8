"""The deployed shapes, read from the deployment files: CPUs, memory and environment of each platform's unit.

- Fargate task: ``cpu`` (1024 units a vCPU), ``memory`` (MiB), ``variables`` of ``copilot/api/manifest.yml``;
- EKS pod: the ``api`` container's ``resources.limits`` and ``env`` in ``eksctl/k8s/deployment.yaml``;
- Lambda environment: ``MemorySize`` of ``template.yaml``, with the CPU share Lambda gives it
  (one vCPU per 1,769 MB).

``docker_run_flags`` turns a shape into ``docker run`` limits, so an image runs as it is deployed.
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


class ShapeError(ValueError):
    """A deployment file does not give the shape; the message names the file and what is missing."""


@dataclass(frozen=True)
class Shape:
    """What one unit of a platform gets: CPUs, memory, environment, and the file that says so."""

    name: str
    cpus: float
    memory_mb: int
    source: str
    environment: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The shape as a summary records it."""
        return {
            "shape": self.name,
            "cpus": self.cpus,
            "memory_mb": self.memory_mb,
            "environment": self.environment,
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


def fargate_shape(path: Path = COPILOT_MANIFEST) -> Shape:
    """The Copilot service's task: ``cpu``/1024 vCPUs, ``memory`` MiB, its ``variables``."""
    manifest = _load(path)
    if not isinstance(manifest, dict) or "cpu" not in manifest or "memory" not in manifest:
        raise ShapeError(f"{path}: no top-level cpu and memory")
    variables = {str(name): str(value) for name, value in (manifest.get("variables") or {}).items()}
    return Shape("fargate", int(manifest["cpu"]) / 1024, int(manifest["memory"]), _relative(path), variables)


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
            return Shape("eks", cpus, memory, _relative(path), env)
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
    """``docker run`` flags that give a container the shape's CPUs, memory and environment."""
    flags = ["--cpus", f"{shape.cpus:g}", "--memory", f"{shape.memory_mb}m"]
    for name, value in shape.environment.items():
        flags += ["-e", f"{name}={value}"]
    return flags
