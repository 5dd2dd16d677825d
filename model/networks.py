"""The ISP networks: packed RGGB raw (B, 4, h, w) in, sRGB (B, 3, 2h, 2w) out.

Both networks share one small U-Net backbone that works on the packed raw grid and one learned
linear demosaic (a 3×3 convolution of the packed planes, pixel-shuffled to the output grid) that
we call the *base*.  The base starts as a bilinear demosaic (camera RGB, no white balance or
tone curve), so an untrained network already renders a recognisable image.

* :class:`KernelPredictionISP` ("kpn") — the poster's content-aware conditional convolution
  (Eq. 1–2): from the backbone features a 1×1 head predicts, for every output pixel, a k×k kernel
  ``W^i`` and an RGB bias ``b_i``; the output is ``Ŷ_i = Σ_j W^i[i−j] X_j + b_i`` with ``X`` the
  base.  The kernels act on the output grid; they are applied on its four sub-pixel phases by
  :func:`~.kernels.apply_subpixel_kernels` (equal to :func:`~.kernels.apply_pixel_kernels` on the
  pixel-shuffled tensors, without shuffling k² full-resolution planes).  The kernels start as
  identities, so an untrained network renders the base.
* :class:`PlainISP` ("plain") — the same backbone and base, but the head predicts the RGB
  residual directly: the ablation baseline with almost the same parameter count.

Receptive field.  Output pixel (y, x) depends only on packed pixels (i, j) with
``|i − y//2| ≤ R`` and ``|j − x//2| ≤ R``, ``R = model.receptive_radius``.  With the default
hyper-parameters (widths 16/32/64/128, one 3×3 convolution per level and side, k = 5) R = 45
packed pixels (90 output pixels; measured by back-propagation: 42); tiled inference pads each
tile by ``model.default_context`` = R rounded up to a multiple of ``model.align`` (48), which
makes tiles exact.  ``model.align`` = 2**(levels − 1)
is the backbone's total stride: tiles must start on multiples of it so that the strided grids
of all tiles coincide.

Both modules are pure: constructors take hyper-parameters only (kept in ``self.hparams`` as
plain JSON-able values for checkpoints), there is no BatchNorm or dropout, so train and eval
modes compute the same function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import apply_subpixel_kernels
from .normalization import check_white_balance

DEFAULT_WIDTHS = (16, 32, 64, 128)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _conv_stack(channels: int, count: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(count):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), _act()]
    return nn.Sequential(*layers)


def _check_widths(widths, convs: int) -> tuple[int, ...]:
    widths = tuple(int(w) for w in widths)
    if not 1 <= len(widths) <= 5 or any(w < 1 for w in widths):
        raise ValueError(f"widths must be 1 to 5 positive channel counts, got {widths}")
    if int(convs) < 0:
        raise ValueError(f"convs must be >= 0, got {convs}")
    return widths


class UNetBackbone(nn.Module):
    """U-Net on the packed grid: ``widths[i]`` channels at 1/2**i of the packed resolution.

    Encoder: 3×3 input conv, then per level ``convs`` 3×3 convs and a stride-2 3×3 conv down;
    the bottom level has ``2 * convs`` convs.  Decoder: 1×1 conv + PixelShuffle up, additive
    skip connection, ``convs`` 3×3 convs.  Input sides must be multiples of ``align``.
    """

    def __init__(self, in_channels: int = 4, widths=DEFAULT_WIDTHS, convs: int = 1):
        super().__init__()
        widths = _check_widths(widths, convs)
        self.widths = widths
        self.convs = int(convs)
        depth = len(widths) - 1
        self.inc = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1), _act())
        self.encoders = nn.ModuleList(_conv_stack(widths[i], convs) for i in range(depth))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), _act())
            for i in range(depth))
        self.bottom = _conv_stack(widths[-1], 2 * convs)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i + 1], 4 * widths[i], 1), nn.PixelShuffle(2))
            for i in range(depth))
        self.decoders = nn.ModuleList(_conv_stack(widths[i], convs) for i in range(depth))

    @property
    def align(self) -> int:
        return 2 ** (len(self.widths) - 1)

    @property
    def receptive_radius(self) -> int:
        """Radius (packed pixels) of the region one output feature depends on."""
        depth = len(self.widths) - 1
        radius = 1  # input conv
        for level in range(depth):
            scale = 2 ** level
            radius += self.convs * scale + scale  # encoder convs + stride-2 conv
            radius += scale + self.convs * scale  # upsampling offset + decoder convs
        return radius + 2 * self.convs * 2 ** depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inc(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.bottom(x)
        for up, dec, skip in zip(reversed(self.ups), reversed(self.decoders), reversed(skips)):
            x = dec(up(x) + skip)
        return x


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


R, GR, GB, B = 0, 1, 2, 3  # packed planes
# Bilinear demosaic of an RGGB mosaic as a 3x3 conv on the packed planes: for each colour and
# output sub-pixel (a, b) (PixelShuffle channel colour * 4 + 2a + b), the (plane, dy, dx)
# packed samples averaged.  Packed pixel (i, j) holds R at (2i, 2j), Gr at (2i, 2j+1),
# Gb at (2i+1, 2j), B at (2i+1, 2j+1) of the mosaic.
_BILINEAR = {
    (0, 0): [(R, 0, 0)],
    (0, 1): [(R, 0, 0), (R, 0, 1)],
    (0, 2): [(R, 0, 0), (R, 1, 0)],
    (0, 3): [(R, 0, 0), (R, 0, 1), (R, 1, 0), (R, 1, 1)],
    (1, 0): [(GR, 0, -1), (GR, 0, 0), (GB, -1, 0), (GB, 0, 0)],
    (1, 1): [(GR, 0, 0)],
    (1, 2): [(GB, 0, 0)],
    (1, 3): [(GR, 0, 0), (GR, 1, 0), (GB, 0, 0), (GB, 0, 1)],
    (2, 0): [(B, -1, -1), (B, -1, 0), (B, 0, -1), (B, 0, 0)],
    (2, 1): [(B, -1, 0), (B, 0, 0)],
    (2, 2): [(B, 0, -1), (B, 0, 0)],
    (2, 3): [(B, 0, 0)],
}


def _init_bilinear_demosaic(conv: nn.Conv2d) -> None:
    """Start the base as a bilinear demosaic (camera RGB): an untrained net renders a real image."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for (colour, sub), taps in _BILINEAR.items():
            for plane, dy, dx in taps:
                conv.weight[colour * 4 + sub, plane, dy + 1, dx + 1] = 1.0 / len(taps)


