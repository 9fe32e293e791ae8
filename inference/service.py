"""The prediction service every surface calls: model loading from settings, timing, API responses."""

from __future__ import annotations

import time
from pathlib import Path

from inference.model import Prediction, SentimentModel
from inference.schemas import BatchPredictResponse, Health, PredictResponse
from inference.settings import Settings


def resolve_model_dir(settings: Settings) -> Path:
    """The local model folder: ``MODEL_DIR``, or a verified download of ``MODEL_URI`` (``s3://``) into the cache."""
    if settings.model_uri:
        from inference.s3_model import fetch_model

        return fetch_model(settings.model_uri, settings.model_cache_dir)
    return Path(settings.model_dir)


def load_model(settings: Settings) -> SentimentModel:
    """Load and verify the model the settings name; raises ``ModelLoadError`` naming the file and the reason."""
    return SentimentModel.load(resolve_model_dir(settings), threads=settings.inference_threads)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return round((time.perf_counter() - started) * 1000, 3)


def to_responses(texts: list[str], predictions: list[Prediction], processing_time_ms: float) -> list[PredictResponse]:
    """API responses for texts and their predictions, in order."""
    return [
        PredictResponse(
            text=text,
            sentiment=prediction.sentiment,
            confidence=round(prediction.confidence, 6),
            processing_time_ms=processing_time_ms,
        )
        for text, prediction in zip(texts, predictions, strict=True)
    ]


class SentimentService:
    """Synchronous predictions with timing: the Lambda handlers and the tests use it directly."""

    def __init__(self, model: SentimentModel) -> None:
        self.model = model

    def predict(self, text: str) -> PredictResponse:
        """Classify one text."""
        started = time.perf_counter()
        prediction = self.model.predict(text)
        return to_responses([text], [prediction], elapsed_ms(started))[0]

    def predict_batch(self, texts: list[str]) -> BatchPredictResponse:
        """Classify texts; each prediction carries the batch's processing time."""
        started = time.perf_counter()
        predictions = self.model.predict_batch(texts)
        took = elapsed_ms(started)
        return BatchPredictResponse(predictions=to_responses(texts, predictions, took), processing_time_ms=took)

    def health(self) -> Health:
        """The loaded model's name and version; ready once loaded."""
        return Health(status="ok", ready=True, model_name=self.model.info.name, model_version=self.model.info.version)
