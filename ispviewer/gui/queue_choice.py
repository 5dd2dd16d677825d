"""The review queue a person chose, as plain data (Qt-free): remembered per dataset, offered in the
queue dialog.

:func:`spec_to_dict` / :func:`spec_from_dict` turn a :class:`QueueSpec` into JSON-able values and
back (a value that no longer makes sense falls back to the default, never an error), and
:func:`filter_choices` lists what the open dataset can be narrowed by: its phone models and, where
the manifest records them, its splits and illuminations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ispviewer.dataset.review.filters import COLUMN_FILTERS, TripletSelection, available_filters
from ispviewer.dataset.review.queues import DEFAULT_BAND_PX, QueueKind, QueueSpec


def spec_to_dict(spec: QueueSpec) -> dict:
    sel = spec.selection
    return {
        "kind": spec.kind.value, "band_px": float(spec.band_px), "seed": int(spec.seed),
        "audit_rejected": bool(spec.audit_rejected), "include_decided": bool(spec.include_decided),
        "limit": spec.limit, "phone": sel.phone, "name_pattern": sel.name_pattern,
        "columns": [list(c) for c in sel.columns], "shard": list(sel.shard) if sel.shard else None,
    }


def spec_from_dict(value) -> QueueSpec:
    """The spec ``value`` (from :func:`spec_to_dict`) describes; the default spec for anything else.
    Parts that are not valid any more are dropped one by one."""
    if not isinstance(value, dict):
        return QueueSpec()
    try:
        kind = QueueKind(value.get("kind", QueueKind.WORST.value))
    except ValueError:
        kind = QueueKind.WORST
    band = _number(value.get("band_px"), float, DEFAULT_BAND_PX)
    limit = value.get("limit")
    known = {f.name for f in COLUMN_FILTERS}
    columns = tuple((str(c[0]), str(c[1])) for c in value.get("columns") or ()
                    if isinstance(c, (list, tuple)) and len(c) == 2 and c[0] in known and str(c[1]))
    shard = value.get("shard")
    try:
        k, n = (int(v) for v in shard)
        shard = (k, n) if 1 <= k <= n else None
    except (TypeError, ValueError):
        shard = None
    selection = TripletSelection(phone=_text(value.get("phone")), name_pattern=_text(value.get("name_pattern")),
                                 columns=columns, shard=shard)
    return QueueSpec(kind=kind, band_px=band if band >= 0 else DEFAULT_BAND_PX,
                     seed=_number(value.get("seed"), int, 0), audit_rejected=bool(value.get("audit_rejected")),
                     include_decided=bool(value.get("include_decided")),
                     limit=limit if isinstance(limit, int) and limit >= 0 else None, selection=selection)


def without_unavailable(spec: QueueSpec, manifest) -> QueueSpec:
    """``spec`` without the column filters this dataset cannot answer (remembered from another one)."""
    names = {f.name for f in available_filters(manifest)}
    columns = tuple(c for c in spec.selection.columns if c[0] in names)
    if columns == spec.selection.columns:
        return spec
    return replace(spec, selection=replace(spec.selection, columns=columns))


@dataclass(frozen=True)
class FilterChoices:
    """What the open dataset offers to filter by: phone models and, per available column filter
    (split, illumination…), the values its triplets have."""

    phones: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]


def filter_choices(manifest) -> FilterChoices:
    filters = available_filters(manifest)
    rows = manifest.triplet_filter_rows(tuple(f.column for f in filters))
    phones = sorted({str(r["phone_model"]).strip() for r in rows if r["phone_model"]})
    columns = {f.name: tuple(sorted({str(r[f.column]) for r in rows if r[f.column]})) for f in filters}
    return FilterChoices(tuple(phones), columns)


def _text(value) -> str | None:
    return str(value).strip() or None if isinstance(value, str) else None


def _number(value, kind, default):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return default
