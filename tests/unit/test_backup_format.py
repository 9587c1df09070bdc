"""The backup manifest and its encrypted secrets (approver.core.backup_format)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from approver.core.backup_format import (
    BackupFormatError,
    FileRecord,
    build_manifest,
    encode_manifest,
    file_records,
    open_secrets,
    parse_manifest,
    safe_member_path,
    seal_secrets,
)

SECRETS = {"policy-integrity-key": "ab" * 32, "mcp-approver.local/0123/signing-seed": "cd" * 32}


def manifest() -> dict[str, Any]:
    return build_manifest(
        created="2026-12-02T00:00:00Z",
        host="laptop",
        software="mcp-approver test",
        home={"config_dir": "/h/config", "data_dir": "/h/data"},
        files=[FileRecord("config/policy.json", "00" * 32, 10), FileRecord("data/decisions.jsonl", "11" * 32, 99)],
        log={"path": "data/decisions.jsonl", "origin": "o", "entries": 3, "checkpoint": "o\n3\nAAA=\n", "vkey": "v"},
        rules_file="/h/config/policy.json",
    )


def test_secrets_come_back_with_the_passphrase_and_the_manifest_round_trips() -> None:
    made = manifest()
    ciphertext = seal_secrets(made, SECRETS, "correct horse")
    read = parse_manifest(encode_manifest(made))
    assert read == made
    assert read["keys"]["kdf"] == {"name": "scrypt", "n": 2**17, "r": 8, "p": 1, "salt": made["keys"]["kdf"]["salt"]}
    assert read["keys"]["names"] == sorted(SECRETS)
    assert open_secrets(read, ciphertext, "correct horse") == SECRETS
    assert b"ab" * 32 not in ciphertext
    assert file_records(read)["config/policy.json"] == FileRecord("config/policy.json", "00" * 32, 10)


def test_a_wrong_passphrase_fails_in_one_line() -> None:
    made = manifest()
    ciphertext = seal_secrets(made, SECRETS, "correct horse")
    with pytest.raises(BackupFormatError) as caught:
        open_secrets(made, ciphertext, "correct horsf")
    assert str(caught.value) == "wrong passphrase, or the archive was changed after it was made"


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["files"][0].update(sha256="22" * 32),  # a file swapped, its digest updated in the manifest
        lambda m: m["log"].update(entries=2),
        lambda m: m.update(rules_file="/elsewhere/policy.json"),
        lambda m: m["files"].pop(),
    ],
)
def test_the_passphrase_authenticates_the_whole_manifest(change: Any) -> None:
    made = manifest()
    ciphertext = seal_secrets(made, SECRETS, "correct horse")
    change(made)
    with pytest.raises(BackupFormatError, match="wrong passphrase, or the archive was changed"):
        open_secrets(made, ciphertext, "correct horse")


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(BackupFormatError, match="at least 8 characters"):
        seal_secrets(manifest(), SECRETS, "short")


def test_scrypt_parameters_an_altered_manifest_could_inflate_are_refused() -> None:
    made = manifest()
    ciphertext = seal_secrets(made, SECRETS, "correct horse")
    made["keys"]["kdf"]["n"] = 2**30
    with pytest.raises(BackupFormatError, match="scrypt parameters out of range"):
        open_secrets(made, ciphertext, "correct horse")


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "config/../../x", "run/service.sock", "config", "data//x", "data/./x", "data/a\\b", "./data/x"],
)
def test_paths_outside_the_home_are_refused(path: str) -> None:
    with pytest.raises(BackupFormatError, match="unsafe path"):
        safe_member_path(path)


def test_paths_inside_the_home_pass() -> None:
    assert safe_member_path("config/policy.json") == "config/policy.json"
    assert safe_member_path("data/clients/claude.json") == "data/clients/claude.json"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"format": "something else"}', "not an MCP Approver backup"),
        (json.dumps({**manifest(), "version": 2}).encode(), "version 2"),
        (json.dumps({**manifest(), "files": [{"path": "../x", "sha256": "0", "size": 1}]}).encode(), "unsafe path"),
        (
            json.dumps({**manifest(), "files": [manifest()["files"][0]] * 2}).encode(),
            "lists config/policy.json twice",
        ),
    ],
)
def test_manifests_we_cannot_trust_the_shape_of_are_refused(document: bytes, message: str) -> None:
    with pytest.raises(BackupFormatError, match=message):
        parse_manifest(document)
