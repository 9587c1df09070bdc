"""Host names as the dialog shows them: IDNA 2008, the registrable domain, TR39 look-alikes."""

import socket
from pathlib import Path
from typing import Any

import pytest

from approver.core import hosts


def test_the_public_suffix_list_comes_from_the_shipped_snapshot_without_network_or_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("tldextract tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "tldextract-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "https://publicsuffix.org/list/public_suffix_list.dat")
    hosts._extractor.cache_clear()
    try:
        assert hosts.split_site("evil.github.io.attacker.co.uk") == ("evil.github.io", "attacker.co.uk")
        assert hosts.split_site("pages.evil.github.io") == ("pages", "evil.github.io")  # PSL private suffixes
        assert hosts.split_site("fileserver") == ("", "")
    finally:
        hosts._extractor.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_idna_2008_keeps_sharp_s_and_rejects_invalid_a_labels() -> None:
    assert hosts.idn_forms("faß.de", ["faß", "de"]) == ("faß.de", "xn--fa-hia.de")
    assert hosts.idn_forms("xn--fa-hia.de", ["xn--fa-hia", "de"]) == ("faß.de", "xn--fa-hia.de")
    with pytest.raises(hosts.HostError):
        hosts.idn_forms("xn--zz.com", ["xn--zz", "com"])


@pytest.mark.parametrize(
    ("name", "imitated"),
    [
        ("аррӏе.com", "apple.com"),
        ("раураӏ.com", "paypal.com"),
        ("g00gle.com", "google.com"),
        ("gіthub.com", "github.com"),
        ("apple.com", None),
        ("bücher.de", None),
        ("example.com", None),
    ],
)
def test_look_alikes_are_found_by_skeleton(name: str, imitated: str | None) -> None:
    assert hosts.imitated_site(name) == imitated


def test_the_skeleton_follows_tr39() -> None:
    assert hosts.skeleton("аррӏе") == hosts.skeleton("apple")
    assert hosts.skeleton("rn") == hosts.skeleton("m")
    assert hosts.skeleton("l") == hosts.skeleton("1") == hosts.skeleton("\u217c")  # SMALL ROMAN NUMERAL FIFTY
    assert hosts.skeleton("a") != hosts.skeleton("o")
