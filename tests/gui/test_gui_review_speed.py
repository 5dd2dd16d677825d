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
