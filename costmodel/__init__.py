"""Cost model and decision framework: monthly cost of serving the sentiment model on Lambda, ECS Fargate
and EKS for a traffic profile, the exact volumes where the cheapest platform changes, and a recommendation
that also weighs the p99 latency SLO and cold starts.

Run ``python -m costmodel --help``. The formulas are in `costmodel.model` (and the README's "Cost model"
section); prices in `costmodel/pricing/us-east-1.yaml`; assumed service inputs in `costmodel.service`.
"""
