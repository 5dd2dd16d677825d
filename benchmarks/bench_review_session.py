"""A scripted keyboard review of 1,000 queued patches in the real main window (offscreen), at the
poster's scale, next to references from the same run.

Dataset: ``review_data.py``'s 2,424 triplets / 349,056 patches, sharing four captures of
``--size`` (see ``bench_review_gui.py``).  Real key events (``QTest.keyClick`` to the focused
widget, the way a person's keyboard reaches it) drive two sessions through the ``worst`` queue:

  gallery — V opens the gallery; on each tile A (or R / F, a seeded mix), now and then an arrow
            away and back first; PgDown after the last tile of a page;
  main    — in the main view N to the next queued patch (within the triplet, then on to the next
            triplet that has some), then A / R / F on it.

"Time in the app" is, for each key, from the key press until the app is done with it: the
decision committed (the writer has nothing queued), the page's tiles painted, the patch centred
and painted (``--think-ms``, the person's pause after each patch, is not counted).  Printed: the
total for ``--patches`` patches (target <= 2 minutes for 1,000), per decision, the slowest key,
and references — decoding one phone JPEG of this size, one repaint of a gallery page.

    python benchmarks/bench_review_session.py [--size 1600x1200] [--patches 1000]
        [--session gallery|main|both] [--think-ms 0] [--workdir DIR] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from bench_review_gui import review_dataset, until

from _common import load_average

TARGET_S = 120.0
TARGET_PATCHES = 1000


class Clock:
    """Time spent in the app, key by key."""

    def __init__(self, app):
        self.app = app
        self.keys: list[tuple[str, float]] = []

    def press(self, widget, key, label: str, done, profile: cProfile.Profile | None = None) -> float:
        from PySide6.QtTest import QTest

        if profile is not None:
            profile.enable()
        t0 = time.perf_counter()
        QTest.keyClick(widget, key)
        until(self.app, done, timeout_s=120)
        ms = 1000 * (time.perf_counter() - t0)
        if profile is not None:
            profile.disable()
        self.keys.append((label, ms))
        return ms

    def think(self, ms: float) -> None:
        end = time.perf_counter() + ms / 1000
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.002)


def focused(w):
    """Where a person's key press goes: the focused widget of the window."""
    from PySide6.QtWidgets import QApplication

    return QApplication.focusWidget() or w


def gallery_session(w, clock: Clock, patches: int, rng, think_ms: float, profile) -> int:
    from PySide6.QtCore import Qt

    from ispviewer.gui.gallery import PAGE_SIZE

    g = w.review.gallery
    keys = {"A": Qt.Key.Key_A, "R": Qt.Key.Key_R, "F": Qt.Key.Key_F}
    writer = w.session.writer

    def page_painted():
        return bool(g.page_patches) and not g.tiles.missing(g.page_patches)

    clock.press(w, Qt.Key.Key_V, "V", lambda: g.isVisible() and page_painted(), profile)
    if g.grid.hasFocus() is False:
        raise RuntimeError("the gallery did not take the keyboard focus")
    decided = 0
    while decided < patches:
        if g.page + 1 < g.page_count() and all(p.decided_by.value == "user" for p in g.page_patches):
            page = g.page
            clock.press(g.grid, Qt.Key.Key_PageDown, "PgDown",
                        lambda page=page: g.page == page + 1 and page_painted(), profile)
        if decided % 10 == 3 and g.focus + 1 < len(g.page_patches):
            here = g.focus
            clock.press(g.grid, Qt.Key.Key_Right, "arrow", lambda h=here: g.focus == h + 1, profile)
            clock.press(g.grid, Qt.Key.Key_Left, "arrow", lambda h=here: g.focus == h, profile)
        before = g.focused_patch()
        letter = rng.choice(["A", "R", "F"], p=[0.8, 0.15, 0.05])
        clock.press(g.grid, keys[letter], letter, lambda b=before: writer.pending == 0 and next(
            p for p in g.page_patches if p.id == b.id).decided_by.value == "user", profile)
        decided += 1
        if think_ms:
            clock.think(think_ms)
    if g.page + 1 < g.page_count() and len(g.page_patches) != PAGE_SIZE:
        raise RuntimeError("a page before the last was short")
    clock.press(g.grid, Qt.Key.Key_V, "V", lambda: not g.isVisible(), profile)
    return decided


