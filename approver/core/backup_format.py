"""The backup archive's manifest and its sealed secrets: pure data and cryptography, no files.

An archive is a tar file: `manifest.json` first, then each backed-up file under `files/` (its path relative to
the home: `config/policy.json`, `data/decisions.jsonl`, …), then, only when asked for, `keys.enc`. The manifest
lists every file with its SHA-256 and size, and describes the decision log (origin, entries, checkpoint, key).

Secrets (`keys.enc`) are encrypted with a key derived from a passphrase: scrypt (N = 2^17, r = 8, p = 1, a 16-byte
random salt; about 128 MiB and a fraction of a second, RFC 7914's interactive-login figure doubled) feeding
AES-256-GCM (a 12-byte random nonce) from `cryptography`. The associated data is the manifest without its `keys`
member, in canonical JSON (RFC 8785), so the passphrase also authenticates every file's digest: an archive with
keys that was changed anywhere does not decrypt. An archive without keys can only be checked against its own
manifest, which catches damage, not a forger; its log and rules seal are then checked on their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "mcp-approver backup"
VERSION = 1
MANIFEST_NAME = "manifest.json"
KEYS_NAME = "keys.enc"
FILES_PREFIX = "files/"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
SALT_BYTES, NONCE_BYTES = 16, 12
_AAD_CONTEXT = b"mcp-approver backup keys v1\n"
MIN_PASSPHRASE = 8


class BackupFormatError(ValueError):
    """The archive is not a backup we can read, or was changed; the message says what, in one line."""


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the home, POSIX form: config/… or data/…
    sha256: str
    size: int


def safe_member_path(path: str) -> str:
    """A path inside the home: relative, under config/ or data/, no `..`, no empty or odd parts."""
    pure = PurePosixPath(path)
    parts = pure.parts
    if (
        pure.is_absolute()
        or len(parts) < 2
        or parts[0] not in ("config", "data")
        or any(part in ("", ".", "..") for part in parts)
        or "\\" in path
        or "\x00" in path
        or str(pure) != path
    ):
        raise BackupFormatError(f"the archive names an unsafe path: {path!r}")
    return path


def build_manifest(
    *,
    created: str,
    host: str,
    software: str,
    home: Mapping[str, str],
    files: list[FileRecord],
    log: Mapping[str, Any] | None,
    rules_file: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": created,
        "host": host,
        "software": software,
        "home": dict(home),
        "rules_file": rules_file,  # the rules file's absolute path, as its seal names it
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in files],
        "log": dict(log) if log is not None else None,
        "keys": None,
    }


def parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise BackupFormatError(f"the manifest is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupFormatError("not an MCP Approver backup (no manifest of ours)")
    if manifest.get("version") != VERSION:
        raise BackupFormatError(f"backup format version {manifest.get('version')!r} is not one this version reads")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise BackupFormatError("the manifest lists no files")
    seen: set[str] = set()
    for record in files:
        if not (
            isinstance(record, dict)
            and isinstance(record.get("path"), str)
            and isinstance(record.get("sha256"), str)
            and isinstance(record.get("size"), int)
        ):
            raise BackupFormatError(f"the manifest has a malformed file record: {record!r}")
        path = safe_member_path(record["path"])
        if path in seen:
            raise BackupFormatError(f"the manifest lists {path} twice")
        seen.add(path)
    if not isinstance(manifest.get("rules_file"), str):
        raise BackupFormatError("the manifest names no rules file")
    log = manifest.get("log")
    if log is not None and not (isinstance(log, dict) and isinstance(log.get("path"), str)):
        raise BackupFormatError("the manifest's log record is malformed")
    keys = manifest.get("keys")
    if keys is not None and not isinstance(keys, dict):
        raise BackupFormatError("the manifest's keys record is malformed")
    return manifest


def file_records(manifest: Mapping[str, Any]) -> dict[str, FileRecord]:
    return {r["path"]: FileRecord(r["path"], r["sha256"], r["size"]) for r in manifest["files"]}


def encode_manifest(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def _associated_data(manifest: Mapping[str, Any]) -> bytes:
    without_keys = {name: value for name, value in manifest.items() if name != "keys"}
    return _AAD_CONTEXT + rfc8785.dumps(without_keys)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal_secrets(manifest: dict[str, Any], secrets: Mapping[str, str], passphrase: str) -> bytes:
    """Encrypt `secrets` under `passphrase`, bound to the manifest; records the parameters in manifest["keys"]
    (so the manifest must be complete but for that member). Returns the ciphertext for keys.enc."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupFormatError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    manifest["keys"] = None
    aad = _associated_data(manifest)
    key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    plaintext = json.dumps(dict(secrets), sort_keys=True).encode("utf-8")
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, aad)
    manifest["keys"] = {
        "file": KEYS_NAME,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": _b64(nonce)},
        "sha256": hashlib.sha256(ciphertext).hexdigest(),
        "names": sorted(secrets),
    }
    return ciphertext


def open_secrets(manifest: Mapping[str, Any], ciphertext: bytes, passphrase: str) -> dict[str, str]:
    """The secrets of keys.enc, or BackupFormatError for a wrong passphrase or any change to the archive."""
    keys = manifest.get("keys")
    try:
        assert isinstance(keys, dict)
        kdf, cipher = keys["kdf"], keys["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "AES-256-GCM":
            raise BackupFormatError(f"unknown key protection {kdf['name']} / {cipher['name']}")
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        # Refuse parameters an altered manifest could use to make us spend unbounded memory or time.
        if not (2**14 <= n <= 2**20 and 1 <= r <= 16 and 1 <= p <= 4):
            raise BackupFormatError(f"scrypt parameters out of range (n={n}, r={r}, p={p})")
        salt, nonce = _unb64(kdf["salt"]), _unb64(cipher["nonce"])
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, BackupFormatError):
            raise
        raise BackupFormatError("the manifest's keys record is malformed") from None
    key = _derive(passphrase, salt, n, r, p)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, _associated_data(manifest))
    except InvalidTag:
        raise BackupFormatError("wrong passphrase, or the archive was changed after it was made") from None
    value = json.loads(plaintext)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BackupFormatError("the archive's secrets are malformed")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)
