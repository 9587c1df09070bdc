"""`approver` and its subcommands. Parsing and printing only: the work is done by the layers below."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from approver import __version__
from approver.cli import clients_commands
from approver.core import log_export
from approver.core.models import ToolInfo
from approver.core.policy import PolicyError, policy_json_schema
from approver.ipc.client import ServiceUnavailable, Timeouts, query_status
from approver.ipc.spool import read_spool_file, spool_files
from approver.platform.keystore import KeyStoreError
from approver.platform.paths import Home, prepare_explicit_home
from approver.proxy.driver import ProxyOptions, ServerStartError, run_proxy
from approver.service import rules_tools
from approver.service.decision_log import LogError, read_entries
from approver.service.log_tools import current_vkey, keyring_status, rotate_key, signed_checkpoint, verify_log
from approver.service.runtime import serve_headless
from approver.service.server import AlreadyRunning

EXIT_NOT_RUNNING = 3


class CliError(Exception):
    """One clear line for the user, and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """A parser that never guesses (no abbreviated options: a security tool should not act on `--headles`) and
    whose errors point at the help of the command that was being parsed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        self.set_defaults(leaf_parser=self)  # the innermost parser that parsed anything sets it last

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def unrecognized(self, extras: list[str]) -> NoReturn:
        known = [option for action in self._actions for option in action.option_strings]
        hints = [
            f"{extra}: did you mean {', '.join(close)}?"
            for extra in extras
            if (close := difflib.get_close_matches(extra.partition("=")[0], known, n=1))
        ]
        self.error(f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else ""))


def _server_name(text: str) -> str:
    """--name: how rules, dialogs and the log name the server, so it must say something."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the server's name must not be empty")
    if any(not character.isprintable() for character in text):
        raise argparse.ArgumentTypeError(f"the server's name must be printable text, not {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 (one flat list of every command)
    parser = _Parser(
        prog="approver",
        description="MCP Approver: approve or deny the tool calls AI assistants make on MCP servers.",
    )
    parser.add_argument("--version", action="version", version=f"mcp-approver {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    proxy = commands.add_parser(
        "proxy",
        help="relay one MCP server over stdio, holding each tool call for a decision",
        description="Start COMMAND as an MCP server and relay stdio to it; configure your MCP client to run "
        "this instead of the server.",
    )
    proxy.add_argument(
        "--name", required=True, type=_server_name, help="the server's name, as rules and the log refer to it"
    )
    proxy.add_argument(
        "--ack-timeout",
        type=float,
        default=Timeouts.acknowledge,
        metavar="SECONDS",
        help="deny a call waiting for acknowledgement when the service says nothing for this long "
        "(default %(default)s)",
    )
    proxy.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG ...]")

    serve = commands.add_parser("serve", help="run the decision service")
    serve.add_argument(
        "--headless", action="store_true", help="without the desktop app: calls no rule allows are denied"
    )
    serve.add_argument("--policy", type=Path, metavar="FILE", help="the policy file (default: the user's policy)")

    commands.add_parser("status", help="exit 0 if a decision service is running for this home, 3 if not")

    log = commands.add_parser("log", help="the signed decision log")
    log_commands = log.add_subparsers(dest="log_command", parser_class=_Parser, required=True)
    show = log_commands.add_parser("show", help="print decisions, oldest first")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.add_argument("--limit", type=int, metavar="N", help="only the last N decisions")
    show.add_argument("--tool", metavar="T", help="only decisions about this tool")
    show.add_argument("--decision", choices=["allow", "deny"], help="only allows or only denials")
    verify = log_commands.add_parser("verify", help="check the log's chain, tree, signatures and anchors")
    verify.add_argument(
        "--anchor", type=Path, action="append", default=[], metavar="FILE", help="a signed checkpoint kept elsewhere"
    )
    verify.add_argument("--vkey", metavar="VKEY", help="trust this verifier key instead of the keyring's")
    verify.add_argument("--all-signatures", action="store_true", help="also check every line's own signature (slower)")
    export = log_commands.add_parser("export", help="every entry, for a SIEM")
    export.add_argument("--format", choices=["jsonl", "cef", "syslog"], default="jsonl")
    log_commands.add_parser("checkpoint", help="the latest checkpoint as a C2SP signed note (an anchor)")
    log_commands.add_parser("vkey", help="the log's verifier key, in C2SP vkey form")
    log_commands.add_parser("rotate-key", help="sign the log on with a new key (stop the service first)")

    commands.add_parser("doctor", help="check the keyring, the log, the policy and the service")

    rules = commands.add_parser("rules", help="auto-approve rules")
    rules_commands = rules.add_subparsers(dest="rules_command", parser_class=_Parser, required=True)
    listing = rules_commands.add_parser("list", help="managed rules, your rules, and changes waiting for the app")
    listing.add_argument("--json", action="store_true")
    checking = rules_commands.add_parser("check", help="what the rules decide for a call, and its risk (JSON)")
    checking.add_argument("--server", required=True)
    checking.add_argument("--tool", required=True)
    checking.add_argument("--args", default="{}", metavar="JSON", help="the call's arguments")
    checking.add_argument("--policy", type=Path, metavar="FILE", help="check against this file instead")
    checking.add_argument("--description", help="the tool's description, as its server gives it")
    checking.add_argument("--annotations", metavar="JSON", help="the tool's annotations, as its server gives them")
    adding = rules_commands.add_parser("add", help="add a rule (allow rules wait for confirmation in the app)")
    adding.add_argument("--effect", choices=["allow", "deny", "ask"], required=True)
    adding.add_argument("--server", default="*")
    adding.add_argument("--tool", default="*")
    adding.add_argument(
        "--arg", action="append", default=[], metavar="POINTER=MATCHER", help='e.g. /path={"under": "~/project"}'
    )
    adding.add_argument("--expires", metavar="WHEN", help="a time (RFC 3339) or a duration from now (30m, 2h, 7d)")
    adding.add_argument("--id")
    adding.add_argument("--note")
    removing = rules_commands.add_parser("remove", help="remove a rule by id (removing a deny waits for the app)")
    removing.add_argument("id")
    rules_commands.add_parser("schema", help="the policy file's JSON Schema, for editors")
    clients_commands.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args, extras = build_parser().parse_known_args(argv)
    if extras:
        args.leaf_parser.unrecognized(extras)
    try:
        code = _dispatch(args)
    except CliError as exc:
        print(f"approver: {exc}", file=sys.stderr)
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def _dispatch(args: argparse.Namespace) -> int:
    home = Home.from_environment()
    try:
        created = prepare_explicit_home(home)
    except OSError as exc:
        raise CliError(str(exc), 2) from None
    if created:
        print(f"approver: {created}", file=sys.stderr)
    if args.command is None:
        return _desktop_app(home, None)
    handlers = {"proxy": _proxy, "serve": _serve, "status": _status, "log": _log, "doctor": _doctor, "rules": _rules}
    handlers |= {
        "clients": clients_commands.clients,
        "install": clients_commands.install,
        "uninstall": clients_commands.uninstall,
    }
    try:
        return handlers[args.command](args, home)
    except (LogError, PolicyError, KeyStoreError) as exc:
        raise CliError(str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"{'.'.join(map(str, first['loc'])) or 'input'}: {first['msg']}", 2) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise CliError(f"{where}{exc.strerror or exc}") from None


