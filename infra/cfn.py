"""Read a CloudFormation template offline: the YAML short forms, and the intrinsics the shared templates use.

``Evaluator`` resolves ``Ref``, ``Fn::Sub``, ``Fn::Join``, ``Fn::If`` and the condition functions for given
parameter values, so a test (or the dashboard picture) sees what CloudFormation would send to the service.
Anything else is refused by name rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()  # what AWS::NoValue resolves to: the key or list item disappears
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "sentiment-shared",
}


class CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short forms (``!Ref X``) as ``{"Ref": X}`` / ``{"Fn::X": ...}``."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """A template as data, intrinsics in their long form."""
    # CloudFormationLoader is a SafeLoader subclass.
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)  # nosec B506


class Evaluator:
    """Resolves a template's intrinsics for parameter ``overrides`` (else each parameter's default).

    ``physical`` maps a resource's logical id to what ``Ref`` returns for it."""

    def __init__(
        self,
        template: Mapping[str, Any],
        overrides: Mapping[str, str] | None = None,
        physical: Mapping[str, str] | None = None,
        pseudo: Mapping[str, str] = PSEUDO_PARAMETERS,
    ):
        self.template = template
        overrides = overrides or {}
        self.values: dict[str, Any] = {
            name: overrides.get(name, spec.get("Default")) for name, spec in template.get("Parameters", {}).items()
        }
        missing = [name for name, value in self.values.items() if value is None]
        if missing:
            raise ValueError(f"parameters without a value: {missing}")
        self.values.update(pseudo)
        self.values.update(physical or {})

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.values[arg]
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str({**self.values, **extra}[m.group(1)]), text)
            if key == "Fn::Join":
                return arg[0].join(str(part) for part in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"infra.cfn.Evaluator does not resolve {key}")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Properties of the resources of one type that the conditions create, resolved."""
        return {
            name: self.resolve(resource.get("Properties", {}))
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == kind and ("Condition" not in resource or self.condition(resource["Condition"]))
        }
