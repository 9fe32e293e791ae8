"""Operations for the sentiment service: model registry, endpoint discovery, smoke test, releases.

Failures print one ``error: ...`` line on stderr and exit 1 (argument mistakes exit 2, from argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.filesize import decimal
from rich.table import Table

from inference.manifest import ModelLoadError
from inference.s3_model import new_client
from ops import endpoints, registry, release, smoke
from ops.console import STDERR, STDOUT, RichTransferProgress
from ops.errors import OpsError
from ops.metrics import DEFAULT_NAMESPACE

if TYPE_CHECKING:
    from botocore.client import BaseClient

ClientFactory = Callable[[str], "BaseClient"]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def cmd_publish(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Upload a verified model folder under its version."""
    with RichTransferProgress() as progress:
        location = registry.publish(args.model_dir, args.destination, clients("s3"), progress)
    STDOUT.print(f"published {location.uri}")
    STDOUT.print(f"MODEL_URI={location.uri}", highlight=False)
    return 0


def cmd_list(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Show published versions with accuracy and size."""
    versions = registry.list_versions(args.location, clients("s3"))
    if args.json:
        print(json.dumps([version.to_dict() for version in versions], indent=2))
        return 0
    if not versions:
        STDOUT.print(f"no versions under {args.location}")
        return 0
    table = Table(
        title=f"Model versions in {args.location}", caption=f"MODEL_URI={args.location.rstrip('/')}/<version>"
    )
    table.add_column("version", no_wrap=True)
    table.add_column("name")
    table.add_column("created")
    for column in ("int8 acc", "fp32 acc", "agreement", "files", "size"):
        table.add_column(column, justify="right", no_wrap=True)
    for version in versions:
        if not version.complete:
            table.add_row(version.version, "(incomplete: no manifest)")
            continue
        table.add_row(
            version.version,
            version.name,
            version.created,
            _percent(version.int8_accuracy),
            _percent(version.fp32_accuracy),
            _percent(version.label_agreement),
            str(version.files),
            decimal(version.size_bytes),
        )
    STDOUT.print(table)
    return 0


def cmd_fetch(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Download a version and verify every hash."""
    with RichTransferProgress() as progress:
        manifest = registry.fetch(args.source, args.destination, clients("s3"), progress)
    STDOUT.print(f"fetched {manifest.get('version')} into {args.destination}: {len(manifest['files'])} files verified")
    return 0


def cmd_endpoints(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Print the Lambda API URL and the ECS (Copilot) service URL."""
    found = endpoints.discover(
        clients("cloudformation"),
        sam_stack=args.stack,
        copilot_app=args.copilot_app,
        copilot_env=args.env,
        copilot_service=args.service,
    )
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for platform, url in found.items():
            print(f"{platform}\t{url}")
    return 0


def cmd_dashboard_url(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Print the CloudWatch dashboard URL of the shared stack."""
    print(endpoints.dashboard_url(clients("cloudformation"), args.stack))
    return 0


def cmd_smoke(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Check a deployed endpoint; exit 1 when any check fails."""
    results = smoke.run_smoke(args.url, args.latency_budget_ms, args.timeout)
    passed = sum(result.passed for result in results)
    if args.json:
        print(json.dumps({"url": args.url, "passed": passed == len(results), "checks": [r.to_dict() for r in results]}))
    else:
        table = Table(title=f"Smoke test of {args.url}")
        table.add_column("check")
        table.add_column("result")
        table.add_column("latency ms", justify="right")
        table.add_column("detail")
        for result in results:
            latency = "-" if result.latency_ms is None else f"{result.latency_ms:.1f}"
            verdict = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
            table.add_row(result.name, verdict, latency, result.detail)
        STDOUT.print(table)
        STDOUT.print(f"{passed}/{len(results)} checks passed")
    return 0 if passed == len(results) else 1


def _metric_line(metric: release.MetricOutcome | None) -> str:
    if metric is None:
        return ""
    return f"recorded {metric.name}" if metric.name else f"warning: {metric.error}"


def _wait(args: argparse.Namespace) -> release.Wait:
    return release.Wait(timeout_s=args.wait_timeout, interval_s=args.poll_interval)


def cmd_release_ecs(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Force a new ECS deployment and wait for it to settle."""
    outcome = release.release_ecs(
        clients("ecs"), clients("cloudwatch"), args.cluster, args.service, _wait(args), args.metrics_namespace
    )
    STDOUT.print(
        f"{args.service} in {args.cluster} is stable: deployment {outcome.deployment_id}, "
        f"{outcome.task_definition}, {outcome.running_count} task(s) running"
    )
    (STDOUT if outcome.metric and outcome.metric.name else STDERR).print(_metric_line(outcome.metric))
    return 0


def cmd_status_lambda(args: argparse.Namespace, clients: ClientFactory) -> int:
    """What the alias serves and which CodeDeploy deployment is in progress (read only)."""
    status = release.lambda_status(clients("cloudformation"), clients("lambda"), clients("codedeploy"), args.stack)
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
        return 0
    target = status.target
    shares = "".join(f", version {version} gets {weight:.0%}" for version, weight in status.additional_weights.items())
    STDOUT.print(f"{target.function}:{target.alias} serves version {status.version}{shares}", highlight=False)
    if not status.in_progress:
        STDOUT.print(f"no CodeDeploy deployment in progress ({target.application} / {target.deployment_group})")
    for deployment in status.in_progress:
        STDOUT.print(
            f"CodeDeploy deployment {deployment.deployment_id}: {deployment.status} since {deployment.created}",
            highlight=False,
        )
    return 0


def cmd_rollback_lambda(args: argparse.Namespace, clients: ClientFactory) -> int:
    """Stop the in-progress CodeDeploy deployment with rollback (or explain how to redeploy a release)."""
    outcome = release.rollback_lambda(clients("cloudformation"), clients("codedeploy"), args.stack)
    for stopped in outcome.stopped:
        detail = f": {stopped.message}" if stopped.message else ""
        STDOUT.print(
            f"stopped CodeDeploy deployment {stopped.deployment_id} with rollback ({stopped.status}{detail})",
            highlight=False,
        )
    target = outcome.target
    STDOUT.print(
        f"CodeDeploy moves {target.function}:{target.alias} back; the stack update rolls back", highlight=False
    )
    STDOUT.print(f"follow it with: python -m ops status lambda --stack {args.stack}", highlight=False)
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _add_sam_stack(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="SAM stack name (a stack_name in samconfig.toml)")


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    wait = release.Wait()
    parser.add_argument(
        "--wait-timeout", type=_positive_float, default=wait.timeout_s, help="seconds to wait (default %(default)g)"
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=wait.interval_s,
        help="seconds between checks of the waiter (default %(default)g)",
    )


def _add_namespace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-namespace",
        default=DEFAULT_NAMESPACE,
        help=f"CloudWatch namespace for the deployment metrics (default {DEFAULT_NAMESPACE})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__.splitlines()[0])
    parser.add_argument("--region", help="AWS region (default: the AWS_REGION / AWS_DEFAULT_REGION / profile one)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    publish = commands.add_parser("publish", help="upload a verified model folder under its version")
    publish.add_argument("model_dir", type=Path, help="model folder with manifest.json")
    publish.add_argument("destination", help="s3://bucket/prefix (the version is appended)")
    publish.set_defaults(handler=cmd_publish)

    listing = commands.add_parser("list", help="show published versions with accuracy and size")
    listing.add_argument("location", help="s3://bucket/prefix")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=cmd_list)

    fetch = commands.add_parser("fetch", help="download a version and verify every hash")
    fetch.add_argument("source", help="s3://bucket/prefix/version (as list shows)")
    fetch.add_argument("destination", type=Path, help="new local folder")
    fetch.set_defaults(handler=cmd_fetch)

    found = commands.add_parser("endpoints", help="print the Lambda API URL and the Copilot service URL")
    found.add_argument("--stack", help="SAM stack name (reads output ApiUrl)")
    found.add_argument("--copilot-app", help="Copilot application name")
    found.add_argument("--env", help="Copilot environment name")
    found.add_argument("--service", default=endpoints.DEFAULT_COPILOT_SERVICE, help="Copilot service (default api)")
    found.add_argument("--json", action="store_true", help='JSON {"lambda": url, "ecs": url}')
    found.set_defaults(handler=cmd_endpoints)

    dashboard = commands.add_parser("dashboard-url", help="print the CloudWatch dashboard URL of the shared stack")
    dashboard.add_argument("--stack", required=True, help="shared stack name (reads output DashboardName)")
    dashboard.set_defaults(handler=cmd_dashboard_url)

    check = commands.add_parser("smoke", help="health, predictions, batch and a bad request against URL")
    check.add_argument("url", help="base URL, e.g. http://127.0.0.1:8080 or the API Gateway stage URL")
    check.add_argument("--latency-budget-ms", type=_positive_float, help="fail any request slower than this")
    check.add_argument("--timeout", type=_positive_float, default=10.0, help="seconds per request (default 10)")
    check.add_argument("--json", action="store_true", help="JSON instead of a table")
    check.set_defaults(handler=cmd_smoke)

    releases = commands.add_parser(
        "release",
        help="redeploy the ECS service (the Lambda is released with sam build && sam deploy)",
        description="ECS: force a new deployment and wait until it is stable. The Lambda function's alias belongs "
        "to its SAM stack: release it with `sam build && sam deploy` (CodeDeploy shifts the traffic).",
    )
    targets = releases.add_subparsers(dest="platform", required=True, metavar="PLATFORM")
    to_ecs = targets.add_parser("ecs", help="force a new deployment and wait until the service is stable")
    to_ecs.add_argument("--cluster", required=True, help="ECS cluster name or ARN")
    to_ecs.add_argument("--service", required=True, help="ECS service name or ARN")
    _add_wait_options(to_ecs)
    _add_namespace(to_ecs)
    to_ecs.set_defaults(handler=cmd_release_ecs)

    status = commands.add_parser("status", help="what the Lambda alias serves and its CodeDeploy deployment")
    status_targets = status.add_subparsers(dest="platform", required=True, metavar="PLATFORM")
    status_lambda = status_targets.add_parser("lambda", help="read the SAM stack's alias and CodeDeploy deployments")
    _add_sam_stack(status_lambda)
    status_lambda.add_argument("--json", action="store_true", help="JSON instead of text")
    status_lambda.set_defaults(handler=cmd_status_lambda)

    rollback = commands.add_parser("rollback", help="roll back the Lambda's in-progress CodeDeploy deployment")
    rollback_targets = rollback.add_subparsers(dest="platform", required=True, metavar="PLATFORM")
    rollback_lambda = rollback_targets.add_parser(
        "lambda",
        help="stop the in-progress CodeDeploy deployment with rollback",
        description="Stop the SAM stack's in-progress CodeDeploy deployment with rollback. With none in progress, "
        "a finished release is rolled back by deploying the previous release again (the error says how).",
    )
    _add_sam_stack(rollback_lambda)
    rollback_lambda.set_defaults(handler=cmd_rollback_lambda)
    return parser


def main(argv: Sequence[str] | None = None, clients: ClientFactory | None = None) -> int:
    """Run one command; ``clients`` builds the boto3 clients (default: ``new_client`` in ``--region``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    args = build_parser().parse_args(argv)
    made: dict[str, BaseClient] = {}

    def default_clients(service: str) -> BaseClient:
        if service not in made:
            made[service] = new_client(service, args.region)
        return made[service]

    handler: Callable[[argparse.Namespace, ClientFactory], int] = args.handler
    try:
        return handler(args, clients or default_clients)
    except release.ReleaseFailed as error:
        _error(str(error))
        if error.metric.name:
            STDERR.print(f"recorded {error.metric.name}", highlight=False)
        elif error.metric.error:
            _error(error.metric.error)
        return 1
    except (OpsError, ModelLoadError) as error:
        _error(str(error))
    except ClientError as error:
        _error(f"AWS {error.operation_name}: {release.describe_aws_error(error)}")
    except BotoCoreError as error:
        _error(f"AWS: {error}")
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return 1


def _error(message: Any) -> None:
    print(f"error: {message}", file=sys.stderr)
