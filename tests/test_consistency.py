"""The deployment files agree with each other and with the code.

Every fact below is read from the files themselves (YAML, Dockerfile instructions, the FastAPI app),
never from a copy in this test. The canonical values (docs/CONVENTIONS.md) come from the code: the port
from ``inference.settings.Settings``, the health path from the app's route that answers with ``Health``.
A disagreement fails naming both files. A missing project file fails.

Environment variables: every variable a deployment file sets for the service must be one that
``inference.settings`` reads, except these documented ones, which configure libraries or the runtime
rather than the service:

- Powertools for AWS Lambda's own variables (``POWERTOOLS_TRACE_DISABLED``, ``POWERTOOLS_LOG_LEVEL``, ...;
  see ``POWERTOOLS_VARIABLES``),
- ``AWS_*`` (region, Lambda runtime options),
- in Dockerfiles only, the interpreter's and pip's variables (``PATH``, ``PYTHON*``, ``PIP_*``, ...;
  see ``DOCKERFILE_RUNTIME_VARIABLES``), which are build or interpreter settings, not service settings.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from inference.settings import Settings, environment_variable_names

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTAINER_DOCKERFILE = "container/Dockerfile"
FUNCTIONS_DOCKERFILE = "functions/Dockerfile"
APP_MODULE = "container/app.py"
SAM_TEMPLATE = "template.yaml"
SAM_CONFIG = "samconfig.toml"
COPILOT_DIR = "copilot"
EKSCTL_CLUSTER = "eksctl/cluster.yaml"
K8S_DIR = "eksctl/k8s"
WORKFLOW = ".github/workflows/deploy.yml"

# Documented Powertools for AWS Lambda (Python) environment variables that are not service settings.
POWERTOOLS_VARIABLES = frozenset(
    {
        "POWERTOOLS_TRACE_DISABLED",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "POWERTOOLS_TRACER_CAPTURE_ERROR",
        "POWERTOOLS_TRACE_MIDDLEWARES",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_LOGGER_LOG_EVENT",
        "POWERTOOLS_LOGGER_SAMPLE_RATE",
        "POWERTOOLS_LOG_DEDUPLICATION_DISABLED",
        "POWERTOOLS_METRICS_DISABLED",
        "POWERTOOLS_DEV",
    }
)
# Interpreter, pip and Lambda base-image variables a Dockerfile may set.
DOCKERFILE_RUNTIME_VARIABLES = frozenset({"PATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "LAMBDA_TASK_ROOT"})
DOCKERFILE_RUNTIME_PREFIXES = ("PYTHON", "PIP_")
GRAVITON_INSTANCE_TYPE = re.compile(r"^[a-z]+\d+g[a-z]*\.[a-z0-9]+$")


# ---------------------------------------------------------------------------------------------- readers


def repo_path(relative: str) -> Path:
    """A path inside the repository."""
    return REPO_ROOT / relative


def require(relative: str) -> Path:
    """The file; a missing project file fails the calling test."""
    path = repo_path(relative)
    assert path.exists(), f"{relative} is missing"
    return path


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short-form tags (``!Ref``, ``!Sub``, ...) as plain values."""


def _construct_tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_CloudFormationLoader.add_multi_constructor("!", _construct_tagged)


def load_yaml(path: Path) -> Any:
    """One YAML document (CloudFormation tags allowed)."""
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)


