"""`approver` and its subcommands. Parsing and printing only: the work is done by the layers below."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import getpass
import json
import os
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
from approver.ipc.client import NotTheService, ServiceUnavailable, Timeouts, query_status
from approver.ipc.spool import read_spool_file, spool_files
from approver.platform.crash import summary, write_crash_report
from approver.platform.instance import AlreadyRunning
from approver.platform.keystore import KeyStoreError
from approver.platform.paths import Home, prepare_explicit_home
from approver.proxy.driver import ProxyOptions, ServerStartError, run_proxy
from approver.service import rules_tools
from approver.service.backup import BackupError, make_backup, restore_backup, restored_summary_lines
from approver.service.decision_log import LogError, read_entries
from approver.service.log_tools import (
    current_vkey,
    keyring_status,
    missing_log,
    reset_log,
    rotate_key,
    signed_checkpoint,
    verify_log,
)
from approver.service.runtime import serve_headless

EXIT_NOT_RUNNING = 3
BACKUP_PHRASE_ENV = "APPROVER_BACKUP_PASSPHRASE"


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


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--policy", type=Path, metavar="FILE", help="the policy file (default: the user's policy)")
    serve.add_argument(
        "--redact-results",
        action="store_true",
        help="headless: replace secrets in tool results before the client gets them (the desktop app: a setting)",
    )


def _add_proxy_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """The proxy command's options (its own function: build_parser is long enough)."""
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
    proxy.add_argument(
        "--quarantine",
        action="store_true",
        help="hide new and changed tools from tools/list until they are accepted in the app",
    )
    proxy.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG ...]")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="approver",
        description="MCP Approver: approve or deny the tool calls AI assistants make on MCP servers.",
    )
    parser.add_argument("--version", action="version", version=f"mcp-approver {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    _add_proxy_parser(commands)

    serve = commands.add_parser("serve", help="run the decision service")
    serve.add_argument(
        "--headless", action="store_true", help="without the desktop app: calls no rule allows are denied"
    )
    _add_serve_options(serve)

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
    for name, text in (
        ("checkpoint", "the latest checkpoint as a C2SP signed note (an anchor)"),
        ("vkey", "the log's verifier key, in C2SP vkey form"),
        ("rotate-key", "sign the log on with a new key (stop the service first)"),
        ("reset", "begin a new log where the last one went missing; the new log records the loss"),
    ):
        log_commands.add_parser(name, help=text)

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

    _add_backup_commands(commands)
    commands.add_parser("selftest", help="check this installation: Qt, resources, keyring, a service in a temp home")
    clients_commands.add_parsers(commands)
    return parser


def _add_backup_commands(commands: Any) -> None:
    """`approver backup` and `approver restore`."""
    backup = commands.add_parser("backup", help="write rules, settings, records and the log to one archive file")
    backup.add_argument("file", type=Path, metavar="FILE")
    backup.add_argument(
        "--with-keys",
        action="store_true",
        help=f"also the signing and seal keys, encrypted with a passphrase (asked twice, or ${BACKUP_PHRASE_ENV})",
    )
    restore = commands.add_parser("restore", help="restore an archive made by `approver backup` (service stopped)")
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument(
        "--force", action="store_true", help="restore a log behind this machine's checkpoint (recorded in the log)"
    )
    restore.add_argument(
        "--new-log", action="store_true", help="without the log's key: keep it read-only and begin a new log"
    )


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args, extras = build_parser().parse_known_args(argv)
    if extras:
        args.leaf_parser.unrecognized(extras)
    try:
        code = _dispatch(args)
        code = _flush_output(code)
    except CliError as exc:
        print(f"approver: {exc}", file=sys.stderr)
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # the last resort: one line for the user, the traceback in a file
        print(f"approver: {summary(exc)} (details in {write_crash_report(exc, argv)})", file=sys.stderr)
        code = 1
    sys.exit(code)


def _flush_output(code: int) -> int:
    """Output reaches its reader, or the command fails saying so: never a silent exit 0 with nothing printed.
    (The proxy hands its stdout to the event loop, which closes it when the client goes.)"""
    if sys.stdout.closed:
        return code
    try:
        sys.stdout.flush()
    except OSError as exc:
        print(f"approver: could not write the output: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


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
    if args.command == "selftest":
        from approver.ui.selftest import run_selftest  # noqa: PLC0415  (Qt only for this command)

        return run_selftest()
    handlers = {"proxy": _proxy, "serve": _serve, "status": _status, "log": _log, "doctor": _doctor, "rules": _rules}
    handlers |= {"backup": _backup, "restore": _restore}
    handlers |= {
        "clients": clients_commands.clients,
        "install": clients_commands.install,
        "uninstall": clients_commands.uninstall,
    }
    try:
        return handlers[args.command](args, home)
    except (LogError, PolicyError, KeyStoreError, BackupError) as exc:
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
    options = ProxyOptions(
        name=args.name,
        command=command,
        timeouts=Timeouts(acknowledge=args.ack_timeout),
        quarantine=args.quarantine,
    )
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
        asyncio.run(serve_headless(home, args.policy, redact_results=args.redact_results))
    except (AlreadyRunning, PolicyError, LogError, KeyStoreError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot start the decision service: {exc}") from None
    return 0


def _status(args: argparse.Namespace, home: Home) -> int:
    try:
        reply = asyncio.run(query_status(home))
    except NotTheService as exc:
        print(f"ALARM: {exc}")
        return 1
    except ServiceUnavailable as exc:
        print(f"MCP Approver is not running for {home.label} ({exc})")
        return EXIT_NOT_RUNNING
    print(
        f"MCP Approver is running for {reply.home}: pid {reply.pid}, {reply.mode}, "
        f"{reply.proxies} proxies connected, policy {reply.policy}"
    )
    for alarm in reply.alarms:
        print(f"ALARM: {alarm}")
    return 0


def _decisions(home: Home) -> Iterator[dict[str, Any]]:
    """Decision entries in log order; each allow that was forwarded carries its outcome entry (what came back)."""
    decisions: list[dict[str, Any]] = []
    by_seq: dict[int, dict[str, Any]] = {}
    latest_allow: dict[str, dict[str, Any]] = {}  # request digest -> its newest allow, for outcomes without a seq
    for entry in read_entries(home.log_file):
        if entry.get("kind") in ("decision", "spool-loss"):
            decisions.append(entry)
            if entry.get("kind") == "decision":
                by_seq[entry["seq"]] = entry
                if entry.get("decision") == "allow":
                    latest_allow[str(entry.get("digest"))] = entry
        elif entry.get("kind") == "outcome":
            allowed = by_seq.get(entry.get("decision_seq", -1)) or latest_allow.get(str(entry.get("digest")))
            if allowed is not None:
                allowed["outcome"] = {key: value for key, value in entry.items() if key not in _OUTCOME_SHARED}
    yield from decisions
    for path in spool_files(home.spool_file):
        for facts in read_spool_file(path):
            # Not in the log yet: the service takes these in when it next starts.
            yield {"ts": facts.decided_at, "pending": True, **facts.model_dump(mode="json", exclude_none=True)}


_OUTCOME_SHARED = frozenset({"v", "prev", "kind", "server", "tool", "request_id", "digest", "method"})


def _outcome_text(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return ""
    findings = outcome.get("findings_total", 0)
    what = "isError result" if outcome.get("is_error") else str(outcome.get("outcome"))
    return f"  -> {what}, {outcome.get('size')} bytes" + (f", {findings} finding(s)" if findings else "")


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
        print(_required(signed_checkpoint(home), "checkpoint"), end="")
        return 0
    if args.log_command == "rotate-key":
        print(f"The log is now signed with {rotate_key(home)}")
        return 0
    if args.log_command == "reset":
        replaced = log_export.visible(reset_log(home))
        print(f"A new log was begun at {home.log_file}; its first entry records that it replaces {replaced}")
        return 0
    print(_required(current_vkey(home), "verifier key"))
    return 0


def _required(text: str, what: str) -> str:
    if not text.strip():
        raise CliError(f"the log gave an empty {what}; run `approver log verify`")
    return text


def _log_show(args: argparse.Namespace, home: Home) -> int:
    if args.limit is not None and args.limit < 0:
        raise CliError("--limit must be 0 or more", 2)
    entries = [
        entry
        for entry in _decisions(home)
        if (args.tool is None or entry.get("tool") == args.tool)
        and (args.decision is None or entry.get("decision") == args.decision)
    ]  # a spool-loss alert names no tool and no decision: shown unless the listing is filtered
    if args.limit is not None:
        entries = entries[-args.limit :] if args.limit else []
    visible = log_export.visible  # every field may hold the agent's text: one entry, one inert line
    for entry in entries:
        if args.json:
            print(log_export.to_json_line(entry))
        elif entry.get("kind") == "spool-loss":
            print(f"{visible(entry.get('ts'))}  ALERT  {visible(entry.get('server'))}: {visible(entry.get('reason'))}")
        else:
            # A proxy's denial came through the spool file, which anything running as the user can write.
            waiting = "; not yet in the log" if entry.get("pending") else ""
            reported = f" (reported by a proxy, unverified{waiting})" if entry.get("source") == "proxy" else ""
            print(
                f"{visible(entry.get('ts'))}  {visible(entry.get('decision', '?')):5}  "
                f"{visible(entry.get('actor', '?')):7}  {visible(entry.get('server'))}/{visible(entry.get('tool'))}  "
                f"{visible(entry.get('reason'))}{reported}{visible(_outcome_text(entry.get('outcome')))}"
            )
    if not entries and not args.json:
        print(f"No decisions recorded yet in {home.log_file}")
    return 0


def _log_verify(args: argparse.Namespace, home: Home) -> int:
    result = verify_log(home, args.anchor, args.vkey, every_signature=args.all_signatures)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    audit = result.audit
    visible = log_export.visible  # the origin and keys are read from the file being checked
    if audit.problem is not None:
        print(f"{home.log_file}: NOT INTACT: {visible(audit.problem)}")
        return 1
    keys = ", ".join(visible(vkey) for _, vkey in audit.keys)
    anchors = "; ".join(result.anchors) or "none"
    trust = "trusted key" if audit.trusted else "UNTRUSTED (no key to compare with)"
    print(f"{home.log_file}: intact: {audit.entries} entries, origin {visible(audit.origin)}")
    print(f"  signed by: {keys} ({trust})")
    print(f"  anchors: {visible(anchors)}")
    if audit.replaced is not None:
        print(f"  replaces a log that went missing: {visible(audit.replaced)}")
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
        for alarm in reply.alarms:
            report("!!", f"service: ALARM: {alarm}")
    except NotTheService as exc:
        report("!!", f"service: ALARM: {exc}")
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
    try:
        if home.log_file.exists():
            result = verify_log(home, [], None)
            problem = result.audit.problem or (
                None if result.audit.trusted else "no trusted key to check its signatures against"
            )
            report("!!" if problem else "ok", f"log: {problem or f'{result.audit.entries} entries, intact'}")
        elif (missing := missing_log(home)) is not None:
            report("!!", f"log: {home.log_file} is missing; it was {log_export.visible(missing)}")
        else:
            report("ok", f"log: none yet ({home.log_file} is created when the service first starts)")
    except LogError as exc:
        report("!!", f"log: {exc}")
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


def _passphrase(confirm: bool) -> str:
    """From $APPROVER_BACKUP_PASSPHRASE, else asked on the terminal (twice when making a backup)."""
    given = os.environ.get(BACKUP_PHRASE_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise CliError(f"a passphrase is needed: run on a terminal, or set {BACKUP_PHRASE_ENV}", 2)
    first = getpass.getpass("Passphrase for the keys in the backup: ")
    if confirm and getpass.getpass("The same passphrase again: ") != first:
        raise CliError("the two passphrases differ", 2)
    return first


def _backup(args: argparse.Namespace, home: Home) -> int:
    summary = make_backup(home, args.file, _passphrase(confirm=True) if args.with_keys else None)
    log = "no log" if summary.log_entries is None else f"the log ({summary.log_entries} entries)"
    keys = f"keys: {', '.join(summary.secrets)} (encrypted)" if summary.secrets else "no keys"
    print(f"wrote {summary.path}: {summary.files} file(s), {log}, {keys}")
    return 0


def _restore(args: argparse.Namespace, home: Home) -> int:
    summary = restore_backup(
        home, args.file, lambda: _passphrase(confirm=False), force=args.force, new_log=args.new_log
    )
    for line in restored_summary_lines(summary):
        print(line)
    return 0
