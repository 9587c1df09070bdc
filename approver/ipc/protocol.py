"""The versioned protocol between proxies and the decision service: JSON lines over a same-user local socket.

    proxy                                   service
    hello {v, role, pid, server}      ->
                                      <-    welcome {v, service, mode}      (or refused {reason})
    decide {ref, call}                ->
                                      <-    verdict {ref, verdict}          (at once, if a rule decides)
                                      <-    holding {ref, deadline_ms}      (at once, if a person must)
                                      <-    verdict {ref, verdict}          (then, when they have)
    withdraw {ref, reason}            ->                                    (the call no longer needs a decision)
    not-carried-out {ref, actor, reason} ->                                 (an allow came after the proxy had
                                                                             denied or withdrawn the call)
    outcome {ref, report}             ->                                    (what the server answered to a call
                                                                             allowed on this connection)
    status {}                         ->
                                      <-    status {pid, home, mode, proxies, policy, alarms}
    activate {}                       ->                                    (a second launch of the desktop app)
    tools-listed {ref, server, …, tools} ->                                 (the server listed tools: pin them)
                                      <-    tools-screened {ref, hidden}    (the tools not accepted yet)
                                      <-    activated {shown}               (shown: false when no app runs here)

A proxy that gets neither a verdict nor `holding` within its acknowledgement timeout, or no verdict by the
announced deadline, denies the call: the service is absent or stuck, and we fail closed. It withdraws the call,
and if an allow still arrives for it (the service was only slow, and has logged that allow), it reports
`not-carried-out` so that the log's last word on the call is the denial that happened. Before it says hello, it
checks that the process answering is the one holding the home's instance lock (`approver.platform.instance`).

The service cuts a connection that does not greet within seconds, leaves a line unfinished, sends a line longer
than the limits below, or does not read its replies.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from approver.core.models import Actor, ToolCall, Verdict
from approver.core.results import ResultReport

PROTOCOL_VERSION = 2  # 2: not-carried-out, outcome, tools-listed/-screened, spool tallies in hello
# A decide carries the call's arguments: up to the 256 MiB line the proxy relays, plus what the proxy adds (the
# tool's description and annotations, roots). Anything longer is cut off, and the call denied.
MAX_MESSAGE_BYTES = 272 * 1024 * 1024
MAX_SMALL_MESSAGE_BYTES = 1024 * 1024  # every other message: hello, status, withdraw, and all replies


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SpoolTally(_Message):
    """The denials a proxy spooled in its session that no service has checked yet: lines since+1, since+2, … with
    the SHA-256 of each line as the proxy wrote it (see approver.ipc.spool)."""

    session: str
    since: int = Field(ge=0)
    digests: list[str] = Field(min_length=1)

    @property
    def count(self) -> int:
        return self.since + len(self.digests)


class Hello(_Message):
    type: Literal["hello"] = "hello"
    v: int = PROTOCOL_VERSION
    role: Literal["proxy", "status"]
    pid: int
    server: str | None = None
    spooled: SpoolTally | None = None  # a proxy that denied calls alone while the service was away says so


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    v: int = PROTOCOL_VERSION
    service: str
    mode: Literal["headless", "desktop"]
    redact_results: bool = False  # replace secrets in results before the client gets them (a setting)


class Refused(_Message):
    type: Literal["refused"] = "refused"
    reason: str


class Decide(_Message):
    # A call's arguments may hold a number that overflowed to infinity when parsed (1e400): carry it as such, so
    # the service logs what was sent rather than the null pydantic would write by default.
    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_inf_nan="constants")
    type: Literal["decide"] = "decide"
    ref: int
    call: ToolCall


class Holding(_Message):
    type: Literal["holding"] = "holding"
    ref: int
    deadline_ms: int = Field(ge=0)


class VerdictMessage(_Message):
    type: Literal["verdict"] = "verdict"
    ref: int
    verdict: Verdict
    redact_results: bool = False  # the setting as it is now: a change applies from the next verdict on


class WithdrawMessage(_Message):
    type: Literal["withdraw"] = "withdraw"
    ref: int
    reason: str


class NotCarriedOut(_Message):
    """An allow for a call the proxy had already settled otherwise: it never reached the server. Only a call
    allowed on the same connection can be named: no other process can disown a call a proxy forwarded."""

    type: Literal["not-carried-out"] = "not-carried-out"
    ref: int
    actor: Literal[Actor.TIMEOUT, Actor.NONE, Actor.ERROR]  # how the proxy settled it: never a rule or a person
    reason: str


class ToolsListedMessage(_Message):
    """A server's `tools/list` result (one page), as the proxy read it: each tool's definition fields. Sent
    whatever happens to the calls, so every definition is pinned; a quarantined proxy waits for the answer."""

    type: Literal["tools-listed"] = "tools-listed"
    ref: int
    server: str
    server_command: list[str]
    server_info: str | None = None
    tools: list[dict[str, Any]]
    quarantine: bool = False


class ToolsScreened(_Message):
    """The service's answer to tools-listed: the listed tools whose definition is not accepted (yet)."""

    type: Literal["tools-screened"] = "tools-screened"
    ref: int
    hidden: list[str]


class OutcomeMessage(_Message):
    """What came back for a call allowed on this connection (facts about the response, never its content)."""

    type: Literal["outcome"] = "outcome"
    ref: int
    report: ResultReport


class StatusRequest(_Message):
    type: Literal["status"] = "status"


class Activate(_Message):
    """A second launch of the desktop app asks the running one to come forward, then exits."""

    type: Literal["activate"] = "activate"


class Activated(_Message):
    type: Literal["activated"] = "activated"
    shown: bool  # False: this service runs without the desktop app (headless)


class StatusReply(_Message):
    type: Literal["status-reply"] = "status-reply"
    pid: int
    home: str
    mode: Literal["headless", "desktop"]
    proxies: int
    policy: str
    alarms: list[str] = []  # what the service noticed done to it (its socket replaced or removed), newest last


IpcMessage: TypeAlias = Annotated[
    Hello
    | Welcome
    | Refused
    | Decide
    | Holding
    | VerdictMessage
    | WithdrawMessage
    | NotCarriedOut
    | OutcomeMessage
    | StatusRequest
    | StatusReply
    | Activate
    | Activated
    | ToolsListedMessage
    | ToolsScreened,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[IpcMessage] = TypeAdapter(IpcMessage)


class ProtocolError(ValueError):
    """The peer sent something that is not a message of this protocol version."""


def encode(message: _Message) -> bytes:
    return message.model_dump_json().encode("utf-8") + b"\n"


def decode(line: bytes) -> IpcMessage:
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProtocolError(f"unexpected message: {first['msg']} at {first['loc']}") from None
