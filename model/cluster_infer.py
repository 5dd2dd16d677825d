"""Render many phone raws on a Dask distributed cluster (``ispviewer infer RAW... --scheduler ADDRESS``).

The checkpoint is checked here, then its bytes go to every worker once (a broadcast); each worker
rebuilds the network once and keeps it. A worker reads its raw from the shared path, renders it
tile by tile and returns the PNG bytes; this process writes every output file, so the output
folder need not be shared. A raw that cannot be read is reported and skipped, as without a cluster.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from contextlib import closing
from pathlib import Path

_MODELS: dict = {}  # checkpoint digest -> network, per worker process


def _network(digest: str, blob: bytes):
    if digest not in _MODELS:
        from .checkpoint import load_checkpoint

        fd, tmp = tempfile.mkstemp(suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            model, _meta = load_checkpoint(tmp)
        finally:
            os.unlink(tmp)
        _MODELS.clear()  # one checkpoint at a time per worker
        _MODELS[digest] = model
    return _MODELS[digest]


def render_on_worker(raw: str, digest: str, blob: bytes, tile: int) -> tuple[bytes | None, str | None]:
    """Runs on a Dask worker: (PNG bytes, None), or (None, why the raw was skipped)."""
    import cv2
    import numpy as np

    from ispviewer.dataset.images import ImageReadError, load_packed_raw

    from .inference import render_full

    try:
        packed = load_packed_raw(raw)
    except ImageReadError as exc:
        return None, f"skipped {exc}"
    rgb = render_full(_network(digest, blob), packed, tile=tile)
    bgr = cv2.cvtColor(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode(".png", bgr)
    if not ok:
        return None, f"{raw}: could not encode the rendered image"
    return png.tobytes(), None


def infer_on_cluster(client, raws: list[Path], outputs: list[Path], weights: Path, *, tile: int,
                     retries: int = 2, log=print) -> int:
    """Render ``raws`` into ``outputs`` on ``client``'s cluster; the number of raws that failed."""
    blob = Path(weights).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    shared = client.scatter(blob, broadcast=True)
    destinations = {str(Path(raw).resolve()): dst for raw, dst in zip(raws, outputs)}
    from ispviewer.cluster import run_tasks

    failures = 0
    outcomes = run_tasks(client, render_on_worker, list(destinations), retries=retries,
                         name=lambda raw: Path(raw).stem, prefix="ispviewer-infer",
                         extra_args=(digest, shared, tile))
    with closing(outcomes):
        for outcome in outcomes:
            raw, dst = outcome.item, destinations[outcome.item]
            png, why = outcome.value if outcome.error is None else (None, f"{raw}: failed on the cluster: "
                                                                                f"{outcome.error}")
            if png is None:
                print(f"ispviewer infer: {why}", file=sys.stderr)
                failures += 1
                continue
            try:
                dst.write_bytes(png)
            except OSError as exc:
                print(f"ispviewer infer: error: {dst}: could not write image ({exc.strerror})", file=sys.stderr)
                failures += 1
                continue
            log(f"{raw} -> {dst}")
    return failures
