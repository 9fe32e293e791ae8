"""Model folders and their manifests: what must be there, and proof that it is what was validated."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "config.json")


class ModelLoadError(RuntimeError):
    """A model folder is missing a file, or a file is not what its manifest says."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"cannot load model: {path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(model_dir: Path, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` for the given files (default: every file but the manifest)."""
    if names is None:
        names = sorted(p.name for p in model_dir.iterdir() if p.is_file() and p.name != MANIFEST_FILE)
    return {
        name: {"sha256": sha256_file(model_dir / name), "bytes": (model_dir / name).stat().st_size} for name in names
    }


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """Parse ``manifest.json``, failing with the file and the reason when it is absent or malformed."""
    if not model_dir.is_dir():
        raise ModelLoadError(model_dir, "model folder does not exist")
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        raise ModelLoadError(path, "file is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(path, f"not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ModelLoadError(path, "has no 'files' table of sha256 hashes")
    return manifest


def verify_model_dir(model_dir: Path) -> dict[str, Any]:
    """Check that every required file exists and every listed file matches its sha256; return the manifest."""
    manifest = read_manifest(model_dir)
    listed = manifest["files"]
    for name in REQUIRED_FILES:
        if name not in listed:
            raise ModelLoadError(model_dir / MANIFEST_FILE, f"does not list required file {name}")
    for name, expected in listed.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelLoadError(path, "file is missing")
        actual = sha256_file(path)
        if actual != expected.get("sha256"):
            raise ModelLoadError(path, f"sha256 {actual} does not match the manifest's {expected.get('sha256')}")
    return manifest