class _ISPBase(nn.Module):
    """Shared parts: input checks, padding to ``align``, the base demosaic and the backbone."""

    def __init__(self, widths, convs: int):
        super().__init__()
        self.backbone = UNetBackbone(4, widths, convs)
        self.base_conv = nn.Conv2d(4, 4 * 3, 3, padding=1)  # pixel-shuffled to (3, 2h, 2w)
        _init_bilinear_demosaic(self.base_conv)

    @property
    def align(self) -> int:
        """Tiles must start on multiples of this many packed pixels."""
        return self.backbone.align

    @property
    def receptive_radius(self) -> int:
        raise NotImplementedError

    @property
    def default_context(self) -> int:
        """Context padding (packed pixels) that makes tiled inference exact."""
        return -(-self.receptive_radius // self.align) * self.align

    def _prepare(self, packed: torch.Tensor) -> torch.Tensor:
        if packed.dim() != 4 or packed.shape[1] != 4:
            raise ValueError(f"expected packed raw (B, 4, h, w), got shape {tuple(packed.shape)}")
        return _pad_to_multiple(packed, self.align)


class KernelPredictionISP(_ISPBase):
    """Content-aware conditional convolution (kernel prediction) ISP, the poster's Eq. 1–2.

    Args:
        widths: backbone channels per level (packed, 1/2, 1/4, … resolution).
        convs: 3×3 convolutions per level on each side of the U-Net.
        kernel_size: odd k of the per-pixel k×k kernels (acting on the output grid).
        kernel_groups: 1 = one kernel per pixel shared by R, G, B (as in Bako et al.);
            3 = one kernel per colour channel (3× the kernel memory).
        white_balance: "as_shot" = the input planes are multiplied by the raw's as-shot white
            balance before the network (see :mod:`.normalization`); "none" = levels only.
    """

    def __init__(self, widths=DEFAULT_WIDTHS, convs: int = 1, kernel_size: int = 5,
                 kernel_groups: int = 1, white_balance: str = "as_shot"):
        super().__init__(widths, convs)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        if kernel_groups not in (1, 3):
            raise ValueError(f"kernel_groups must be 1 or 3, got {kernel_groups}")
        self.hparams = {"widths": list(self.backbone.widths), "convs": int(convs),
                        "kernel_size": int(kernel_size), "kernel_groups": int(kernel_groups),
                        "white_balance": check_white_balance(white_balance)}
        self.kernel_size = int(kernel_size)
        self.kernel_groups = int(kernel_groups)
        taps = self.kernel_size ** 2
        out_channels = self.kernel_groups * taps + 3
        self.head = nn.Conv2d(self.backbone.widths[0], 4 * out_channels, 1)
        self._init_identity_kernels()

    def _init_identity_kernels(self) -> None:
        """Small random kernels around the identity: an untrained net renders its base."""
        taps = self.kernel_size ** 2
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            for g in range(self.kernel_groups):
                centre = g * taps + taps // 2
                self.head.bias[4 * centre:4 * centre + 4] = 1.0  # PixelShuffle: channel c*4 + sub-pixel

    @property
    def receptive_radius(self) -> int:
        r = self.kernel_size // 2
        return max(self.backbone.receptive_radius, -(-r // 2) + 1)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        h, w = packed.shape[-2:]
        x = self._prepare(packed)
        n, hp, wp = x.shape[0], x.shape[-2], x.shape[-1]
        # Base and per-pixel kernels stay in sub-pixel phase form (B, C, 4, h, w) on the packed
        # grid: the PixelShuffle channel order, so only the 3-channel result is shuffled.
        base = self.base_conv(x).view(n, 3, 4, hp, wp)
        feats = self.backbone(x)
        # The 1x1 head as a matrix product: NCHW output straight from (channels-last) features.
        weight = self.head.weight.view(self.head.out_channels, -1)
        head = torch.matmul(weight, feats.flatten(2)).add_(self.head.bias.view(1, -1, 1))
        head = head.view(n, -1, 4, hp, wp)
        n_k = self.kernel_groups * self.kernel_size ** 2
        kernels = head[:, :n_k].unflatten(1, (self.kernel_groups, self.kernel_size ** 2))
        out = apply_subpixel_kernels(base, kernels, head[:, n_k:])
        out = F.pixel_shuffle(out.view(n, 12, hp, wp), 2)
        return out[..., :2 * h, :2 * w]


class PlainISP(_ISPBase):
    """Baseline: the same backbone and base, the head predicts the RGB residual directly."""

    def __init__(self, widths=DEFAULT_WIDTHS, convs: int = 1, white_balance: str = "as_shot"):
        super().__init__(widths, convs)
        self.hparams = {"widths": list(self.backbone.widths), "convs": int(convs),
                        "white_balance": check_white_balance(white_balance)}
        self.head = nn.Sequential(nn.Conv2d(self.backbone.widths[0], 4 * 3, 1), nn.PixelShuffle(2))
        with torch.no_grad():  # start near the base, like the kpn's identity kernels
            self.head[0].weight.mul_(0.1)
            self.head[0].bias.zero_()

    @property
    def receptive_radius(self) -> int:
        return max(self.backbone.receptive_radius, 1)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        h, w = packed.shape[-2:]
        x = self._prepare(packed)
        out = F.pixel_shuffle(self.base_conv(x), 2) + self.head(self.backbone(x))
        return out[..., :2 * h, :2 * w]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
