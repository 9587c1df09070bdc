"""What a host name really is, for the approval dialog: its Unicode and ASCII forms, the site that owns it, and
which popular site it imitates, if any.

- IDNA 2008 with UTS 46 mapping (the `idna` package), as browsers resolve names today. The standard library's
  codec is IDNA 2003, which folds `faß.de` into `fass.de`, a different registration.
- The registrable domain ("site") from the Public Suffix List, through `tldextract` built from the snapshot it
  ships: no download, no cache directory, at import or run time. PSL private suffixes count (`evil.github.io`
  belongs to whoever registered `evil` there, not to GitHub).
- Look-alikes by Unicode TR39 skeleton: two names that map to the same skeleton are confusable. The table is
  confusables.txt from Unicode as shipped by `confusable_homoglyphs`. A name is compared with the popular sites
  below, not with every site: the question for the person is "is this the site it looks like?".

All tables load on first use (reading package data only) and are kept for the life of the process.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

import idna

POPULAR_SITES = (
    # The sites look-alikes imitate: the most-visited names of the Tranco top-sites list, the services an AI
    # assistant's tools most often reach (code hosting, package registries, clouds, AI providers, payment) and
    # the brands phishing reports name most. Chosen by hand; a name not here gets no "looks like" reason.
    "google.com",
    "youtube.com",
    "gmail.com",
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "wikipedia.org",
    "reddit.com",
    "apple.com",
    "icloud.com",
    "microsoft.com",
    "live.com",
    "outlook.com",
    "office.com",
    "microsoftonline.com",
    "azure.com",
    "windows.net",
    "amazon.com",
    "amazonaws.com",
    "netflix.com",
    "paypal.com",
    "stripe.com",
    "ebay.com",
    "yahoo.com",
    "dropbox.com",
    "github.com",
    "github.io",
    "githubusercontent.com",
    "gitlab.com",
    "bitbucket.org",
    "npmjs.com",
    "npmjs.org",
    "pypi.org",
    "pythonhosted.org",
    "docker.com",
    "docker.io",
    "cloudflare.com",
    "openai.com",
    "chatgpt.com",
    "anthropic.com",
    "claude.ai",
    "huggingface.co",
    "slack.com",
    "discord.com",
    "zoom.us",
    "notion.so",
    "atlassian.net",
    "salesforce.com",
    "okta.com",
    "binance.com",
    "coinbase.com",
    "bankofamerica.com",
    "chase.com",
    "wellsfargo.com",
)

# TR39 maps CYRILLIC SMALL LETTER PALOCHKA to 'i', but it is drawn without a dot, like 'l' (Chromium's IDN spoof
# checker adds the same mapping). Applied to the Unicode form before the skeleton is taken.
_SKELETON_SUPPLEMENT = str.maketrans({"\u04cf": "l", "\u04c0": "l"})


class HostError(ValueError):
    """Not a valid host name under IDNA 2008 / UTS 46."""


def idn_forms(host: str, labels: list[str]) -> tuple[str, str]:
    """(Unicode form, ASCII form) of a host already split into labels; HostError where a label is not valid."""
    unicode_labels: list[str] = []
    ascii_labels: list[str] = []
    for label in labels:
        if not label:
            raise HostError(f"empty label in {host!r}")
        try:
            if label.isascii() and not label.lower().startswith("xn--"):
                ascii_labels.append(label)
                unicode_labels.append(label)
                continue
            ascii_label = idna.encode(label, uts46=True).decode("ascii")
            unicode_labels.append(idna.decode(ascii_label))
            ascii_labels.append(ascii_label)
        except (idna.IDNAError, UnicodeError) as exc:
            raise HostError(str(exc)) from None
    return ".".join(unicode_labels), ".".join(ascii_labels)


@functools.cache
def _extractor() -> Any:
    import tldextract  # noqa: PLC0415 — imports `requests`; only a service that shows links pays for it

    # cache_dir=None: never read or write a cache; suffix_list_urls=(): never download; the snapshot it ships.
    return tldextract.TLDExtract(
        cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True, include_psl_private_domains=True
    )


def split_site(host: str) -> tuple[str, str]:
    """(subdomain, registrable domain) of a host in Unicode form; ("", "") when it has no public suffix."""
    result = _extractor()(host)
    site = str(result.top_domain_under_public_suffix)
    return (str(result.subdomain), site) if site else ("", "")


@functools.cache
def _prototypes() -> dict[str, str]:
    """TR39's confusable -> prototype map, recovered from confusable_homoglyphs' table of confusable pairs.

    The table lists each pair of confusables.txt in both directions. A prototype is never itself mapped, so a
    character listed with exactly one partner is the source of its pair, unless the partner also has only it:
    then either can stand for both, and the lower code point is chosen. Multi-character entries are prototypes.
    """
    from confusable_homoglyphs import utils  # noqa: PLC0415 — a 900 KB table: load it once, when first needed

    table: dict[str, list[dict[str, str]]] = utils.load("confusables.json")
    prototypes: dict[str, str] = {}
    for character, partners in table.items():
        if len(character) != 1 or len(partners) != 1:
            continue
        partner = partners[0]["c"]
        if partner == character:
            continue
        if len(table.get(partner, ())) == 1 and len(partner) == 1 and partner > character:
            continue  # a pair of its own: the partner maps to this character instead
        prototypes[character] = partner
    return prototypes


def skeleton(text: str) -> str:
    """TR39 skeleton: NFD, every character replaced by its prototype, NFD again; then lower case, since host
    names ignore case (TR39 maps '0' to 'O', which in a host name is 'o')."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text.lower().translate(_SKELETON_SUPPLEMENT))
    mapped = "".join(prototypes.get(character, character) for character in decomposed)
    return unicodedata.normalize("NFD", mapped).lower()


@functools.cache
def _popular_skeletons() -> dict[str, str]:
    return {skeleton(site): site for site in POPULAR_SITES}


def imitated_site(site: str) -> str | None:
    """The popular site that `site` (a registrable domain in Unicode form) looks like but is not."""
    if site in POPULAR_SITES:
        return None
    return _popular_skeletons().get(skeleton(site))
