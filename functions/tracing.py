"""The X-Ray tracer, without the X-Ray SDK's import cost where tracing is off.

Powertools' ``Tracer`` imports ``aws_xray_sdk.core`` (and botocore with it, a few hundred milliseconds of
init) even when tracing is disabled. Where tracing is off, by Powertools' own rules (``POWERTOOLS_TRACE_DISABLED``
set, or not running in Lambda, or running under ``sam local``), the tracer gets a do-nothing provider
instead, so the SDK is never imported. In Lambda with tracing on, it is the ordinary X-Ray tracer.
"""

from __future__ import annotations

import numbers
import os
import traceback
from collections.abc import Generator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class DisabledSegment(BaseSegment):
    """A segment that records nothing."""

    def close(self, end_time: int | None = None) -> None:
        """Nothing to close."""

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to add to."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to remove from."""

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        """Annotations are dropped."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Metadata is dropped."""

    def add_exception(self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False):
        """Exceptions are not recorded (they still propagate)."""


class DisabledProvider(BaseProvider):
    """A tracing provider that records nothing and imports nothing."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        """A subsegment that records nothing."""
        yield DisabledSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any):
        """An async subsegment that records nothing."""
        yield DisabledSegment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        """Annotations are dropped."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Metadata is dropped."""

    def patch(self, modules: Sequence[str]) -> None:
        """Nothing is patched."""

    def patch_all(self) -> None:
        """Nothing is patched."""


def tracing_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether Powertools would disable tracing: ``POWERTOOLS_TRACE_DISABLED``, outside Lambda, or ``sam local``."""
    environ = os.environ if environ is None else environ
    try:
        if strtobool(environ.get(constants.TRACER_DISABLED_ENV, "false")):
            return True
    except ValueError:
        pass
    outside_lambda = not environ.get(constants.LAMBDA_TASK_ROOT_ENV)
    emulated = bool(environ.get(constants.SAM_LOCAL_ENV) or environ.get(constants.CHALICE_LOCAL_ENV))
    return outside_lambda or emulated


def make_tracer(service: str) -> Tracer:
    """An X-Ray tracer for ``service`` that patches nothing; a do-nothing one where tracing is off."""
    if tracing_disabled():
        return Tracer(service=service, disabled=True, auto_patch=False, provider=DisabledProvider())
    return Tracer(service=service, auto_patch=False)
