"""The memory of a batch worker process: keep what it frees, and fault its heap in once, in bulk.

A 12 MP triplet allocates and frees a few hundred MB of images and maps.  By default glibc maps
every large buffer afresh and unmaps it when freed, so each triplet would pay the kernel for
zeroing every page again.  :func:`keep_freed_memory` makes a worker reuse its heap instead; its
footprint then stays at its peak, which it reaches on the first triplet anyway.

That first triplet still touches every page of that peak for the first time, one page fault at a
time in the middle of its work: measured here 0.6-0.75 s of system time on a 12 MP triplet (54-94
thousand faults), a third of the triplet.  :func:`prefault_heap` asks the kernel for those pages
in one call before the work starts (``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+) and gives them
back to the heap: 0.15-0.25 s for 400 MB, after which the first triplet faults a few hundred
times.  Nothing here changes what is computed; where the C library is not glibc or the kernel
lacks the call, both are no-ops.
"""

from __future__ import annotations

import ctypes

#: glibc mallopt parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MADV_POPULATE_WRITE = 23
_PAGE = 4096
#: heap a first triplet needs, per phone pixel and per target pixel (measured on 12 MP phone / 24 MP
#: target triplets: 400 MB left a few hundred faults, 340 MB seven thousand, 250 MB twenty thousand)
BYTES_PER_PHONE_PIXEL, BYTES_PER_TARGET_PIXEL = 30, 2

_state = {"kept": False, "prefaulted": 0}


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing it back to the kernel; True
    when the C library agreed."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30))  # buffers up to 1 GB come from the heap, reused
    ok &= bool(libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1))  # and the heap's free top is kept
    _state["kept"] = ok
    return ok


def prefault_heap(nbytes: int) -> int:
    """Fault ``nbytes`` of heap in at once and leave them free for the work to come; the bytes
    faulted in (0: already done for this many, or not possible here).

    Only in a process whose freed memory stays in its heap (:func:`keep_freed_memory`), else the
    pages would go straight back to the kernel.
    """
    nbytes = int(nbytes)
    if not _state["kept"] or nbytes <= _state["prefaulted"] or nbytes < 16 * _PAGE:
        return 0
    libc = _libc()
    if libc is None:
        return 0
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    block = libc.malloc(nbytes)
    if not block:
        return 0
    try:
        start = -(-block // _PAGE) * _PAGE
        length = (block + nbytes - start) // _PAGE * _PAGE
        if libc.madvise(start, length, _MADV_POPULATE_WRITE) != 0:
            return 0
    finally:
        libc.free(block)
    _state["prefaulted"] = nbytes  # one block of the whole size: the free heap it reuses is faulted in already
    return nbytes


def heap_ready() -> bool:
    """True when :func:`prefault_heap` has nothing to do here: the heap is not kept, or it was
    faulted in already (later, larger triplets grow it the ordinary way)."""
    return not _state["kept"] or _state["prefaulted"] > 0


def heap_for_triplet(phone_pixels: int, target_pixels: int) -> int:
    """The heap (bytes) aligning and caching one triplet of these sizes reaches, about."""
    return BYTES_PER_PHONE_PIXEL * phone_pixels + BYTES_PER_TARGET_PIXEL * target_pixels
