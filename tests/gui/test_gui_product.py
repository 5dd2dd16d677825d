"""The dataset-as-a-product parts of the app: the browser shows illumination, split and tags and
filters by tag; the Figure-4 dock overlays one histogram per group (Figure 4b)."""

import pytest
from PySide6.QtCore import Qt

from ispviewer.dataset.capture_metadata import CaptureMetadata, ExposureInfo
from ispviewer.dataset.manifest import Manifest


@pytest.fixture
def product_dataset(dataset):
    with Manifest.open(dataset) as m:
        names = [t.name for t in m.triplets()]
        for i, t in enumerate(m.triplets()):
            light = ("daylight", "night")[i % 2]
            m.store_capture_metadata(t.id, CaptureMetadata(ExposureInfo(), ExposureInfo(), 12.0 if i % 2 == 0 else 2.0,
                                                           light, 3.0))
        m.tag_triplets(names[:2], add=("backlit",))
        m.tag_triplets(names[1:2], add=("rain",))
        m.assign_splits({n: ("train", "test")[i % 2] for i, n in enumerate(names)})
    return dataset


def test_browser_shows_tags_and_filters_by_tag(make_window, product_dataset):
    window = make_window(product_dataset)
    browser = window.browser
    with Manifest.open(product_dataset, readonly=True) as m:
        names = [t.name for t in m.triplets()]
    headers = [browser.model.headerData(c, Qt.Orientation.Horizontal) for c in range(browser.model.columnCount())]
    assert {"light", "split", "tags"} <= set(headers)
    tags_col = headers.index("tags")
    row = next(r for r in range(browser.proxy.rowCount()) if browser.proxy.index(r, 0).data() == names[1])
    assert browser.proxy.index(row, tags_col).data() == "backlit rain"
    assert browser.proxy.index(row, headers.index("light")).data() in ("daylight", "night")
    assert [browser.tag_box.itemText(i) for i in range(browser.tag_box.count())] == ["any tag", "backlit", "rain"]
    browser.tag_box.setCurrentText("backlit")
    assert browser.visible_names() == sorted(names[:2])
    browser.tag_box.setCurrentText("rain")
    assert browser.visible_names() == [names[1]]
    browser.tag_box.setCurrentText("any tag")
    assert len(browser.visible_names()) == len(names)


def test_histogram_overlays_one_curve_per_group(make_window, product_dataset):
    window = make_window(product_dataset)
    hist = window.histogram
    assert hist.group_curves == {}
    hist.overlay_box.setCurrentText("illumination")
    assert set(hist.group_curves) == {"daylight", "night"}
    counts = hist.group_counts()
    measured = [r["misalignment_px"] for r in window.session.misalignment_table()
                if r["measurable"] and r["misalignment_px"] is not None]
    assert sum(int(c.sum()) for c in counts.values()) == len(measured)  # the groups split the dataset's patches
    hist.overlay_box.setCurrentText("tag")
    assert set(hist.group_curves) == {"backlit", "rain", "(untagged)"}
    hist.overlay_box.setCurrentText("split")
    assert set(hist.group_curves) == {"train", "test"}
    hist.overlay_box.setCurrentText("no overlay")
    assert hist.group_curves == {}
