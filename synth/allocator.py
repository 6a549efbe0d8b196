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
from typing import Any

from synth.errors import UserError

M_TRIM_THRESHOLD = -1     # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
_KEPT_MB: list[int] = []


MAX_KEEP_MB = 2047  # mallopt takes its value as a C int of bytes: 2047 MB is the most it holds
_INT_MAX = 2**31 - 1


def keep_setting(keep_mb: Any = None) -> int:
    """`keep_mb`, else $SYNTHSCALE_KEEP_FREED_MB, else 256, checked: a whole number of MB from 0 to
    MAX_KEEP_MB, or a one-line UserError (4096 was cut to a C int of 0 bytes, the opposite of what it
    asks, and 'abc' read as 256, both without a word)."""
    text = os.environ.get("SYNTHSCALE_KEEP_FREED_MB", "256") if keep_mb is None else keep_mb
    try:
        mb = int(text) if not isinstance(text, (bool, float)) else -1
    except (TypeError, ValueError):
        mb = -1
    if not 0 <= mb <= MAX_KEEP_MB:
        where = "SYNTHSCALE_KEEP_FREED_MB" if keep_mb is None else "keep_mb"
        raise UserError(f"{where} must be a whole number of MB from 0 (glibc's defaults) to {MAX_KEEP_MB}, "
                        f"got {text!r}")
    return mb


def reuse_freed_memory(keep_mb: int | None = None) -> int:
    """Serve allocations below `keep_mb` (default: $SYNTHSCALE_KEEP_FREED_MB, else 256; keep_setting)
    from the heap and keep up to 2 * `keep_mb` freed. Returns the MB setting in force (0: glibc
    defaults). Once per process: later calls return the first result."""
    if _KEPT_MB:
        return _KEPT_MB[0]
    keep_mb = keep_setting(keep_mb)
    kept = 0
    if keep_mb > 0 and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]  # without them ctypes cut the size silently
            size = keep_mb << 20
            if libc.mallopt(M_MMAP_THRESHOLD, size) and libc.mallopt(M_TRIM_THRESHOLD, min(2 * size, _INT_MAX)):
                kept = keep_mb
        except (OSError, AttributeError):   # not glibc (musl, macOS): leave the allocator alone
            kept = 0
    _KEPT_MB.append(kept)
    return kept


def kept_mb() -> int:
    """The setting `reuse_freed_memory` made in this process (0: not made, or glibc's defaults);
    only reads it."""
    return _KEPT_MB[0] if _KEPT_MB else 0
