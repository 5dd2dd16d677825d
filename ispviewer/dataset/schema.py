"""The manifest's SQLite schema and its migrations.

``SCHEMA_VERSION`` is stored in ``PRAGMA user_version``; ``APPLICATION_ID`` in ``PRAGMA
application_id`` identifies the file as an ispviewer manifest, so a database written by another
program is refused rather than altered.  Each migration takes the database from version N-1 to N
inside one transaction.

Version 2 adds ``triplets.aligned_path``: the aligned target JPEG the aligner writes as a display
cache (NULL: none, the viewer warps the Nikon target itself).

Version 3 records each capture's geometry, i.e. how its files become the phone frame:
``raw_orientation`` (EXIF code 1..8 the raw mosaic is turned by) and ``raw_crop`` (JSON
[x, y, w, h] of LibRaw's visible area, NULL: all of it), the phone image's format and stored
orientation, the target's stored orientation, and ``capture_note`` (what the import's orientation
guard could not verify).  Datasets from before keep orientation 1 and no crop — exactly how they
were read until then; ``ispviewer check`` reports those whose raw carries another orientation.

Version 4 adds the dataset-as-a-product columns: the capture metadata of each triplet (phone
capture: exposure time, ISO, f-number, focal length, capture time; the same for the target; EV100,
illumination class, seconds between the two captures; ``metadata_read`` once the files were
read), its ``split`` (train/val/test, NULL: not assigned yet) and the ``triplet_tags`` table.

Version 5 records who decided and supports dataset-wide review: ``patches.annotator`` (the
person whose decision the patch holds, NULL for the aligner's), ``decisions.annotator`` and
``decisions.queue`` (the person behind each history event and the review queue it was made
from, e.g. ``audit``), ``review_positions`` (where each person stands in each queue) and
``merge_conflicts`` (decisions another copy of the dataset made differently, kept beside the
local ones).

Version 6 adds indexes only, for review queues at scale: ``patches_queue_measured`` holds every
measurable patch by misalignment with its triplet and decider (a queue of the worst or of the
near-threshold patches, and the threshold preview, read it instead of the table),
``patches_queue_flagged`` the patches the flagged queue holds, in reading order per triplet, and
``patches_decided_by_person`` the patches a person decided (the queues' "reviewed n of m").
Each holds every column its queries name (SQLite reads an index alone only then).
Nothing is stored differently, so a v5 reader (a read-only open) sees the same data.
"""

from __future__ import annotations

import sqlite3

APPLICATION_ID = 0x49535056  # "ISPV"
SCHEMA_VERSION = 6
#: Oldest version a read-only open can use as it is (later versions only add nullable columns,
#: which the reader treats as NULL when absent), so old datasets on read-only media still open.
READONLY_MIN_VERSION = 1

_V1 = """
CREATE TABLE meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

CREATE TABLE triplets (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    raw_path        TEXT NOT NULL,
    phone_path      TEXT NOT NULL,
    target_path     TEXT NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    target_width    INTEGER NOT NULL,
    target_height   INTEGER NOT NULL,
    phone_make      TEXT NOT NULL DEFAULT '',
    phone_model     TEXT NOT NULL DEFAULT '',
    cfa_pattern     TEXT NOT NULL,
    black_level     REAL NOT NULL,
    white_level     REAL NOT NULL,
    imported_at     TEXT NOT NULL,
    align_state     TEXT NOT NULL DEFAULT 'pending'
                    CHECK (align_state IN ('pending', 'aligned', 'failed')),
    align_error     TEXT,
    homography      TEXT,               -- JSON 3x3, Nikon target px -> phone px
    heatmap_path    TEXT,
    align_params    TEXT,               -- JSON
    aligned_at      TEXT
);

CREATE TABLE patches (
    id                  INTEGER PRIMARY KEY,
    triplet_id          INTEGER NOT NULL REFERENCES triplets(id) ON DELETE CASCADE,
    x                   INTEGER NOT NULL,
    y                   INTEGER NOT NULL,
    size                INTEGER NOT NULL,
    dx                  REAL NOT NULL,
    dy                  REAL NOT NULL,
    ncc                 REAL NOT NULL,
    misalignment_px     REAL,
    misalignment_p95    REAL,
    measurable          INTEGER NOT NULL DEFAULT 1,
    status              TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'flagged')),
    decided_by          TEXT NOT NULL CHECK (decided_by IN ('auto', 'user')),
    reason              TEXT,
    stale               INTEGER NOT NULL DEFAULT 0,   -- kept for a user decision, absent from the last alignment
    UNIQUE (triplet_id, x, y, size)
);
CREATE INDEX patches_by_triplet ON patches(triplet_id);
CREATE INDEX patches_by_status ON patches(status);

CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    patch_id    INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL CHECK (actor IN ('auto', 'user')),
    old_status  TEXT,
    new_status  TEXT NOT NULL,
    reason      TEXT
);
CREATE INDEX decisions_by_patch ON decisions(patch_id);

CREATE TRIGGER decisions_append_only_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decision history is append-only'); END;
"""

