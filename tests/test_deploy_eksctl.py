"""EKS: eksctl/cluster.yaml valid against eksctl's schema (../shared/schemas/eksctl), the Kubernetes
manifests valid (kubernetes-validate, strict) for the cluster's Kubernetes version and for the newest one
kubernetes-validate ships, and the properties the deployment must keep (probes, limits, non-root, read-only
root file system, zone spread, CPU autoscaling, disruption budget, an ALB Ingress in front of a ClusterIP
Service, the load balancer controller's IAM and its installation before the manifests).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from typing import Any

import jsonschema
import pytest
from kubernetes_validate import utils as kubernetes_validate

from tests.test_consistency import (
    K8S_DIR,
    REPO_ROOT,
    k8s_documents,
    k8s_objects,
    load_yaml,
    relative,
    workflow_scripts,
)

SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "eksctl" / "schema.json"
CLUSTER = REPO_ROOT / "eksctl" / "cluster.yaml"
KUSTOMIZATION = REPO_ROOT / K8S_DIR / "kustomization.yaml"


def cluster() -> dict[str, Any]:
    """The eksctl ClusterConfig."""
    return load_yaml(CLUSTER)


def cluster_version() -> str:
    """The cluster's Kubernetes version (metadata.version)."""
    return str(cluster()["metadata"]["version"])


def validation_versions() -> list[str]:
    """The cluster's Kubernetes version and the newest kubernetes-validate ships (major.minor), without repeats."""
    versions = {cluster_version(), kubernetes_validate.latest_version()}
    return sorted({kubernetes_validate.major_minor(v) for v in versions}, key=kubernetes_validate.Version)


@cache
def eksctl_validator() -> jsonschema.Draft7Validator:
    """eksctl's ClusterConfig schema, loaded once."""
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_cluster_config_matches_eksctl_schema():
    if not SCHEMA.is_file():
        pytest.skip(f"eksctl schema not found at {SCHEMA} (../shared is absent): schema check skipped")
    errors = [f"{e.json_path}: {e.message}" for e in eksctl_validator().iter_errors(cluster())]
    assert not errors, f"{relative(CLUSTER)} does not match eksctl's schema:\n" + "\n".join(errors)


def test_eksctl_schema_check_rejects_a_broken_config():
    if not SCHEMA.is_file():
        pytest.skip(f"eksctl schema not found at {SCHEMA} (../shared is absent): schema check skipped")
    broken = cluster()
    broken["managedNodeGroups"][0]["minSize"] = "two"
    broken["metadata"]["unknownKey"] = True
    paths = {e.json_path for e in eksctl_validator().iter_errors(broken)}
    assert {"$.managedNodeGroups[0].minSize", "$.metadata"} <= paths, paths


def test_cluster_has_oidc_logging_and_graviton_spot_option():
    config = cluster()
    assert config["iam"]["withOIDC"] is True, "IRSA needs iam.withOIDC: true"
    assert config["iam"]["serviceAccounts"], "no IRSA service account in iam.serviceAccounts"
    assert config["cloudWatch"]["clusterLogging"]["enableTypes"], "control-plane logging is off"
    groups = config["managedNodeGroups"]
    assert any(group.get("spot") for group in groups), "no Spot managed node group"
    assert any(not group.get("spot") for group in groups), "no on-demand managed node group"
    for group in groups:
        assert group["minSize"] <= group["desiredCapacity"] <= group["maxSize"], f"node group {group['name']} sizes"


def test_cluster_version_is_one_kubernetes_validate_ships():
    """The manifests are validated for the cluster's own version, not a fallback to an older one."""
    shipped = {kubernetes_validate.major_minor(v) for v in kubernetes_validate.all_versions()}
    version = kubernetes_validate.major_minor(cluster_version())
    assert version in shipped, (
        f"{relative(CLUSTER)} runs Kubernetes {version}; kubernetes-validate ships {sorted(shipped)}"
    )


