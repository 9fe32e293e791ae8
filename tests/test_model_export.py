"""The model pipeline end to end on a tiny DistilBERT built from DistilBertConfig: export, quantize, validate."""

from __future__ import annotations

import json

import pytest

from inference.manifest import verify_model_dir
from inference.model import SentimentModel
from inference.settings import REPO_ROOT
from model_export.__main__ import main as model_export_main

SENTENCES = [
    ("a gripping , beautifully acted film", 1),
    ("tedious and far too long", 0),
    ("the best thing i have seen all year", 1),
    ("a mess from start to finish", 0),
    ("warm , funny and wise", 1),
    ("flat jokes and a lazy script", 0),
] * 4


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Run every step through the command line, as a user would."""
    root = tmp_path_factory.mktemp("pipeline")
    data = root / "dev.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in SENTENCES))
    checkpoint, fp32, int8 = root / "checkpoint", root / "fp32", root / "int8"
    assert model_export_main(["random-checkpoint", "--size", "tiny", "--output", str(checkpoint)]) == 0
    assert model_export_main(["export", str(checkpoint), "--output", str(fp32)]) == 0
    assert model_export_main(["quantize", str(fp32), "--output", str(int8), "--arch", "arm64"]) == 0
    assert model_export_main(["validate", "--fp32", str(fp32), "--int8", str(int8), "--data", str(data)]) == 0
    return {"root": root, "data": data, "checkpoint": checkpoint, "fp32": fp32, "int8": int8}


def test_export_writes_an_fp32_graph_with_the_distilbert_inputs(pipeline):
    import onnx

    graph = onnx.load(str(pipeline["fp32"] / "model.onnx")).graph
    assert [node.name for node in graph.input] == ["input_ids", "attention_mask"]
    assert [node.name for node in graph.output] == ["logits"]


def test_quantize_makes_int8_weights(pipeline):
    import onnx

    graph = onnx.load(str(pipeline["int8"] / "model.onnx")).graph
    operators = {node.op_type for node in graph.node}
    assert "DynamicQuantizeLinear" in operators or "MatMulInteger" in operators
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights


def test_validate_writes_a_complete_manifest(pipeline):
    manifest = json.loads((pipeline["int8"] / "manifest.json").read_text())
    validation = manifest["validation"]
    assert validation["examples"] == len(SENTENCES)
    for key in ("fp32_accuracy", "int8_accuracy", "label_agreement"):
        assert 0.0 <= validation[key] <= 1.0
    assert validation["max_probability_difference"] >= 0
    assert validation["int8_latency_ms"]["p99"] >= validation["int8_latency_ms"]["p50"] > 0
    assert manifest["labels"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert manifest["quantization"]["arch"] == "arm64" and manifest["quantization"]["per_channel"] is True
    # Recorded relative to the checkout (or absolute): the same folder wherever the checkout lives.
    recorded = REPO_ROOT / manifest["source_checkpoint"]
    assert recorded.resolve() == pipeline["checkpoint"].resolve(), manifest["source_checkpoint"]
    assert {"onnxruntime", "optimum", "transformers", "torch", "tokenizers"} <= set(manifest["tool_versions"])
    assert set(manifest["files"]) >= {"model.onnx", "tokenizer.json", "config.json"}
    assert not (pipeline["int8"] / "provenance.json").exists()


def test_the_result_is_a_servable_model_folder(pipeline):
    verify_model_dir(pipeline["int8"])
    model = SentimentModel.load(pipeline["int8"])
    assert model.predict("a fine film").sentiment in {"POSITIVE", "NEGATIVE"}
    assert model.info.max_length == 128


def test_arch_maps_to_the_matching_optimum_config():
    from onnxruntime.quantization import QuantType

    from model_export.quantize import quantization_config

    arm64, x86 = quantization_config("arm64"), quantization_config("x86")
    assert arm64.weights_dtype == QuantType.QInt8 and arm64.per_channel
    assert not arm64.is_static and not x86.is_static
    assert quantization_config("x86", per_channel=False).per_channel is False
    with pytest.raises(ValueError, match="unknown arch"):
        quantization_config("riscv")


def test_missing_data_is_a_clean_error(pipeline, capsys):
    code = model_export_main(
        [
            "validate",
            "--fp32",
            str(pipeline["fp32"]),
            "--int8",
            str(pipeline["int8"]),
            "--data",
            str(pipeline["root"] / "absent.tsv"),
        ]
    )
    assert code == 2
    assert "labeled TSV not found" in capsys.readouterr().err


def test_excluded_nodes_stay_fp32(pipeline, tmp_path):
    import onnx

    from model_export.quantize import quantize_onnx

    pattern = r"attention/MatMul(_1)?$|layer\.0/ffn/lin1/MatMul$"
    quantize_onnx(pipeline["fp32"], tmp_path / "int8", exclude_nodes=pattern)
    graph = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph
    kept = {node.name for node in graph.node if node.op_type == "MatMul"}
    assert "/distilbert/transformer/layer.0/ffn/lin1/MatMul" in kept
    assert "/distilbert/transformer/layer.1/attention/MatMul_1" in kept
    assert "/distilbert/transformer/layer.1/ffn/lin1/MatMul" not in kept
    provenance = json.loads((tmp_path / "int8" / "provenance.json").read_text())
    assert len(provenance["quantization"]["fp32_nodes"]) == 5
    with pytest.raises(ValueError, match="matches no node"):
        quantize_onnx(pipeline["fp32"], tmp_path / "other", exclude_nodes="no-such-node")


def test_validating_again_keeps_the_provenance(pipeline):
    before = json.loads((pipeline["int8"] / "manifest.json").read_text())
    args = [
        "validate",
        "--fp32",
        str(pipeline["fp32"]),
        "--int8",
        str(pipeline["int8"]),
        "--data",
        str(pipeline["data"]),
    ]
    assert model_export_main(args) == 0
    after = json.loads((pipeline["int8"] / "manifest.json").read_text())
    for key in ("source_checkpoint", "training", "quantization", "export", "files"):
        assert after[key] == before[key], key
