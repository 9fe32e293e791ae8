"""The FastAPI service around the inference core."""
