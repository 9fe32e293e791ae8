"""Serving never imports the training stack."""

from __future__ import annotations

import subprocess
import sys

from inference.settings import REPO_ROOT

HEAVY = ("torch", "transformers", "optimum")


def test_inference_and_the_app_import_no_training_stack(bundled_model_dir):
    code = (
        "import sys, inference, inference.model, inference.service, inference.batcher, container.app\n"
        "from container.app import BatchingService\n"
        "from inference.settings import get_settings\n"
        "service = BatchingService(get_settings())\n"
        "service.sync.predict('warm')\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
