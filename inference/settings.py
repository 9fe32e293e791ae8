"""One settings object for every surface, read from environment variables.

Every variable is documented in the README's "Settings" table; `tests/test_settings.py` checks that
the table and this module agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL_DIR = REPO_ROOT / "models" / "minilm-l6-sst2-int8"


@dataclass(frozen=True)
class Settings:
    """Runtime settings. Field name upper-cased is the environment variable."""

    model_dir: Path = BUNDLED_MODEL_DIR
    model_uri: str = ""
    model_cache_dir: Path = Path("/tmp/model-cache")
    max_text_chars: int = 20_000
    max_batch_size: int = 64
    inference_threads: int = 1
    micro_batch_max_size: int = 32
    micro_batch_wait_ms: float = 0.0
    # Texts admitted and not yet answered per worker; beyond it 429 (container/admission.py says how it was chosen).
    max_inflight_texts: int = 8
    # Seconds from SIGTERM to exit: admitted requests finish, new ones get 503 (within ECS's and k8s's 30 s).
    drain_grace_seconds: float = 25.0
    host: str = "127.0.0.1"
    port: int = 8080
    web_concurrency: int = 1
    log_level: str = "INFO"
    powertools_service_name: str = "sentiment-api"
    powertools_metrics_namespace: str = "SentimentService"

    def __post_init__(self) -> None:
        if self.max_inflight_texts < 1:
            raise ValueError(f"MAX_INFLIGHT_TEXTS={self.max_inflight_texts}: must be at least 1")
        if not 0 < self.drain_grace_seconds <= 3600:
            raise ValueError(f"DRAIN_GRACE_SECONDS={self.drain_grace_seconds:g}: must be above 0 and at most 3600")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``), converting each value to its field's type."""
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            raw = environ.get(spec.name.upper())
            if raw is None or raw == "":
                continue
            convert = type(spec.default)
            try:
                values[spec.name] = convert(raw)
            except ValueError as error:
                raise ValueError(f"environment variable {spec.name.upper()}={raw!r}: {error}") from error
        return cls(**values)


def environment_variable_names() -> list[str]:
    """The environment variables the settings object reads."""
    return [spec.name.upper() for spec in fields(Settings)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()
