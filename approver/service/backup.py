"""`approver backup` and `approver restore`: carry a home's setup to another machine, or back to this one.

What is carried: every file in the config and data directories (rules and their seal, changes waiting for the
app, the app's settings and their seal, tool records, client wiring records, the spool, …), found by walking
the directories, minus what must not travel (see `_excluded`); and the decision log, cut at its last complete line
and verified first. The keyring's secrets — the log's signing seed and the rules' integrity key — go in only when
asked (`--with-keys`), encrypted under a passphrase (see approver.core.backup_format).

Restoring (the service stopped: restore takes its lock):
- the archive is checked against its manifest (every file's SHA-256), the secrets decrypted if present;
- the archived log must verify on its own, and must not be behind what this machine knows of it: the checkpoint
  the keyring keeps for it, and the log now in the home if it is the same log. A log that is behind (shorter, or
  with other history), or a home whose own log holds decisions and would be replaced by another log, is refused
  unless `--force`; a forced restore says so in a signed `restore` entry, quoting the checkpoint it overrode;
- the log is continued only with the key its newest line is signed by (from the archive, or still in this
  keyring). Without that key the log cannot be signed on: with `--new-log` it is kept read-only in
  `data/restored-logs/` and a new log is begun whose `restore` entry names it (origin, size, root, key), so the
  two stay linked; without `--new-log` the restore is refused;
- secrets from the archive are written to the keyring only where it holds none of that name: a restore never
  replaces this machine's keys (a crafted archive cannot swap in a key of its own);
- the rules seal is carried to this home's rules file only if it verifies under the integrity key this keyring
  then holds, with its own version; the keyring's memory of the newest seal is never lowered, so an older rules
  backup is refused as a rollback like any older sealed file (its allow rules wait for the app);
- everything the restore replaces is moved to `data/before-restore-TIMESTAMP/` first, so a restore can be undone.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from approver import __version__
from approver.core.backup_format import (
    FILES_PREFIX,
    KEYS_NAME,
    MANIFEST_NAME,
    BackupFormatError,
    FileRecord,
    build_manifest,
    encode_manifest,
    file_records,
    open_secrets,
    parse_manifest,
    seal_secrets,
)
from approver.core.log_format import (
    Anchor,
    AnchorError,
    Audit,
    anchor_from_checkpoint,
    check_anchor_signatures,
    rfc3339_now,
    unverified_anchor,
)
from approver.core.tlog import Signer
from approver.platform.durable import fsync_fully
from approver.platform.instance import AlreadyRunning, InstanceLock
from approver.platform.keystore import KeyStoreError, KeyStoreStatus, SecretStore, open_secret_store
from approver.platform.paths import Home, ensure_private_dir
from approver.service.decision_log import DecisionLogWriter, LogError, audit_file, kept_at_name, read_entries
from approver.service.policy_store import INTEGRITY_KEY_NAME, Integrity

LOG_PATH = "data/decisions.jsonl"
BEFORE_RESTORE = "before-restore-"
RESTORED_LOGS = "restored-logs"
_STAGING = ".restore-staging-"
_BACKUP_STAGING = ".approver-backup-"
_COPY_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why, in one line."""


def _seed_name(origin: str) -> str:
    return f"{origin}/signing-seed"


def _checkpoint_name(origin: str) -> str:
    return f"{origin}/checkpoint"


def _stamp() -> str:
    return rfc3339_now().replace(":", "")


# -- which files travel ----------------------------------------------------------------------------------------------


def _excluded(home: Home, path: Path) -> bool:
    """What never goes into a backup, nor is moved aside by a restore: the fallback key file (secrets travel only
    encrypted, with --with-keys), the service's socket and lock (the run directory), half-written `.tmp` files, torn
    log tails (never acknowledged), earlier backups' and restores' leftovers, and the log itself (carried on its
    own)."""
    name = path.name
    if path in (home.log_file, home.key_file):
        return True
    if home.run_dir == path or home.run_dir in path.parents:
        return True
    if name.endswith(".tmp") or ".torn-" in name or name.startswith((BEFORE_RESTORE, _STAGING, _BACKUP_STAGING)):
        return True
    return name.endswith((".sock", ".lock"))


