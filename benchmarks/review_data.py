"""A synthetic dataset at the poster's scale for the review benchmark: 2,424 triplets, 144 patches
each (349,056 patches), written with bulk SQL into a manifest the manifest API created.

The triplets reference a small set of capture files (``--images``: four captures hard-linked into
every triplet's folder, so the files exist without 2,424 real 12 MP triplets on the disk).
Misalignment follows a log-normal with a 0.6 px median; ~2% of the patches are unmeasurable;
1% carry a person's decision (two annotators), each with its history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from ispviewer.dataset.manifest import MANIFEST_NAME, Manifest
from ispviewer.dataset.rules import DEFAULT_THRESHOLD_PX, LOW_TEXTURE_REASON

PHONES = (("Apple", "iPhone 6s"), ("Xiaomi", "Mi 11"))
IDENTITY = "[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]"


def build(root: Path, triplets: int = 2424, grid: int = 12, size: int = 128, seed: int = 0,
          capture_files: list[tuple[str, str, str, str | None]] | None = None,
          frame: tuple[int, int] | None = None) -> int:
    """Write the dataset; returns the number of patches.  ``capture_files``: (raw, phone, target,
    aligned target) paths relative to ``root`` that the triplets share, cycling (default: names
    only, no files); ``frame``: the phone frame (default: just the patch grid), patches spread on it."""
    Manifest.open(root, create=True).close()  # the schema, as the application writes it
    rng = np.random.default_rng(seed)
    files = capture_files or [(f"captures/c{i}/raw.dng", f"captures/c{i}/phone.jpg", f"captures/c{i}/target.jpg",
                               None) for i in range(4)]
    now = "2026-12-01T00:00:00.000+00:00"
    conn = sqlite3.connect(root / MANIFEST_NAME, isolation_level=None)
    try:
        conn.execute("BEGIN")
        width, height = frame or (grid * size, grid * size)
        step_x, step_y = (width // grid) & ~1, (height // grid) & ~1
        conn.executemany(
            "INSERT INTO triplets (id, name, raw_path, phone_path, target_path, aligned_path, width, height, "
            "target_width, target_height, phone_make, phone_model, cfa_pattern, black_level, white_level, "
            "imported_at, align_state, homography, aligned_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'RGGB',64,4095,?,'aligned',?,?)",
            [(t + 1, f"scene_{t:05d}", *files[t % len(files)], width, height, width, height,
              *PHONES[t % len(PHONES)], now, IDENTITY, now) for t in range(triplets)])
        n = triplets * grid * grid
        mis = rng.lognormal(np.log(0.6), 0.45, n)
        measurable = rng.random(n) > 0.02
        ncc = np.clip(1.0 - mis / 10 + rng.normal(0, 0.01, n), 0, 1)
        rows, events = [], []
        users = rng.random(n) < 0.01
        for i in range(n):
            t, k = divmod(i, grid * grid)
            y, x = divmod(k, grid)
            m = float(mis[i]) if measurable[i] else None
            if m is None:
                status, reason = "flagged", LOW_TEXTURE_REASON
            elif m > DEFAULT_THRESHOLD_PX:
                status, reason = "rejected", f"misalignment {m:.2f} px > {DEFAULT_THRESHOLD_PX:g} px"
            else:
                status, reason = "accepted", None
            events.append((i + 1, now, "auto", None, status, reason, None, None))
            decided_by, annotator = "auto", None
            if users[i]:
                new = "rejected" if status == "accepted" and m is not None and m > 0.9 else status
                annotator = ("alice", "bob")[i % 2]
                events.append((i + 1, now, "user", status, new, None, annotator, None))
                status, reason, decided_by = new, None, "user"
            rows.append((i + 1, t + 1, x * step_x, y * step_y, size, 0.25, -0.5, float(ncc[i]), m,
                         None if m is None else 2 * m, int(measurable[i]), status, decided_by, reason, annotator))
        conn.executemany(
            "INSERT INTO patches (id, triplet_id, x, y, size, dx, dy, ncc, misalignment_px, misalignment_p95, "
            "measurable, status, decided_by, reason, annotator) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany(
            "INSERT INTO decisions (patch_id, at, actor, old_status, new_status, reason, annotator, queue) "
            "VALUES (?,?,?,?,?,?,?,?)", events)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return n
