"""Opening a manifest and the plumbing every table module shares: one write transaction at a
time, retried while another process holds the lock, and reads that turn a damaged file into a
:class:`ManifestError` naming it.

A manifest is ``DATASET/manifest.sqlite`` (WAL mode).  Every public write is one transaction that
is durable when the call returns (``synchronous=FULL``), so a process killed right after a
decision call never loses it and never leaves half of it behind.  Writers that meet a lock held
by another process wait (busy timeout), retry, and only then raise :class:`ManifestLocked`.
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Self

from ispviewer.dataset import schema
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX

MANIFEST_NAME = "manifest.sqlite"
BUSY_TIMEOUT_S = 5.0
LOCK_RETRY_S = 30.0


class ManifestError(Exception):
    """The manifest cannot be used (missing, foreign, newer, corrupt, unsafe path...)."""


class ManifestLocked(ManifestError):
    """Another process kept the manifest locked for longer than we are willing to wait."""


class ManifestReadOnly(ManifestError):
    """A write was attempted on a manifest opened read-only."""


def decoded(method):
    """A record the database returned but that is not what the schema allows (a damaged file:
    an unknown status, text that is not UTF-8 or JSON...) becomes a ManifestError naming the file."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ManifestError(f"{self.root / MANIFEST_NAME}: a record cannot be read ({type(exc).__name__}: "
                                f"{exc}); the manifest may be damaged — run `ispviewer check`") from None
    return wrapper


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class ManifestBase:
    """The connection and its transaction discipline.  Table modules (triplets, patches, ...)
    subclass it with their methods; :class:`ispviewer.dataset.manifest.Manifest` combines them."""

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool):
        self.root = root
        self.readonly = readonly
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, root: str | os.PathLike, *, create: bool = False, readonly: bool = False) -> Self:
        root = Path(root).resolve()
        path = root / MANIFEST_NAME
        if not path.exists():
            if not create:
                raise ManifestError(f"{root}: no ispviewer dataset here ({MANIFEST_NAME} not found)")
            if readonly:
                raise ManifestError(f"{root}: cannot create a manifest read-only")
            root.mkdir(parents=True, exist_ok=True)
        if not readonly and path.exists() and not _writable(root, path):
            readonly = True  # a read-only folder or file opens read-only; callers show a notice
        conn = _connect(path, readonly)
        try:
            _check_identity(conn, path)  # before anything that could write to a foreign file
            if not readonly:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    raise ManifestError(f"{path}: the file system does not support SQLite's WAL mode")
                conn.execute("PRAGMA synchronous = FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < 0:  # a 32-bit field read as signed: no version ispviewer ever wrote
                raise ManifestError(f"{path}: unknown schema version {version}, not an ispviewer manifest; "
                                    "it was left untouched")
            if version > schema.SCHEMA_VERSION:
                raise ManifestError(
                    f"{path}: written by a newer ispviewer (schema {version}, this one knows "
                    f"{schema.SCHEMA_VERSION}); upgrade ispviewer to open it — the file was not changed")
            if version < schema.SCHEMA_VERSION and not (readonly and version >= schema.READONLY_MIN_VERSION):
                if readonly:
                    raise ManifestError(f"{path}: schema {version} needs a migration, "
                                        "which a read-only dataset cannot do")
                if version > 0:
                    _backup(conn, path, version)
                schema.apply_migrations(conn, version)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and _disk_full(root):
                raise ManifestError(f"{path}: cannot be opened for writing, the disk is full ({exc}); "
                                    "free some space (nothing was changed)") from None
            raise ManifestError(f"{path}: not a readable ispviewer manifest ({exc})") from None
        except BaseException:
            conn.close()
            raise
        return cls(root, conn, readonly)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- plumbing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, retried while another process holds the lock."""
        if self.readonly:
            raise ManifestReadOnly(f"{self.root}: dataset is open read-only")
        with self._lock:
            deadline = time.monotonic() + LOCK_RETRY_S
            delay = 0.05
            while True:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not _is_locked(exc) or time.monotonic() > deadline:
                        if _is_locked(exc):
                            raise ManifestLocked(
                                f"{self.root / MANIFEST_NAME}: locked by another process for over "
                                f"{LOCK_RETRY_S:.0f} s") from None
                        raise ManifestError(f"{self.root / MANIFEST_NAME}: {exc}") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite rolled back itself (e.g. the disk filled up during COMMIT): report the cause
                if isinstance(exc, sqlite3.DatabaseError):
                    raise ManifestError(f"{self.root / MANIFEST_NAME}: write failed ({exc})") from None
                raise

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # e.g. "database disk image is malformed"
                raise ManifestError(f"{self.root / MANIFEST_NAME}: cannot be read ({exc}); "
                                    "run `ispviewer check` on the dataset") from None

    def resolve(self, relpath: str) -> Path:
        """Absolute path of a file referenced by the manifest; refuses anything outside the root."""
        return safe_join(self.root, relpath)

    # ----------------------------------------------------------------- settings

    def setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    @property
    @decoded
    def threshold_px(self) -> float:
        return float(self.setting("threshold_px", str(DEFAULT_THRESHOLD_PX)))


# --------------------------------------------------------------------------- helpers


def safe_join(root: Path, relpath: str) -> Path:
    """``root / relpath`` if it stays inside ``root`` (no absolute paths, no '..', no symlink escape)."""
    if not isinstance(relpath, str) or not relpath or "\0" in relpath:
        raise ManifestError(f"{root}: invalid path {relpath!r}")
    pure = PurePosixPath(relpath.replace("\\", "/"))
    if pure.is_absolute() or relpath.startswith(("/", "\\")) or (len(relpath) > 1 and relpath[1] == ":"):
        raise ManifestError(f"{root}: refusing absolute path {relpath!r}")
    if ".." in pure.parts:
        raise ManifestError(f"{root}: refusing path that leaves the dataset {relpath!r}")
    full = (root / Path(*pure.parts)).resolve()
    if full != root and root not in full.parents:
        raise ManifestError(f"{root}: refusing {relpath!r}, which links outside the dataset")
    return full


def _disk_full(root: Path) -> bool:
    try:
        return shutil.disk_usage(root).free < (1 << 20)
    except OSError:
        return False


def _writable(root: Path, path: Path) -> bool:
    return os.access(root, os.W_OK) and os.access(path, os.W_OK)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            uri = path.as_uri() + ("?mode=ro" if os.access(path.parent, os.W_OK) else "?immutable=1")
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.row_factory = sqlite3.Row
        return conn
    except sqlite3.DatabaseError as exc:
        raise ManifestError(f"{path}: not a readable ispviewer manifest ({exc})") from None


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == schema.APPLICATION_ID:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id != 0 or tables:
        raise ManifestError(f"{path}: an SQLite database from another program, not an ispviewer manifest; "
                            "it was left untouched")


def _backup(conn: sqlite3.Connection, path: Path, version: int) -> None:
    target = path.with_name(f"{path.name}.v{version}.bak")
    with sqlite3.connect(str(target)) as dst:
        conn.backup(dst)
    shutil.copymode(path, target)