def main_view_session(w, clock: Clock, patches: int, rng, think_ms: float, profile) -> tuple[int, int]:
    from PySide6.QtCore import Qt

    keys = {"A": Qt.Key.Key_A, "R": Qt.Key.Key_R, "F": Qt.Key.Key_F}
    writer = w.session.writer
    crossings = 0
    decided = 0
    while decided < patches:
        before = w.state.triplet.id

        def landed():
            return (w.state.shown == w.state.triplet.name and not w.state.loading
                    and w.state.selected is not None
                    and w.state.selected == w.review.walker.patch_at(w.state.review.position))

        clock.press(focused(w), Qt.Key.Key_N, "N", landed, profile)
        w.viewer.repaint()
        if w.state.triplet.id != before:
            crossings += 1
            clock.keys[-1] = ("N across", clock.keys[-1][1])
        selected = w.state.selected
        letter = rng.choice(["A", "R", "F"], p=[0.8, 0.15, 0.05])
        clock.press(focused(w), keys[letter], letter, lambda s=selected: (
            w.state.patches.get(s) is not None and w.state.patches.get(s).decided_by.value == "user"
            and writer.pending == 0), profile)
        decided += 1
        if think_ms:
            clock.think(think_ms)
    return decided, crossings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1600x1200", help="phone frame of the shared captures (12 MP: 4032x3024)")
    ap.add_argument("--patches", type=int, default=TARGET_PATCHES)
    ap.add_argument("--triplets", type=int, default=2424)
    ap.add_argument("--session", choices=("gallery", "main", "both"), default="both")
    ap.add_argument("--think-ms", type=float, default=0.0, help="the person's pause after each patch (not counted)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ispviewer-bench-review-gui")
    ap.add_argument("--profile", type=Path, help="write the GUI thread's profile of the key presses here")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    root = review_dataset(args.workdir, size, args.triplets, tiles=False)
    work = args.workdir / f"session-{args.size}-{args.triplets}"  # a fresh copy: every run reviews the same queue
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root, work, ignore=shutil.ignore_patterns("*.bak"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ispviewer.dataset.images import load_rgb
    from ispviewer.gui.app import configure_app
    from ispviewer.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    configure_app(app)
    settings_file = args.workdir / "session-settings.ini"
    settings_file.unlink(missing_ok=True)
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    os.environ["ISPVIEWER_USER"] = "bench-session"
    print(load_average(), f"— frame {args.size}, {args.triplets} triplets, {args.patches} patches a session")

    w = MainWindow(settings)
    w.resize(1600, 1000)
    w.show()
    w.activateWindow()
    QApplication.setActiveWindow(w)  # key clicks reach the focused widget as a person's keyboard does
    t0 = time.perf_counter()
    w.open_dataset(work)
    until(app, lambda: w.state.shown is not None and not w.state.loading)
    until(app, lambda: not w.histogram_refresher.pending, required=False)
    print(f"opened in {time.perf_counter() - t0:.1f} s; queue: {w.state.review.summary}")
    profile = cProfile.Profile() if args.profile else None
    rng = np.random.default_rng(args.seed)
    results = []
    sessions = ("gallery", "main") if args.session == "both" else (args.session,)
    for name in sessions:
        clock = Clock(app)
        t0 = time.perf_counter()
        if name == "gallery":
            done = gallery_session(w, clock, args.patches, rng, args.think_ms, profile)
            extra = ""
        else:
            w.viewer.setFocus()
            done, crossings = main_view_session(w, clock, args.patches, rng, args.think_ms, profile)
            extra = f", {crossings} N across triplets"
        wall = time.perf_counter() - t0
        results.append((name, done, clock, wall, extra))

    t0 = time.perf_counter()
    load_rgb(work / "captures/c0/phone.jpg")
    decode_ms = 1000 * (time.perf_counter() - t0)
    g = w.review.gallery
    w.review.show_gallery(True)
    until(app, lambda: g.page_patches and not g.tiles.missing(g.page_patches))
    repaints = []
    for _ in range(5):
        t0 = time.perf_counter()
        g.grid.repaint()
        repaints.append(1000 * (time.perf_counter() - t0))
    repaint_ms = statistics.median(repaints)
    w.close()
    app.processEvents()

    print(f"references: decoding one {args.size} phone JPEG {decode_ms:.1f} ms; one repaint of a gallery page "
          f"{repaint_ms:.1f} ms; {load_average()}")
    ok = True
    for name, done, clock, wall, extra in results:
        in_app = sum(ms for _, ms in clock.keys) / 1000
        per = 1000 * in_app / max(1, done)
        scaled = in_app * TARGET_PATCHES / max(1, done)
        by_key: dict[str, list[float]] = {}
        for label, ms in clock.keys:
            by_key.setdefault(label, []).append(ms)
        keys = ", ".join(f"{k} {len(v)}x median {statistics.median(v):.1f} / max {max(v):.0f} ms"
                         for k, v in sorted(by_key.items()))
        verdict = "met" if scaled <= TARGET_S else "NOT met"
        ok &= scaled <= TARGET_S
        print(f"{name:8s} {done} patches{extra}: {in_app:6.1f} s in the app ({per:.1f} ms a decision, "
              f"{per / decode_ms:.2f}x a JPEG decode, {per / max(repaint_ms, 1e-3):.1f}x a page repaint); "
              f"wall {wall:.1f} s; for 1,000 patches {scaled:.1f} s, target <= {TARGET_S:.0f} s: {verdict}")
        print(f"         keys: {keys}")
    if profile is not None:
        with open(args.profile, "w") as fh:
            pstats.Stats(profile, stream=fh).sort_stats("cumulative").print_stats(60)
            pstats.Stats(profile, stream=fh).sort_stats("tottime").print_stats(40)
        print(f"profile of the key presses: {args.profile}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
