"""The dataset manifest: the one package that owns all SQL.

:class:`Manifest` is the typed API over ``DATASET/manifest.sqlite``.  It is assembled from one
module per concern, each a subclass of :class:`ManifestBase` (the connection and its transaction
discipline, in :mod:`.connection`):

- :mod:`.triplets` — registering captures, reading triplets, storing alignment results;
- :mod:`.patches` — patches, decisions and their history, thresholds;
- :mod:`.capture_meta` — capture metadata (exposure, illumination) and tags of triplets;
- :mod:`.splits` — train / val / test assignment of triplets;
- :mod:`.review` — review-queue candidates, review positions, decisions per person, audits;
- :mod:`.merge` — bringing people's decisions in from another copy of the dataset.

A new concern (capture metadata, review queues, ...) adds its own module with a
``ManifestBase`` subclass and joins the bases below; all SQL stays inside this package, the
schema and its migrations in :mod:`ispviewer.dataset.schema`.
"""

from __future__ import annotations

from ispviewer.dataset.manifest.capture_meta import CaptureMetaTable
from ispviewer.dataset.manifest.connection import (
    BUSY_TIMEOUT_S,
    LOCK_RETRY_S,
    MANIFEST_NAME,
    ManifestBase,
    ManifestError,
    ManifestLocked,
    ManifestReadOnly,
    safe_join,
    utc_now,
)
from ispviewer.dataset.manifest.merge import MergeConflict, MergeRefused, MergeReport, MergeTable
from ispviewer.dataset.manifest.patches import PatchTable
from ispviewer.dataset.manifest.review import ReviewTable
from ispviewer.dataset.manifest.splits import SplitTable
from ispviewer.dataset.manifest.triplets import TripletTable


class Manifest(TripletTable, PatchTable, CaptureMetaTable, SplitTable, ReviewTable, MergeTable):
    """Typed access to one dataset's manifest.  Use :meth:`open`; close it or use ``with``."""


__all__ = [
    "BUSY_TIMEOUT_S", "LOCK_RETRY_S", "MANIFEST_NAME", "Manifest", "ManifestBase", "ManifestError",
    "ManifestLocked", "ManifestReadOnly", "MergeConflict", "MergeRefused", "MergeReport", "safe_join", "utc_now",
]
