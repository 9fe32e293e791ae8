"""Batch concurrent requests into one model call, off the event loop.

One worker thread owns the model. Requests queue up while it runs; it then takes everything queued
(up to ``max_batch_size`` texts) as the next batch, and hands ``predict_batch`` the lot (which runs each text
alone: ``SentimentModel.text_probabilities``). At low load a request runs at once; under load, the thread
hand-offs and the calls into the model are shared by many texts. ``max_wait_ms`` optionally waits for more
requests before a batch starts (0: never wait).

The worker thread runs ``MODEL_THREAD_NICENESS`` steps below the event loop's priority: where the two share a
CPU, what the loop answers without the model (a 429, ``/health``) does not wait behind a batch. ``on_run``, if
given, is called in that thread after each batch with its number of texts and the thread's CPU seconds on it.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inference.model import Prediction, SentimentModel

_STOP = object()
MODEL_THREAD_NICENESS = 10


def lower_this_threads_priority(steps: int = MODEL_THREAD_NICENESS) -> None:
    """Raise the calling thread's nice value by ``steps`` (Linux: per thread; elsewhere nothing)."""
    try:
        thread_id = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread_id, os.getpriority(os.PRIO_PROCESS, thread_id) + steps)
    except (AttributeError, OSError):  # no per-thread priority here: the thread keeps the process's
        pass


@dataclass
class _Job:
    texts: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Prediction]] = field(repr=False)


class MicroBatcher:
    """Runs ``model.predict_batch`` on batches gathered from concurrent callers."""

    def __init__(
        self,
        model: SentimentModel,
        max_batch_size: int = 32,
        max_wait_ms: float = 0.0,
        on_run: Callable[[int, float], None] | None = None,
    ) -> None:
        self.model = model
        self.on_run = on_run
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._thread.start()

    async def predict(self, texts: list[str]) -> list[Prediction]:
        """Predictions for ``texts``, in order, computed in a batch with other callers' texts."""
        loop = asyncio.get_running_loop()
        job = _Job(texts, loop, loop.create_future())
        self._jobs.put(job)
        return await job.future

    def close(self) -> None:
        """Stop the worker thread after the jobs already queued."""
        self._jobs.put(_STOP)
        self._thread.join(timeout=5)

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, size = [first], len(first.texts)
        deadline = time.perf_counter() + self.max_wait_s
        while size < self.max_batch_size:
            try:
                remaining = deadline - time.perf_counter()
                job = self._jobs.get(timeout=remaining) if remaining > 0 else self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)  # type: ignore[arg-type]
            size += len(job.texts)  # type: ignore[union-attr]
        return jobs, False

    def _run(self) -> None:
        lower_this_threads_priority()
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is _STOP:
                return
            jobs, stopping = self._gather(first)  # type: ignore[arg-type]
            texts = [text for job in jobs for text in job.texts]
            started = time.thread_time()
            try:
                predictions = self.model.predict_batch(texts)
            except Exception as error:  # hand the failure to every waiting caller
                for job in jobs:
                    job.loop.call_soon_threadsafe(_set_exception, job.future, error)
                continue
            if self.on_run is not None:
                self.on_run(len(texts), time.thread_time() - started)
            offset = 0
            for job in jobs:
                part = predictions[offset : offset + len(job.texts)]
                offset += len(job.texts)
                job.loop.call_soon_threadsafe(_set_result, job.future, part)


def _set_result(future: asyncio.Future, value: list[Prediction]) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
