"""The dataset manifest: the one module that owns all SQL.

A manifest is ``DATASET/manifest.sqlite`` (WAL mode).  Every public write is one transaction that
is durable when the call returns (``synchronous=FULL``), so a process killed right after a
decision call never loses it and never leaves half of it behind.  Writers that meet a lock held
by another process wait (busy timeout), retry, and only then raise :class:`ManifestLocked`.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Iterator

from ispviewer.dataset import schema
from ispviewer.dataset.alignment_files import remove_replaced
from ispviewer.dataset.records import (
    AlignmentResult, AlignState, CaptureFiles, DecidedBy, DecisionEvent, PatchRecord, RawInfo,
    Status, TripletRecord,
)
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX, auto_status

MANIFEST_NAME = "manifest.sqlite"
BUSY_TIMEOUT_S = 5.0
LOCK_RETRY_S = 30.0


class ManifestError(Exception):
    """The manifest cannot be used (missing, foreign, newer, corrupt, unsafe path...)."""


class ManifestLocked(ManifestError):
    """Another process kept the manifest locked for longer than we are willing to wait."""


class ManifestReadOnly(ManifestError):
    """A write was attempted on a manifest opened read-only."""


def _decoded(method):
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
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Manifest:
    """Typed access to one dataset's manifest.  Use :meth:`open`; close it or use ``with``."""

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool):
        self.root = root
        self.readonly = readonly
        self._conn = conn
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, root: str | os.PathLike, *, create: bool = False, readonly: bool = False) -> "Manifest":
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
                    raise ManifestError(f"{path}: schema {version} needs a migration, which a read-only dataset cannot do")
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

    def __enter__(self) -> "Manifest":
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
    @_decoded
    def threshold_px(self) -> float:
        return float(self.setting("threshold_px", str(DEFAULT_THRESHOLD_PX)))

    # ----------------------------------------------------------------- triplets

    def add_triplet(self, name: str, files: CaptureFiles, raw: RawInfo,
                    target_size: tuple[int, int]) -> tuple[int, bool]:
        """Register a capture; returns (id, created).  An existing name is left as it is."""
        for rel in (files.raw, files.phone, files.target):
            self.resolve(rel)  # refuse unsafe paths before they reach the database
        with self._write() as db:
            row = db.execute("SELECT id FROM triplets WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return int(row[0]), False
            cur = db.execute(
                "INSERT INTO triplets (name, raw_path, phone_path, target_path, width, height, "
                "target_width, target_height, phone_make, phone_model, cfa_pattern, black_level, "
                "white_level, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (name, files.raw, files.phone, files.target, raw.width, raw.height,
                 target_size[0], target_size[1], raw.make, raw.model, raw.cfa_pattern,
                 raw.black_level, raw.white_level, utc_now()))
            return int(cur.lastrowid), True

    _TRIPLET_SQL = """
        SELECT t.*,
               (SELECT AVG(misalignment_px) FROM patches p
                 WHERE p.triplet_id = t.id AND p.misalignment_px IS NOT NULL) AS mean_mis,
               (SELECT group_concat(status || ':' || n) FROM
                   (SELECT status, COUNT(*) AS n FROM patches p WHERE p.triplet_id = t.id
                     GROUP BY status)) AS counts
        FROM triplets t"""

    @_decoded
    def triplets(self) -> list[TripletRecord]:
        return [_triplet(r) for r in self._read(self._TRIPLET_SQL + " ORDER BY t.name")]

    @_decoded
    def triplet(self, key: str | int) -> TripletRecord:
        column = "t.id" if isinstance(key, int) else "t.name"
        rows = self._read(self._TRIPLET_SQL + f" WHERE {column} = ?", (key,))
        if not rows:
            raise ManifestError(f"{self.root}: no triplet {key!r}")
        return _triplet(rows[0])

    # ----------------------------------------------------------------- alignment

    def store_alignment(self, triplet_id: int, result: AlignmentResult) -> None:
        """Replace the triplet's alignment; auto decisions are re-made, user decisions survive.

        Once stored, the heatmap and aligned target the previous row referenced are removed when
        the new row names other files (best effort, see :mod:`ispviewer.dataset.alignment_files`).
        """
        for rel in (result.heatmap, result.aligned_target):
            if rel is not None:
                self.resolve(rel)
        now = utc_now()
        with self._write() as db:
            replaced = self._files_of(db, triplet_id)
            db.execute(
                "UPDATE triplets SET align_state = 'aligned', align_error = NULL, homography = ?, "
                "heatmap_path = ?, aligned_path = ?, align_params = ?, aligned_at = ? WHERE id = ?",
                (json.dumps([list(map(float, r)) for r in result.homography]), result.heatmap,
                 result.aligned_target, json.dumps(dict(result.params, threshold_px=result.threshold_px)),
                 now, triplet_id))
            existing = {(r["x"], r["y"], r["size"]): r for r in db.execute(
                "SELECT id, x, y, size, status, decided_by FROM patches WHERE triplet_id = ?", (triplet_id,))}
            seen = set()
            for m in result.patches:
                key = (m.x, m.y, m.size)
                seen.add(key)
                status, reason = auto_status(m.misalignment_px, m.measurable, result.threshold_px, m.cause)
                values = (m.dx, m.dy, m.ncc, m.misalignment_px, m.misalignment_p95, int(m.measurable))
                old = existing.get(key)
                if old is None:
                    cur = db.execute(
                        "INSERT INTO patches (triplet_id, x, y, size, dx, dy, ncc, misalignment_px, "
                        "misalignment_p95, measurable, status, decided_by, reason) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,'auto',?)",
                        (triplet_id, *key, *values, status.value, reason))
                    _log(db, cur.lastrowid, now, DecidedBy.AUTO, None, status, reason)
                elif old["decided_by"] == DecidedBy.USER.value:
                    db.execute("UPDATE patches SET dx=?, dy=?, ncc=?, misalignment_px=?, misalignment_p95=?, "
                               "measurable=?, stale=0 WHERE id=?", (*values, old["id"]))
                else:
                    db.execute("UPDATE patches SET dx=?, dy=?, ncc=?, misalignment_px=?, misalignment_p95=?, "
                               "measurable=?, stale=0, status=?, reason=? WHERE id=?",
                               (*values, status.value, reason, old["id"]))
                    if old["status"] != status.value:
                        _log(db, old["id"], now, DecidedBy.AUTO, Status(old["status"]), status, reason)
            for key, old in existing.items():
                if key in seen:
                    continue
                if old["decided_by"] == DecidedBy.USER.value:
                    db.execute("UPDATE patches SET stale = 1 WHERE id = ?", (old["id"],))
                else:
                    db.execute("DELETE FROM patches WHERE id = ?", (old["id"],))
        remove_replaced(self.root, replaced, (result.heatmap, result.aligned_target))

    def _files_of(self, db: sqlite3.Connection, triplet_id: int) -> list[str]:
        """The aligner files the triplet's row references that no other row references."""
        row = db.execute("SELECT heatmap_path, aligned_path FROM triplets WHERE id = ?", (triplet_id,)).fetchone()
        files = [rel for rel in (row or ()) if rel]
        return [rel for rel in files if db.execute(
            "SELECT 1 FROM triplets WHERE id != ? AND (heatmap_path = ? OR aligned_path = ?) LIMIT 1",
            (triplet_id, rel, rel)).fetchone() is None]

    def store_alignment_failure(self, triplet_id: int, error: str) -> None:
        """Record why a triplet could not be aligned; its patches and decisions are kept, its
        aligned target (display cache) is dropped: its file is removed once this is stored (best
        effort; ``ispviewer check --repair`` removes any that remain as orphans)."""
        with self._write() as db:
            replaced = self._files_of(db, triplet_id)
            db.execute("UPDATE triplets SET align_state = 'failed', align_error = ?, aligned_at = ?, "
                       "aligned_path = NULL WHERE id = ?", (error, utc_now(), triplet_id))
            keep = db.execute("SELECT heatmap_path FROM triplets WHERE id = ?", (triplet_id,)).fetchone()
        remove_replaced(self.root, replaced, tuple(keep or ()))

    # ----------------------------------------------------------------- patches and decisions

    _PATCH_SQL = "SELECT p.*, t.name AS triplet FROM patches p JOIN triplets t ON t.id = p.triplet_id"

    @_decoded
    def patches(self, triplet_id: int | None = None, status: Status | str | None = None) -> list[PatchRecord]:
        where, args = [], []
        if triplet_id is not None:
            where.append("p.triplet_id = ?")
            args.append(triplet_id)
        if status is not None:
            where.append("p.status = ?")
            args.append(Status(status).value)
        sql = self._PATCH_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.name, p.y, p.x"
        return [_patch(r) for r in self._read(sql, tuple(args))]

    @_decoded
    def patch(self, patch_id: int) -> PatchRecord:
        rows = self._read(self._PATCH_SQL + " WHERE p.id = ?", (patch_id,))
        if not rows:
            raise ManifestError(f"{self.root}: no patch {patch_id}")
        return _patch(rows[0])

    def decide(self, patch_id: int, status: Status | str, reason: str | None = None,
               actor: DecidedBy = DecidedBy.USER, decided_by: DecidedBy | None = None) -> PatchRecord:
        """Set a patch's status in one durable transaction and append it to the history.

        ``decided_by`` defaults to ``actor``; undo passes ``decided_by=AUTO`` to give a patch back
        to the aligner while the history still records that a person did it.
        """
        status = Status(status)
        decided_by = DecidedBy(decided_by or actor)
        with self._write() as db:
            row = db.execute("SELECT status FROM patches WHERE id = ?", (patch_id,)).fetchone()
            if row is None:
                raise ManifestError(f"{self.root}: no patch {patch_id}")
            db.execute("UPDATE patches SET status = ?, decided_by = ?, reason = ? WHERE id = ?",
                       (status.value, decided_by.value, reason, patch_id))
            _log(db, patch_id, utc_now(), DecidedBy(actor), Status(row["status"]), status, reason)
        return self.patch(patch_id)

    @_decoded
    def history(self, patch_id: int) -> list[DecisionEvent]:
        rows = self._read("SELECT * FROM decisions WHERE patch_id = ? ORDER BY id", (patch_id,))
        return [DecisionEvent(id=r["id"], patch_id=r["patch_id"], at=r["at"], actor=DecidedBy(r["actor"]),
                              old_status=Status(r["old_status"]) if r["old_status"] else None,
                              new_status=Status(r["new_status"]), reason=r["reason"]) for r in rows]

    def threshold_preview(self, threshold_px: float) -> dict[str, int]:
        """How many auto-decided patches a new threshold would reject and accept (user ones untouched)."""
        row = self._read(
            "SELECT SUM(misalignment_px > ?) AS rejected, SUM(misalignment_px <= ?) AS accepted "
            "FROM patches WHERE decided_by = 'auto' AND measurable = 1 AND misalignment_px IS NOT NULL",
            (threshold_px, threshold_px))[0]
        return {"rejected": int(row["rejected"] or 0), "accepted": int(row["accepted"] or 0)}

    def apply_threshold(self, threshold_px: float) -> int:
        """Re-decide every auto decision with a new threshold; returns how many patches changed."""
        now = utc_now()
        changed = 0
        with self._write() as db:
            rows = db.execute("SELECT id, status, misalignment_px, measurable FROM patches "
                              "WHERE decided_by = 'auto'").fetchall()
            for r in rows:
                status, reason = auto_status(r["misalignment_px"], bool(r["measurable"]), threshold_px)
                if status.value != r["status"]:
                    db.execute("UPDATE patches SET status = ?, reason = ? WHERE id = ?", (status.value, reason, r["id"]))
                    _log(db, r["id"], now, DecidedBy.AUTO, Status(r["status"]), status, reason)
                    changed += 1
            db.execute("INSERT INTO meta(key, value) VALUES ('threshold_px', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (repr(float(threshold_px)),))
        return changed

    def misalignment_table(self) -> list[sqlite3.Row]:
        """Rows (misalignment_px, measurable, status, decided_by, phone_model, triplet) for statistics."""
        return self._read(
            "SELECT p.misalignment_px, p.measurable, p.status, p.decided_by, t.name AS triplet, "
            "trim(t.phone_make || ' ' || t.phone_model) AS phone_model "
            "FROM patches p JOIN triplets t ON t.id = p.triplet_id")

    def integrity_errors(self) -> list[str]:
        """SQLite's own integrity check; an empty list means the database file is sound."""
        rows = self._read("PRAGMA integrity_check")
        return [] if [r[0] for r in rows] == ["ok"] else [r[0] for r in rows]


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


def _log(db: sqlite3.Connection, patch_id: int, at: str, actor: DecidedBy, old: Status | None,
         new: Status, reason: str | None) -> None:
    db.execute("INSERT INTO decisions (patch_id, at, actor, old_status, new_status, reason) "
               "VALUES (?,?,?,?,?,?)", (patch_id, at, actor.value, old.value if old else None, new.value, reason))


def _triplet(r: sqlite3.Row) -> TripletRecord:
    counts = {}
    if r["counts"]:
        for item in r["counts"].split(","):
            status, n = item.split(":")
            counts[status] = int(n)
    return TripletRecord(
        id=r["id"], name=r["name"],
        files=CaptureFiles(raw=r["raw_path"], phone=r["phone_path"], target=r["target_path"]),
        raw=RawInfo(width=r["width"], height=r["height"], make=r["phone_make"], model=r["phone_model"],
                    cfa_pattern=r["cfa_pattern"], black_level=r["black_level"], white_level=r["white_level"]),
        target_width=r["target_width"], target_height=r["target_height"],
        align_state=AlignState(r["align_state"]), align_error=r["align_error"],
        homography=tuple(tuple(row) for row in json.loads(r["homography"])) if r["homography"] else None,
        heatmap=r["heatmap_path"], mean_misalignment=r["mean_mis"], patch_counts=counts,
        aligned_target=r["aligned_path"] if "aligned_path" in r.keys() else None)  # absent: read-only v1


def _patch(r: sqlite3.Row) -> PatchRecord:
    return PatchRecord(
        id=r["id"], triplet_id=r["triplet_id"], triplet=r["triplet"], x=r["x"], y=r["y"], size=r["size"],
        dx=r["dx"], dy=r["dy"], ncc=r["ncc"], misalignment_px=r["misalignment_px"],
        misalignment_p95=r["misalignment_p95"], measurable=bool(r["measurable"]),
        status=Status(r["status"]), decided_by=DecidedBy(r["decided_by"]), reason=r["reason"])