def load_yaml_documents(path: Path) -> list[Any]:
    """Every document in a YAML file, empty ones dropped."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=_CloudFormationLoader) if doc]


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` applied over ``base`` the way Copilot applies an ``environments.<env>`` section.

    Maps merge key by key; any other value replaces the base value. ``image.build`` and ``image.location``
    exclude each other, so setting one in the override drops the other (Copilot's own override rule).
    """
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(base.get(key), value) if key in base else value
    if "image" in override and isinstance(merged.get("image"), dict):
        image = dict(merged["image"])
        if "location" in override["image"]:
            image.pop("build", None)
        if "build" in override["image"]:
            image.pop("location", None)
        merged["image"] = image
    return merged


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction."""

    line: int
    keyword: str
    arguments: str


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), arguments.strip()))
    return instructions


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace ``$NAME`` and ``${NAME}`` with known values; unknown ones stay as they are."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def parse_env_arguments(arguments: str) -> dict[str, str]:
    """``ENV A=1 B="two words"`` or the legacy ``ENV NAME value``."""
    words = shlex.split(arguments, posix=True)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


@dataclass
class Dockerfile:
    """The facts of a Dockerfile's final stage (the image that runs)."""

    path: Path
    env: dict[str, str]
    exposed_ports: list[int]
    healthcheck_urls: list[str]
    platforms: list[str]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        """Parse ``path``; stages the final one builds ``FROM`` are followed for their ``ENV``."""
        stages: list[tuple[str, str, list[Instruction]]] = []  # (image, alias, instructions)
        build_args: dict[str, str] = {}
        platforms: list[str] = []
        for instruction in dockerfile_instructions(path):
            if instruction.keyword == "ARG" and not stages:
                name, _, default = instruction.arguments.partition("=")
                build_args[name.strip()] = default.strip().strip('"')
            elif instruction.keyword == "FROM":
                words = instruction.arguments.split()
                options = [w for w in words if w.startswith("--")]
                rest = [w for w in words if not w.startswith("--")]
                for option in options:
                    if option.startswith("--platform="):
                        platforms.append(substitute(option.split("=", 1)[1], build_args))
                alias = rest[2] if len(rest) >= 3 and rest[1].upper() == "AS" else ""
                stages.append((substitute(rest[0], build_args), alias, []))
            elif stages:
                stages[-1][2].append(instruction)
        if not stages:
            raise AssertionError(f"{path.relative_to(REPO_ROOT)} has no FROM instruction")
        chain = [stages[-1]]
        aliases = {alias: stage for stage in stages if (alias := stage[1])}
        while chain[0][0] in aliases and aliases[chain[0][0]] not in chain:
            chain.insert(0, aliases[chain[0][0]])
        env: dict[str, str] = {}
        ports: list[int] = []
        urls: list[str] = []
        for _image, _alias, instructions in chain:
            for instruction in instructions:
                arguments = substitute(instruction.arguments, {**build_args, **env})
                if instruction.keyword == "ENV":
                    env.update(parse_env_arguments(arguments))
                elif instruction.keyword == "EXPOSE":
                    ports.extend(int(word.split("/")[0]) for word in arguments.split())
                elif instruction.keyword == "HEALTHCHECK":
                    urls.extend(re.findall(r"https?://[^\s'\"\]]+", arguments))
        return cls(path, env, ports, urls, platforms)


def copilot_manifests() -> list[Path]:
    """Every Copilot manifest in the workspace."""
    return sorted(repo_path(COPILOT_DIR).rglob("manifest.yml"))