def _home_files(home: Home) -> Iterator[tuple[str, Path]]:
    """Every regular file that travels, as (path in the archive, path on disk), never following a symlink."""
    for base, prefix in ((home.config_dir, "config"), (home.data_dir, "data")):
        if not base.is_dir():
            continue
        for directory, subdirectories, names in os.walk(base):
            here = Path(directory)
            subdirectories[:] = sorted(d for d in subdirectories if not _excluded(home, here / d))
            for name in sorted(names):
                path = here / name
                if _excluded(home, path) or not path.is_file() or path.is_symlink():
                    continue
                yield f"{prefix}/{path.relative_to(base).as_posix()}", path


def _home_path(home: Home, archived: str) -> Path:
    prefix, _, rest = archived.partition("/")
    return (home.config_dir if prefix == "config" else home.data_dir) / rest


# -- backup ----------------------------------------------------------------------------------------------------------


@dataclass
class BackupSummary:
    path: Path
    files: int
    log_entries: int | None
    secrets: list[str]


def _copy_hashing(source: IO[bytes], target: IO[bytes], limit: int | None = None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while limit is None or size < limit:
        chunk = source.read(_COPY_CHUNK if limit is None else min(_COPY_CHUNK, limit - size))
        if not chunk:
            break
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _complete_lines_size(path: Path) -> int:
    """The log's length up to its last complete line (the service may be appending while we read)."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            step = min(64 * 1024, position)
            handle.seek(position - step)
            chunk = handle.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                return position - step + cut + 1
            position -= step
    return 0


def make_backup(home: Home, target: Path, passphrase: str | None) -> BackupSummary:
    """Write the archive atomically, mode 0600. `passphrase`: also carry the keyring's secrets, encrypted."""
    target = target.expanduser().absolute()
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} does not exist")
    store, status = open_secret_store(home.key_file)
    with tempfile.TemporaryDirectory(prefix=_BACKUP_STAGING, dir=target.parent) as staging_name:
        staging = Path(staging_name)
        records: list[FileRecord] = []
        for archived, path in _home_files(home):
            copy = staging / archived
            copy.parent.mkdir(parents=True, exist_ok=True)
            try:
                with path.open("rb") as source, copy.open("wb") as sink:
                    digest, size = _copy_hashing(source, sink)
            except FileNotFoundError:
                continue  # replaced or removed while we walked: it was not there when we copied
            records.append(FileRecord(archived, digest, size))
        log_record: dict[str, Any] | None = None
        secrets: dict[str, str] = {}
        if home.log_file.exists():
            copy = staging / LOG_PATH
            copy.parent.mkdir(parents=True, exist_ok=True)
            length = _complete_lines_size(home.log_file)
            with home.log_file.open("rb") as source, copy.open("wb") as sink:
                digest, size = _copy_hashing(source, sink, limit=length)
            audit, _ = audit_file(copy)
            if audit.problem is not None or audit.origin is None or audit.final_checkpoint is None:
                raise BackupError(
                    f"{home.log_file} does not verify ({audit.problem}); run `approver log verify` — a backup of "
                    "it could not be restored"
                )
            records.append(FileRecord(LOG_PATH, digest, size))
            log_record = {
                "path": LOG_PATH,
                "origin": audit.origin,
                "entries": audit.entries,
                "checkpoint": audit.final_checkpoint,
                "vkey": audit.keys[-1][1],
            }
            if passphrase is not None:
                seed = _keyring_get(store, _seed_name(audit.origin))
                if seed is None:
                    raise BackupError(
                        f"the log's signing key is not in {status.describe()}, so it cannot go into the backup"
                    )
                secrets[_seed_name(audit.origin)] = seed
        if passphrase is not None:
            integrity_key = _keyring_get(store, INTEGRITY_KEY_NAME)
            if integrity_key is not None:
                secrets[INTEGRITY_KEY_NAME] = integrity_key
        manifest = build_manifest(
            created=rfc3339_now(),
            host=socket.gethostname(),
            software=f"mcp-approver {__version__}",
            home={"config_dir": str(home.config_dir), "data_dir": str(home.data_dir)},
            files=records,
            log=log_record,
            rules_file=str(home.policy_file.parent.resolve() / home.policy_file.name),
        )
        sealed = seal_secrets(manifest, secrets, passphrase) if passphrase is not None else None
        _write_archive(target, manifest, staging, records, sealed)
    return BackupSummary(target, len(records), log_record["entries"] if log_record else None, sorted(secrets))


