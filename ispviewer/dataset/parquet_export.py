"""Parquet export of the patch and triplet tables (pyarrow), for pandas / polars users.

The columns are those of the JSONL/CSV export with fixed Arrow types, so an empty table still
has its schema; the file is written atomically (a reader never sees half of it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ispviewer.dataset.atomic import atomic_file


def _schema(fields: tuple[str, ...]):
    import pyarrow as pa

    f64, i64, text = pa.float64(), pa.int64(), pa.string()
    types = {
        "x": i64, "y": i64, "size": i64, "width": i64, "height": i64, "target_width": i64, "target_height": i64,
        "measurable": pa.bool_(), "homography": pa.list_(pa.list_(f64)), "tags": pa.list_(text),
        "dx": f64, "dy": f64, "ncc": f64, "misalignment_px": f64, "misalignment_p95": f64,
        "black_level": f64, "white_level": f64, "ev100": f64, "exposure_time": f64, "iso": f64, "f_number": f64,
        "focal_length": f64, "target_exposure_time": f64, "target_iso": f64, "target_f_number": f64,
        "capture_gap_s": f64, "raw_orientation": i64, "raw_crop": pa.list_(i64),
    }
    return pa.schema([(name, types.get(name, text)) for name in fields])


def write_parquet(rows: Iterable[dict], fields: tuple[str, ...], path: str | os.PathLike) -> int:
    """Write ``rows`` (dicts with ``fields``) as one Parquet file; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(fields)
    table = pa.Table.from_pylist([{k: row.get(k) for k in fields} for row in rows], schema=schema)
    with atomic_file(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return table.num_rows

