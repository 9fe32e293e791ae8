"""AWS operations for the sentiment service: model registry, endpoints, smoke test, releases, metrics.

Run ``python -m ops --help``. Every AWS client comes from ``inference.s3_model.new_client`` (botocore's
standard retry mode, configured there once).
"""
