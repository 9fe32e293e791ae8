"""Load tests, capacity probes and the platform comparison report (``python -m loadtest``)."""
