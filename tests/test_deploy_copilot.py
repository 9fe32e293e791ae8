"""The Copilot workspace: every manifest, and every environment override applied, is valid against the
Copilot JSON schemas in ../shared/schemas/copilot; plus the layout and the spot rule the project fixes.

The schema checks skip (saying so) where ../shared is absent, as in a clone outside this workspace.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.test_consistency import REPO_ROOT, copilot_manifests, copilot_variants, load_yaml, relative

SCHEMA_DIR = REPO_ROOT.parent / "shared" / "schemas" / "copilot"
ENTRY_SCHEMA = "copilot-schema.json"
COPILOT_DIR = REPO_ROOT / "copilot"
# docs/CONVENTIONS.md: the production environment; Fargate Spot is for the others only.
PRODUCTION_ENVIRONMENT = "prod"


class CopilotSchemas:
    """The entry-point schema with its sibling files registered under their file URIs (no network)."""

    def __init__(self, schema_dir: Path) -> None:
        base = schema_dir.resolve().as_uri() + "/"
        self.entry_uri = base + ENTRY_SCHEMA
        documents = {path.name: json.loads(path.read_text()) for path in sorted(schema_dir.glob("*.json"))}
        self.registry = Registry().with_resources(
            (base + name, Resource.from_contents(document, default_specification=DRAFT7))
            for name, document in documents.items()
        )
        # Manifest type -> the schema its oneOf branch refers to, read from the entry point itself.
        self.by_type: dict[str, str] = {}
        for branch in documents[ENTRY_SCHEMA]["oneOf"]:
            parts = branch.get("allOf", [])
            types = [
                p["properties"]["type"]["const"] for p in parts if "const" in p.get("properties", {}).get("type", {})
            ]
            refs = [p["$ref"] for p in parts if "$ref" in p]
            if types and refs:
                self.by_type[types[0]] = base + refs[0].removeprefix("./")

    def errors(self, manifest: Any) -> list[str]:
        """Readable errors; empty when the entry-point schema accepts ``manifest``."""
        entry = jsonschema.Draft7Validator({"$ref": self.entry_uri}, registry=self.registry)
        if entry.is_valid(manifest):
            return []
        # The entry point's oneOf reports every branch; the branch for the manifest's type says what is wrong.
        specific = self.by_type.get(manifest.get("type") if isinstance(manifest, dict) else None)
        validator = jsonschema.Draft7Validator({"$ref": specific}, registry=self.registry) if specific else entry
        found = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
        return [f"{error.json_path}: {error.message}" for error in found] or [
            f"matches no manifest type of {ENTRY_SCHEMA}"
        ]


@cache
def schemas() -> CopilotSchemas:
    """The Copilot schemas, loaded once."""
    return CopilotSchemas(SCHEMA_DIR)


@pytest.fixture
def copilot_schemas() -> CopilotSchemas:
    if not (SCHEMA_DIR / ENTRY_SCHEMA).is_file():
        pytest.skip(f"Copilot schemas not found at {SCHEMA_DIR} (../shared is absent): schema check skipped")
    return schemas()


def manifest_variants() -> list[tuple[str, dict[str, Any]]]:
    """(label, manifest) for every manifest as written and with each environment override applied."""
    variants = []
    for path in copilot_manifests():
        for label, variant in copilot_variants(load_yaml(path)):
            variants.append((f"{relative(path)}{label}", variant))
    return variants


def test_workspace_has_service_and_environment_manifests():
    kinds = {load_yaml(path).get("type") for path in copilot_manifests()}
    assert "Load Balanced Web Service" in kinds, f"no Load Balanced Web Service manifest under {COPILOT_DIR}"
    assert "Environment" in kinds, f"no environment manifest under {COPILOT_DIR}/environments"
    assert load_yaml(COPILOT_DIR / ".workspace").get("application"), "copilot/.workspace names no application"


@pytest.mark.parametrize(("label", "manifest"), manifest_variants(), ids=[label for label, _ in manifest_variants()])
def test_manifest_matches_copilot_schema(copilot_schemas, label, manifest):
    errors = copilot_schemas.errors(manifest)
    assert not errors, f"{label} does not match the Copilot schema:\n" + "\n".join(errors)


def test_schema_check_rejects_a_broken_manifest(copilot_schemas):
    """The validator reports a wrong type and an unknown key (so the check above can fail)."""
    manifest = next(m for p in copilot_manifests() if (m := load_yaml(p)).get("type") != "Environment")
    broken = {**manifest, "cpu": "a lot", "unknown_key": True}
    errors = "\n".join(copilot_schemas.errors(broken))
    assert "$.cpu" in errors and "unknown_key" in errors, errors


@pytest.mark.parametrize("path", copilot_manifests(), ids=lambda p: relative(p))
def test_manifest_name_matches_its_directory(path):
    manifest = load_yaml(path)
    assert manifest["name"] == path.parent.name, f"{relative(path)} is named {manifest['name']!r}"


def test_overrides_name_existing_environments():
    environments = {path.parent.name for path in (COPILOT_DIR / "environments").glob("*/manifest.yml")}
    for path in copilot_manifests():
        overrides = set(load_yaml(path).get("environments") or {})
        assert overrides <= environments, f"{relative(path)} overrides unknown environments {overrides - environments}"


def uses_spot(manifest: dict[str, Any]) -> bool:
    """Whether the manifest places tasks on Fargate Spot."""
    count = manifest.get("count")
    if not isinstance(count, dict):
        return False
    scaling_range = count.get("range")
    return "spot" in count or (isinstance(scaling_range, dict) and "spot_from" in scaling_range)


def test_fargate_spot_only_outside_production():
    for path in copilot_manifests():
        manifest = load_yaml(path)
        if manifest.get("type") == "Environment":
            continue
        variants = dict(copilot_variants(manifest))
        assert not uses_spot(variants[""]), f"{relative(path)}: Spot belongs in a non-production override"
        production = f" (environments.{PRODUCTION_ENVIRONMENT})"
        assert not uses_spot(variants.get(production, {})), f"{relative(path)}{production} runs on Spot"
        non_production = [label for label, variant in variants.items() if label not in ("", production)]
        assert any(uses_spot(variants[label]) for label in non_production), (
            f"{relative(path)}: no non-production environment override uses Fargate Spot"
        )