_V2 = """
ALTER TABLE triplets ADD COLUMN aligned_path TEXT;   -- aligned target JPEG (display cache), relative
"""

_V3 = """
ALTER TABLE triplets ADD COLUMN raw_orientation INTEGER NOT NULL DEFAULT 1;   -- EXIF code the mosaic is turned by
ALTER TABLE triplets ADD COLUMN raw_crop TEXT;                                -- JSON [x, y, w, h]; NULL: all
ALTER TABLE triplets ADD COLUMN phone_format TEXT NOT NULL DEFAULT 'jpeg';    -- 'jpeg' or 'heif'
ALTER TABLE triplets ADD COLUMN phone_orientation INTEGER NOT NULL DEFAULT 1; -- as stored in the phone image
ALTER TABLE triplets ADD COLUMN target_orientation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE triplets ADD COLUMN capture_note TEXT;                            -- the orientation guard's note
"""

_V4 = """
ALTER TABLE triplets ADD COLUMN exposure_time REAL;          -- phone capture, seconds
ALTER TABLE triplets ADD COLUMN iso REAL;
ALTER TABLE triplets ADD COLUMN f_number REAL;
ALTER TABLE triplets ADD COLUMN focal_length REAL;           -- mm
ALTER TABLE triplets ADD COLUMN captured_at TEXT;            -- ISO 8601
ALTER TABLE triplets ADD COLUMN target_exposure_time REAL;
ALTER TABLE triplets ADD COLUMN target_iso REAL;
ALTER TABLE triplets ADD COLUMN target_f_number REAL;
ALTER TABLE triplets ADD COLUMN target_focal_length REAL;
ALTER TABLE triplets ADD COLUMN target_captured_at TEXT;
ALTER TABLE triplets ADD COLUMN ev100 REAL;                  -- log2(N^2/t) - log2(ISO/100), phone capture
ALTER TABLE triplets ADD COLUMN illumination TEXT;
ALTER TABLE triplets ADD COLUMN capture_gap_s REAL;          -- target capture time - phone capture time
ALTER TABLE triplets ADD COLUMN metadata_read INTEGER NOT NULL DEFAULT 0;
ALTER TABLE triplets ADD COLUMN split TEXT CHECK (split IS NULL OR split IN ('train', 'val', 'test'));

CREATE TABLE triplet_tags (
    triplet_id  INTEGER NOT NULL REFERENCES triplets(id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (triplet_id, tag)
);
CREATE INDEX triplet_tags_by_tag ON triplet_tags(tag);
"""

_V5 = """
ALTER TABLE patches ADD COLUMN annotator TEXT;      -- the person whose decision this is; NULL: the aligner
ALTER TABLE decisions ADD COLUMN annotator TEXT;    -- the person behind the event; NULL: the aligner
ALTER TABLE decisions ADD COLUMN queue TEXT;        -- the review queue the event was made from, if any

CREATE TABLE review_positions (
    annotator   TEXT NOT NULL,
    queue_key   TEXT NOT NULL,                      -- canonical JSON of the queue's kind, options, filters
    patch_id    INTEGER,                            -- the patch the person was at (NULL: the start)
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (annotator, queue_key)
);

CREATE TABLE merge_conflicts (
    id              INTEGER PRIMARY KEY,
    patch_id        INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
    merged_at       TEXT NOT NULL,
    source          TEXT NOT NULL,                  -- the other copy, as given to `ispviewer merge`
    local_status    TEXT NOT NULL,
    local_annotator TEXT,
    other_status    TEXT NOT NULL,
    other_reason    TEXT,
    other_annotator TEXT,
    other_at        TEXT NOT NULL,
    UNIQUE (patch_id, other_at, other_status)
);

CREATE INDEX patches_by_misalignment ON patches(misalignment_px);
CREATE INDEX decisions_by_queue ON decisions(queue) WHERE queue IS NOT NULL;
CREATE INDEX decisions_by_person ON decisions(patch_id, id) WHERE actor = 'user';
"""

_V6 = """
CREATE INDEX patches_queue_measured ON patches(misalignment_px, triplet_id, decided_by, measurable)
    WHERE measurable = 1 AND misalignment_px IS NOT NULL;
CREATE INDEX patches_queue_flagged ON patches(triplet_id, y, x, measurable, misalignment_px, status)
    WHERE measurable = 0 OR misalignment_px IS NULL OR status = 'flagged';
CREATE INDEX patches_decided_by_person ON patches(decided_by) WHERE decided_by = 'user';
"""

#: MIGRATIONS[n] takes a database at version n-1 to version n.
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6}


def apply_migrations(conn: sqlite3.Connection, from_version: int) -> None:
    """Bring ``conn`` from ``from_version`` to SCHEMA_VERSION, one transaction per step."""
    for version in range(from_version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (triggers keep their inner ';')."""
    out, buf = [], []
    for line in script.splitlines():
        stripped = line.split("--", 1)[0].rstrip()
        if not stripped:
            continue
        buf.append(stripped)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            out.append(joined)
            buf = []
    return out
