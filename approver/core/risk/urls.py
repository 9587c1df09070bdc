"""Evidence from links in the arguments: look-alike hosts, private and metadata addresses, odd schemes."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from approver.core.hosts import HostError, idn_forms, imitated_site, split_site
from approver.core.redaction import find_secrets_in_text
from approver.core.risk.arguments import _URL_KEY_SUFFIXES, _URL_KEYS, _Arguments
from approver.core.risk.findings import _Findings
from approver.core.risk.model import MAX_URLS, RiskLevel, max_level
from approver.core.risk.quoting import _show
from approver.core.risk.shell import _lowered

# --- links ---------------------------------------------------------------------------------------------------

_SCHEMES = re.compile(
    r"(?:https?|wss?|ftps?|sftp|ssh|git|smb|file|javascript|vbscript|data|gopher|ldaps?|dict|tftp|telnet)"
    r":"
)
_HIERARCHICAL = frozenset(
    {"http", "https", "ws", "wss", "ftp", "ftps", "sftp", "ssh", "git", "smb", "file", "gopher", "ldap", "ldaps"}
    | {"tftp", "telnet", "dict"}
)
_AUTHORITY_END = re.compile(r"[/\\?#\s\"'<>`]")
_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254", "metadata.google.internal", "100.100.100.200"})


@dataclass(slots=True)
class _Link:
    scheme: str
    host: str  # as written, lower-cased, percent-decoded
    userinfo: str
    where: str


def _links(arguments: _Arguments) -> list[_Link]:
    links: list[_Link] = []
    for site in arguments.sites:
        if len(links) >= MAX_URLS:
            break
        lowered = _lowered(site.text)
        found = False
        for match in _SCHEMES.finditer(lowered):
            scheme_start = match.start()
            while scheme_start > 0 and lowered[scheme_start - 1] in "abcdefghijklmnopqrstuvwxyz":
                scheme_start -= 1  # "xhttps:" is not https
            scheme = lowered[match.start() : match.end() - 1]
            if scheme_start != match.start():
                continue
            link = _parse_link(scheme, site.text, match.end(), site.where)
            if link is not None:
                links.append(link)
                found = True
            if len(links) >= MAX_URLS:
                break
        key = site.key or ""
        if not found and (key in _URL_KEYS or key.endswith(_URL_KEY_SUFFIXES)) and 0 < len(site.text) <= 2048:
            link = _parse_link("http", "//" + site.text.strip(), 0, site.where, scheme_written=False)
            if link is not None and (_DOTS.search(link.host) or link.host == "localhost" or ":" in link.host):
                links.append(link)
    return links


def _parse_link(scheme: str, text: str, after_colon: int, where: str, *, scheme_written: bool = True) -> _Link | None:
    rest = text[after_colon : after_colon + 2048]
    if scheme not in _HIERARCHICAL:
        if not rest[:1] or rest[:1].isspace():
            return None  # "data: 5" is prose
        if scheme == "data" and not re.match(r"[a-z]+/[a-z0-9.+-]+[;,]|,", rest, re.IGNORECASE):
            return None
        return _Link(scheme, "", "", where)
    stripped = rest.lstrip("/\\")  # browsers treat any run of slashes and backslashes here alike
    if scheme_written and len(stripped) == len(rest) and scheme not in {"ssh", "git"}:
        return None  # "http:foo" is not a link anyone clicks
    end = _AUTHORITY_END.search(stripped)
    authority = stripped[: end.start()] if end else stripped
    userinfo, _, host_port = authority.rpartition("@")
    if host_port.startswith("["):
        host = host_port[1 : host_port.find("]")] if "]" in host_port else host_port[1:]
    else:
        host = host_port.rsplit(":", 1)[0] if host_port.count(":") == 1 else host_port
    host = unquote(host).lower().rstrip(".")
    if not host and scheme != "file":
        return None
    return _Link(scheme, host, userinfo, where)


def _url_reasons(arguments: _Arguments, findings: _Findings) -> None:
    hosts: dict[str, None] = {}
    for link in _links(arguments):
        where = _show(link.where, 60)
        if link.scheme in {"javascript", "vbscript"}:
            findings.add(
                "url.script",
                RiskLevel.HIGH,
                f"'{where}' contains a '{link.scheme}:' link, which runs code when it is opened.",
            )
            continue
        if link.scheme == "data":
            findings.add(
                "url.data",
                RiskLevel.MEDIUM,
                f"'{where}' contains a 'data:' link, which carries hidden content instead of pointing to a site.",
            )
            continue
        if link.scheme == "smb" or (link.scheme == "file" and link.host not in {"", "localhost"}):
            findings.add(
                "url.network_file",
                RiskLevel.HIGH,
                f"'{where}' points to files on another computer ({_show(link.host, 60)}); opening it can send your "
                "network login to that computer.",
            )
        if link.scheme == "file" and not link.host:
            continue  # a local file: handled as a path
        display, level = _host_reasons(link, where, findings)
        hosts.setdefault(display, None)
        if link.scheme in {"ftp", "telnet", "gopher", "dict", "tftp", "ldap"}:
            findings.add(
                "url.unusual_scheme",
                RiskLevel.MEDIUM,
                f"'{where}' uses the unusual, unencrypted '{link.scheme}:' kind of link (to {display}).",
            )
            level = max_level([level, RiskLevel.MEDIUM])
        notes = " without encryption" if link.scheme in {"http", "ws", "ftp", "telnet"} else ""
        findings.impact(level, 2, f"Sends a request to {display}{notes}.")
    if hosts:
        listed = list(hosts)
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        findings.add("url.hosts", RiskLevel.LOW, f"The arguments point to: {shown}.")


def _host_reasons(link: _Link, where: str, findings: _Findings) -> tuple[str, RiskLevel]:
    """The host as a person should read it, after reasons about how it is written."""
    host = link.host
    level = RiskLevel.LOW
    if "." in link.userinfo and not find_secrets_in_text(link.userinfo):
        findings.add(
            "url.userinfo",
            RiskLevel.HIGH,
            f"The link in '{where}' starts with '{_show(link.userinfo, 40)}@', but it really goes to "
            f"{_show(host, 60)}; the part before '@' is only a user name.",
        )
        level = RiskLevel.HIGH
    address = _ip_address(host)
    if address is not None:
        plain = str(address)
        if plain != host.strip("[]"):
            display = f"{plain} (written as {_show(host, 40)})"
            findings.add(
                "url.ip_disguised",
                RiskLevel.HIGH,
                f"The address '{_show(host, 60)}' in '{where}' is an IP address written in a disguised form; it means "
                f"{plain}.",
            )
            level = RiskLevel.HIGH
        else:
            display = plain
        if plain in _METADATA_HOSTS or address.is_link_local:
            findings.add(
                "url.metadata",
                RiskLevel.HIGH,
                f"{plain} is a cloud metadata or link-local address, which can hand out this machine's credentials.",
            )
            level = max_level([level, RiskLevel.HIGH])
        elif address.is_loopback or address.is_private or address.is_reserved or address.is_unspecified:
            findings.add(
                "url.local_network",
                RiskLevel.MEDIUM,
                f"{plain} is this computer or your local network, which outside content should not reach.",
            )
            level = max_level([level, RiskLevel.MEDIUM])
        else:
            findings.add(
                "url.ip", RiskLevel.MEDIUM, f"The request goes to a bare IP address ({plain}), not a named site."
            )
            level = max_level([level, RiskLevel.MEDIUM])
        return display, level
    if host in _METADATA_HOSTS:
        findings.add(
            "url.metadata", RiskLevel.HIGH, f"{host} is a cloud metadata service, which can hand out credentials."
        )
        return host, RiskLevel.HIGH
    if host == "localhost" or host.endswith(".localhost"):
        findings.add("url.local_network", RiskLevel.MEDIUM, f"{_show(host, 60)} is this computer itself.")
        return _show(host, 60), RiskLevel.MEDIUM
    try:
        unicode_form, ascii_form = idn_forms(host, _DOTS.split(host))
    except HostError:
        findings.add(
            "url.malformed_host",
            RiskLevel.MEDIUM,
            f"The web address '{_show(host, 60)}' in '{where}' is not a valid name; browsers and tools may read it "
            "differently.",
        )
        return _show(host, 60), max_level([level, RiskLevel.MEDIUM])
    subdomain, site = split_site(unicode_form)
    notes = [_show(ascii_form, 80)] if unicode_form != ascii_form else []
    if site and site != unicode_form:
        notes.append(f"site: {_show(site, 60)}")
    display = _show(unicode_form, 60) + (f" ({'; '.join(notes)})" if notes else "")
    imitated = imitated_site(site) if site else None
    if imitated is not None:
        findings.add(
            "url.lookalike",
            RiskLevel.HIGH,
            f"The web address {display} looks like {imitated}, but it is a different site "
            f"({_show(site, 60)}): its letters only resemble those of {imitated}.",
        )
        level = RiskLevel.HIGH
    level = max_level([level, _deceptive_subdomain_reasons(display, subdomain, site, findings)])
    if unicode_form != ascii_form:
        scripts = _mixed_scripts(unicode_form)
        if scripts:
            findings.add(
                "url.lookalike",
                RiskLevel.HIGH,
                f"The web address {display} mixes letters from different alphabets ({' and '.join(scripts)}), a "
                "common trick to imitate a familiar site.",
            )
            return display, RiskLevel.HIGH
        if imitated is None:
            findings.add(
                "url.idn",
                RiskLevel.MEDIUM,
                f"The web address {display} uses non-English letters; look-alike letters can imitate a familiar site.",
            )
            level = max_level([level, RiskLevel.MEDIUM])
    return display, level


# Suffixes a person takes for the end of a web address when they appear inside one: `paypal.com.evil.net`,
# `evil.github.io.attacker.co.uk`. Country codes alone are left out (`api.eu.example.com` is ordinary).
_FAMILIAR_SUFFIXES = frozenset({"com", "net", "org", "io", "gov", "edu"})


def _deceptive_subdomain_reasons(display: str, subdomain: str, site: str, findings: _Findings) -> RiskLevel:
    """A subdomain that reads as a site of its own: everything before the site is chosen by whoever owns it."""
    if "." not in subdomain:
        return RiskLevel.LOW
    inner_site = split_site(subdomain)[1]
    inner_suffix = inner_site.partition(".")[2]
    if not inner_site or not ("." in inner_suffix or inner_suffix in _FAMILIAR_SUFFIXES):
        return RiskLevel.LOW
    findings.add(
        "url.deceptive_subdomain",
        RiskLevel.HIGH,
        f"The web address {display} starts like {_show(inner_site, 60)}, but it belongs to {_show(site, 60)}: "
        f"everything before '{_show(site, 60)}' is chosen freely by whoever owns that site.",
    )
    return RiskLevel.HIGH


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address, including the forms browsers also accept: 2130706433, 0x7f.1, 0177.0.0.1."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    parts = host.split(".")
    if not parts or len(parts) > 4 or not all(parts):
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part.startswith(("0x", "0X")):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            elif part.isdecimal() and part.isascii():
                numbers.append(int(part))
            else:
                return None
        except ValueError:
            return None
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "IDEOGRAPHIC": "CJK", "HALFWIDTH": "CJK"}


def _mixed_scripts(host: str) -> list[str]:
    """The alphabets mixed inside one label of the host (none when each label uses one)."""
    for label in host.split("."):
        scripts: dict[str, None] = {}
        for character in label:
            if not unicodedata.category(character).startswith("L"):
                continue
            script = unicodedata.name(character, "UNKNOWN").split(" ")[0]
            scripts.setdefault(_SCRIPT_GROUPS.get(script, script), None)
        if len(scripts) > 1:
            return [script.title() for script in scripts]
    return []
