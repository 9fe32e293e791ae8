"""Rich output: tables on stdout, progress bars and messages on stderr (so ``--json`` stdout stays clean)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

# Piped output (files, CI logs) gets a wide table instead of rich's 80-column default.
PIPED_WIDTH = 160
STDOUT = Console()
if not STDOUT.is_terminal:
    STDOUT = Console(width=PIPED_WIDTH)
STDERR = Console(stderr=True, soft_wrap=True)


class RichTransferProgress:
    """A byte progress bar per transfer, drawn on stderr; use it as a context manager."""

    def __init__(self, console: Console = STDERR) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichTransferProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._progress.stop()

    def start(self, description: str, total_bytes: int) -> None:
        """Begin a bar of ``total_bytes`` (the display starts with the first bar)."""
        if self._task is None:
            self._progress.start()
        self._task = self._progress.add_task(description, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        """Move the current bar by ``nbytes``."""
        if self._task is not None:
            self._progress.advance(self._task, nbytes)
