"""Evidence from paths in the arguments: outside the project, sensitive places, symlinks."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from approver.core.models import ToolCall
from approver.core.risk.arguments import _PATH_KEY_SUFFIXES, _PATH_KEYS, _WEAK_PATH_KEYS, _Arguments, _flatten
from approver.core.risk.findings import _Findings
from approver.core.risk.model import MAX_PATH_LENGTH, MAX_PATHS, PathFacts, RiskContext, RiskLevel, max_level
from approver.core.risk.quoting import _WORD_EDGE, _show
from approver.core.risk.tool import _Tool, _tool_profile

# --- paths ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _PathSite:
    raw: str
    role: Literal["target", "mention", "redirect"]


def paths_to_check(call: ToolCall) -> list[str]:
    """The path-like strings in the call's arguments, in order, each once: the caller resolves them on disk.

    For each, the caller should expand `~` with the home folder, resolve a relative path against the first
    workspace root, follow symlinks (realpath) and lstat, and pass the result as `PathFacts` keyed by the string.
    """
    tool = _tool_profile(call)
    seen: dict[str, None] = {}
    for site in _path_sites(_flatten(call.arguments), tool):
        seen.setdefault(site.raw, None)
    return list(seen)


_PATH_SHAPE = re.compile(r"~[^/\s]{0,64}+(?:/|$)|\.\.?/|/.|\.\.$|[A-Za-z]:[\\/]|\\\\")
_WINDOWS_PATH = re.compile(r"[A-Za-z]:[\\/]|\\\\")
_EMBEDDED_PATH = re.compile(r"(?<![^\s\"'=(:,>])(?:~|\.{1,2})?/[^\s\"'<>|;&()`]{0,4095}+")
_REDIRECT = re.compile(r">>?[ \t]*+([^\s\"'<>|;&()`]{1,4095}+)")
_HARMLESS_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"})
_FILE_URL = re.compile(r"file:(?://[^/\s\"'<>]{0,255}+)?(/[^\s\"'<>?#]{0,4095}+)", re.IGNORECASE)


def _path_sites(arguments: _Arguments, tool: _Tool) -> list[_PathSite]:
    sites: list[_PathSite] = []
    for site in arguments.sites:
        if len(sites) >= MAX_PATHS:
            break
        text = site.text
        single_line = 0 < len(text) <= MAX_PATH_LENGTH and "\n" not in text and "\x00" not in text
        key = site.key or ""
        strong = key in _PATH_KEYS or key.endswith(_PATH_KEY_SUFFIXES)
        shaped = _PATH_SHAPE.match(text) is not None or "../" in text or text.endswith("/..")
        # A value under a path key is a path; elsewhere it must look like one (and be one word, unless the key at
        # least hints at a place: source, target, …).
        usable = single_line and not site.command and "://" not in text
        if usable and (strong or (shaped and (key in _WEAK_PATH_KEYS or not _has_space(text)))):
            sites.append(_PathSite(text, "target"))
        if site.command or tool.runs_commands:
            sites.extend(_embedded_paths(text))
        if "file:" in text[:100_000].lower():
            for match in _FILE_URL.finditer(text, 0, 100_000):
                sites.append(_PathSite(unquote(match.group(1)), "target"))
    return sites[:MAX_PATHS]


def _has_space(text: str) -> bool:
    return _WORD_EDGE.search(text) is not None


def _embedded_paths(text: str) -> Iterator[_PathSite]:
    """Paths inside a command line: words that start with /, ~/ or ../, and the targets of > and >>."""
    redirected: dict[str, None] = {}
    for match in _REDIRECT.finditer(text):
        if match.group(1) not in _HARMLESS_DEVICES and len(redirected) < MAX_PATHS:
            redirected.setdefault(match.group(1), None)
    yield from (_PathSite(path, "redirect") for path in redirected)
    count = len(redirected)
    for match in _EMBEDDED_PATH.finditer(text):
        path = match.group()
        if path in redirected or path in _HARMLESS_DEVICES:
            continue
        if path.startswith("//") and text.endswith(":", 0, match.start()):
            continue  # a URL
        yield _PathSite(path, "mention")
        count += 1
        if count >= MAX_PATHS:
            return


@dataclass(frozen=True, slots=True)
class _Sensitivity:
    code: str
    read: RiskLevel | None
    write: RiskLevel
    read_text: str
    write_text: str


_CREDENTIALS = _Sensitivity(
    "credentials",
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
    "holds keys, passwords or tokens: reading it can expose them",
    "holds keys, passwords or tokens: changing it can lock you out or let someone else in",
)
_BROWSER = _Sensitivity(
    "browser",
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
    "is a web browser profile, with saved passwords and logged-in sessions",
    "is a web browser profile, with saved passwords and logged-in sessions",
)
_PERSISTENCE = _Sensitivity(
    "persistence",
    RiskLevel.MEDIUM,
    RiskLevel.CRITICAL,
    "is run or read automatically (at login, in every terminal or on a schedule) and may hold secrets",
    "is run automatically (at login, in every terminal or on a schedule): a change there keeps running later",
)
_ACCOUNTS = _Sensitivity(
    "accounts",
    RiskLevel.MEDIUM,
    RiskLevel.CRITICAL,
    "lists the user accounts of this computer",
    "defines the user accounts of this computer",
)
_SYSTEM = _Sensitivity(
    "system", None, RiskLevel.HIGH, "is a system file", "is a system file: changing it can break the computer"
)
_DISK = _Sensitivity(
    "disk",
    RiskLevel.HIGH,
    RiskLevel.CRITICAL,
    "is a whole disk: reading it exposes everything on it",
    "is a whole disk: writing to it destroys what is on it",
)

# Relative to a home folder (any user's); compared case-insensitively (macOS file systems usually are).


def _entries(sensitivity: _Sensitivity, entries: str) -> list[tuple[str, _Sensitivity]]:
    return [(entry.replace("+", " "), sensitivity) for entry in entries.split()]


# Relative to a home folder (any user's); compared case-insensitively (macOS file systems usually are). A "+"
# stands for a space.
_HOME_ENTRIES = (
    _entries(
        _CREDENTIALS,
        ".ssh .aws .gnupg .config/gh .config/hub .netrc .git-credentials .docker/config.json .kube .npmrc .pypirc "
        ".config/gcloud .azure .password-store .local/share/keyrings library/keychains .pgpass .my.cnf .vault-token "
        ".cargo/credentials .terraform.d/credentials.tfrc.json .config/op .gem/credentials",
    )
    + _entries(
        _BROWSER,
        ".mozilla .config/google-chrome .config/chromium .config/bravesoftware .config/microsoft-edge .config/vivaldi "
        ".config/opera snap/firefox snap/chromium .var/app/org.mozilla.firefox library/safari library/cookies "
        "library/application+support/google/chrome library/application+support/firefox "
        "library/application+support/bravesoftware library/application+support/microsoft+edge "
        "library/application+support/arc library/application+support/vivaldi",
    )
    + _entries(
        _PERSISTENCE,
        ".bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zprofile .zshenv .zlogin .zlogout .cshrc "
        ".tcshrc .kshrc .mkshrc .config/fish .xprofile .xinitrc .xsession .xsessionrc .pam_environment "
        ".config/environment.d .gitconfig .config/git .config/autostart .config/systemd/user "
        ".local/share/systemd/user library/launchagents",
    )
)
_SYSTEM_ENTRIES = (
    _entries(_CREDENTIALS, "/etc/shadow /etc/gshadow /etc/sudoers /etc/sudoers.d /etc/ssh /root /library/keychains")
    + _entries(_CREDENTIALS, "/var/db/sudo")
    + _entries(_ACCOUNTS, "/etc/passwd /etc/group /etc/master.passwd")
    + _entries(
        _PERSISTENCE,
        "/etc/profile /etc/profile.d /etc/bash.bashrc /etc/bashrc /etc/zsh /etc/zshrc /etc/zprofile /etc/zshenv "
        "/etc/environment /etc/crontab /etc/cron.d /etc/cron.hourly /etc/cron.daily /etc/cron.weekly "
        "/etc/cron.monthly /etc/anacrontab /var/spool/cron /etc/systemd /lib/systemd /usr/lib/systemd /etc/init.d "
        "/etc/rc.local /etc/xdg/autostart /library/launchagents /library/launchdaemons /etc/ld.so.preload "
        "/etc/periodic",
    )
    + _entries(
        _SYSTEM,
        "/etc /boot /bin /sbin /usr /lib /lib64 /system /proc /sys /var/lib /private/etc /applications",
    )
)
_DISK_DEVICE = re.compile(r"/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|dm-|md|loop)[^/]*$")
_OTHER_HOME = re.compile(r"^(?:/home/[^/]+|/users/[^/]+|/root)(?=/|$)")
_KEY_FILE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx", ".gpg", ".asc")
_KEY_FILE_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults")


def _sensitivities(path: str, home: str) -> list[tuple[_Sensitivity, str]]:
    """What makes an absolute, normalised path sensitive: (kind, the entry that matched). Most specific first."""
    folded = unicodedata.normalize("NFC", path).casefold()
    homes = [unicodedata.normalize("NFC", home).casefold().rstrip("/") or "/"]
    other = _OTHER_HOME.match(folded)
    if other is not None and other.group() not in homes:
        homes.append(other.group())
    found: list[tuple[_Sensitivity, str]] = []
    for home_folder in homes:
        if not _within(folded, home_folder):
            continue
        relative = folded[len(home_folder) :].lstrip("/")
        for entry, sensitivity in _HOME_ENTRIES:
            if relative == entry or relative.startswith(entry + "/"):
                found.append((sensitivity, "~/" + entry if home_folder == homes[0] else f"{home_folder}/{entry}"))
                break
    for entry, sensitivity in _SYSTEM_ENTRIES:
        if entry == homes[0]:
            continue  # /root is the person's own home when they run as root: the home entries above apply
        if _within(folded, entry):
            found.append((sensitivity, entry))
            break
    if folded.startswith("/proc/") and folded.endswith("/environ"):
        found.append((_CREDENTIALS, "/proc/…/environ (a program's environment variables)"))
    if _DISK_DEVICE.search(folded):
        found.append((_DISK, posixpath.basename(folded)))
    name = posixpath.basename(folded)
    parts = folded.split("/")
    if (name == ".env" or name.startswith(".env.")) and not name.endswith(_ENV_TEMPLATES):
        found.append((_CREDENTIALS, "a .env file"))
    if name.startswith(_KEY_FILE_NAMES) and not name.endswith(".pub"):
        found.append((_CREDENTIALS, "an SSH private key"))
    elif name.endswith(_KEY_FILE_SUFFIXES):
        found.append((_CREDENTIALS, "a key or certificate file"))
    if name in {".htpasswd", "credentials.json", "credentials", "secrets.json", "secrets.yaml", "secrets.yml"}:
        found.append((_CREDENTIALS, f"a '{name}' file"))
    if ".git" in parts:
        after = parts[parts.index(".git") + 1 :]
        if after[:1] == ["config"] or after[:1] == ["hooks"]:
            found.append((_PERSISTENCE, ".git/" + after[0]))
    return found


def _within(path: str, folder: str) -> bool:
    return folder in {"/", path} or path.startswith(folder.rstrip("/") + "/")


def _root_path(root: str) -> str | None:
    if root.lower().startswith("file:"):
        match = _FILE_URL.match(root)
        root = unquote(match.group(1)) if match else ""
    return posixpath.normpath(root) if root.startswith("/") else None


def _lexical(raw: str, home: str, roots: list[str]) -> str | None:
    """Where the path points by its text alone: ~ expanded, relative to the first root; None if unknowable."""
    text = raw
    if _WINDOWS_PATH.match(text):
        return None  # only the caller, on that system, can place it
    if text == "~" or text.startswith("~/"):
        text = home.rstrip("/") + text[1:]
    elif text.startswith("~"):
        user, _, rest = text[1:].partition("/")
        text = posixpath.join(posixpath.dirname(home.rstrip("/")) or "/", user, rest)
    if not text.startswith("/"):
        if not roots:
            return None
        text = posixpath.join(roots[0], text)
    return posixpath.normpath(text).replace("//", "/")


@dataclass(frozen=True, slots=True)
class _Places:
    """Where the user works: the workspace roots, or the home folder when the client named none."""

    roots: list[str]
    home: str

    @property
    def area(self) -> str:
        return "your project folders" if self.roots else "your home folder"

    @property
    def short_area(self) -> str:
        return "your project" if self.roots else "your home folder"

    def inside(self, path: str) -> bool:
        return any(_within(path, root) for root in self.roots) if self.roots else _within(path, self.home)


def _path_reasons(sites: list[_PathSite], tool: _Tool, context: RiskContext, findings: _Findings) -> None:
    roots = [root for root in (_root_path(r) for r in context.roots) if root is not None]
    places = _Places(roots, posixpath.normpath(context.home) if context.home.startswith("/") else "/")
    for site in sites:
        _one_path(site, tool, places, context.paths.get(site.raw), findings)


def _one_path(site: _PathSite, tool: _Tool, places: _Places, facts: PathFacts | None, findings: _Findings) -> None:
    literal = _lexical(site.raw, places.home, places.roots)
    resolved = None
    if facts is not None and facts.resolved and facts.resolved.startswith("/"):
        resolved = posixpath.normpath(facts.resolved)
    effective = resolved or literal
    writes = site.role == "redirect" or (site.role == "target" and tool.mode == "write")
    shown_raw = _show(site.raw, 80, keep="end")
    levels = [RiskLevel.LOW]
    if re.search(r"(?:^|[/\\])\.\.(?:[/\\]|$)", site.raw):
        findings.add("path.traversal", RiskLevel.MEDIUM, f"The path '{shown_raw}' climbs out of its folder with '..'.")
        levels.append(RiskLevel.MEDIUM)
    inside = None if effective is None else places.inside(effective)
    if inside is False and effective is not None:
        level = RiskLevel.HIGH if writes else RiskLevel.MEDIUM
        findings.add("path.outside", level, f"'{_show(effective, 80, keep='end')}' is outside {places.area}.")
        levels.append(level)
    linked = facts is not None and resolved is not None and (facts.is_symlink or resolved != literal)
    if linked and resolved is not None:
        if literal is not None and places.inside(literal) and inside is False:
            findings.add(
                "path.symlink_escape",
                RiskLevel.HIGH,
                f"'{shown_raw}' looks like it is inside {places.area}, but a symbolic link makes it lead to "
                f"'{_show(resolved, 80, keep='end')}', outside.",
            )
            levels.append(RiskLevel.HIGH)
        else:
            findings.add(
                "path.symlink",
                RiskLevel.MEDIUM,
                f"'{shown_raw}' leads somewhere else through a symbolic link: '{_show(resolved, 80, keep='end')}'.",
            )
            levels.append(RiskLevel.MEDIUM)
    candidates = sorted({candidate for candidate in (effective, literal) if candidate is not None})
    levels.append(_sensitive_path_reasons(candidates, site, writes, places.home, findings))
    if site.role == "mention":
        return
    place = "location unknown" if inside is None else ("inside " if inside else "outside ") + places.short_area
    if facts is None:
        state = "not checked on disk"
    elif linked and resolved is not None:
        state = f"it is a link to {_show(resolved, 60, keep='end')}"
    else:
        state = "the file exists" if facts.exists else "it does not exist yet"
    verb = _path_verb(tool)
    if site.role == "redirect":
        verb = "Writes to"
    elif verb == "Overwrites" and facts is not None and not facts.exists:
        verb = "Creates"
    shown = _show(effective or site.raw, 80, keep="end")
    findings.impact(max_level(levels), 1 if writes else 3, f"{verb} {shown} — {place}; {state}.")


def _sensitive_path_reasons(
    candidates: list[str], site: _PathSite, writes: bool, home: str, findings: _Findings
) -> RiskLevel:
    levels = [RiskLevel.LOW]
    reported: set[str] = set()
    for candidate in candidates:
        for sensitivity, entry in _sensitivities(candidate, home):
            level = sensitivity.write if writes else sensitivity.read
            if sensitivity.code in reported or level is None:
                continue
            reported.add(sensitivity.code)
            text = sensitivity.write_text if writes else sensitivity.read_text
            action = "changes" if writes else ("mentions" if site.role == "mention" else "uses")
            findings.add(
                f"path.sensitive.{sensitivity.code}",
                level,
                f"This call {action} '{_show(candidate, 80, keep='end')}' ({_show(entry, 60)}), which {text}.",
            )
            levels.append(level)
    return max_level(levels)


def _path_verb(tool: _Tool) -> str:
    words = set(tool.name_words)
    if "delete" in tool.categories:
        return "Deletes"
    if words & {"move", "mv", "rename"}:
        return "Moves"
    if words & {"edit", "patch", "update", "append", "replace", "modify", "insert"}:
        return "Changes"
    if words & {"mkdir", "create", "touch"} and not words & {"write", "overwrite", "save"}:
        return "Creates"
    if words & {"write", "overwrite", "save", "put", "upload", "copy", "cp"}:
        return "Overwrites"
    if tool.runs_commands:
        return "Runs in"
    if words & {"list", "ls", "tree"}:
        return "Lists"
    if words & {"search", "find", "grep", "glob"}:
        return "Searches"
    if tool.mode == "read":
        return "Reads"
    return "Uses"
