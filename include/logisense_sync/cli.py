"""The ``logisense-sync`` console script.

``logisense-sync sandbox`` serves the Salesforce and LogiSense sandboxes over HTTPS until stopped:

    logisense-sync sandbox [--host 127.0.0.1] [--salesforce-port 8443] [--logisense-port 8444]
                           [--data-dir .sandbox] [--seed demo|empty] [--latency-ms 0]

``logisense-sync connections`` prints the ``AIRFLOW_CONN_*`` values that point Airflow at running sandboxes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger("logisense_sync.cli")

SALESFORCE_CLIENT_ID = "sandbox-client"
SALESFORCE_CLIENT_SECRET = "sandbox-secret"
SALESFORCE_USERNAME = "integration@sandbox.example"
SALESFORCE_PASSWORD = "sandbox"
LOGISENSE_USERNAME = "admin"
LOGISENSE_PASSWORD = "sandbox"
LOGISENSE_CLIENT_ID = "sandbox"
LOGISENSE_API_VERSION = "v10"


def salesforce_connection(host: str, port: int) -> dict[str, object]:
    """Return the ``salesforce_default`` connection (JSON form) for a Salesforce sandbox.

    The provider's SalesforceHook logs in at ``https://{domain}.salesforce.com/services/oauth2/token``;
    a ``domain`` of ``HOST:PORT/services/oauth2/token#`` sends the client-credentials login to the sandbox
    (the ``#`` turns the rest of the URL into a fragment).

    Args:
        host: Address the sandbox is reached at.
        port: Port the sandbox is reached at.

    Returns:
        A dict for ``AIRFLOW_CONN_SALESFORCE_DEFAULT`` (after ``json.dumps``).
    """
    return {
        "conn_type": "salesforce",
        "extra": {
            "consumer_key": SALESFORCE_CLIENT_ID,
            "consumer_secret": SALESFORCE_CLIENT_SECRET,
            "domain": f"{host}:{port}/services/oauth2/token#",
        },
    }


def logisense_connection(host: str, port: int) -> dict[str, object]:
    """Return the ``logisense_default`` connection (JSON form) for a LogiSense sandbox.

    Args:
        host: Address the sandbox is reached at.
        port: Port the sandbox is reached at.

    Returns:
        A dict for ``AIRFLOW_CONN_LOGISENSE_DEFAULT`` (after ``json.dumps``).
    """
    return {
        "conn_type": "logisense",
        "host": f"https://{host}:{port}",
        "login": LOGISENSE_USERNAME,
        "password": LOGISENSE_PASSWORD,
        "extra": {"client_id": LOGISENSE_CLIENT_ID, "api_version": LOGISENSE_API_VERSION},
    }


def connection_env(host: str, salesforce_port: int, logisense_port: int, ca: Path) -> dict[str, str]:
    """Return the environment that points Airflow (and any requests-based client) at the sandboxes.

    Args:
        host: Address the sandboxes are reached at.
        salesforce_port: Port of the Salesforce sandbox.
        logisense_port: Port of the LogiSense sandbox.
        ca: The sandbox CA certificate (``<data-dir>/ca.pem``).

    Returns:
        ``AIRFLOW_CONN_SALESFORCE_DEFAULT``, ``AIRFLOW_CONN_LOGISENSE_DEFAULT`` and ``REQUESTS_CA_BUNDLE``.
    """
    return {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce_connection(host, salesforce_port)),
        "AIRFLOW_CONN_LOGISENSE_DEFAULT": json.dumps(logisense_connection(host, logisense_port)),
        "REQUESTS_CA_BUNDLE": str(ca.resolve()),
    }


def _banner(args: argparse.Namespace, ca: Path) -> str:
    host = args.host
    display = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    sf = f"https://{display}:{args.salesforce_port}"
    ls = f"https://{display}:{args.logisense_port}"
    lines = [
        f"Sandboxes (seed={args.seed}, latency={args.latency_ms} ms, state in {args.data_dir}):",
        f"  Salesforce  {sf}",
        f"    OAuth token    POST {sf}/services/oauth2/token",
        f"    client credentials  consumer key {SALESFORCE_CLIENT_ID!r}, secret {SALESFORCE_CLIENT_SECRET!r}",
        f"    password flow       username {SALESFORCE_USERNAME!r}, password {SALESFORCE_PASSWORD!r}",
        f"    SOAP login     POST {sf}/services/Soap/u/59.0 (same username/password, empty security token)",
        f"    control plane  {sf}/__sandbox__/{{reset,seed,faults,requests,snapshot}}",
        f"  LogiSense   {ls}",
        f"    login          POST {ls}/AuthorizationServer/api/v10/Access/Login",
        f"    credentials    username {LOGISENSE_USERNAME!r}, password {LOGISENSE_PASSWORD!r}, "
        f"client_id {LOGISENSE_CLIENT_ID!r}, grant_type 'password'",
        f"    data           {ls}/ResourceServer/api/v10/",
        f"    control plane  {ls}/__sandbox__/{{reset,seed,faults,requests,snapshot}}",
        f"  CA certificate {ca.resolve()}  (export REQUESTS_CA_BUNDLE={ca.resolve()})",
    ]
    if host in ("0.0.0.0", "::"):
        lines.append(
            f"  WARNING: bound to {host}: every interface of this machine/container serves the sandboxes."
        )
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    # Imported here: the sandboxes pull in FastAPI and their stores, which no other subcommand needs.
    from logisense_sync.sandbox.common.server import serve_forever
    from logisense_sync.sandbox.common.tls import ensure_tls
    from logisense_sync.sandbox.logisense.app import create_app as create_logisense_app
    from logisense_sync.sandbox.salesforce.app import create_app as create_salesforce_app

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    tls = ensure_tls(data_dir, extra_hostnames=tuple(args.tls_hostname))
    for sub in ("salesforce", "logisense"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    salesforce = create_salesforce_app(data_dir / "salesforce", seed=args.seed, latency_ms=args.latency_ms)
    logisense = create_logisense_app(data_dir / "logisense", seed=args.seed, latency_ms=args.latency_ms)
    sys.stdout.write(_banner(args, tls.ca) + "\n")
    sys.stdout.flush()
    try:
        serve_forever(
            [(salesforce, args.salesforce_port), (logisense, args.logisense_port)], tls, host=args.host
        )
    except RuntimeError as exc:
        logger.error("%s (is another sandbox already running on these ports?)", exc)
        return 1
    return 0


def _cmd_connections(args: argparse.Namespace) -> int:
    env = connection_env(args.host, args.salesforce_port, args.logisense_port, Path(args.data_dir) / "ca.pem")
    for key, value in env.items():
        sys.stdout.write(f"export {key}='{value}'\n")
    return 0


def _add_endpoint_args(parser: argparse.ArgumentParser, host_help: str) -> None:
    parser.add_argument("--host", default="127.0.0.1", help=host_help)
    parser.add_argument("--salesforce-port", type=int, default=8443, help="Salesforce sandbox port (8443)")
    parser.add_argument("--logisense-port", type=int, default=8444, help="LogiSense sandbox port (8444)")
    parser.add_argument("--data-dir", default=".sandbox", help="state and certificates (.sandbox)")


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        msg = f"must be >= 0, got {number}"
        raise argparse.ArgumentTypeError(msg)
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``logisense-sync`` command."""
    parser = argparse.ArgumentParser(prog="logisense-sync", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve both sandboxes over HTTPS until stopped",
        description="Serve the Salesforce and LogiSense sandboxes over HTTPS until stopped. State is kept in "
        "--data-dir, so a restart loses nothing; the CA certificate is written to <data-dir>/ca.pem.",
    )
    _add_endpoint_args(sandbox, "address to bind (127.0.0.1; 0.0.0.0 only inside a container network)")
    sandbox.add_argument(
        "--seed",
        choices=["demo", "empty"],
        default="empty",
        help="'demo' loads the demo data; 'empty' keeps whatever state --data-dir already holds",
    )
    sandbox.add_argument(
        "--tls-hostname",
        action="append",
        default=[],
        metavar="NAME",
        help="extra DNS name for the server certificate (e.g. the compose service name); repeatable",
    )
    sandbox.add_argument("--latency-ms", type=_non_negative, default=0, help="delay added to every API call")
    sandbox.set_defaults(func=_cmd_sandbox)

    connections = commands.add_parser(
        "connections",
        help="print the AIRFLOW_CONN_* exports that point Airflow at running sandboxes",
    )
    _add_endpoint_args(connections, "address the sandboxes are reached at (127.0.0.1)")
    connections.set_defaults(func=_cmd_connections)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
