"""Tiled inference: render any region of the phone frame with bounded memory.

Pure functions, no state kept anywhere.  The image is cut into tiles on the packed grid; each tile
is rendered from a window that adds ``context`` packed pixels on every side (reflect-padded at the
image borders) and only the tile's own centre is kept.  With ``context >= model.receptive_radius``
and tiles that start on multiples of ``model.align`` (the backbone's stride), every output pixel
sees exactly the input it would see in one untiled pass over the reflect-padded image, so the
tiled result equals the untiled one up to float rounding.

Coordinates.  ``region = (x, y, w, h)`` is in phone-frame pixels (the raw's pixel grid, x =
column).  Output pixel (r, c) of the network applied to the packed raw lies at phone-frame
(r + oy, c + ox), where ``origin = (oy, ox)`` is :attr:`PackedRaw.origin` ((0, 0) for RGGB
sensors).  Phone-frame pixels outside the packed raw (odd sizes, non-RGGB origins) are
rendered from its reflection.

``tile`` and ``context`` are in packed pixels (one packed pixel = 2×2 output pixels).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from .normalization import apply_gains, input_gains

#: Default tile side in packed pixels (512 output pixels): small enough to stay in cache-friendly
#: sizes and to bound memory (~250 MB working set per tile with the default model), large enough
#: that the context overhead stays moderate.
DEFAULT_TILE = 256

ProgressFn = Callable[[int, int], None]
CancelToken = Callable[[], bool] | threading.Event | None


@runtime_checkable
class ISPNetwork(Protocol):
    """What tiled inference needs from a network; :class:`~.networks.KernelPredictionISP` and
    :class:`~.networks.PlainISP` are such networks (so is any ``nn.Module`` with these members).

    Called on packed RGGB planes ``(B, 4, h, w)`` (h, w multiples of ``align``), it returns sRGB
    ``(B, 3, 2h, 2w)`` on the phone frame's grid, each output pixel depending only on the input
    within ``default_context`` packed pixels of it.
    """

    training: bool

    @property
    def align(self) -> int:
        """Tiles must start on multiples of this many packed pixels (the backbone's stride)."""
        ...

    @property
    def default_context(self) -> int:
        """Context padding (packed pixels) around a tile that makes tiled output exact."""
        ...

    @property
    def hparams(self) -> dict[str, Any]:
        """Constructor hyper-parameters; ``white_balance`` says how the input is normalized."""
        ...

    def __call__(self, packed: torch.Tensor) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...


class PackedFrame(Protocol):
    """A packed raw placed in its phone frame (``ispviewer.dataset.images.PackedRaw`` is one; the
    network core does not import the dataset layer, so it names only what it reads).  Optional
    members read when present: ``info`` (``width``/``height`` of the frame) and ``wb_gains``."""

    @property
    def data(self) -> np.ndarray:
        """(h, w, 4) float RGGB planes in [0, 1]."""
        ...

    @property
    def origin(self) -> tuple[int, int]:
        """(oy, ox) phone-frame position of packed pixel (0, 0)'s R sample."""
        ...


class RenderCancelled(Exception):
    """Rendering was cancelled between two tiles."""

    def __init__(self, done: int, total: int):
        self.done, self.total = done, total
        super().__init__(f"rendering cancelled after {done} of {total} tiles")


def _is_cancelled(cancel: CancelToken) -> bool:
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    return bool(cancel())


def _reflect(start: int, stop: int, size: int) -> np.ndarray:
    """Indices start..stop-1 folded into [0, size) by mirror reflection (edge not repeated)."""
    idx = np.arange(start, stop)
    if size == 1:
        return np.zeros_like(idx)
    period = 2 * (size - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= size, period - idx, idx)


def _window(packed: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """packed[y0:y1, x0:x1] as float32, reflected where the window leaves the image."""
    h, w = packed.shape[:2]
    if y0 >= 0 and y1 <= h and x0 >= 0 and x1 <= w:
        win = packed[y0:y1, x0:x1]
    else:
        win = packed[np.ix_(_reflect(y0, y1, h), _reflect(x0, x1, w))]
    return np.ascontiguousarray(win, dtype=np.float32)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _eval_mode(model: ISPNetwork) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _spans(start: int, stop: int, tile: int) -> list[tuple[int, int]]:
    """[start, stop) cut every ``tile``; a last piece thinner than tile/4 joins its neighbour
    (one slightly larger tile costs less than an extra thin one with its full context)."""
    cuts = list(range(start, stop, tile))
    if len(cuts) > 1 and stop - cuts[-1] < tile // 4:
        cuts.pop()
    return [(a, b) for a, b in zip(cuts, cuts[1:] + [stop])]


def _unpack_source(packed: PackedFrame | np.ndarray, origin: tuple[int, int] | None, frame_size: tuple[int, int] | None,
                   ) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[float, float, float] | None]:
    """Accept a PackedRaw or an (h, w, 4) array; return (array, origin, frame_size, wb_gains).

    A plain array carries no white balance: it is fed as it is (already normalized by the caller).
    """
    wb_gains = None
    if hasattr(packed, "data") and hasattr(packed, "origin"):
        wb_gains = getattr(packed, "wb_gains", None)
        info = getattr(packed, "info", None)
        origin = tuple(packed.origin) if origin is None else origin
        if frame_size is None and info is not None:
            frame_size = (int(info.width), int(info.height))
        packed = packed.data
    packed = np.asarray(packed)
    if packed.ndim != 3 or packed.shape[2] != 4 or packed.shape[0] < 1 or packed.shape[1] < 1:
        raise ValueError(f"packed raw must be (h, w, 4), got shape {packed.shape}")
    if not np.issubdtype(packed.dtype, np.floating):
        raise ValueError(f"packed raw must be float data normalized to [0, 1], got {packed.dtype}")
    origin = (0, 0) if origin is None else (int(origin[0]), int(origin[1]))
    if frame_size is None:
        frame_size = (2 * packed.shape[1], 2 * packed.shape[0])
    return packed, origin, (int(frame_size[0]), int(frame_size[1])), wb_gains


def render_region(model: ISPNetwork, packed: PackedFrame | np.ndarray,
                  region: tuple[int, int, int, int] | None = None, *,
                  tile: int = DEFAULT_TILE, context: int | None = None,
                  origin: tuple[int, int] | None = None, frame_size: tuple[int, int] | None = None,
                  progress: ProgressFn | None = None, cancel: CancelToken = None,
                  threads: int | None = None) -> np.ndarray:
    """Render ``region`` (x, y, w, h) of the phone frame; float32 (h, w, 3) sRGB in [0, 1].

    Args:
        model: an :class:`ISPNetwork` (packed (B, 4, h, w) -> RGB (B, 3, 2h, 2w)); put in eval
            mode for the call and restored afterwards.
        packed: (h, w, 4) float RGGB planes in [0, 1], or a ``PackedRaw`` (whose ``origin`` and
            raw size are then used unless given, and its as-shot white balance is applied when
            the network expects it — see :mod:`.normalization`; a plain array is fed as is).
        region: phone-frame rectangle; None = the whole frame.  Must lie inside the frame.
        tile: tile side in packed pixels (rounded up to a multiple of ``model.align``); a last
            row/column of tiles thinner than tile/4 is merged into the previous one, so a tile
            is at most 1.25 × ``tile`` on a side.
        context: padding in packed pixels around each tile; default ``model.default_context``
            (exact).  Smaller values are faster but approximate near tile seams.
        origin: (oy, ox) phone-frame position of packed pixel (0, 0)'s R sample; default (0, 0).
        frame_size: (width, height) of the phone frame; default twice the packed size.
        progress: called as ``progress(done, total)`` with done = 0 before the first tile and
            after every tile.
        cancel: a callable returning True, or a ``threading.Event``; checked before each tile.
        threads: torch intra-op threads for this call (restored afterwards); None = unchanged.

    Raises:
        RenderCancelled: ``cancel`` fired; nothing is returned.
        ValueError: bad shapes, a region outside the frame, a non-positive tile.
        TypeError: ``model`` is not an :class:`ISPNetwork`.
    """
    if not isinstance(model, ISPNetwork):
        raise TypeError(f"{type(model).__name__} is not an ISP network (needs align, default_context, hparams "
                        "and nn.Module's call, parameters, train and eval)")
    packed, (oy, ox), (frame_w, frame_h), wb_gains = _unpack_source(packed, origin, frame_size)
    gains = input_gains(model, wb_gains)
    if region is None:
        region = (0, 0, frame_w, frame_h)
    x, y, w, h = (int(v) for v in region)
    if w <= 0 or h <= 0:
        raise ValueError(f"region {region} is empty")
    if x < 0 or y < 0 or x + w > frame_w or y + h > frame_h:
        raise ValueError(f"region {region} lies outside the {frame_w}x{frame_h} phone frame")
    if int(tile) <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    align = int(model.align)
    if context is None:
        context = int(model.default_context)
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    context = _round_up(int(context), align)
    tile = _round_up(int(tile), align)

    # Region in the network's output grid, then on the packed grid (tiles anchored on `align`).
    cy0, cx0 = y - oy, x - ox
    cy1, cx1 = cy0 + h, cx0 + w
    py0, px0 = (cy0 // 2) // align * align, (cx0 // 2) // align * align
    py1, px1 = -(-cy1 // 2), -(-cx1 // 2)
    tiles = [(ys, xs) for ys in _spans(py0, py1, tile) for xs in _spans(px0, px1, tile)]
    total = len(tiles)

    result = np.empty((h, w, 3), np.float32)
    if progress is not None:
        progress(0, total)
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    with _torch_threads(threads), _eval_mode(model), torch.inference_mode():
        for done, ((ty0, ty1), (tx0, tx1)) in enumerate(tiles):
            if _is_cancelled(cancel):
                raise RenderCancelled(done, total)
            win = _window(packed, ty0 - context, ty1 + context, tx0 - context, tx1 + context)
            win = apply_gains(win, gains)
            # HWC memory viewed as NCHW is channels_last, the fast layout for CPU convolutions.
            inp = torch.from_numpy(win).permute(2, 0, 1).unsqueeze(0).to(dtype)
            out = model(inp)[0].clamp_(0.0, 1.0)
            # This tile covers output rows/cols [2*ty0, 2*ty1) x [2*tx0, 2*tx1); keep the region's part.
            oy0, oy1 = max(2 * ty0, cy0), min(2 * ty1, cy1)
            ox0, ox1 = max(2 * tx0, cx0), min(2 * tx1, cx1)
            if oy1 > oy0 and ox1 > ox0:
                sy, sx = oy0 - 2 * ty0 + 2 * context, ox0 - 2 * tx0 + 2 * context
                part = out[:, sy:sy + oy1 - oy0, sx:sx + ox1 - ox0].permute(1, 2, 0)
                result[oy0 - cy0:oy1 - cy0, ox0 - cx0:ox1 - cx0] = part.float().numpy()
            if progress is not None:
                progress(done + 1, total)
    return result


def render_full(model: ISPNetwork, packed: PackedFrame | np.ndarray, **kwargs: Any) -> np.ndarray:
    """Render the whole phone frame; see :func:`render_region` for the keyword arguments."""
    return render_region(model, packed, None, **kwargs)