def _keyring_get(store: SecretStore, name: str) -> str | None:
    try:
        return store.get(name)
    except KeyStoreError as exc:
        raise BackupError(f"cannot read {name} from {store.label}: {exc}") from None


def _tar_member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, 0
    return info


def _write_archive(
    target: Path, manifest: dict[str, Any], staging: Path, records: list[FileRecord], sealed: bytes | None
) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
                data = encode_manifest(manifest)
                archive.addfile(_tar_member(MANIFEST_NAME, len(data)), io.BytesIO(data))
                for record in records:
                    with (staging / record.path).open("rb") as handle:
                        archive.addfile(_tar_member(FILES_PREFIX + record.path, record.size), handle)
                if sealed is not None:
                    archive.addfile(_tar_member(KEYS_NAME, len(sealed)), io.BytesIO(sealed))
            raw.flush()
            fsync_fully(raw.fileno())
        temporary.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


# -- reading an archive ---------------------------------------------------------------------------------------------


@dataclass
class OpenedArchive:
    manifest: dict[str, Any]
    digest: str  # SHA-256 of the archive file, for the record
    staging: Path  # each file, checked against the manifest, at staging / its path
    sealed_keys: bytes | None


def _read_archive(path: Path, staging: Path) -> OpenedArchive:
    name = path.name
    try:
        with path.open("rb") as raw:
            archive_digest = hashlib.file_digest(raw, "sha256").hexdigest()
            raw.seek(0)
            with tarfile.open(fileobj=raw, mode="r:*") as archive:
                return _read_members(archive, staging, archive_digest)
    except BackupFormatError as exc:
        raise BackupError(f"{name}: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise BackupError(f"{path}: no such file") from None
        raise BackupError(f"{name}: not a readable backup archive ({exc})") from None


def _read_members(archive: tarfile.TarFile, staging: Path, archive_digest: str) -> OpenedArchive:
    first = archive.next()
    if first is None or first.name != MANIFEST_NAME or not first.isfile():
        raise BackupFormatError("not an MCP Approver backup (it does not begin with its manifest)")
    manifest_file = archive.extractfile(first)
    assert manifest_file is not None
    manifest = parse_manifest(manifest_file.read(1 << 24))
    expected = file_records(manifest)
    found: set[str] = set()
    sealed: bytes | None = None
    while (member := archive.next()) is not None:
        if member.name == KEYS_NAME and manifest.get("keys") is not None and sealed is None and member.isfile():
            handle = archive.extractfile(member)
            assert handle is not None
            sealed = handle.read(1 << 20)
            if hashlib.sha256(sealed).hexdigest() != manifest["keys"].get("sha256"):
                raise BackupFormatError(f"{KEYS_NAME} does not match the manifest")
            continue
        archived = member.name.removeprefix(FILES_PREFIX)
        record = expected.get(archived)
        if not member.name.startswith(FILES_PREFIX) or record is None or archived in found or not member.isfile():
            raise BackupFormatError(f"{member.name} is not listed in the manifest")
        if member.size != record.size:
            raise BackupFormatError(f"{archived} is {member.size} bytes, the manifest says {record.size}")
        handle = archive.extractfile(member)
        assert handle is not None
        target = staging / archived
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with target.open("wb") as sink:
            digest, _size = _copy_hashing(handle, sink, limit=record.size)
        if digest != record.sha256:
            raise BackupFormatError(f"{archived} does not match the manifest (SHA-256 {digest[:16]}…)")
        found.add(archived)
    missing = sorted(expected.keys() - found)
    if missing:
        raise BackupFormatError(f"{missing[0]} is listed in the manifest but missing from the archive")
    if manifest.get("keys") is not None and sealed is None:
        raise BackupFormatError(f"the manifest says the keys are in {KEYS_NAME}, but they are missing")
    return OpenedArchive(manifest, archive_digest, staging, sealed)


# -- restore ---------------------------------------------------------------------------------------------------------


@dataclass
class RestoreSummary:
    files: int
    kept_aside: Path | None
    log: str  # what became of the log, in words
    rules: str  # whether the rules are trusted here, in words
    secrets_written: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)


