"""What every image loader shares: the error that names a file and its reason, the pixel limit,
the file extensions, and the first checks on a file before anything reads it.  Qt-free."""

from __future__ import annotations

import os
from pathlib import Path

#: Largest image (pixels) any loader decodes; checked from the header, before decoding.
MAX_PIXELS = int(os.environ.get("ISPVIEWER_MAX_PIXELS", 120_000_000))

RAW_EXTENSIONS = frozenset(
    ".dng .nef .nrw .arw .srf .sr2 .cr2 .cr3 .crw .raf .orf .rw2 .pef .srw .x3f .3fr .fff .iiq "
    ".mos .mef .mrw .erf .kdc .dcr .k25 .raw .rwl .gpr".split()
)
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
#: What a phone image may be: JPEG, or HEIC/HEIF as iPhones write by default.
PHONE_IMAGE_EXTENSIONS = JPEG_EXTENSIONS | HEIF_EXTENSIONS


class ImageReadError(Exception):
    """A file could not be read as the image it should be."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def check_file(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(path, "file does not exist")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(path, f"cannot stat file ({exc.strerror})") from None
    if size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ImageReadError(path, "file is not readable (permission denied)")
