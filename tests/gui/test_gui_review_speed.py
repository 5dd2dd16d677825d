"""The review loop's timing paths, driven with real keys: N prefetches the triplet it will cross
to (the same one on every N of a triplet) so that crossing shows it at once; the position in the
queue is written when the person rests or the dataset closes, not on every N; a decision does not
re-measure the triplet browser."""

from guihelpers import press_keys
from ispviewer.dataset.manifest import Manifest


def test_n_prefetches_the_triplet_it_crosses_to_and_shows_it_at_once(qtbot, window):
    w = window
    first = w.state.triplet.name
    predicted = []
    while True:
        press_keys(w, "N")
        request = w.review.prefetch_request
        if w.state.triplet.name != first:
            break
        assert request is not None
        predicted.append(request.name)
    assert len(set(predicted)) == 1 and predicted[0] != first  # the same prediction on every N
    # the last N crossed: a prefetched triplet is on screen when the key returns (a cached load)
    assert w.state.triplet.name == predicted[0] and w.state.shown == predicted[0]
    assert w.triage.selected is not None and w.triage.selected.triplet == predicted[0]


def test_n_prefetch_is_in_the_cache_before_crossing(qtbot, window):
    w = window
    first = w.state.triplet.name
    press_keys(w, "N")
    request = w.review.prefetch_request
    qtbot.waitUntil(lambda: w.loader.cached(request) is not None, timeout=15000)
    qtbot.wait(400)  # the browser's neighbours are prefetched too: they must not push it out
    assert w.loader.cached(request) is not None
    while w.state.triplet.name == first:
        press_keys(w, "N")
    assert w.state.shown == request.name


def test_the_queue_position_is_saved_once_resting_and_when_the_dataset_closes(qtbot, window, dataset,
                                                                                monkeypatch):
    w = window
    writes = []
    manifest = w.session.manifest
    original = manifest.set_review_position
    monkeypatch.setattr(manifest, "set_review_position",
                        lambda *a, **k: (writes.append(a), original(*a, **k))[1])
    for _ in range(4):
        press_keys(w, "N")
    assert writes == []  # walking writes nothing yet
    qtbot.waitUntil(lambda: len(writes) == 1, timeout=3000)  # once the person rests
    at = w.triage.selected.id
    assert writes[0][2] == at
    press_keys(w, "N")
    key = w.state.review.queue.spec.key()
    annotator = w.session.annotator
    last = w.triage.selected.id
    w.close_dataset()  # before the debounce: the position is written while closing
    with Manifest.open(dataset, readonly=True) as m:
        assert m.review_position(annotator, key) == last


def test_without_a_heatmap_file_the_loader_draws_the_patches_heatmap_off_the_gui_thread(qtbot, window,
                                                                                        dataset, monkeypatch):
    import numpy as np

    from ispviewer.gui.heatmap_style import heatmap_rgba
    from ispviewer.gui.loader import load_triplet
    from ispviewer.gui.sources import heatmap_from_patches, make_request

    with Manifest.open(dataset, readonly=True) as m:
        request = make_request(m.triplet("t02"), m.resolve, root=dataset)  # no heatmap file
        with_file = make_request(m.triplet("t01"), m.resolve, root=dataset)
    assert request.heatmap_path is None and with_file.heatmap_path is not None
    loaded = load_triplet(request)
    heatmap, rgba, style = loaded.patch_heatmap
    want = heatmap_from_patches(loaded.patches)
    assert style == (request.heatmap_vmax, request.heatmap_floor)
    assert heatmap.scale == want.scale and np.array_equal(heatmap.values, want.values, equal_nan=True)
    assert np.array_equal(rgba, heatmap_rgba(want.values, *style))
    from_file = load_triplet(with_file)
    assert from_file.heatmap is not None and from_file.patch_heatmap is None  # the file's heatmap is used
    from ispviewer.gui import viewer

    drawn_here = []
    monkeypatch.setattr(viewer, "heatmap_from_patches", lambda p: drawn_here.append(p) or heatmap_from_patches(p))
    press_keys(window, "PgDown")  # t02 in the window: its heatmap is the loader's, not redrawn here
    qtbot.waitUntil(lambda: window.state.shown == "t02" and not window.state.loading, timeout=10000)
    assert drawn_here == []
    assert window.viewer.overlays["phone"].heatmap.image is not None


def test_n_starts_decoding_the_next_triplet_only_after_the_event_loop_turned(qtbot, window, monkeypatch):
    """The prefetch is predicted at once but its decode waits for the paint of the patch N moved to
    (two decoding threads would take the cores from it)."""
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest

    w = window
    started = []
    original = w.loader.prefetch
    monkeypatch.setattr(w.loader, "prefetch", lambda request: (started.append(request.name), original(request)))
    QTest.keySequence(w, QKeySequence("N"))  # the key handled, the event loop not run yet
    request = w.review.prefetch_request
    assert request is not None and w.state.selected is not None
    assert started == []
    qtbot.waitUntil(lambda: request.name in started, timeout=2000)
    qtbot.waitUntil(lambda: w.loader.cached(request) is not None, timeout=15000)
