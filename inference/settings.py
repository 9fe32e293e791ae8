"""One settings object for every surface, read from environment variables (pydantic-settings).

Every field, upper-cased, is an environment variable, documented with its default and its bounds in
``docs/settings.md`` (``tests/test_schemas_and_settings.py`` checks that the table and this module agree).
A value out of range or of the wrong type stops start-up with a ``SettingsError``: one line naming the
variable, the value and the rule.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL_DIR = REPO_ROOT / "models" / "minilm-l6-sst2-int8"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs the cgroup's quota allows (quota / period), or ``None`` when there is no quota.

    cgroup v2: ``cpu.max`` holds ``"max 100000"`` (no quota) or ``"<quota> <period>"``. cgroup v1:
    ``cpu/cpu.cfs_quota_us`` (``-1``: no quota) over ``cpu/cpu.cfs_period_us``. Inside a container the
    cgroup namespace puts the container's own cgroup at the root, which is where ECS and Kubernetes set the limit.
    """
    try:
        quota, _, period = (cgroup_root / "cpu.max").read_text().strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may use: its CPU affinity, bounded by the cgroup quota; rounded down, at least 1."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    cpus = affinity if limit is None else min(affinity, limit)
    return max(1, math.floor(cpus))


def quota_cpu_set(cgroup_root: Path = CGROUP_ROOT) -> set[int] | None:
    """The lowest-numbered CPUs of the affinity set, as many as the cgroup quota pays for (rounded up).

    ``None`` when there is no quota or the affinity set is no larger: nothing to pin.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    affinity = sorted(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(cgroup_root)
    wanted = math.ceil(limit) if limit is not None else len(affinity)  # a quota is above 0: at least 1
    return set(affinity[:wanted]) if wanted < len(affinity) else None


def pin_process(cpus: set[int], tasks: Path = Path("/proc/self/task")) -> None:
    """Set the CPU affinity of every thread of this process to ``cpus`` (threads and processes it starts inherit it)."""
    for task in tasks.iterdir():
        os.sched_setaffinity(int(task.name), cpus)


LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def _check_log_level(level: str) -> str:
    """A logging level name in any case, upper-cased (what Powertools and uvicorn both accept)."""
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"should be one of {', '.join(LOG_LEVELS)} (any case)")
    return level.upper()


class SettingsError(ValueError):
    """A setting out of range or of the wrong type; ``str()`` is one line naming the variable, value and rule."""

    @classmethod
    def from_validation_error(cls, error: ValidationError) -> SettingsError:
        """One line for every problem pydantic found, each as ``NAME='value': rule``."""
        problems = []
        for item in error.errors(include_url=False):
            name = ".".join(str(part) for part in item["loc"]).upper() or "SETTINGS"
            rule = item["msg"].removeprefix("Value error, ")
            problems.append(f"{name}={item['input']!r}: {rule}")
        return cls("invalid setting " + "; ".join(problems))


class Settings(BaseSettings):
    """Runtime settings, with their bounds. Field name upper-cased is the environment variable.

    ``Settings()`` reads the environment (values passed as keywords take precedence); empty variables
    count as unset. Bad values raise ``SettingsError``.
    """

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore", protected_namespaces=())

    model_dir: Path = BUNDLED_MODEL_DIR
    model_uri: str = ""  # checked by ``inference.s3_model.fetch_model`` at start-up, with a message naming it
    # /tmp is the one writable mount of the images (their root is read-only).
    model_cache_dir: Path = Path("/tmp/model-cache")  # nosec B108
    max_text_chars: Annotated[int, Field(ge=1, le=1_000_000)] = 20_000
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] = 64
    inference_threads: Annotated[int, Field(ge=1, le=256)] = 1
    micro_batch_max_size: Annotated[int, Field(ge=1, le=1024)] = 32
    micro_batch_wait_ms: Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)] = 0.0
    # Texts admitted and not yet answered per worker; beyond it 429 (docs/overload.md#choosing-the-bound).
    max_inflight_texts: Annotated[int, Field(ge=1, le=100_000)] = 12
    # More texts admitted past it while nothing was refused in the last second: a burst, not a standing queue.
    burst_texts: Annotated[int, Field(ge=0, le=100_000)] = 12
    # Seconds from SIGTERM to exit: admitted requests finish, new ones get 503 (within ECS's and k8s's 30 s).
    drain_grace_seconds: Annotated[float, Field(gt=0.0, le=3600.0, allow_inf_nan=False)] = 25.0
    # Pin the server to the CPUs its quota pays for (quota_cpu_set): only where the task owns its CPUs.
    pin_cpus: bool = False
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    web_concurrency: Annotated[int, Field(ge=1, le=256, default_factory=available_cpus)]
    log_level: Annotated[str, AfterValidator(_check_log_level)] = "INFO"
    powertools_service_name: Annotated[str, Field(min_length=1)] = "sentiment-api"
    powertools_metrics_namespace: Annotated[str, Field(min_length=1, max_length=255)] = "SentimentService"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise SettingsError.from_validation_error(error) from None


def environment_variable_names() -> list[str]:
    """The environment variables the settings object reads."""
    return [name.upper() for name in Settings.model_fields]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment; ``SettingsError`` on a bad value."""
    return Settings()
