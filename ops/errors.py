"""The one exception type the command line turns into a one-line message."""

from __future__ import annotations


class OpsError(RuntimeError):
    """An operation failed for a reason the user can act on; the message says which and why."""