def test_kustomization_lists_every_manifest():
    k8s = REPO_ROOT / K8S_DIR
    listed = set(load_yaml(KUSTOMIZATION)["resources"])
    present = {path.name for path in k8s.glob("*.yaml") if path.name != KUSTOMIZATION.name}
    assert listed == present, f"{relative(KUSTOMIZATION)} lists {sorted(listed)}, {K8S_DIR}/ holds {sorted(present)}"


def object_ids() -> list[str]:
    return [f"{relative(path)}:{doc['kind']}" for path, doc in k8s_documents()]


@pytest.mark.parametrize("version", validation_versions())
@pytest.mark.parametrize(("path", "document"), k8s_documents(), ids=object_ids())
def test_manifest_is_valid_kubernetes(path, document, version):
    problem = None
    try:
        validated = kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        location = ".".join(str(part) for part in error.path)
        problem = (
            f"{relative(path)} {document['kind']} is not valid Kubernetes {error.version}: {location}: {error.message}"
        )
    except kubernetes_validate.SchemaNotFoundError as error:
        problem = f"{relative(path)}: {error.message}"
    if problem:
        pytest.fail(problem)
    assert validated == version


def test_strict_validation_rejects_an_unknown_field():
    (_, deployment), *_ = k8s_objects("Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, cluster_version(), strict=True)


def only(kind: str) -> dict[str, Any]:
    """The one object of ``kind`` the kustomization lists."""
    objects = k8s_objects(kind)
    assert len(objects) == 1, f"expected one {kind} in {K8S_DIR}/, found {len(objects)}"
    return objects[0][1]


def test_deployment_pods_are_hardened_and_probed():
    pod = only("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    spread_keys = {constraint["topologyKey"] for constraint in pod.get("topologySpreadConstraints", [])}
    assert "topology.kubernetes.io/zone" in spread_keys, "pods are not spread across zones"
    tmp_volumes = {volume["name"] for volume in pod.get("volumes", []) if "emptyDir" in volume}
    for container in pod["containers"]:
        name = container["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, f"{name}: writable root file system"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, f"{name}: privilege escalation"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), f"{name}: requests"
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), f"{name}: limits"
        for probe in ("livenessProbe", "readinessProbe"):
            assert container.get(probe, {}).get("httpGet"), f"{name}: no HTTP {probe}"
        mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
        assert mounts.get("/tmp") in tmp_volumes, f"{name}: /tmp is not an emptyDir"


def test_autoscaling_and_disruption_budget_target_the_deployment():
    deployment = only("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    hpa = only("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"} == {"cpu"}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count; kubectl apply would reset it"
    for kind in ("PodDisruptionBudget", "Service"):
        spec = only(kind)["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"]) if kind != "Service" else spec["selector"]
        assert selector.items() <= pod_labels.items(), f"{kind} selector {selector} misses the pods {pod_labels}"


# ----------------------------------------------------------------------------------- the load balancer

LBC_ACCOUNT = ("kube-system", "aws-load-balancer-controller")  # the helm chart's documented IRSA set-up
EKS_PAGE = REPO_ROOT / "docs" / "deploy" / "eks.md"


def ingress_backends(ingress: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``backend.service`` of the Ingress (the default backend and each rule's paths)."""
    spec = ingress["spec"]
    backends = [spec["defaultBackend"]] if "defaultBackend" in spec else []
    backends += [path["backend"] for rule in spec.get("rules", []) for path in rule["http"]["paths"]]
    return [backend["service"] for backend in backends]


def assert_ingress_reaches_the_service(ingress: dict[str, Any], service: dict[str, Any]) -> None:
    ports = {port.get("name"): port["port"] for port in service["spec"]["ports"]}
    backends = ingress_backends(ingress)
    assert backends, "the Ingress sends requests nowhere"
    for backend in backends:
        assert backend["name"] == service["metadata"]["name"], f"backend {backend} is not the Service"
        port = backend["port"]
        assert port.get("name") in ports or port.get("number") in ports.values(), (
            f"backend port {port} is none of the Service's {ports}"
        )


def test_an_alb_ingress_fronts_a_cluster_ip_service():
    ingress, service = only("Ingress"), only("Service")
    assert service["spec"]["type"] == "ClusterIP", "the ALB is the one load balancer; the Service is ClusterIP"
    assert not service["metadata"].get("annotations"), "load balancer annotations on the Service"
    assert ingress["spec"]["ingressClassName"] == "alb"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    # The health check goes where the readiness probe goes, on the port requests go to.
    assert annotations.get("alb.ingress.kubernetes.io/healthcheck-port", "traffic-port") == "traffic-port"
    (container,) = only("Deployment")["spec"]["template"]["spec"]["containers"]
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == container["readinessProbe"]["httpGet"]["path"]
    assert_ingress_reaches_the_service(ingress, service)


def test_ingress_check_rejects_a_backend_on_another_port():
    ingress = json.loads(json.dumps(only("Ingress")))
    (backend,) = ingress_backends(ingress)
    backend["port"] = {"name": "metrics"}
    with pytest.raises(AssertionError, match="none of the Service's"):
        assert_ingress_reaches_the_service(ingress, only("Service"))


def test_cluster_gives_the_load_balancer_controller_its_iam():
    accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]): a for a in cluster()["iam"]["serviceAccounts"]}
    assert LBC_ACCOUNT in accounts, f"{relative(CLUSTER)} has no IRSA service account {'/'.join(LBC_ACCOUNT)}"
    assert accounts[LBC_ACCOUNT].get("wellKnownPolicies") == {"awsLoadBalancerController": True}


def helm_installs(text: str) -> list[str]:
    """The ``helm upgrade --install`` commands of the load balancer controller in ``text`` (lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line for line in joined.splitlines() if "helm upgrade --install aws-load-balancer-controller" in line]


@pytest.mark.parametrize("where", ["workflow", "docs/deploy/eks.md"])
def test_controller_is_installed_as_its_service_account_before_the_manifests(where):
    if where == "workflow":
        (script,) = [s for s in workflow_scripts(resolve_env=True) if "kubectl apply -k" in s and "helm" in s]
    else:
        blocks = EKS_PAGE.read_text().split("```")[1::2]
        (script,) = [block for block in blocks if "kubectl apply -k" in block]
    (install,) = helm_installs(script)
    assert "eks/aws-load-balancer-controller" in install
    namespace, name = LBC_ACCOUNT
    for setting in (f"--namespace {namespace}", "serviceAccount.create=false", f"serviceAccount.name={name}"):
        assert setting in install, f"{where}: {setting!r} missing from {install!r}"
    (cluster_name,) = re.findall(r"clusterName=(\S+)", install)
    assert cluster_name.strip("\"'") == cluster()["metadata"]["name"], f"{where}: clusterName {cluster_name}"
    assert script.index("helm upgrade --install") < script.index("kubectl apply -k"), (
        f"{where}: the manifests are applied before the controller that makes their ALB"
    )


def kustomize_build() -> list[dict[str, Any]]:
    """``kustomize build eksctl/k8s`` (kubectl's built-in kustomize, else kustomize), parsed."""
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    if not (kubectl or kustomize):
        pytest.skip("neither kubectl nor kustomize on PATH: the kustomize build check is skipped")
    command = [kubectl, "kustomize"] if kubectl else [kustomize, "build"]
    result = subprocess.run(
        [*command, str(REPO_ROOT / K8S_DIR)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    import yaml

    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_kustomize_build_puts_the_ingress_with_its_service():
    built = kustomize_build()
    namespace = load_yaml(KUSTOMIZATION)["namespace"]
    by_kind = {}
    for doc in built:
        by_kind.setdefault(doc["kind"], []).append(doc)
    ((ingress,), (service,)) = by_kind["Ingress"], by_kind["Service"]
    assert ingress["metadata"]["namespace"] == service["metadata"]["namespace"] == namespace
    assert_ingress_reaches_the_service(ingress, service)
    assert service["spec"]["type"] == "ClusterIP"
