"""Evidence from shell commands in the arguments: remote code, destruction, privilege, persistence."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from approver.core.risk.arguments import _Arguments
from approver.core.risk.findings import _Findings
from approver.core.risk.model import RiskLevel, _lower, max_level
from approver.core.risk.quoting import _show
from approver.core.risk.tool import _CATEGORIES, _Tool

# --- shell commands ------------------------------------------------------------------------------------------


_Classified = tuple[str, RiskLevel, str]  # (code, level, what it is)


@dataclass(frozen=True, slots=True)
class _ShellPattern:
    code: str
    level: RiskLevel
    pattern: re.Pattern[str]
    text: str
    classify: Callable[[re.Match[str], str], _Classified | None] | None = None  # per match; None skips it


def _pipe_source(match: re.Match[str], lowered: str) -> _Classified | None:
    """What feeds the shell: a download or a decoded blob makes `| sh` critical."""
    line_start = max(lowered.rfind("\n", max(0, match.start() - 2048), match.start()) + 1, match.start() - 2048)
    before = lowered[line_start : match.start()]
    if _DOWNLOAD.search(before):
        return ("shell.remote_code", RiskLevel.CRITICAL, "a command that downloads a program and runs it at once")
    if _DECODE.search(before):
        return ("shell.decode_exec", RiskLevel.CRITICAL, "a hidden (encoded) command that is decoded and run")
    return ("shell.pipe_to_shell", RiskLevel.HIGH, "text piped into a shell or interpreter, which runs it as a program")


def _chmod_mode(match: re.Match[str], lowered: str) -> _Classified | None:
    mode = match.group("mode")
    if mode.isdigit():
        special = len(mode) == 4 and int(mode[0]) & 6
        world_writable = int(mode[-1]) & 2
    else:
        permissions = mode.lstrip("ugoa")  # starts with +, = or -
        who = mode[: len(mode) - len(permissions)]
        adds = permissions[:1] in {"+", "="}
        special = adds and "s" in permissions
        world_writable = adds and "w" in permissions and (not who or "o" in who or "a" in who)
    if special:
        return ("shell.chmod", RiskLevel.CRITICAL, "'chmod' making a program run with its owner's rights (setuid)")
    if world_writable:
        return ("shell.chmod", RiskLevel.HIGH, "'chmod' making files writable by anyone")
    return None


# All patterns run over a lower-cased copy (macOS runs `RM` as rm). Each starts with a literal and checks the
# character before it with a look-behind placed after the literal, and every repetition is possessive or
# bounded by a count of words, so each scan is linear in the text.
_W = r"[\w./-]"
_SHELL_PATTERNS: tuple[_ShellPattern, ...] = (
    _ShellPattern(
        "shell.fork_bomb",
        RiskLevel.CRITICAL,
        re.compile(r"\(\)[ \t]*+\{[ \t]*+([^\s|{}()]{1,32}+)[ \t]*+\|[ \t]*+\1[ \t]*+&"),
        "a 'fork bomb', which freezes the computer",
    ),
    _ShellPattern(
        "shell.disk",
        RiskLevel.CRITICAL,
        re.compile(
            r"mkfs(?<!" + _W + r"mkfs)|wipefs(?<!" + _W + r"wipefs)|diskutil[ \t]++(?:erase|zero|secureerase)"
            r"|of=/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk)|>[ \t]*+/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk)"
        ),
        "a command that erases or overwrites a whole disk",
    ),
    _ShellPattern(
        "shell.reverse_shell",
        RiskLevel.CRITICAL,
        re.compile(
            r"/dev/(?:tcp|udp)/|[ \t]-[ec][ \t]++(?:/usr)?/bin/(?:ba|z|da|k)?sh\b|-i[ \t]*+>&[ \t]*+/dev/"
            r"|(?:exec|system):[\"']?(?:/usr)?(?:/bin/)?(?:ba|z|da|k)?sh\b"
        ),
        "a 'reverse shell', which hands control of this computer to someone over the network",
    ),
    _ShellPattern(
        "shell.remote_code",
        RiskLevel.CRITICAL,
        re.compile(
            r"(?:sh|eval|source|\.|iex)[ \t]++(?:-c[ \t]++)?[\"']?(?:\$\(|<\(|`)[ \t]*+(?:curl|wget)\b"
            r"|downloadstring\("
        ),
        "a command that downloads a program and runs it at once",
    ),
    _ShellPattern(
        "shell.pipe_to_shell",
        RiskLevel.HIGH,
        re.compile(
            r"\|[ \t]*+(?:sudo[ \t]++(?:-[a-z]++[ \t]++)?)?(?:env[ \t]++)?(?:/usr)?(?:/bin/)?"
            r"(?:(?:ba|z|da|k|fi|a)?sh|python[0-9.]*+|perl|ruby|node|php|iex|invoke-expression)\b"
        ),
        "text piped into a shell or interpreter, which runs it as a program",
        _pipe_source,
    ),
    _ShellPattern(
        "shell.delete",
        RiskLevel.CRITICAL,
        re.compile(
            r"rm(?<!" + _W + r"rm)(?:[ \t]++-{1,2}[a-z-]{1,20}+){0,5}?[ \t]++(?:-[a-z]*r[a-z]*|--recursive)\b"
            r"|remove-item(?:[ \t]++[^\s|;]{1,200}+){0,8}?[ \t]++-recurse\b"
        ),
        "a command that deletes whole folders without asking (such as 'rm -r')",
    ),
    _ShellPattern(
        "shell.delete",
        RiskLevel.HIGH,
        re.compile(
            r"rm(?<!" + _W + r"rm)[ \t]|unlink(?<!" + _W + r"unlink)[ \t]|shred(?<!" + _W + r"shred)\b"
            r"|remove-item\b|[ \t]-delete\b|git[ \t]++clean[ \t]++-[a-z]*f|git[ \t]++reset[ \t]++--hard"
        ),
        "a command that deletes files",
    ),
    _ShellPattern(
        "shell.privilege",
        RiskLevel.HIGH,
        re.compile(r"sudo(?<!" + _W + r"sudo)\b|doas(?<!" + _W + r"doas)[ \t]|su(?<!" + _W + r"su)[ \t]++-"),
        "'sudo' or 'su', which run a command with administrator rights",
    ),
    _ShellPattern(
        "shell.chmod",
        RiskLevel.HIGH,
        re.compile(
            r"chmod(?<!" + _W + r"chmod)(?:[ \t]++-[a-z]++)*+[ \t]++(?P<mode>[0-7]{3,4}+|[ugoa]*+[+=-][rwxst]++)"
        ),
        "'chmod' changing who may use files",
        _chmod_mode,
    ),
    _ShellPattern(
        "shell.eval",
        RiskLevel.HIGH,
        re.compile(r"eval(?<!" + _W + r"eval)\b|invoke-expression\b|iex(?<!" + _W + r"iex)[ \t(]|-encodedcommand\b"),
        "'eval' (or the like), which runs text built at run time as a command",
    ),
    _ShellPattern(
        "shell.persistence",
        RiskLevel.HIGH,
        re.compile(
            r"crontab(?<!" + _W + r"crontab)(?![ \t]++-l)|systemctl[ \t]++(?:--user[ \t]++)?enable\b"
            r"|launchctl[ \t]++(?:load|bootstrap)\b|>>?[ \t]*+~/\.(?:bashrc|zshrc|profile|bash_profile|zprofile)"
            r"|>>?[ \t]*+[\w./~-]{0,200}?authorized_keys"
        ),
        "a command that makes something run again automatically later",
    ),
    _ShellPattern(
        "shell.upload",
        RiskLevel.HIGH,
        re.compile(
            r"[ \t](?:-d|--data(?:-binary|-raw|-urlencode)?|-f|--form)[ \t=]*+[\"']?@[^\s\"']|--upload-file\b"
            r"|scp(?<!" + _W + r"scp)[ \t]|rsync(?<!" + _W + r"rsync)(?:[ \t]++[^\s;|&]{1,200}+){0,8}?"
            r"[ \t]++[^\s;|&:/]{1,100}+:"
        ),
        "a command that sends files to another computer",
    ),
    _ShellPattern(
        "shell.power",
        RiskLevel.HIGH,
        re.compile(
            r"shutdown(?<!" + _W + r"shutdown)\b|reboot(?<!" + _W + r"reboot)\b|poweroff\b|halt(?<!" + _W + r"halt)\b"
            r"|kill[ \t]++-9[ \t]++-1\b|killall(?<!" + _W + r"killall)\b"
        ),
        "a command that shuts down the computer or stops programs",
    ),
    _ShellPattern(
        "shell.force_push",
        RiskLevel.HIGH,
        re.compile(r"push(?<!" + _W + r"push)(?:[ \t]++[^\s;|&]{1,100}+){0,6}?[ \t]++(?:--force(?:-with-lease)?|-f)\b"),
        "'git push --force', which can erase other people's work",
    ),
    _ShellPattern(
        "shell.hide_tracks",
        RiskLevel.MEDIUM,
        re.compile(r"histfile|history[ \t]++-c\b|set[ \t]++\+o[ \t]++history"),
        "a command that hides what was run from the shell history",
    ),
)
_DOWNLOAD = re.compile(r"\b(?:curl|wget|fetch|iwr|irm|invoke-webrequest|invoke-restmethod)\b|https?://")
_DECODE = re.compile(r"base64[ \t]++(?:-d|--decode)|xxd[ \t]++-r|openssl[ \t]++(?:base64|enc)")
MAX_MATCHES_PER_PATTERN = 1000


def _lowered(text: str) -> str:
    """A lower-case copy with the same offsets (only 'İ' lengthens under str.lower())."""
    lowered = (text.replace("\u0130", "I") if "\u0130" in text else text).lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_SHELL_QUOTING = re.compile(r"[\"'\\]")
MAX_NORMALISED_COMMAND = 65_536  # characters; shlex is pure Python, about a microsecond a character


def _shell_words(text: str) -> str | None:
    """The command as the shell splits it into words: `"ba"sh` is `bash`, `r''m` is `rm`, `\\rm` is `rm`.

    Line by line, so what the patterns look back on stays on its line; a line shlex cannot split (an unbalanced
    quote) is kept as written. None when there is nothing to remove or the text is too long to split."""
    if len(text) > MAX_NORMALISED_COMMAND or _SHELL_QUOTING.search(text) is None:
        return None
    lines: list[str] = []
    for line in text.split("\n"):
        if _SHELL_QUOTING.search(line) is None:
            lines.append(line)
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            lines.append(" ".join(lexer))
        except ValueError:
            lines.append(line)
    words = "\n".join(lines)
    return None if words == text else words


def _shell_reasons(arguments: _Arguments, tool: _Tool, findings: _Findings) -> None:
    for site in arguments.sites:
        runs = site.command or tool.runs_commands
        site_level = RiskLevel.LOW
        reported: set[str] = set()  # one reason per code and string: the graver pattern comes first
        # A command is read as written and, if quotes or backslashes change it, as the shell reads its words.
        words = _shell_words(site.text) if runs else None
        readings = [(site.text, False)] + ([(words, True)] if words is not None else [])
        for text, disguised in readings:
            lowered = _lowered(text)
            for shell in _SHELL_PATTERNS:
                found = _worst_match(shell, lowered)
                if found is None or found[1][0] in reported:
                    continue
                match, (code, level, what) = found
                reported.add(code)
                snippet = _snippet(text, match.start(), match.end())
                where = _show(site.where, 60)
                if disguised:
                    findings.add(
                        code,
                        level,
                        f"'{where}' contains {what}, hidden by quotes or backslashes inside its words: `{snippet}` "
                        "once the shell removes them.",
                    )
                elif runs:
                    findings.add(code, level, f"'{where}' contains {what}: `{snippet}`.")
                else:
                    level = _lower(level)
                    findings.add(
                        code, level, f"'{where}' contains {what} (`{snippet}`); it runs if this text is ever executed."
                    )
                site_level = max_level([site_level, level])
        if runs and site.text.strip():
            command_level = max_level([site_level, _CATEGORIES["exec"][0] if tool.runs_commands else RiskLevel.MEDIUM])
            findings.impact(command_level, 0, f"Runs `{_show(site.text.strip(), 100)}` on your computer.")


def _worst_match(shell: _ShellPattern, lowered: str) -> tuple[re.Match[str], _Classified] | None:
    if shell.classify is None:
        match = shell.pattern.search(lowered)
        return None if match is None else (match, (shell.code, shell.level, shell.text))
    worst: tuple[re.Match[str], _Classified] | None = None
    for count, match in enumerate(shell.pattern.finditer(lowered)):
        classified = shell.classify(match, lowered)
        if classified is not None and (worst is None or classified[1].rank > worst[1][1].rank):
            worst = (match, classified)
        if count >= MAX_MATCHES_PER_PATTERN or (worst is not None and worst[1][1] is RiskLevel.CRITICAL):
            break
    return worst


def _snippet(text: str, start: int, end: int) -> str:
    """The match with a little of its line around it, never cutting a word (half a token would escape masking)."""
    line_start = max(text.rfind("\n", max(0, start - 60), start) + 1, start - 60, 0)
    while 0 < line_start < start and not text[line_start - 1].isspace():
        line_start += 1
    newline = text.find("\n", end, end + 60)
    line_end = newline if newline >= 0 else min(end + 60, len(text))
    while end < line_end < len(text) and not text[line_end].isspace():
        line_end -= 1
    prefix = "…" if line_start > 0 and text[line_start - 1] != "\n" else ""
    suffix = "…" if line_end < len(text) and text[line_end] != "\n" else ""
    return prefix + _show(text[line_start:line_end].strip(), 120) + suffix
