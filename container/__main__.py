"""``python -m container``: serve the API with uvicorn on ``HOST``:``PORT`` with ``WEB_CONCURRENCY`` workers.

The settings are checked and the model folder is verified before the server starts, so a bad setting or a
missing or broken model stops start-up at once with one line naming the variable (or file) and the reason.

With ``PIN_CPUS=true`` and a cgroup CPU quota smaller than the CPUs it may run on, the server pins itself to
as many CPUs as the quota pays for: its threads then never run on more CPUs at once than the quota allows, so
the kernel does not throttle the whole task for the rest of a CFS period under load.

On SIGTERM each worker drains (``container/admission.py``), then uvicorn shuts down; uvicorn then raises the
signal again for the handler that was there before it, which here ends the process with status 0.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile

import uvicorn

from container.admission import SHUTDOWN_AFTER_DRAIN_S
from inference.manifest import ModelLoadError, verify_model_dir
from inference.service import resolve_model_dir
from inference.settings import SettingsError, get_settings, pin_process, quota_cpu_set


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)  # a stop asked for, and done: before uvicorn starts, or once it has drained and shut down


def main() -> int:
    """Check the settings and verify the model, then run uvicorn."""
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        settings = get_settings()
        model_dir = resolve_model_dir(settings)
        verify_model_dir(model_dir)
    except (SettingsError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if settings.web_concurrency > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
    pinned = quota_cpu_set() if settings.pin_cpus else None
    if pinned:
        pin_process(pinned)
    on_cpus = f", pinned to CPU {','.join(map(str, sorted(pinned)))}" if pinned else ""
    print(
        f"serving {model_dir} on http://{settings.host}:{settings.port} ({settings.web_concurrency} worker(s){on_cpus})"
    )
    uvicorn.run(
        "container.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_AFTER_DRAIN_S,
        loop="uvloop",
        http="httptools",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