def _proxy(args: argparse.Namespace, home: Home) -> int:
    command = list(args.server_command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise CliError("proxy needs the server command after `--`, e.g. approver proxy --name fs -- npx server", 2)
    if args.ack_timeout <= 0:
        raise CliError("--ack-timeout must be positive", 2)
    options = ProxyOptions(name=args.name, command=command, timeouts=Timeouts(acknowledge=args.ack_timeout))
    try:
        return asyncio.run(run_proxy(options, home))
    except ServerStartError as exc:
        raise CliError(str(exc), code=127) from None


def _desktop_app(home: Home, policy_file: Path | None) -> int:
    # Imported here so that the proxy and the other commands never load Qt.
    from approver.ui.app import run_desktop_app  # noqa: PLC0415

    return run_desktop_app(home, policy_file)


def _serve(args: argparse.Namespace, home: Home) -> int:
    if not args.headless:
        return _desktop_app(home, args.policy)
    try:
        asyncio.run(serve_headless(home, args.policy))
    except (AlreadyRunning, PolicyError, LogError, KeyStoreError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot start the decision service: {exc}") from None
    return 0


def _status(args: argparse.Namespace, home: Home) -> int:
    try:
        reply = asyncio.run(query_status(home))
    except ServiceUnavailable as exc:
        print(f"MCP Approver is not running for {home.label} ({exc})")
        return EXIT_NOT_RUNNING
    print(
        f"MCP Approver is running for {reply.home}: pid {reply.pid}, {reply.mode}, "
        f"{reply.proxies} proxies connected, policy {reply.policy}"
    )
    return 0


def _decisions(home: Home) -> Iterator[dict[str, Any]]:
    for entry in read_entries(home.log_file):
        if entry.get("kind") == "decision":
            yield entry
    for path in spool_files(home.spool_file):
        for facts in read_spool_file(path):
            # Not in the log yet: the service takes these in when it next starts.
            yield {"ts": facts.decided_at, "pending": True, **facts.model_dump(mode="json", exclude_none=True)}


def _log(args: argparse.Namespace, home: Home) -> int:
    if args.log_command == "show":
        return _log_show(args, home)
    if args.log_command == "verify":
        return _log_verify(args, home)
    if args.log_command == "export":
        hostname = socket.gethostname()
        for entry in read_entries(home.log_file):
            if args.format == "cef":
                print(log_export.to_cef(entry))
            elif args.format == "syslog":
                print(log_export.to_syslog(entry, hostname))
            else:
                print(log_export.to_json_line(entry))
        return 0
    if args.log_command == "checkpoint":
        print(signed_checkpoint(home), end="")
        return 0
    if args.log_command == "rotate-key":
        print(f"The log is now signed with {rotate_key(home)}")
        return 0
    print(current_vkey(home))
    return 0


def _log_show(args: argparse.Namespace, home: Home) -> int:
    if args.limit is not None and args.limit < 0:
        raise CliError("--limit must be 0 or more", 2)
    entries = [
        entry
        for entry in _decisions(home)
        if (args.tool is None or entry.get("tool") == args.tool)
        and (args.decision is None or entry.get("decision") == args.decision)
    ]
    if args.limit is not None:
        entries = entries[-args.limit :] if args.limit else []
    for entry in entries:
        if args.json:
            print(json.dumps(entry, ensure_ascii=False))
        else:
            pending = " (not yet in the log)" if entry.get("pending") else ""
            print(
                f"{entry.get('ts')}  {entry.get('decision', '?'):5}  {entry.get('actor', '?'):7}  "
                f"{entry.get('server')}/{entry.get('tool')}  {entry.get('reason')}{pending}"
            )
    if not entries and not args.json:
        print(f"No decisions recorded yet in {home.log_file}")
    return 0


def _log_verify(args: argparse.Namespace, home: Home) -> int:
    result = verify_log(home, args.anchor, args.vkey, every_signature=args.all_signatures)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    audit = result.audit
    if audit.problem is not None:
        print(f"{home.log_file}: NOT INTACT: {audit.problem}")
        return 1
    keys = ", ".join(vkey for _, vkey in audit.keys)
    anchors = "; ".join(result.anchors) or "none"
    trust = "trusted key" if audit.trusted else "UNTRUSTED (no key to compare with)"
    print(f"{home.log_file}: intact: {audit.entries} entries, origin {audit.origin}")
    print(f"  signed by: {keys} ({trust})")
    print(f"  anchors: {anchors}")
    return 0 if audit.trusted else 1


def _doctor(args: argparse.Namespace, home: Home) -> int:
    """Each finding is ok, a warning (works, with a consequence the user should know) or a problem (something
    is broken). Only problems make the exit status non-zero, so a headless machine without an OS keyring, where
    the fallback key file works as documented, passes."""
    problems = 0

    def report(level: str, what: str) -> None:
        nonlocal problems
        problems += level == "!!"
        print(f"[{level}] {what}")

    status = keyring_status(home)
    if status.secure:
        report("ok", f"secrets: {status.describe()}")
    else:
        report(
            "warn",
            f"secrets: {status.describe()}. The log's signing key and the rules' seal key are in that file "
            "(mode 0600) instead of an OS keyring: anything that can read your files, backups included, can "
            "read them",
        )
    try:
        reply = asyncio.run(query_status(home))
        report("ok", f"service: running (pid {reply.pid}, {reply.mode}), policy {reply.policy}")
    except ServiceUnavailable as exc:
        report("warn", f"service: not running ({exc}); every tool call is denied until it runs")
    try:
        rules = rules_tools.open_rules(home)
        rule_problems = rules.current().problems
        report("!!" if rule_problems else "ok", f"rules: {'; '.join(rule_problems) or rules.describe()}")
        if rules.pending():
            report("warn", f"rules: {len(rules.pending())} change(s) wait for confirmation in the app")
    except PolicyError as exc:
        report("!!", f"rules: {exc}")
    if home.log_file.exists():
        try:
            result = verify_log(home, [], None)
            problem = result.audit.problem or (
                None if result.audit.trusted else "no trusted key to check its signatures against"
            )
            report("!!" if problem else "ok", f"log: {problem or f'{result.audit.entries} entries, intact'}")
        except LogError as exc:
            report("!!", f"log: {exc}")
    else:
        report("ok", f"log: none yet ({home.log_file} is created when the service first starts)")
    for level, finding in clients_commands.doctor_findings(home):
        report(level, finding)
    return 1 if problems else 0


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}", 2) from None


def _rules(args: argparse.Namespace, home: Home) -> int:
    if args.rules_command == "schema":
        print(json.dumps(policy_json_schema(), indent=2))
        return 0
    if args.rules_command == "check":
        arguments = _json_argument(args.args, "--args")
        if not isinstance(arguments, dict):
            raise CliError("--args must be a JSON object", 2)
        annotations = _json_argument(args.annotations, "--annotations") if args.annotations else None
        info = None
        if args.description is not None or annotations is not None:
            info = ToolInfo(description=args.description, annotations=annotations)
        result = rules_tools.check(rules_tools.open_rules(home, args.policy), args.server, args.tool, arguments, info)
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    store = rules_tools.open_rules(home)
    if args.rules_command == "list":
        listing = rules_tools.listing(store)
        if args.json:
            print(json.dumps(listing, indent=2, ensure_ascii=False))
            return 0
        for layer in ("managed", "user"):
            section = listing[layer]
            trust = "" if section.get("trusted", True) else " (changed outside the app: allow rules wait)"
            print(f"{layer} rules, {section['file']}{trust}:")
            for rule in section["rules"]:
                print("  " + json.dumps(rule, ensure_ascii=False))
            if not section["rules"]:
                print("  (no rules)")
        for change in listing["pending"]:
            print("waiting for confirmation in the app: " + json.dumps(change, ensure_ascii=False))
        for problem in listing["problems"]:
            print(f"problem: {problem}")
        return 0
    if args.rules_command == "remove":
        print(rules_tools.remove_rule(store, args.id))
        return 0
    document: dict[str, Any] = {"effect": args.effect, "server": args.server, "tool": args.tool}
    if args.arg:
        matchers = {}
        for item in args.arg:
            pointer, separator, matcher = item.partition("=")
            if not separator:
                raise CliError(f"--arg {item!r}: expected POINTER=MATCHER_JSON", 2)
            matchers[pointer] = _json_argument(matcher, f"--arg {pointer}")
        document["args"] = matchers
    if args.expires:
        document["expires"] = rules_tools.expiry(args.expires)
    for key in ("id", "note"):
        if getattr(args, key):
            document[key] = getattr(args, key)
    print(rules_tools.add_rule(store, document))
    return 0
