"""synth.allocator: large freed temporaries are reused instead of being page-faulted in again."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Allocate and free a 64 MB tensor (above glibc's largest dynamic mmap threshold, 32 MB) 20 times
# and count the minor page faults of those allocations.
_PROBE = """
import resource, torch
from synth.allocator import reuse_freed_memory
kept = reuse_freed_memory()
torch.ones(16 << 20).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.ones(16 << 20).sum()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(keep_mb: str) -> tuple[int, int]:
    env = {**os.environ, "SYNTHSCALE_KEEP_FREED_MB": keep_mb}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_kept_memory_removes_the_page_faults_of_repeated_large_temporaries():
    kept, faults = _probe("256")
    default_kept, default_faults = _probe("0")
    assert (kept, default_kept) == (256, 0)
    assert default_faults > 20 * 4096          # each 64 MB allocation faults in its 16k pages
    assert faults < default_faults / 5         # here: 16k (the heap grows once) vs 328k


def test_the_setting_is_made_once_per_process():
    from synth.allocator import kept_mb, reuse_freed_memory

    first = reuse_freed_memory()
    assert reuse_freed_memory(keep_mb=1) == first == kept_mb()