@dataclass
class _LogPlan:
    """What the restore does with the archived log, decided before anything in the home is touched."""

    audit: Audit
    signer: Signer | None  # the key the log is continued with; None: kept read-only, a new log begun
    seed_to_store: str | None  # the signing seed to put into the keyring (absent there, or replacing under --force)
    overridden: list[dict[str, Any]]  # what a forced restore went past, for the log


def restore_backup(
    home: Home,
    archive: Path,
    passphrase: Callable[[], str],
    *,
    force: bool = False,
    new_log: bool = False,
) -> RestoreSummary:
    """Restore `archive` into `home`. `passphrase` is asked only if the archive carries secrets."""
    lock = InstanceLock(home)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise BackupError(f"{exc}; stop it first, a restore replaces its files") from None
    try:
        ensure_private_dir(home.data_dir)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=home.data_dir))
        try:
            return _restore(home, archive.expanduser(), staging, passphrase, force=force, new_log=new_log)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        lock.release()


def _restore(
    home: Home, archive: Path, staging: Path, passphrase: Callable[[], str], *, force: bool, new_log: bool
) -> RestoreSummary:
    opened = _read_archive(archive, staging)
    manifest = opened.manifest
    secrets: dict[str, str] = {}
    if opened.sealed_keys is not None:
        try:
            secrets = open_secrets(manifest, opened.sealed_keys, passphrase())
        except BackupFormatError as exc:
            raise BackupError(f"{archive.name}: {exc}") from None
    store, status = open_secret_store(home.key_file)
    plan = _plan_log(home, manifest, staging, secrets, store, force=force, new_log=new_log)

    # Nothing in the home has been touched so far. From here on: keep the present aside, then put the archive in.
    stamp = _stamp()
    kept_aside = _move_aside(home, home.data_dir / f"{BEFORE_RESTORE}{stamp}", with_log=plan is not None)
    records = file_records(manifest)
    try:
        for archived in records:
            if archived == LOG_PATH:
                continue
            destination = _home_path(home, archived)
            ensure_private_dir(destination.parent)
            shutil.move(staging / archived, destination)
        written = _store_secrets(store, secrets, plan)
        rules = _carry_rules_seal(home, manifest, store)
        log_text = _install_log(
            home=home,
            manifest=manifest,
            staging=staging,
            store=store,
            status=status,
            plan=plan,
            opened=opened,
            kept_aside=kept_aside,
            rules=rules,
            stamp=stamp,
        )
    except Exception as exc:
        _put_back(home, records, kept_aside, with_log=plan is not None)
        raise BackupError(f"{exc}; nothing was restored, the home's files are as they were") from None
    except BaseException:
        _put_back(home, records, kept_aside, with_log=plan is not None)
        raise
    forced = [item["what"] for item in plan.overridden] if plan else []
    return RestoreSummary(len(records), kept_aside, log_text, rules["words"], written, forced)


