"""`approver clients`, `approver install`, `approver uninstall`: printing and exit codes around approver.clients."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

from approver.clients import catalog, wiring
from approver.platform.paths import Home


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ids = ", ".join(client.id for client in catalog.CLIENTS)
    listing = commands.add_parser("clients", help="MCP clients found, their servers, and which are protected")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    _project_option(listing)
    for name, summary in (
        ("install", "put approver proxy in front of the clients' stdio servers"),
        ("uninstall", "put the clients' wrapped servers back as they were"),
    ):
        description = f"{summary[0].upper()}{summary[1:]}. Clients: {ids}."
        command = commands.add_parser(name, help=summary, description=description)
        command.add_argument("client", nargs="*", metavar="CLIENT", help="a client's id (see `approver clients`)")
        command.add_argument("--all", action="store_true", help="every client found")
        command.add_argument("--server", action="append", metavar="NAME", help="only this server (repeat for more)")
        command.add_argument("--dry-run", action="store_true", help="print a unified diff per file, write nothing")
        _project_option(command)


def _project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        action="append",
        metavar="DIR",
        help="a project folder whose .mcp.json, .cursor/, .vscode/ files count (default: the current folder)",
    )


def _environment(args: argparse.Namespace) -> catalog.Environment:
    return wiring.environment_from_os([path.absolute() for path in args.project] if args.project else None)


def clients(args: argparse.Namespace, home: Home) -> int:
    reports = wiring.scan(_environment(args), expected=wiring.expected_wrapping(home))
    if args.json:
        print(json.dumps([report.as_json() for report in reports], indent=2, ensure_ascii=False))
        return 1 if any(report.error for report in reports) else 0
    if not reports:
        print("No MCP client configuration found.")
    for report in reports:
        print(f"{report.location.client.label} ({report.location.client.id}, {report.location.scope}): {report.path}")
        if report.error:
            print(f"  error: {report.error}")
        if not report.servers and not report.error:
            print("  (no servers)")
        width = max((len(server.entry.name) for server in report.servers), default=0)
        for server in report.servers:
            status = server.status
            section = f" (in {'.'.join(server.entry.container)})" if len(server.entry.container) > 1 else ""
            columns = f"{server.entry.name:<{width}}  {status.transport:<5}  {status.state.value:<19}"
            print(f"  {columns}  {status.reason}{section}")
    return 1 if any(report.error for report in reports) else 0


class _Usage(Exception):
    pass


def _chosen_clients(args: argparse.Namespace) -> list[str] | None:
    if args.all and args.client:
        raise _Usage("name clients or give --all, not both")
    if not args.all and not args.client:
        raise _Usage("name the clients (see `approver clients`), or give --all")
    known = [client.id for client in catalog.CLIENTS]
    for name in args.client:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (one of: {', '.join(known)})"
            raise _Usage(f"no client {name!r}{hint}")
    return None if args.all else list(args.client)


def install(args: argparse.Namespace, home: Home) -> int:
    return _change_files(args, home)


def uninstall(args: argparse.Namespace, home: Home) -> int:
    return _change_files(args, home)


def _change_files(args: argparse.Namespace, home: Home) -> int:
    try:
        chosen = _chosen_clients(args)
    except _Usage as exc:
        print(f"approver {args.command}: {exc}", file=sys.stderr)
        return 2
    reports = wiring.scan(_environment(args), chosen, wiring.expected_wrapping(home))
    if not reports:
        print("No configuration file found for " + (", ".join(chosen) if chosen else "any client"))
    change = wiring.install if args.command == "install" else wiring.uninstall
    outcomes = change(reports, home, servers=args.server, dry_run=args.dry_run)
    for outcome in outcomes:
        label = f"{outcome.report.location.client.id}: {outcome.report.path}"
        if outcome.error:
            print(f"approver: {outcome.error}", file=sys.stderr)
        elif outcome.change is None:
            print(f"{label}: nothing to change")
        elif args.dry_run:
            sys.stdout.write(outcome.change.diff())
        else:
            done = "wrapped" if outcome.change.kind == "install" else "put back"
            print(f"{label}: {done} {', '.join(outcome.change.servers)}")
    missing = sorted(set(args.server or []) - {server.entry.name for report in reports for server in report.servers})
    where = ", ".join(chosen) if chosen else "any client"
    for name in missing:
        print(f"approver: no server named {name!r} in {where}", file=sys.stderr)
    return 1 if missing or any(outcome.error for outcome in outcomes) else 0


def doctor_findings(home: Home) -> list[tuple[str, str]]:
    """For `approver doctor`: servers that clients start without this installation's proxy, and files that do
    not parse."""
    reports = wiring.scan(wiring.environment_from_os(), expected=wiring.expected_wrapping(home))
    findings: list[tuple[str, str]] = [("warn", f"clients: {report.error}") for report in reports if report.error]
    drift = wiring.unprotected(reports)
    if drift:
        listed = "; ".join(
            f"{report.location.client.id} {server.entry.name} ({server.status.reason})" for report, server in drift
        )
        wrappable = any(server.status.transport == "stdio" and server.status.state.value == "unprotected"
                        for _, server in drift)  # fmt: skip
        hint = " (`approver install --all` wraps the stdio ones)" if wrappable else ""
        findings.append(("warn", f"clients: {len(drift)} server(s) not protected: {listed}{hint}"))
    elif reports:
        count = sum(len(report.servers) for report in reports)
        findings.append(("ok", f"clients: {count} server(s) in {len(reports)} file(s), all protected"))
    else:
        findings.append(("ok", "clients: no MCP client configuration found"))
    return findings
