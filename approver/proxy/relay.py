"""The gate between an MCP client and one stdio server, as a sans-IO state machine.

The driver feeds it events (bytes from either side, a verdict, EOF, the server's exit) and carries out the
commands it returns (write these bytes, ask for a decision, withdraw a question, report to stderr). It never
blocks and never does I/O, so every path through it is tested by feeding events and reading commands.

Rules it keeps:
- Every message that is not gated reaches the other side as the exact bytes that came in.
- A `tools/call` request is held; only an allow verdict whose digest matches the held bytes releases those very
  bytes. Anything else (deny, mismatch, error) answers the client with an isError result and forwards nothing.
  So are `resources/read`, `prompts/get` and `completion/complete` (a denial is a JSON-RPC error for those).
- The response to each forwarded request is passed on untouched and then reported (`Observed`) for the log;
  only with `redact_results` on is a response whose result holds secrets re-serialised, redacted, before it goes.
- A request the server can no longer answer (it exited) is answered with an error instead of hanging.
- Every `tools/list` result is read (never changed) and reported, so the service pins each tool's definition.
  With quarantine on, that one response is held until the service says which tools are not accepted yet, and
  is then re-serialised without them; it is the only message the relay ever rewrites.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from approver.core import jsonrpc
from approver.core.jsonrpc import (
    CALL_DENIED,
    INVALID_REQUEST,
    PARSE_ERROR,
    SERVER_UNAVAILABLE,
    MalformedMessage,
    Notification,
    Request,
    RequestId,
    Response,
)
from approver.core.models import (
    TOOLS_CALL,
    Actor,
    ClientInfo,
    Decision,
    ProtocolEra,
    ToolCall,
    ToolInfo,
    Verdict,
    request_digest,
)
from approver.core.policy import GATED_METHODS
from approver.core.results import redact_response
from approver.core.tool_pins import definition_digest, definition_of
from approver.core.wording import denial_text
from approver.proxy.framing import DEFAULT_MAX_LINE, LineFramer, Oversized

STATELESS_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
STATELESS_CLIENT_KEY = "io.modelcontextprotocol/clientInfo"
STATELESS_SERVER_KEY = "io.modelcontextprotocol/serverInfo"  # in a 2026-07-28 result's _meta
INVALID_PARAMS = -32602


@dataclass(frozen=True, slots=True)
class ToServer:
    data: bytes  # one message, without its newline


@dataclass(frozen=True, slots=True)
class ToClient:
    data: bytes


@dataclass(frozen=True, slots=True)
class AskDecision:
    hold: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The held call no longer needs a decision (the client cancelled it, left, or the server died)."""

    hold: int
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    """A line for the proxy's stderr, which MCP clients show in their server logs."""

    text: str


@dataclass(frozen=True, slots=True)
class CloseServerInput:
    """The client is gone: close the server's stdin so it can end (the driver escalates if it does not)."""


@dataclass(frozen=True, slots=True)
class ToolsListed:
    """The server listed tools (one page of a `tools/list` result): tell the service, which pins them. When
    `held`, the response waits in the relay until `screened(listing, hidden)` is called with the service's answer."""

    listing: int
    tools: list[dict[str, Any]]
    server_info: str | None
    held: bool


@dataclass(frozen=True, slots=True)
class Observed:
    """The server answered a request that was held and then forwarded: what came back, for the log's outcome entry.
    Carried out after the response was sent on (it never delays the client)."""

    hold: int
    call: ToolCall
    raw: bytes  # the server's line, exactly as it wrote it
    response: dict[str, Any]
    redacted: bool  # the client got a redacted copy (the redact-results setting)


Command: TypeAlias = ToServer | ToClient | AskDecision | Withdraw | Report | CloseServerInput | ToolsListed | Observed


@dataclass(slots=True)
class _Held:
    request_id: RequestId
    forwarded: bytes
    call: ToolCall
    progress_token: str | int | None = None
    keepalives: int = 0


