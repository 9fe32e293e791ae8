"""The comparison baseline: a seed-style FastAPI server running PyTorch FP32 DistilBERT inline.

It is deliberately the naive design the project replaces: an ``async def`` route that tokenizes to a fixed
512 tokens (``padding="max_length"``) and runs the model on the event loop, one request at a time, with
transformers and torch defaults. The checkpoint has random weights (``python -m model_export
random-checkpoint --size base``): predictions mean nothing, timings are those of DistilBERT-base. It serves
the API contract of ``inference/schemas.py`` so the same load test checks it.

``python -m loadtest.baseline_server --checkpoint build/distilbert-base-random --port 8090``
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

from inference.schemas import BatchPredictRequest, BatchPredictResponse, Health, PredictRequest, PredictResponse

NAIVE_MAX_LENGTH = 512


def create_app(checkpoint: Path):
    """The baseline FastAPI app with the checkpoint loaded."""
    import torch
    from fastapi import FastAPI
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    max_length = min(NAIVE_MAX_LENGTH, model.config.max_position_embeddings)
    accepted = set(inspect.signature(model.forward).parameters)  # DistilBERT takes no token_type_ids
    labels = model.config.id2label
    app = FastAPI(title="Baseline sentiment API (PyTorch FP32, naive)")

    def classify(texts: list[str]) -> list[tuple[str, float]]:
        encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        inputs = {name: tensor for name, tensor in encoded.items() if name in accepted}
        with torch.no_grad():
            probabilities = torch.softmax(model(**inputs).logits, dim=-1)
        best = probabilities.argmax(dim=-1)
        return [(labels[int(index)], float(probabilities[row, index])) for row, index in enumerate(best)]

    @app.post("/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest) -> PredictResponse:
        started = time.perf_counter()
        ((sentiment, confidence),) = classify([body.text])
        took = round((time.perf_counter() - started) * 1000, 3)
        return PredictResponse(text=body.text, sentiment=sentiment, confidence=confidence, processing_time_ms=took)

    @app.post("/predict/batch", response_model=BatchPredictResponse)
    async def predict_batch(body: BatchPredictRequest) -> BatchPredictResponse:
        started = time.perf_counter()
        results = classify(body.texts)
        took = round((time.perf_counter() - started) * 1000, 3)
        predictions = [
            PredictResponse(text=text, sentiment=sentiment, confidence=confidence, processing_time_ms=took)
            for text, (sentiment, confidence) in zip(body.texts, results, strict=True)
        ]
        return BatchPredictResponse(predictions=predictions, processing_time_ms=took)

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok", ready=True, model_name=f"baseline:{checkpoint.name}", model_version="random-weights")

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the baseline with uvicorn (one worker)."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.baseline_server", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="build/distilbert-base-random", help="transformers checkpoint folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        print(
            f"error: {checkpoint}: no checkpoint there; make one with: python -m model_export random-checkpoint "
            f"--size base --output {checkpoint}",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    uvicorn.run(create_app(checkpoint), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