def copilot_service_manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Service manifests (everything but environments and pipelines)."""
    found = []
    for path in copilot_manifests():
        manifest = load_yaml(path)
        if isinstance(manifest, dict) and manifest.get("type") not in (None, "Environment"):
            found.append((path, manifest))
    return found


def copilot_variants(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The manifest as written, and as each environment override makes it."""
    base = {key: value for key, value in manifest.items() if key != "environments"}
    yield "", base
    for env, override in (manifest.get("environments") or {}).items():
        yield f" (environments.{env})", deep_merge(base, override or {})


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object the kustomization lists, with the file it is in."""
    k8s = repo_path(K8S_DIR)
    kustomization = load_yaml(k8s / "kustomization.yaml")
    return [(k8s / name, doc) for name in kustomization["resources"] for doc in load_yaml_documents(k8s / name)]


def k8s_objects(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    """The listed objects of one kind."""
    return [(path, doc) for path, doc in k8s_documents() if doc.get("kind") == kind]


def pod_containers() -> list[tuple[Path, dict[str, Any]]]:
    """Containers of every Deployment's pod template."""
    return [
        (path, container)
        for path, deployment in k8s_objects("Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
    ]


def resolve_container_port(container: dict[str, Any], port: int | str) -> int | str:
    """A numeric port, or the ``containerPort`` a named port stands for."""
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    return port


def sam_functions(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``AWS::Serverless::Function`` resources with Globals.Function applied."""
    global_function = (template.get("Globals") or {}).get("Function") or {}
    return [
        (name, deep_merge(global_function, resource.get("Properties") or {}))
        for name, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]


def workflow() -> dict[str, Any]:
    """The CI/CD workflow."""
    return load_yaml(repo_path(WORKFLOW))


def workflow_scripts(resolve_env: bool = False) -> list[str]:
    """Every ``run:`` script of the workflow, continuation lines joined.

    With ``resolve_env``, ``$NAME`` references to the workflow's top-level ``env`` are replaced by their values.
    """
    definition = workflow()
    variables = {name: str(value) for name, value in (definition.get("env") or {}).items()}
    scripts = []
    for job in definition["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                script = re.sub(r"\\\n\s*", " ", step["run"])
                scripts.append(substitute(script, variables) if resolve_env else script)
    return scripts


def relative(path: Path) -> str:
    """Path relative to the repository root, for messages."""
    return str(path.relative_to(REPO_ROOT))


# ---------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Fact:
    """One value one file states, and where."""

    source: str
    value: Any


def assert_agree(facts: list[Fact], what: str, by_majority: bool = False) -> None:
    """Every fact has the reference's value; a mismatch names both files.

    The reference is the first fact (the canonical source), or, ``by_majority``, the first fact holding the
    value most files state, so that the one file that differs is the one named.
    """
    assert facts, f"no file states the {what}"
    reference = facts[0]
    if by_majority:
        values = [fact.value for fact in facts]
        common = max(values, key=values.count)
        reference = next(fact for fact in facts if fact.value == common)
    mismatches = [
        f"{what}: {fact.source} says {fact.value!r} but {reference.source} says {reference.value!r}"
        for fact in facts
        if fact.value != reference.value
    ]
    assert not mismatches, "\n".join(mismatches)


def canonical_port() -> Fact:
    """The port the service listens on, from the settings' default."""
    return Fact("inference/settings.py (Settings.port)", Settings().port)


def app_health_path() -> Fact:
    """The GET route of container/app.py that answers with the ``Health`` model."""
    require(APP_MODULE)
    from container.app import create_app
    from inference.schemas import Health

    paths = [
        route.path
        for route in create_app(Settings()).routes
        if getattr(route, "response_model", None) is Health and "GET" in getattr(route, "methods", ())
    ]
    assert len(paths) == 1, f"{APP_MODULE} should have exactly one GET route answering with Health, found {paths}"
    return Fact(f"{APP_MODULE} (GET route answering with Health)", paths[0])


def port_facts_dockerfile() -> list[Fact]:
    dockerfile = Dockerfile.read(require(CONTAINER_DOCKERFILE))
    facts = [Fact(f"{CONTAINER_DOCKERFILE} EXPOSE", port) for port in dockerfile.exposed_ports]
    assert facts, f"{CONTAINER_DOCKERFILE} exposes no port"
    if "PORT" in dockerfile.env:
        facts.append(Fact(f"{CONTAINER_DOCKERFILE} ENV PORT", int(dockerfile.env["PORT"])))
    facts += [
        Fact(f"{CONTAINER_DOCKERFILE} HEALTHCHECK {url}", urlsplit(url).port)
        for url in dockerfile.healthcheck_urls
        if urlsplit(url).port is not None
    ]
    return facts


def port_facts_copilot() -> list[Fact]:
    facts = []
    for path, manifest in copilot_service_manifests():
        for label, variant in copilot_variants(manifest):
            source = f"{relative(path)}{label}"
            facts.append(Fact(f"{source} image.port", (variant.get("image") or {}).get("port")))
            healthcheck = (variant.get("http") or {}).get("healthcheck")
            if isinstance(healthcheck, dict) and "port" in healthcheck:
                facts.append(Fact(f"{source} http.healthcheck.port", healthcheck["port"]))
            if "PORT" in (variant.get("variables") or {}):
                facts.append(Fact(f"{source} variables.PORT", int(variant["variables"]["PORT"])))
    assert facts, f"no Copilot service manifest under {COPILOT_DIR}/"
    return facts


def port_facts_k8s() -> list[Fact]:
    facts = []
    containers = pod_containers()
    for path, container in containers:
        source = f"{relative(path)} container {container['name']}"
        facts += [Fact(f"{source} containerPort", port["containerPort"]) for port in container.get("ports", [])]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            http_get = (container.get(probe) or {}).get("httpGet")
            if http_get:
                facts.append(Fact(f"{source} {probe}", resolve_container_port(container, http_get["port"])))
        facts += [
            Fact(f"{source} env PORT", int(env["value"])) for env in container.get("env", []) if env["name"] == "PORT"
        ]
    for path, service in k8s_objects("Service"):
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            resolved = {resolve_container_port(container, target) for _, container in containers} - {target}
            value = resolved.pop() if len(resolved) == 1 else target
            facts.append(Fact(f"{relative(path)} Service targetPort {target!r}", value))
    assert facts, f"no container port in {K8S_DIR}/"
    return facts


# The files that run the container server. The SAM template is not one: a Lambda function listens on no port.
PORT_SOURCES: dict[str, Callable[[], list[Fact]]] = {
    CONTAINER_DOCKERFILE: port_facts_dockerfile,
    COPILOT_DIR: port_facts_copilot,
    K8S_DIR: port_facts_k8s,
}


@pytest.mark.parametrize("source", PORT_SOURCES)
def test_container_port_agrees_with_settings(source):
    facts = PORT_SOURCES[source]()
    assert facts, f"{source} states no container port"
    assert_agree([canonical_port(), *facts], "container port")


def health_facts_dockerfile() -> list[Fact]:
    dockerfile = Dockerfile.read(require(CONTAINER_DOCKERFILE))
    facts = [Fact(f"{CONTAINER_DOCKERFILE} HEALTHCHECK", urlsplit(url).path) for url in dockerfile.healthcheck_urls]
    assert facts, f"{CONTAINER_DOCKERFILE} has no HEALTHCHECK with an http URL"
    return facts


def health_facts_copilot() -> list[Fact]:
    facts = []
    for path, manifest in copilot_service_manifests():
        for label, variant in copilot_variants(manifest):
            healthcheck = (variant.get("http") or {}).get("healthcheck")
            value = healthcheck.get("path") if isinstance(healthcheck, dict) else healthcheck
            facts.append(Fact(f"{relative(path)}{label} http.healthcheck", value))
    assert facts, f"no Copilot service manifest under {COPILOT_DIR}/"
    return facts


def health_facts_k8s() -> list[Fact]:
    facts = []
    for path, container in pod_containers():
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            http_get = (container.get(probe) or {}).get("httpGet")
            facts.append(Fact(f"{relative(path)} {probe}", http_get.get("path") if http_get else None))
    # The load balancer's health check: the ALB of the Ingress (alb.ingress.kubernetes.io/healthcheck-path).
    for path, balanced in k8s_objects("Service") + k8s_objects("Ingress"):
        annotations = balanced["metadata"].get("annotations") or {}
        facts += [Fact(f"{relative(path)} {key}", value) for key, value in annotations.items() if key.endswith("path")]
    return facts


def health_facts_sam() -> list[Fact]:
    template = load_yaml(require(SAM_TEMPLATE))
    routes = {
        (str(event["Properties"].get("Method", "")).upper(), event["Properties"].get("Path"))
        for _, function in sam_functions(template)
        for event in (function.get("Events") or {}).values()
        if event.get("Type") == "HttpApi" and event.get("Properties")
    }
    health_paths = sorted(path for method, path in routes if method in ("GET", "ANY") and "health" in str(path))
    return [Fact(f"{SAM_TEMPLATE} HttpApi GET route", path) for path in health_paths] or [
        Fact(f"{SAM_TEMPLATE} HttpApi GET route", "no GET health route")
    ]


HEALTH_SOURCES: dict[str, Callable[[], list[Fact]]] = {
    CONTAINER_DOCKERFILE: health_facts_dockerfile,
    COPILOT_DIR: health_facts_copilot,
    K8S_DIR: health_facts_k8s,
    SAM_TEMPLATE: health_facts_sam,
}


@pytest.mark.parametrize("source", HEALTH_SOURCES)
def test_health_path_agrees_with_the_app(source):
    facts = HEALTH_SOURCES[source]()
    assert facts, f"{source} states no health path"
    assert_agree([app_health_path(), *facts], "health path")


def test_health_path_same_in_every_deployment_file():
    """Copilot and Kubernetes agree on the health path even where the app or another file is missing."""
    assert_agree(health_facts_copilot() + health_facts_k8s(), "health path")


def normalise_architecture(value: str) -> str:
    """``linux/arm64``, ``arm64``, ``aarch64`` -> ``arm64``; ``amd64``, ``x86_64`` -> ``x86_64``."""
    arch = value.split("/")[1] if "/" in value else value
    return {"aarch64": "arm64", "amd64": "x86_64"}.get(arch, arch)


def instance_architecture(instance_type: str) -> str:
    """Graviton instance types (``c7g.xlarge``, ``m6gd.large``, ``c6gn.xlarge``) are arm64."""
    return "arm64" if GRAVITON_INSTANCE_TYPE.match(instance_type) else f"x86_64 ({instance_type})"


def architecture_facts() -> list[Fact]:
    """The CPU architecture every deployment file targets."""
    facts = []
    template = load_yaml(require(SAM_TEMPLATE))
    parameters = template.get("Parameters") or {}
    for name, function in sam_functions(template):
        architectures = function.get("Architectures") or ["x86_64 (SAM default)"]
        # `!Ref Architecture`: what a plain `sam deploy` builds is the parameter's default.
        architectures = [parameters[a]["Default"] if a in parameters else a for a in architectures]
        facts += [Fact(f"{SAM_TEMPLATE} {name} Architectures", normalise_architecture(a)) for a in architectures]
    for path, manifest in copilot_service_manifests():
        for label, variant in copilot_variants(manifest):
            platform = variant.get("platform", "linux/x86_64 (Copilot default)")
            if isinstance(platform, dict):
                platform = platform.get("architecture", "")
            facts.append(Fact(f"{relative(path)}{label} platform", normalise_architecture(platform)))
    cluster = load_yaml(require(EKSCTL_CLUSTER))
    for group in (cluster.get("managedNodeGroups") or []) + (cluster.get("nodeGroups") or []):
        types = group.get("instanceTypes") or [group.get("instanceType", "m5.large (eksctl default)")]
        facts += [Fact(f"{EKSCTL_CLUSTER} node group {group['name']} {t}", instance_architecture(t)) for t in types]
    for path, deployment in k8s_objects("Deployment"):
        selector = deployment["spec"]["template"]["spec"].get("nodeSelector") or {}
        if "kubernetes.io/arch" in selector:
            facts.append(Fact(f"{relative(path)} nodeSelector", normalise_architecture(selector["kubernetes.io/arch"])))
    for dockerfile_name in (CONTAINER_DOCKERFILE, FUNCTIONS_DOCKERFILE):
        dockerfile = Dockerfile.read(require(dockerfile_name))
        facts += [
            Fact(f"{dockerfile_name} FROM --platform", normalise_architecture(p))
            for p in dockerfile.platforms
            if "$" not in p
        ]
    return facts


def test_cpu_architecture_agrees_everywhere():
    assert_agree(architecture_facts(), "CPU architecture", by_majority=True)


def test_ci_builds_the_architecture_the_services_run_on():
    """The workflow's multi-arch build includes the architecture every deployment file targets."""
    facts = architecture_facts()
    values = [fact.value for fact in facts]
    target = next(fact for fact in facts if fact.value == max(values, key=values.count))
    platforms = {
        normalise_architecture(platform.strip())
        for job in workflow()["jobs"].values()
        for step in job.get("steps", [])
        if "build-push-action" in str(step.get("uses", ""))
        for platform in str((step.get("with") or {}).get("platforms", "")).split(",")
        if platform.strip()
    }
    assert len(platforms) >= 2, f"{WORKFLOW} builds for {sorted(platforms)}, not a multi-arch image"
    assert target.value in platforms, (
        f"CPU architecture: {WORKFLOW} builds {sorted(platforms)} but {target.source} says {target.value!r}"
    )


def image_name(reference: str) -> str:
    """Repository name of an image reference: ``123.dkr.ecr.../sentiment-api:abc`` -> ``sentiment-api``."""
    without_digest = reference.split("@")[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":")[0]


def test_image_name_agrees_between_ci_and_kubernetes():
    facts = [Fact(f"{WORKFLOW} env.IMAGE_NAME", workflow().get("env", {}).get("IMAGE_NAME"))]
    facts += [
        Fact(f"{relative(path)} container {container['name']} image", image_name(container["image"]))
        for path, container in pod_containers()
    ]
    kustomization = load_yaml(repo_path(K8S_DIR) / "kustomization.yaml")
    for image in kustomization.get("images") or []:
        facts.append(Fact(f"{K8S_DIR}/kustomization.yaml images.name", image["name"]))
        if "newName" in image:
            facts.append(Fact(f"{K8S_DIR}/kustomization.yaml images.newName", image_name(image["newName"])))
    assert_agree(facts, "container image name")


def test_model_dir_agrees_between_images_and_deployment_files():
    """Both images put the model in one folder; a deployment file that sets MODEL_DIR names the same one."""
    facts = []
    for dockerfile_name in (CONTAINER_DOCKERFILE, FUNCTIONS_DOCKERFILE):
        env = Dockerfile.read(require(dockerfile_name)).env
        facts.append(Fact(f"{dockerfile_name} ENV MODEL_DIR", env.get("MODEL_DIR")))
    for name, function in sam_functions(load_yaml(require(SAM_TEMPLATE))):
        variables = (function.get("Environment") or {}).get("Variables") or {}
        if "MODEL_DIR" in variables:
            facts.append(Fact(f"{SAM_TEMPLATE} {name} Environment MODEL_DIR", variables["MODEL_DIR"]))
    for path, manifest in copilot_service_manifests():
        for label, variant in copilot_variants(manifest):
            if "MODEL_DIR" in (variant.get("variables") or {}):
                facts.append(Fact(f"{relative(path)}{label} variables.MODEL_DIR", variant["variables"]["MODEL_DIR"]))
    for path, container in pod_containers():
        facts += [
            Fact(f"{relative(path)} container {container['name']} env MODEL_DIR", env.get("value"))
            for env in container.get("env", [])
            if env["name"] == "MODEL_DIR"
        ]
    assert_agree(facts, "model directory")


def service_environment() -> list[tuple[str, str]]:
    """(file, variable name) for every environment variable a deployment file sets for the service."""
    found: list[tuple[str, str]] = []
    for path, manifest in copilot_service_manifests():
        for label, variant in copilot_variants(manifest):
            for section in ("variables", "secrets"):
                found += [(f"{relative(path)}{label} {section}", name) for name in variant.get(section) or {}]
    for path, container in pod_containers():
        found += [
            (f"{relative(path)} container {container['name']} env", env["name"]) for env in container.get("env", [])
        ]
        assert not container.get("envFrom"), f"{relative(path)}: envFrom hides variable names from this check"
    for name, function in sam_functions(load_yaml(require(SAM_TEMPLATE))):
        variables = (function.get("Environment") or {}).get("Variables") or {}
        found += [(f"{SAM_TEMPLATE} {name} Environment", variable) for variable in variables]
    for dockerfile_name in (CONTAINER_DOCKERFILE, FUNCTIONS_DOCKERFILE):
        env = Dockerfile.read(require(dockerfile_name)).env
        found += [
            (f"{dockerfile_name} ENV", variable)
            for variable in env
            if variable not in DOCKERFILE_RUNTIME_VARIABLES and not variable.startswith(DOCKERFILE_RUNTIME_PREFIXES)
        ]
    return found


def test_every_environment_variable_is_a_setting():
    settings = set(environment_variable_names())
    unknown = [
        f"{source} sets {name}, which inference.settings does not read"
        for source, name in service_environment()
        if name not in settings and name not in POWERTOOLS_VARIABLES and not name.startswith("AWS_")
    ]
    assert not unknown, "\n".join(unknown)


def test_environment_variable_check_sees_the_deployment_files():
    """The variable check above reads every deployment file and both images (so it cannot pass by reading nothing)."""
    sources = {source.split(" ")[0] for source, _ in service_environment()}
    for expected in (f"{COPILOT_DIR}/", SAM_TEMPLATE, CONTAINER_DOCKERFILE, FUNCTIONS_DOCKERFILE):
        assert any(source.startswith(expected) for source in sources), f"no variable read from {expected}: {sources}"
    # The pod sets no variable today; the check still has to find the container it would read them from.
    assert [container["name"] for _, container in pod_containers()], f"{K8S_DIR}: no pod container found"


def deployment_values() -> list[tuple[str, str, object]]:
    """(file, variable, value) for every variable a deployment file (not an image) sets."""
    found: list[tuple[str, str, object]] = []
    for path, manifest in copilot_service_manifests():
        for label, variant in copilot_variants(manifest):
            found += [(f"{relative(path)}{label}", k, v) for k, v in (variant.get("variables") or {}).items()]
    for path, container in pod_containers():
        found += [(relative(path), env["name"], env.get("value")) for env in container.get("env", [])]
    for name, function in sam_functions(load_yaml(repo_path(SAM_TEMPLATE))):
        variables = (function.get("Environment") or {}).get("Variables") or {}
        found += [(f"{SAM_TEMPLATE} {name}", k, v) for k, v in variables.items()]
    return found


def test_deployment_files_set_only_what_differs_from_the_image_and_the_settings():
    """One owner per value: the settings own defaults, the images own their layout, deployments the rest."""
    defaults = {name: str(getattr(Settings(), name.lower())) for name in environment_variable_names()}
    images = {}
    for dockerfile_name in (CONTAINER_DOCKERFILE, FUNCTIONS_DOCKERFILE):
        images.update(Dockerfile.read(repo_path(dockerfile_name)).env)
    restated = [
        f"{source} sets {name}={value!r}, which the settings or the image already say"
        for source, name, value in deployment_values()
        if defaults.get(name) == str(value) or images.get(name) == str(value)
    ]
    assert not restated, "\n".join(restated)
    assert deployment_values(), "no deployment file sets any variable: the check read nothing"


# ------------------------------------------------------------------------------------------- names


def workflow_command_arguments(command: str, flag: str) -> set[str]:
    """Values given to ``flag`` in every workflow line that runs ``command``."""
    values = set()
    for script in workflow_scripts(resolve_env=True):
        for line in script.splitlines():
            if command in line:
                values.update(value.strip("\"'") for value in re.findall(rf"{re.escape(flag)}[= ](\S+)", line))
    return values


def test_copilot_names_agree_with_the_workflow():
    application = load_yaml(repo_path(COPILOT_DIR) / ".workspace")["application"]
    services = {manifest["name"] for _, manifest in copilot_service_manifests()}
    environments = {path.parent.name for path in repo_path(f"{COPILOT_DIR}/environments").glob("*/manifest.yml")}
    assert workflow_command_arguments("ops endpoints", "--copilot-app") == {application}, (
        f"Copilot app: {WORKFLOW} --copilot-app differs from {COPILOT_DIR}/.workspace ({application!r})"
    )
    deployed_services = workflow_command_arguments("copilot svc", "--name")
    deployed_environments = workflow_command_arguments("copilot svc", "--env")
    assert deployed_services and deployed_services <= services, (
        f"Copilot service: {WORKFLOW} uses {sorted(deployed_services)}, {COPILOT_DIR}/ has {sorted(services)}"
    )
    assert deployed_environments and deployed_environments <= environments, (
        f"Copilot environment: {WORKFLOW} uses {sorted(deployed_environments)}, "
        f"{COPILOT_DIR}/environments/ has {sorted(environments)}"
    )


def test_kubernetes_names_agree_with_eksctl_and_the_workflow():
    cluster = load_yaml(repo_path(EKSCTL_CLUSTER))
    kustomization = load_yaml(repo_path(K8S_DIR) / "kustomization.yaml")
    namespace = kustomization["namespace"]
    (deployment_path, deployment), *_ = k8s_objects("Deployment")
    deployment_name = deployment["metadata"]["name"]
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    irsa = {
        (account["metadata"]["namespace"], account["metadata"]["name"])
        for account in (cluster.get("iam") or {}).get("serviceAccounts") or []
    }
    assert (namespace, service_account) in irsa, (
        f"IRSA service account: {relative(deployment_path)} runs as {namespace}/{service_account} "
        f"but {EKSCTL_CLUSTER} iam.serviceAccounts has {sorted(irsa)}"
    )
    assert service_account in {doc["metadata"]["name"] for _, doc in k8s_objects("ServiceAccount")}, (
        f"{relative(deployment_path)} runs as {service_account!r}, which {K8S_DIR}/ does not declare"
    )
    assert workflow_command_arguments("update-kubeconfig", "--name") == {cluster["metadata"]["name"]}, (
        f"EKS cluster: {WORKFLOW} update-kubeconfig --name differs from {EKSCTL_CLUSTER} metadata.name"
    )
    assert workflow_command_arguments("kubectl rollout", "-n") == {namespace}, (
        f"namespace: {WORKFLOW} kubectl rollout -n differs from {K8S_DIR}/kustomization.yaml ({namespace!r})"
    )
    rollout_targets = {
        match
        for script in workflow_scripts(resolve_env=True)
        for match in re.findall(r"kubectl rollout \w+ (deployment/\S+)", script)
    }
    assert rollout_targets == {f"deployment/{deployment_name}"}, (
        f"Deployment: {WORKFLOW} rolls out {sorted(rollout_targets)}, {relative(deployment_path)} "
        f"names deployment/{deployment_name}"
    )


def test_sam_stack_agrees_between_workflow_and_samconfig():
    import tomllib

    config = tomllib.loads(require(SAM_CONFIG).read_text())
    stack = config.get("prod", {}).get("deploy", {}).get("parameters", {}).get("stack_name")
    assert stack, f"{SAM_CONFIG} has no [prod.deploy.parameters] stack_name"
    assert workflow().get("env", {}).get("SAM_STACK") == stack, (
        f"SAM stack: {WORKFLOW} env.SAM_STACK differs from {SAM_CONFIG} prod stack_name ({stack!r})"
    )