@dataclass(slots=True)
class _SessionFacts:
    """What the relay learns while watching the session; it enriches what the person is shown."""

    era: ProtocolEra = ProtocolEra.UNKNOWN
    client: ClientInfo = field(default_factory=ClientInfo)
    tools: dict[str, ToolInfo] = field(default_factory=dict)
    server_info: str | None = None  # the name the server gives itself, from its initialize/discover result
    roots: list[str] = field(default_factory=list)
    # roots/list requests the server sent the client, by id key, so the client's answer can be read
    roots_requests: set[tuple[str, RequestId]] = field(default_factory=set)


class Relay:
    def __init__(
        self,
        server: str,
        server_command: list[str] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        *,
        quarantine: bool = False,
    ) -> None:
        self.server = server
        self.quarantine = quarantine
        self.server_command = list(server_command or [])
        self._from_client = LineFramer(max_line)
        self._from_server = LineFramer(max_line)
        self._hold_ids = itertools.count(1)
        self._held: dict[int, _Held] = {}
        # Requests the server has received and not yet answered: id key -> (id, method).
        self._in_flight: dict[tuple[str, RequestId], tuple[RequestId, str]] = {}
        self._facts = _SessionFacts()
        self._server_exit: str | None = None  # set once the server is gone
        self._client_gone = False
        self._listing_ids = itertools.count(1)
        self._held_lists: dict[int, dict[str, Any]] = {}  # quarantine: tools/list responses awaiting screening
        # Held requests that were forwarded and await the server's answer: id key -> (hold, call).
        self._forwarded: dict[tuple[str, RequestId], tuple[int, ToolCall]] = {}
        # Replace secrets in forwarded calls' results before the client sees them; the key makes their markers.
        self.redact_results = False
        self.redaction_key = b""

    # -- inspection (for the driver and tests) -------------------------------------------------------------

    @property
    def held_count(self) -> int:
        return len(self._held)

    @property
    def era(self) -> ProtocolEra:
        return self._facts.era

    # -- events from the client -------------------------------------------------------------------------------

    def client_data(self, data: bytes) -> list[Command]:
        commands: list[Command] = []
        for frame in self._from_client.feed(data):
            if isinstance(frame, Oversized):
                commands.append(Report(f"dropped a client message over {self._from_client.max_line} bytes"))
                commands.append(
                    ToClient(
                        jsonrpc.error_response(
                            None, INVALID_REQUEST, "message too large for MCP Approver's proxy; not forwarded"
                        )
                    )
                )
            else:
                self._client_line(frame, commands)
        return commands

    def client_eof(self) -> list[Command]:
        commands: list[Command] = []
        if self._from_client.pending:
            commands.append(Report("the client closed its output in the middle of a message; dropped"))
        self._client_gone = True
        for hold in list(self._held):
            del self._held[hold]
            commands.append(Withdraw(hold, "the client disconnected"))
        commands.append(CloseServerInput())
        return commands

    def _client_line(self, line: bytes, commands: list[Command]) -> None:
        try:
            value = jsonrpc.loads_strict(line)
        except MalformedMessage as exc:
            commands.append(Report(f"client sent an unreadable message ({exc}); not forwarded"))
            commands.append(ToClient(jsonrpc.error_response(None, PARSE_ERROR, f"Parse error: {exc}")))
            return
        if isinstance(value, list):
            self._client_batch(line, value, commands)
            return
        try:
            message = jsonrpc.classify(value)
        except MalformedMessage as exc:
            raw_id = value.get("id") if isinstance(value, dict) else None
            safe_id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
            commands.append(Report(f"client sent an invalid JSON-RPC message ({exc}); not forwarded"))
            commands.append(ToClient(jsonrpc.error_response(safe_id, INVALID_REQUEST, f"Invalid request: {exc}")))
            return
        self._client_message(line, message, commands)

    def _client_batch(self, line: bytes, values: list[Any], commands: list[Command]) -> None:
        """JSON-RPC batches (allowed by MCP 2025-03-26 only). Relayed whole unless they carry a gated call."""
        try:
            messages = [jsonrpc.classify(value) for value in values]
        except MalformedMessage as exc:
            commands.append(Report(f"client sent an invalid JSON-RPC batch ({exc}); not forwarded"))
            commands.append(ToClient(jsonrpc.error_response(None, INVALID_REQUEST, f"Invalid batch: {exc}")))
            return
        # A gated method as a notification counts too: split out, it is dropped like a lone one.
        if not any(isinstance(m, Request | Notification) and m.method in GATED_METHODS for m in messages):
            if self._refuse_if_server_gone(messages, commands):
                return
            for message in messages:
                self._track(message)
            commands.append(ToServer(line))
            return
        # Each call must be decided, and forwarded, on its own: split the batch into single messages, each
        # serialised once here so that the digest a decision binds to covers exactly what is then sent.
        commands.append(Report("split a JSON-RPC batch carrying tools/call so each call is decided on its own"))
        for value, message in zip(values, messages, strict=True):
            self._client_message(jsonrpc.encode(value), message, commands)

    def _client_message(self, line: bytes, message: jsonrpc.Message, commands: list[Command]) -> None:
        if self._refuse_if_server_gone([message], commands):
            return
        if isinstance(message, Notification) and message.method in GATED_METHODS:
            # A tools/call without an id: compliant servers ignore it, a lax one might run it ungated.
            commands.append(Report(f"client sent {message.method} as a notification (no id); not forwarded"))
            return
        if isinstance(message, Request):
            if message.method in GATED_METHODS:
                self._hold(line, message, commands)
                return
            self._learn_from_request(message)
        elif (
            isinstance(message, Notification)
            and message.method == "notifications/cancelled"
            and self._cancel_held(message, commands)
        ):
            return
        elif isinstance(message, Response) and message.id is not None:
            key = jsonrpc.id_key(message.id)
            if key in self._facts.roots_requests:
                self._facts.roots_requests.discard(key)
                self._learn_roots(message.result)
        self._track(message)
        commands.append(ToServer(line))

    def _refuse_if_server_gone(self, messages: list[jsonrpc.Message], commands: list[Command]) -> bool:
        if self._server_exit is None:
            return False
        for message in messages:
            if isinstance(message, Request):
                commands.append(ToClient(self._server_gone_error(message.id)))
        return True

    def _track(self, message: jsonrpc.Message) -> None:
        if isinstance(message, Request):
            self._in_flight[jsonrpc.id_key(message.id)] = (message.id, message.method)

    def _learn_from_request(self, request: Request) -> None:
        if request.method == "initialize":
            self._facts.era = ProtocolEra.HANDSHAKE
            self._facts.client = _client_info(request.params.get("clientInfo")) or self._facts.client
        elif request.method == "server/discover":
            self._facts.era = ProtocolEra.STATELESS
        meta = request.params.get("_meta")
        if isinstance(meta, dict) and STATELESS_VERSION_KEY in meta:
            # 2026-07-28 requests describe their era and client themselves.
            self._facts.era = ProtocolEra.STATELESS
            described = _client_info(meta.get(STATELESS_CLIENT_KEY))
            if described is not None:
                self._facts.client = described

    # -- holding and deciding -------------------------------------------------------------------------------------

    def _hold(self, line: bytes, request: Request, commands: list[Command]) -> None:
        if request.method != TOOLS_CALL:
            self._hold_other(line, request, commands)
            return
        name = request.params.get("name")
        arguments = request.params.get("arguments", {})
        if not isinstance(name, str) or not isinstance(arguments, dict):
            commands.append(Report("client sent a tools/call without a tool name or with non-object arguments"))
            commands.append(
                ToClient(
                    jsonrpc.error_response(
                        request.id,
                        INVALID_PARAMS,
                        "Invalid params: tools/call needs a string 'name' and an object 'arguments'",
                    )
                )
            )
            return
        self._learn_from_request(request)
        call = ToolCall(
            server=self.server,
            server_command=self.server_command,
            client=self._facts.client,
            tool=name,
            arguments=arguments,
            request_id=request.id,
            digest=request_digest(line),
            era=self._facts.era,
            task="task" in request.params,
            continuation="inputResponses" in request.params or "requestState" in request.params,
            tool_info=self._facts.tools.get(name),
            server_info=self._facts.server_info,
            roots=self._facts.roots,
        )
        hold = next(self._hold_ids)
        meta = request.params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        valid_token = token if isinstance(token, str | int) and not isinstance(token, bool) else None
        self._held[hold] = _Held(request.id, line, call, valid_token)
        commands.append(AskDecision(hold, call))

    def _hold_other(self, line: bytes, request: Request, commands: list[Command]) -> None:
        """resources/read, prompts/get, completion/complete: named by what they read, matched on their params."""
        params = {key: value for key, value in request.params.items() if key != "_meta"}
        ref = params.get("ref")
        subject = params.get("uri") if request.method == "resources/read" else params.get("name")
        if request.method == "completion/complete" and isinstance(ref, dict):
            subject = ref.get("uri") if ref.get("type") == "ref/resource" else ref.get("name")
        self._learn_from_request(request)
        call = ToolCall(
            server=self.server,
            server_command=self.server_command,
            client=self._facts.client,
            tool=subject if isinstance(subject, str) else "",
            arguments=params,
            request_id=request.id,
            digest=request_digest(line),
            era=self._facts.era,
            roots=self._facts.roots,
            method=request.method,
        )
        hold = next(self._hold_ids)
        self._held[hold] = _Held(request.id, line, call)
        commands.append(AskDecision(hold, call))

    def _cancel_held(self, notification: Notification, commands: list[Command]) -> bool:
        """A cancellation of a call we still hold: the server never saw it, so neither sees the cancel."""
        target = notification.params.get("requestId")
        for hold, held in self._held.items():
            if type(held.request_id) is type(target) and held.request_id == target:
                del self._held[hold]
                commands.append(Withdraw(hold, "the client cancelled the request"))
                return True
        return False

    def keepalive(self, hold: int, message: str) -> list[Command]:
        """While a person decides: a progress notification, so clients with request timeouts that reset on
        progress keep waiting. Only for requests that asked for progress (they carry a progressToken)."""
        held = self._held.get(hold)
        if held is None or held.progress_token is None:
            return []
        held.keepalives += 1
        notification = {
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": {"progressToken": held.progress_token, "progress": held.keepalives, "message": message},
        }
        return [ToClient(jsonrpc.encode(notification))]

    def decided(self, hold: int, verdict: Verdict) -> list[Command]:
        held = self._held.pop(hold, None)
        if held is None:
            return []  # withdrawn meanwhile (cancelled, client gone, server gone): nothing to release
        commands: list[Command] = []
        if verdict.decision is Decision.ALLOW and verdict.digest != held.call.digest:
            verdict = Verdict(
                decision=Decision.DENY,
                actor=Actor.ERROR,
                reason="the approval was for different bytes than the held request",
                digest=held.call.digest,
            )
            commands.append(Report(f"refused an approval bound to another request for '{held.call.tool}'"))
        if verdict.decision is Decision.ALLOW:
            key = jsonrpc.id_key(held.request_id)
            self._in_flight[key] = (held.request_id, held.call.method)
            self._forwarded[key] = (hold, held.call)
            commands.append(ToServer(held.forwarded))
        else:
            text = denial_text(self.server, held.call.tool, verdict, held.call.method)
            if held.call.task or held.call.method != TOOLS_CALL:
                # Only a tools/call answers with a result a model reads; other methods' results are data.
                # A task-augmented call expects a task back; clients reject an isError result there.
                answer = jsonrpc.error_response(held.request_id, CALL_DENIED, text)
            else:
                stateless = held.call.era is ProtocolEra.STATELESS
                answer = jsonrpc.tool_error_result(held.request_id, text, stateless=stateless)
            commands.append(ToClient(answer))
        return commands

    # -- events from the server -----------------------------------------------------------------------------------

    def server_data(self, data: bytes) -> list[Command]:
        commands: list[Command] = []
        for frame in self._from_server.feed(data):
            if isinstance(frame, Oversized):
                commands.append(
                    Report(f"server wrote a message over {self._from_server.max_line} bytes; not forwarded")
                )
                continue
            try:
                value = jsonrpc.loads_lenient(frame)
            except MalformedMessage:
                preview = frame[:200].decode("utf-8", "replace")
                commands.append(Report(f"server wrote a non-JSON line to stdout; not forwarded: {preview}"))
                continue
            observed: list[Command] = []
            items = value if isinstance(value, list) else [value]
            seen = [self._observe_server_message(item, frame, observed) for item in items]
            listed = [tools for tools, _ in seen]
            redacted = [rewritten for _, rewritten in seen]
            held = self.quarantine and not isinstance(value, list) and listed[0] is not None
            for tools in listed:
                if tools is not None:
                    listing = next(self._listing_ids)
                    if held:
                        self._held_lists[listing] = value
                    commands.append(ToolsListed(listing, tools, self._facts.server_info, held))
            if held:
                continue  # forwarded once the service has screened it
            if any(item is not None for item in redacted):
                # Only this response is re-serialised: everything else still passes as the exact bytes.
                items = [new if new is not None else old for new, old in zip(redacted, items, strict=True)]
                commands.append(Report("redacted secrets from a result before passing it on (redact-results is on)"))
            if self.quarantine and any(tools is not None for tools in listed):
                commands.extend(self._hide_listings_in_batch(items, listed))
            elif any(item is not None for item in redacted):
                sent = jsonrpc.encode_sorted(items) if isinstance(value, list) else jsonrpc.encode(items[0])
                commands.append(ToClient(sent))
            else:
                commands.append(ToClient(frame))
            commands.extend(observed)
        return commands

    @staticmethod
    def _hide_listings_in_batch(items: list[Any], listed: list[list[dict[str, Any]] | None]) -> list[Command]:
        """Quarantine, for a tools/list result inside a batch (2025-03-26 servers may batch responses): it is not
        held for screening, so it fails closed and shows no tools at all."""
        rewritten = [
            {**item, "result": {**item["result"], "tools": []}} if tools is not None else item
            for item, tools in zip(items, listed, strict=True)
        ]
        return [
            Report("quarantine: hid every tool of a tools/list result the server sent inside a batch"),
            ToClient(jsonrpc.encode(rewritten)),
        ]

    def screened(self, listing: int, hidden: list[str] | None) -> list[Command]:
        """The service's answer to a held `tools/list` response: the names of tools not accepted yet, or None
        when it could not answer (then every tool is hidden: quarantine fails closed)."""
        response = self._held_lists.pop(listing, None)
        if response is None:
            return []
        result = response.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(tools, list):
            return [ToClient(jsonrpc.encode(response))]  # not held: only listing results are
        kept = [
            tool for tool in tools if hidden is not None and isinstance(tool, dict) and tool.get("name") not in hidden
        ]
        commands: list[Command] = []
        if len(kept) != len(tools):
            names = "every tool (MCP Approver did not answer)" if hidden is None else ", ".join(sorted(hidden))
            commands.append(Report(f"quarantine: hid {names} from tools/list until accepted in MCP Approver"))
        commands.append(ToClient(jsonrpc.encode({**response, "result": {**result, "tools": kept}})))
        return commands

    def _observe_server_message(
        self, value: Any, frame: bytes, observed: list[Command]
    ) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
        """Learn from one message the server sent. Returns the tools when it answers a client's tools/list, and a
        redacted copy when it is a forwarded call's result that must not reach the client as it is."""
        if not isinstance(value, dict):
            return None, None
        if "method" in value:
            raw_id = value.get("id")
            if value["method"] == "roots/list" and isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
                self._facts.roots_requests.add(jsonrpc.id_key(raw_id))
            return None, None
        raw_id = value.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            return None, None
        entry = self._in_flight.pop(jsonrpc.id_key(raw_id), None)
        tools = None
        if entry is not None:
            if entry[1] in ("initialize", "server/discover", "tools/list"):
                self._learn_server_info(value.get("result"))
            if entry[1] == "tools/list":
                tools = self._learn_tools(value.get("result"))
        forwarded = self._forwarded.pop(jsonrpc.id_key(raw_id), None)
        if forwarded is None:
            return tools, None
        hold, call = forwarded
        rewritten = redact_response(value, self.redaction_key) if self.redact_results else None
        observed.append(Observed(hold, call, frame, value, redacted=rewritten is not None))
        return tools, rewritten

    def _learn_server_info(self, result: Any) -> None:
        """The server's name for itself: in its initialize result, or (2026-07-28) in any result's _meta."""
        if not isinstance(result, dict):
            return
        meta = result.get("_meta")
        for info in (result.get("serverInfo"), meta.get(STATELESS_SERVER_KEY) if isinstance(meta, dict) else None):
            if isinstance(info, dict) and isinstance(info.get("name"), str):
                self._facts.server_info = info["name"]

    def _learn_tools(self, result: Any) -> list[dict[str, Any]] | None:
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            return None
        listed: list[dict[str, Any]] = []
        for tool in tools:
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                annotations = tool.get("annotations")
                description = tool.get("description")
                definition = definition_of(tool)
                self._facts.tools[tool["name"]] = ToolInfo(
                    description=description if isinstance(description, str) else None,
                    annotations=annotations if isinstance(annotations, dict) else None,
                    digest=definition_digest(definition),
                    definition=definition,
                    input_schema=tool.get("inputSchema"),
                )
                listed.append(definition)
        return listed

    def _learn_roots(self, result: Any) -> None:
        roots = result.get("roots") if isinstance(result, dict) else None
        if isinstance(roots, list):
            self._facts.roots = [r["uri"] for r in roots if isinstance(r, dict) and isinstance(r.get("uri"), str)]

    def server_exited(self, detail: str) -> list[Command]:
        """The server process ended (`detail` says how). Everything still waiting on it gets an answer now."""
        commands: list[Command] = []
        self._server_exit = detail
        if self._from_server.pending:
            commands.append(Report("the server exited in the middle of a message; dropped"))
        # Forwarded requests the server never answered: their outcome is that nothing came back.
        commands.extend(Observed(hold, call, b"", {}, redacted=False) for hold, call in self._forwarded.values())
        self._forwarded.clear()
        if self._client_gone:
            self._in_flight.clear()
            return commands
        for request_id, _method in self._in_flight.values():
            commands.append(ToClient(self._server_gone_error(request_id)))
        self._in_flight.clear()
        for hold, held in list(self._held.items()):
            del self._held[hold]
            commands.append(Withdraw(hold, "the server exited"))
            commands.append(ToClient(self._server_gone_error(held.request_id)))
        return commands

    def _server_gone_error(self, request_id: RequestId) -> bytes:
        return jsonrpc.error_response(
            request_id,
            SERVER_UNAVAILABLE,
            f"MCP server '{self.server}' is not running ({self._server_exit}); the request was not processed",
        )


def _client_info(raw: Any) -> ClientInfo | None:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        version = raw.get("version")
        return ClientInfo(name=raw["name"], version=version if isinstance(version, str) else None)
    return None
