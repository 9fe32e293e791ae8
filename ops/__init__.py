"""AWS operations for the sentiment service: model registry, endpoints, smoke test, releases, metrics.

Run ``python -m ops --help``. Every AWS call goes through boto3 with ``inference.s3_model.RetryPolicy``.
"""
