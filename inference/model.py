"""Load a verified model folder and classify texts with ONNX Runtime and a `tokenizers` fast tokenizer."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from inference.manifest import ModelLoadError, verify_model_dir

MAX_SEQUENCE_LENGTH = 512
WARM_UP_TEXT = "A warm-up sentence."


class Prediction(NamedTuple):
    """The label with the highest probability, and that probability."""

    sentiment: str
    confidence: float


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, and how long loading took."""

    name: str
    version: str
    model_dir: Path
    max_length: int
    labels: tuple[str, ...]
    load_seconds: float


def _read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelLoadError(path, f"not readable as JSON ({error})") from None
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ModelLoadError(path, "has no 'id2label' table")
    return config


def _load_tokenizer(model_dir: Path, max_length: int) -> Tokenizer:
    path = model_dir / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust library raises plain Exception subclasses
        raise ModelLoadError(path, f"not a valid tokenizers file ({error})") from None
    tokenizer.enable_truncation(max_length=max_length)
    pad_token = "[PAD]" if tokenizer.token_to_id("[PAD]") is not None else "<pad>"
    pad_id = tokenizer.token_to_id(pad_token)
    tokenizer.enable_padding(pad_id=pad_id or 0, pad_token=pad_token)
    return tokenizer


def _load_session(model_dir: Path, threads: int) -> ort.InferenceSession:
    path = model_dir / "model.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise ModelLoadError(path, f"ONNX Runtime cannot load it ({error})") from None


class SentimentModel:
    """A text classifier: tokenizer + ONNX Runtime session + labels from ``id2label``."""

    def __init__(self, tokenizer: Tokenizer, session: ort.InferenceSession, labels: tuple[str, ...], info: ModelInfo):
        self._tokenizer = tokenizer
        self._session = session
        self._labels = labels
        self._input_names = {node.name for node in session.get_inputs()}
        self.info = info

    @classmethod
    def load(cls, model_dir: Path | str, threads: int = 1) -> SentimentModel:
        """Verify ``model_dir`` against its manifest, load it and run one warm-up prediction."""
        started = time.perf_counter()
        model_dir = Path(model_dir)
        manifest = verify_model_dir(model_dir)
        return cls.from_files(model_dir, threads, manifest, started)

    @classmethod
    def from_files(
        cls, model_dir: Path, threads: int = 1, manifest: dict[str, Any] | None = None, started: float | None = None
    ) -> SentimentModel:
        """Load ``model_dir`` without checking hashes (the model pipeline does this before a manifest exists)."""
        started = time.perf_counter() if started is None else started
        manifest = manifest or {}
        config = _read_config(model_dir)
        labels = tuple(config["id2label"][key] for key in sorted(config["id2label"], key=int))
        limit = manifest.get("max_length") or config.get("max_position_embeddings") or MAX_SEQUENCE_LENGTH
        max_length = min(int(limit), MAX_SEQUENCE_LENGTH)
        tokenizer = _load_tokenizer(model_dir, max_length)
        session = _load_session(model_dir, threads)
        info = ModelInfo(
            name=str(manifest.get("name", model_dir.name)),
            version=str(manifest.get("version", "unversioned")),
            model_dir=model_dir,
            max_length=max_length,
            labels=labels,
            load_seconds=0.0,
        )
        model = cls(tokenizer, session, labels, info)
        model.predict_batch([WARM_UP_TEXT])
        model.info = replace(info, load_seconds=time.perf_counter() - started)
        return model

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Softmax probabilities, one row per text, columns in ``id2label`` order; padded to the batch's longest."""
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64)}
        if "attention_mask" in self._input_names:
            feeds["attention_mask"] = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (logits,) = self._session.run(["logits"], feeds)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, text: str) -> Prediction:
        """Classify one text."""
        return self.predict_batch([text])[0]

    def text_probabilities(self, texts: list[str]) -> np.ndarray:
        """``probabilities`` of each text in a run of its own, in order: what the service answers.

        No row is padded, and a text's answer does not depend on the texts it arrives with (dynamic int8
        quantization scales activations over a whole run, padding included). On one thread this is also the
        fastest way to run a batch: ``make bench-batching`` and docs/model.md#batch-size-and-padding.
        """
        result = np.empty((len(texts), len(self._labels)), dtype=np.float32)
        for index, text in enumerate(texts):
            result[index] = self.probabilities([text])[0]
        return result

    def predict_batch(self, texts: list[str]) -> list[Prediction]:
        """Classify texts, in order, each in a run of its own (``text_probabilities``)."""
        probabilities = self.text_probabilities(texts)
        best = probabilities.argmax(axis=1)
        return [Prediction(self._labels[b], float(row[b])) for row, b in zip(probabilities, best, strict=True)]
