"""Benchmark of reviewing in the window at the poster's scale, next to references from the same run.

Dataset: ``review_data.py``'s 2,424 triplets / 349,056 patches, whose triplets share four captures
(phone JPEG and aligned target of ``--size``, written once, referenced by every triplet like
hard-linked files); each triplet's aligned target and patch-tile cache are hard links under its
own versioned names (``aligned/<name>.<token>.jpg``, ``tiles/<name>.<token>.tiles``), the caches
written from the shared captures the way the aligner writes them.  "Cold" means the app's caches
are empty (the OS file cache is not).  The real main window runs offscreen; every figure is the
median of ``--repeats`` (ms):

  open        — open_dataset until the first triplet is on screen          (target <= 1500)
  page cold   — V (gallery) until every tile of the first page is painted  (target <= 1000);
                also without the patch-tile caches (a dataset aligned before them: tiles cut
                from the full images), ``--fallback-repeats`` times
  page warm   — PgDown to a prefetched page, tiles painted                 (target <= 60)
  decision    — A on a tile: the write committed / the tile repainted      (targets <= 20 / 30)
  N           — N to the next queued patch, centred and painted, within the triplet and across
                to a prefetched triplet                                     (target <= 50)
  references  — decoding one phone JPEG; one repaint of the gallery page.

    python benchmarks/bench_review_gui.py [--size 4032x3024] [--repeats 5] [--fallback-repeats 2] [--workdir DIR]
        [--profile FILE]   (the GUI thread's profile of the N presses that cross to another triplet)
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
from review_data import build

from _common import load_average


def write_captures(root: Path, size: tuple[int, int]) -> list[tuple[str, str, str, str]]:
    files = []
    rng = np.random.default_rng(1)
    for i in range(4):
        folder = root / "captures" / f"c{i}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
        image = cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)
        for name in ("phone.jpg", "target.jpg", "aligned.jpg"):
            assert cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (folder / "raw.dng").write_bytes(b"")
        files.append((f"captures/c{i}/raw.dng", f"captures/c{i}/phone.jpg", f"captures/c{i}/target.jpg",
                      f"captures/c{i}/aligned.jpg"))
    return files


def review_dataset(workdir: Path, size: tuple[int, int], triplets: int, *, tiles: bool) -> Path:
    """The synthetic review dataset of ``triplets`` triplets on ``size`` frames under ``workdir``, built
    once and reused (with ``tiles``: with aligned targets and patch-tile caches, in a folder of its own)."""
    root = workdir / f"dataset-{size[0]}x{size[1]}-{triplets}{'-tiles' if tiles else ''}"
    if not (root / "manifest.sqlite").exists():
        shutil.rmtree(root, ignore_errors=True)
        files = write_captures(root, size)
        n = build(root, triplets=triplets, capture_files=files, frame=size)
        note = ""
        if tiles:
            note = f" (4 patch-tile caches written in {link_alignment_files(root, files):.1f} s)"
        print(f"built {n} patches on {size[0]}x{size[1]} frames in {root}{note}")
    return root


def link_alignment_files(root: Path, files: list[tuple[str, str, str, str]]) -> float:
    """Per triplet, its aligned target and patch-tile cache under its own versioned names (hard
    links to the shared capture's files); each capture's cache is cut from its phone JPEG and
    aligned target with the triplets' patches, as the aligner writes it.  Seconds spent writing."""
    from ispviewer.dataset.alignment_files import alignment_paths, patch_tiles_relpath
    from ispviewer.dataset.images import load_rgb
    from ispviewer.dataset.patch_tiles import TileSpec, target_origin, write_patch_tiles

    con = sqlite3.connect(root / "manifest.sqlite")
    written = 0.0
    try:
        shared = {}
        for i, (_raw, phone, _target, aligned) in enumerate(files):  # triplet i + 1 uses capture i
            specs = [TileSpec(x, y, size, *target_origin(x, y, dx, dy)) for x, y, size, dx, dy in con.execute(
                "SELECT x, y, size, dx, dy FROM patches WHERE triplet_id = ?", (i + 1,))]
            t0 = time.perf_counter()
            cache = root / Path(aligned).parent / "patch.tiles"
            write_patch_tiles(cache, load_rgb(root / phone), load_rgb(root / aligned), specs)
            written += time.perf_counter() - t0
            shared[aligned] = cache
        rows = []
        for tid, name, aligned in con.execute("SELECT id, name, aligned_path FROM triplets").fetchall():
            _heatmap, rel = alignment_paths(name)
            for src, dst in ((root / aligned, root / rel), (shared[aligned], root / patch_tiles_relpath(rel))):
                dst.parent.mkdir(exist_ok=True)
                os.link(src, dst)
            rows.append((rel, tid))
        with con:
            con.executemany("UPDATE triplets SET aligned_path = ? WHERE id = ?", rows)
    finally:
        con.close()
    return written


def until(app, done, timeout_s: float = 60.0, required: bool = True) -> bool:
    """Process events until ``done()``; False (or TimeoutError when ``required``) after the timeout."""
    t0 = time.perf_counter()
    while not done():
        app.processEvents()
        if time.perf_counter() - t0 > timeout_s:
            if required:
                raise TimeoutError("the window did not get there in time")
            return False
    return True


page_sample: list = []  # the first page's patches (reported with the figures)


def first_page(app, w, timeout_s: float = 60.0) -> float:
    """V (gallery) until every tile of its first page is painted (ms); the gallery stays open."""
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest

    g = w.review.gallery
    t0 = time.perf_counter()
    QTest.keySequence(w, QKeySequence("V"))
    until(app, lambda g=g: g.page_patches and all(g.tiles.tile(p.id) for p in g.page_patches), timeout_s)
    g.grid.repaint()
    ms = 1000 * (time.perf_counter() - t0)
    page_sample[:] = g.page_patches
    return ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="4032x3024")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fallback-repeats", type=int, default=2,
                    help="cold first pages without the patch-tile caches (slow: ~2 image decodes a triplet)")
    ap.add_argument("--triplets", type=int, default=2424)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ispviewer-bench-review-gui")
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()
    profile = cProfile.Profile() if args.profile else None
    size = tuple(int(v) for v in args.size.split("x"))
    root = review_dataset(args.workdir, size, args.triplets, tiles=True)
    print(load_average())

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from ispviewer.dataset.images import load_rgb
    from ispviewer.gui.app import configure_app
    from ispviewer.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    configure_app(app)
    settings = QSettings(str(args.workdir / "settings.ini"), QSettings.Format.IniFormat)
    ref_decode, opens, cold, warm, commit, paint, n_within, n_across, repaint = ([] for _ in range(9))
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        load_rgb(root / "captures/c0/phone.jpg")
        ref_decode.append(1000 * (time.perf_counter() - t0))
        w = MainWindow(settings)
        w.resize(1600, 1000)
        w.show()
        w.activateWindow()
        t0 = time.perf_counter()
        w.open_dataset(root)
        until(app, lambda w=w: w.state.shown is not None)
        opens.append(1000 * (time.perf_counter() - t0))
        until(app, lambda w=w: not w.state.loading)
        g = w.review.gallery
        cold.append(first_page(app, w))
        start = (g.page + 1) * 48  # the gallery opens at the page of the saved position
        until(app, lambda g=g, w=w, s=start: not g.tiles.missing(
            w.state.review.queue.records(w.session.manifest, s, s + 48)))
        page = g.page
        t0 = time.perf_counter()
        QTest.keySequence(g.grid, QKeySequence("PgDown"))
        until(app, lambda g=g, n=page + 1: g.page == n and all(g.tiles.tile(p.id) for p in g.page_patches))
        g.grid.repaint()
        warm.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        g.grid.repaint()
        repaint.append(1000 * (time.perf_counter() - t0))
        written = []  # stamped in the writer thread, the moment the transaction is committed
        w.session.writer.written.connect(lambda *_a, out=written: out.append(time.perf_counter()),
                                         Qt.ConnectionType.DirectConnection)
        t0 = time.perf_counter()
        QTest.keySequence(g.grid, QKeySequence("A"))
        g.grid.repaint()
        paint.append(1000 * (time.perf_counter() - t0))
        until(app, lambda out=written: out)
        commit.append(1000 * (written[0] - t0))
        QTest.keySequence(w, QKeySequence("V"))
        app.processEvents()
        first = w.state.triplet.id
        within_here = 0  # N presses within a triplet in this repeat
        for _step in range(200):  # N within the triplet, until it moves on
            until(app, lambda w=w: not w.state.loading)
            queue, here = w.state.review.queue, w.state.review.position
            crossing = queue.next_open(-1 if here is None else here, 1, w.state.triplet.id) is None
            following = w.review.walker.next_triplet(w.state.triplet.id)
            prefetched = False
            if following is not None and within_here and crossing:  # the next triplet is prefetched by then
                request = w.navigator.request_for(w.session.triplet(following))
                prefetched = until(app, lambda w=w, r=request: w.loader.cached(r) is not None, 10, False)
            profiled = profile is not None and crossing and prefetched  # the presses the figure counts
            if profiled:
                profile.enable()
            t0 = time.perf_counter()
            QTest.keySequence(w, QKeySequence("N"))
            try:
                until(app, lambda w=w: w.state.shown == w.state.triplet.name and not w.state.loading
                      and w.state.selected is not None
                      and w.state.selected == w.review.walker.patch_at(w.state.review.position))
            except TimeoutError:
                r = w.state.review
                raise TimeoutError(f"N did not land: triplet {w.state.triplet.name}, shown {w.state.shown}, "
                                   f"loading {w.state.loading}, selected {w.state.selected}, position "
                                   f"{r.position} -> {w.review.walker.patch_at(r.position)}") from None
            w.viewer.repaint()
            ms = 1000 * (time.perf_counter() - t0)
            if profiled:
                profile.disable()
            if w.state.triplet.id == first:
                n_within.append(ms)
                within_here += 1
            elif not within_here:  # the saved position was the triplet's last open patch: walk the next one
                first = w.state.triplet.id
            else:
                n_across.append(ms)
                print(f"(N across: the next triplet was {'' if prefetched else 'NOT '}prefetched)")
                break
        w.close()
        app.processEvents()
    fallback = []
    hidden = root / "tiles.hidden"
    (root / "tiles").rename(hidden)  # as a dataset aligned before the caches existed
    try:
        for _ in range(args.fallback_repeats):
            w = MainWindow(settings)
            w.resize(1600, 1000)
            w.show()
            w.activateWindow()
            w.open_dataset(root)
            until(app, lambda w=w: w.state.shown is not None and not w.state.loading)
            fallback.append(first_page(app, w, timeout_s=300))
            QTest.keySequence(w, QKeySequence("V"))
            app.processEvents()
            w.close()
            app.processEvents()
    finally:
        hidden.rename(root / "tiles")

    def show(label, values, ref=None, target=None):
        if not values:
            print(f"{label:<44} (not measured in this run)")
            return
        text = f"{label:<44} {statistics.median(values):8.1f} ms"
        if len(values) > 1:
            text += f" ({min(values):.0f}–{max(values):.0f})"
        if ref is not None:
            text += f"   reference {ref[0]}: {statistics.median(ref[1]):.1f} ms"
        if target is not None:
            text += f"   target <= {target} ms: {'met' if statistics.median(values) <= target else 'NOT met'}"
        print(text)

    decode = ("decoding one phone JPEG", ref_decode)
    show("open: first triplet on screen", opens, decode, 1500)
    show("gallery first page painted, cold", cold, decode, 1000)
    if fallback:
        show("  the same without patch-tile caches", fallback, decode)
        print(f"  patch-tile caches: {statistics.median(fallback) / statistics.median(cold):.0f}x faster "
              f"(first page: {len({p.triplet_id for p in page_sample})} triplets)")
    show("gallery prefetched page painted", warm, ("one repaint of a page", repaint), 60)
    show("decision on a tile committed", commit, None, 20)
    show("decision on a tile painted", paint, ("one repaint of a page", repaint), 30)
    show("N within the triplet, centred and painted", n_within, None, 50)
    if n_across:
        show("N to the next (prefetched) triplet", n_across, decode, 50)
    if profile is not None:
        with open(args.profile, "w") as fh:
            pstats.Stats(profile, stream=fh).sort_stats("cumulative").print_stats(50)
            pstats.Stats(profile, stream=fh).sort_stats("tottime").print_stats(25)
        print(f"profile of N across triplets: {args.profile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
