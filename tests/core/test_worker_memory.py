"""A batch worker's memory: freed memory stays in the heap, and the heap is faulted in before the
first triplet instead of one page at a time during it (ispviewer/align/worker_memory.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: prints "<bytes prefaulted> <page faults while writing a fresh 200 MB buffer>"
PROBE = textwrap.dedent("""
    import ctypes, resource, sys
    from ispviewer.align import worker_memory as wm

    got = 0
    if sys.argv[1] in ("keep", "prefault"):
        assert wm.heap_ready() and wm.prefault_heap(64 << 20) == 0  # not before the heap keeps what is freed
        assert wm.keep_freed_memory()
        assert not wm.heap_ready()
    if sys.argv[1] == "prefault":
        got = wm.prefault_heap(256 << 20)
        assert wm.prefault_heap(200 << 20) == 0  # done already for this much
        assert wm.heap_ready() == (got > 0)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ctypes.memset(libc.malloc(200 << 20), 1, 200 << 20)  # as OpenCV allocates (numpy asks for huge pages)
    print(got, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _probe(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    got, faults = out.stdout.split()
    return int(got), int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and Linux's madvise only")
def test_a_prefaulted_heap_serves_the_first_big_buffer_without_page_faults():
    _, plain = _probe("plain")
    _, kept = _probe("keep")
    got, prefaulted = _probe("prefault")
    pages = (200 << 20) // 4096
    assert plain > 0.9 * pages and kept > 0.9 * pages  # a fresh buffer faults every page, heap kept or not
    if got == 0:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)")
    assert got == 256 << 20
    assert prefaulted < 0.05 * pages, (plain, kept, prefaulted)