def _plan_log(
    home: Home,
    manifest: dict[str, Any],
    staging: Path,
    secrets: dict[str, str],
    store: SecretStore,
    *,
    force: bool,
    new_log: bool,
) -> _LogPlan | None:
    record = manifest.get("log")
    if record is None:
        return None
    staged = staging / LOG_PATH
    audit, _ = audit_file(staged)
    if audit.problem is not None or audit.origin is None:
        raise BackupError(f"the log in the archive does not verify: {audit.problem}")
    if audit.origin != record.get("origin") or audit.entries != record.get("entries"):
        raise BackupError("the log in the archive is not the one its manifest describes")
    origin, final_vkey = audit.origin, audit.keys[-1][1]
    overridden: list[dict[str, Any]] = []

    def go_past(what: str, **details: Any) -> None:
        if not force:
            raise BackupError(f"refused: {what}; pass --force to restore it anyway (recorded in the log)")
        overridden.append({"what": what, **details})

    # Behind what this machine knows of the log? Its checkpoint in the keyring, and the log in the home if it is
    # the same log, are anchors the archived log must reach with the same history.
    notes: list[tuple[str, str]] = []
    kept = _keyring_get(store, _checkpoint_name(origin))
    if kept is not None:
        notes.append((f"the checkpoint kept in {store.label}", kept))
    present = _present_log(home)
    anchors: list[Anchor] = []
    if present is not None and present.origin == origin and present.final_checkpoint is not None:
        anchors.append(anchor_from_checkpoint(f"the log now in {home.log_file}", present.final_checkpoint))
    try:
        anchors += [unverified_anchor(source, note) for source, note in notes]
        anchored, _ = audit_file(staged, anchors)
        if anchored.intact:
            check_anchor_signatures(anchored, notes)
        problem = None if anchored.intact else str(anchored.problem)
    except AnchorError as exc:
        problem = str(exc)
    if problem is not None:
        go_past(
            f"the archived log ({audit.entries} entries) is behind what this machine knows of it ({problem})",
            checkpoint=kept,
            present_checkpoint=present.final_checkpoint if present is not None else None,
        )
    if present is not None and present.origin != origin and _holds_decisions(home.log_file):
        go_past(
            f"{home.log_file} is another log ({present.origin}, {present.entries} entries) holding decisions, and "
            "the restore would replace it",
            replaced_origin=present.origin,
            replaced_checkpoint=present.final_checkpoint,
        )

    # The key the log goes on with: the one its newest line is signed by.
    in_keyring = _keyring_get(store, _seed_name(origin))
    in_archive = secrets.get(_seed_name(origin))
    for seed in (in_keyring, in_archive):
        signer = _signer(origin, seed)
        if signer is not None and signer.vkey() == final_vkey:
            seed_to_store = None if seed == in_keyring else seed
            if seed_to_store is not None and in_keyring is not None:
                replaced = _signer(origin, in_keyring)
                go_past(
                    f"{store.label} holds another signing key for the log {origin} (rotated since the backup?)",
                    replaced_vkey=replaced.vkey() if replaced else None,
                )
            return _LogPlan(audit, signer, seed_to_store, overridden)
    if not new_log:
        raise BackupError(
            f"the log's signing key ({final_vkey}) is neither in the archive nor in {store.label}, so the log cannot "
            "be continued here; pass --new-log to keep it read-only beside a new log that records it, or make the "
            "backup with --with-keys"
        )
    return _LogPlan(audit, None, None, overridden)


def _signer(origin: str, seed: str | None) -> Signer | None:
    """The signer of a stored seed, or None when there is none or it is not a seed (a keyring value is anyone's)."""
    if seed is None:
        return None
    try:
        return Signer(origin, bytes.fromhex(seed))
    except ValueError:
        return None


