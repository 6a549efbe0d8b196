"""Let glibc reuse freed memory for the large per-batch temporaries instead of unmapping it.

Rendering a batch (and a training step) allocates and frees many tensors of a few MB each. glibc
serves large sizes with `mmap` and returns them to the kernel on `free` until its dynamic threshold
has grown past them (it never grows above 32 MB), and gives heap tops above the trim threshold
back, so early batches and any temporary above 32 MB are page-faulted in again every time (with
the renderers of 2026-12-02 morning: 10-40 % of a batch's CPU). Raising the mmap and trim
thresholds keeps that memory in the heap for the next batch; the cost is that up to `keep_mb` of
freed memory stays mapped. A no-op where glibc is absent.
Set once per process by the command-line entry points and by sweep jobs (`synthscale` never
changes it when imported as a library); `SYNTHSCALE_KEEP_FREED_MB=0` leaves glibc's defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1     # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
_KEPT_MB: list[int] = []


def reuse_freed_memory(keep_mb: int | None = None) -> int:
    """Serve allocations below `keep_mb` (default: $SYNTHSCALE_KEEP_FREED_MB, else 256) from the
    heap and keep up to 2 * `keep_mb` freed. Returns the MB setting in force (0: glibc defaults).
    Once per process: later calls return the first result."""
    if _KEPT_MB:
        return _KEPT_MB[0]
    if keep_mb is None:
        try:
            keep_mb = int(os.environ.get("SYNTHSCALE_KEEP_FREED_MB", "256"))
        except ValueError:
            keep_mb = 256
    kept = 0
    if keep_mb > 0 and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            size = keep_mb << 20
            if libc.mallopt(M_MMAP_THRESHOLD, size) and libc.mallopt(M_TRIM_THRESHOLD, 2 * size):
                kept = keep_mb
        except (OSError, AttributeError):   # not glibc (musl, macOS): leave the allocator alone
            kept = 0
    _KEPT_MB.append(kept)
    return kept


def kept_mb() -> int:
    """The setting `reuse_freed_memory` made in this process (0: not made, or glibc's defaults);
    only reads it."""
    return _KEPT_MB[0] if _KEPT_MB else 0
