"""The inference core on the bundled model: predictions, batching, and fail-fast loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.manifest import ModelLoadError, verify_model_dir
from inference.model import SentimentModel

POSITIVE = "This movie was fantastic! The acting was superb and the story kept me hooked until the end."
NEGATIVE = "A dull, lifeless film. The plot made no sense and I wanted to leave after twenty minutes."


def test_clear_positive_and_negative(bundled_model):
    assert bundled_model.predict(POSITIVE).sentiment == "POSITIVE"
    assert bundled_model.predict(NEGATIVE).sentiment == "NEGATIVE"
    assert 0.5 < bundled_model.predict(POSITIVE).confidence <= 1.0


def test_batch_keeps_order_and_answers_each_text_as_if_alone(bundled_model):
    """Dynamic int8 quantization scales activations over a whole run, so a text padded beside others would get
    other probabilities; each text runs alone, and its answer does not depend on its batch-mates."""
    texts = [POSITIVE, NEGATIVE, "ok", NEGATIVE + " " + NEGATIVE, "Loved it.", POSITIVE * 3] * 7
    batch = bundled_model.predict_batch(texts)
    singles = [bundled_model.predict(text) for text in texts]
    assert batch == singles
    assert bundled_model.predict_batch(list(reversed(texts))) == list(reversed(singles))
    padded = bundled_model.probabilities(texts[:6]).max(axis=1)
    assert not np.array_equal(padded, [p.confidence for p in singles[:6]])  # what running them together would do


def test_long_text_is_truncated_to_the_model_limit(bundled_model):
    assert bundled_model.info.max_length <= 512
    prediction = bundled_model.predict("great " * 5000)
    assert prediction.sentiment in bundled_model.info.labels


def test_labels_come_from_config(bundled_model, bundled_model_dir):
    config = json.loads((bundled_model_dir / "config.json").read_text())
    assert set(bundled_model.info.labels) == set(config["id2label"].values()) == {"POSITIVE", "NEGATIVE"}


def test_thread_count_is_applied(bundled_model_dir):
    model = SentimentModel.load(bundled_model_dir, threads=2)
    assert model._session.get_session_options().intra_op_num_threads == 2
    assert model.info.load_seconds > 0


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "config.json", "manifest.json"])
def test_missing_file_names_the_file(model_copy, name):
    (model_copy / name).unlink()
    with pytest.raises(ModelLoadError) as caught:
        SentimentModel.load(model_copy)
    assert str(model_copy / name) in str(caught.value)
    assert "missing" in str(caught.value)


def test_corrupted_weights_fail_the_hash_check(model_copy):
    with (model_copy / "model.onnx").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelLoadError, match=r"model\.onnx: sha256 .* does not match the manifest"):
        SentimentModel.load(model_copy)


def test_malformed_manifest_is_reported(model_copy):
    (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"manifest\.json: not valid JSON"):
        verify_model_dir(model_copy)


def test_unloadable_onnx_with_matching_manifest_is_reported(model_copy):
    from inference.manifest import describe_files

    (model_copy / "model.onnx").write_bytes(b"not an onnx graph")
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["files"] = describe_files(model_copy)
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"model\.onnx: ONNX Runtime cannot load it"):
        SentimentModel.load(model_copy)


def test_config_without_labels_is_reported(model_copy):
    from inference.manifest import describe_files

    config = json.loads((model_copy / "config.json").read_text())
    del config["id2label"]
    (model_copy / "config.json").write_text(json.dumps(config))
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["files"] = describe_files(model_copy)
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"config\.json: has no 'id2label' table"):
        SentimentModel.load(model_copy)


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(ModelLoadError, match="model folder does not exist"):
        SentimentModel.load(tmp_path / "nowhere")