def _present_log(home: Home) -> Audit | None:
    if not home.log_file.exists() or home.log_file.stat().st_size == 0:
        return None
    audit, _ = audit_file(home.log_file)
    return audit


def _holds_decisions(path: Path) -> bool:
    try:
        return any(entry.get("kind") == "decision" for entry in read_entries(path))
    except LogError:
        return True  # a damaged log may hold anything: replacing it is not done silently


def _move_aside(home: Home, aside: Path, *, with_log: bool) -> Path | None:
    """Move everything a restore replaces into `aside` (config/… and data/…, as in an archive); the log only if
    the archive brings one (without, the home's log goes on)."""
    moving = list(_home_files(home))
    if with_log and home.log_file.exists():
        moving.append((LOG_PATH, home.log_file))
    if not moving:
        return None
    for archived, path in moving:
        destination = aside / archived
        ensure_private_dir(destination.parent)
        shutil.move(path, destination)
    return aside


def _put_back(home: Home, records: dict[str, FileRecord], aside: Path | None, *, with_log: bool) -> None:
    """Undo a restore that failed half way: remove what it placed, move back what it had moved aside."""
    placed = [_home_path(home, archived) for archived in records if archived != LOG_PATH]
    placed.append(home.policy_file.with_name(home.policy_file.name + ".trust"))
    if with_log:
        placed.append(home.log_file)
    for path in placed:
        path.unlink(missing_ok=True)
    if aside is None:
        return
    for directory, _subdirectories, names in os.walk(aside):
        for name in names:
            kept = Path(directory) / name
            destination = _home_path(home, kept.relative_to(aside).as_posix())
            ensure_private_dir(destination.parent)
            shutil.move(kept, destination)
    shutil.rmtree(aside, ignore_errors=True)


def _store_secrets(store: SecretStore, secrets: dict[str, str], plan: _LogPlan | None) -> list[str]:
    """Write the archive's secrets where the keyring holds none of that name (the signing seed as planned)."""
    written = []
    for name, value in sorted(secrets.items()):
        if name.endswith("/signing-seed"):
            if plan is None or plan.seed_to_store is None or value != plan.seed_to_store:
                continue
            store.set(name, value)
        elif name == INTEGRITY_KEY_NAME:
            if _keyring_get(store, name) is not None:
                continue
            store.set(name, value)
        else:
            continue
        written.append(name)
    return written


def _carry_rules_seal(home: Home, manifest: dict[str, Any], store: SecretStore) -> dict[str, Any]:
    """Seal the restored rules for this home if the archived seal verifies under this keyring's integrity key."""
    trust_name = home.policy_file.name + ".trust"
    trust_file = home.policy_file.with_name(trust_name)
    archived_trust = f"config/{trust_name}"
    if archived_trust not in file_records(manifest):
        return {"words": "no rules seal in the archive", "trusted": False}
    integrity = Integrity(store)
    if _keyring_get(store, INTEGRITY_KEY_NAME) is None:
        trust_file.unlink(missing_ok=True)
        return {
            "words": "the rules are NOT trusted here (no integrity key: back up with --with-keys); their deny and "
            "ask rules apply, their allow rules wait for confirmation in the app",
            "trusted": False,
        }
    seal = integrity.read_seal(trust_file, Path(manifest["rules_file"]))
    if seal is None or seal.text is None:
        trust_file.unlink(missing_ok=True)
        return {
            "words": "the rules seal does not verify under this keyring's integrity key, so the rules are NOT "
            "trusted here; their deny and ask rules apply, their allow rules wait for confirmation in the app",
            "trusted": False,
        }
    integrity.seal(trust_file, home.policy_file, seal.text, seal.version, seal.by)
    remembered = integrity.remembered(home.policy_file)
    if remembered is None or remembered.version < seal.version:
        integrity.remember(home.policy_file, seal)
    elif remembered.version > seal.version:
        return {
            "words": f"the rules seal (version {seal.version}) is older than the newest this keyring knows "
            f"(version {remembered.version}): a rollback, so their allow rules wait for confirmation in the app",
            "trusted": False,
            "seal": seal.summary(),
        }
    return {
        "words": f"the rules seal (version {seal.version}) verifies and is carried",
        "trusted": True,
        "seal": seal.summary(),
    }


def _install_log(
    *,
    home: Home,
    manifest: dict[str, Any],
    staging: Path,
    store: SecretStore,
    status: KeyStoreStatus,
    plan: _LogPlan | None,
    opened: OpenedArchive,
    kept_aside: Path | None,
    rules: dict[str, Any],
    stamp: str,
) -> str:
    record: dict[str, Any] = {
        "archive_sha256": opened.digest,
        "archive_created": manifest.get("created"),
        "archive_host": manifest.get("host"),
        "files": len(manifest["files"]),
        "kept_aside": str(kept_aside) if kept_aside else None,
        "rules_trusted": rules["trusted"],
        "forced": [item["what"] for item in plan.overridden] if plan else [],
        "overridden": plan.overridden if plan else [],
    }
    if plan is None:
        if not home.log_file.exists():
            return "the archive holds no log; the service begins one when it starts"
        try:
            writer = DecisionLogWriter(home.log_file, store, status)
        except LogError as exc:
            return f"the archive holds no log; this home's log goes on, but the restore is not recorded in it: {exc}"
        try:
            writer.append_event("restore", record)
        finally:
            writer.close()
        return "the archive holds no log; this home's log goes on and records the restore"
    audit = plan.audit
    ensure_private_dir(home.log_file.parent)
    if plan.signer is None:
        archived_logs = home.data_dir / RESTORED_LOGS
        ensure_private_dir(archived_logs)
        kept = archived_logs / f"decisions-{stamp}.jsonl"
        shutil.move(staging / LOG_PATH, kept)
        kept.chmod(0o400)
        record["archived_log"] = {
            "file": str(kept),
            "origin": audit.origin,
            "entries": audit.entries,
            "checkpoint": audit.final_checkpoint,
            "vkey": audit.keys[-1][1],
        }
        # The new log takes the place of whatever log the keyring knew at this path: begun anew on purpose.
        writer = DecisionLogWriter(home.log_file, store, status, replacing=True)
        words = f"kept read-only at {kept}; a new log was begun that records it"
    else:
        shutil.move(staging / LOG_PATH, home.log_file)
        # Restore's own checks (or --force) have passed: this log is now the one kept at this path.
        assert audit.origin is not None
        store.set(kept_at_name(home.log_file), audit.origin)
        if plan.overridden:
            # The keyring's checkpoint is what the service checks the log against; a forced rollback replaces it
            # with the restored log's own, and the entry below quotes the one it replaced.
            assert audit.origin is not None and audit.final_checkpoint is not None
            store.set(_checkpoint_name(audit.origin), plan.signer.sign_note(audit.final_checkpoint))
        writer = DecisionLogWriter(home.log_file, store, status)
        words = f"restored and continued ({audit.entries} entries, signed by {writer.vkey()})"
    try:
        writer.append_event("restore", record)
    finally:
        writer.close()
    return words


def restored_summary_lines(summary: RestoreSummary) -> list[str]:
    lines = [f"restored {summary.files} file(s)"]
    if summary.kept_aside is not None:
        lines.append(f"what was here before is in {summary.kept_aside}")
    lines.append(f"log: {summary.log}")
    lines.append(f"rules: {summary.rules}")
    if summary.secrets_written:
        lines.append(f"keyring: wrote {', '.join(summary.secrets_written)}")
    lines.extend(f"FORCED: {what}" for what in summary.forced)
    return lines
