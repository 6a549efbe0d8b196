"""Generator throughput: images per wall-second and per CPU-second of this one process."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from synth.core import GENERATORS

REPORT_TITLE = "# Generator throughput"  # the first line of the report (check_out_file reads it)


@dataclass
class BenchRecord:
    """One (generator, resolution, complexity) measurement."""

    generator: str
    resolution: int
    complexity: int
    images_per_s: float
    images_per_cpu_s: float
    n_images: int
    batch: int
    setup_s: float          # one-off cost per process (e.g. the shapes view bank), not in the rates
    rounds: int = 1         # the rates are medians over this many interleaved rounds
    cpu_rate_min: float = 0.0   # lowest and highest images/CPU-s over the rounds
    cpu_rate_max: float = 0.0

    def as_dict(self) -> dict:
        """JSON-able record."""
        return asdict(self)


def _cpu_s() -> float:
    """User + system CPU seconds of this process (all its threads)."""
    import resource  # here: POSIX only, and `synthscale` imports this module for its parser

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def default_batch(resolution: int) -> int:
    """A batch of about 2^19 pixels: 128 images at 64 px, 10 at 224 px."""
    return max(4, (1 << 19) // (resolution * resolution))


def measure(name: str, resolution: int, complexity: int, min_cpu_s: float = 3.0,
            batch: int | None = None, seed: int = 0) -> BenchRecord:
    """Render consecutive batches until `min_cpu_s` CPU seconds have passed; report the rates."""
    batch = batch or default_batch(resolution)
    t0 = time.perf_counter()
    gen = GENERATORS.get(name)(resolution=resolution, complexity=complexity)
    gen.render(seed, torch.arange(2))                     # builds per-process caches
    setup_s = time.perf_counter() - t0
    n_done, start = 0, 2
    t1, c1 = time.perf_counter(), _cpu_s()
    while _cpu_s() - c1 < min_cpu_s or n_done < 2 * batch:
        gen.render(seed, torch.arange(start, start + batch))
        start += batch
        n_done += batch
    wall, cpu = time.perf_counter() - t1, _cpu_s() - c1
    rate = round(n_done / cpu, 1)
    return BenchRecord(name, resolution, complexity, round(n_done / wall, 1), rate, n_done, batch,
                       round(setup_s, 2), 1, rate, rate)


def median_of_rounds(rounds: Sequence[BenchRecord]) -> BenchRecord:
    """One record from repeated measurements of a cell: median rates, summed images, the spread.

    A shared VM's neighbours change a process's speed by 10-20 % from minute to minute; rounds
    interleaved over all cells and their median make a table that one busy minute cannot move.
    """
    first = rounds[0]
    return BenchRecord(first.generator, first.resolution, first.complexity,
                       statistics.median(r.images_per_s for r in rounds),
                       statistics.median(r.images_per_cpu_s for r in rounds),
                       sum(r.n_images for r in rounds), first.batch, first.setup_s, len(rounds),
                       min(r.images_per_cpu_s for r in rounds), max(r.images_per_cpu_s for r in rounds))


def machine() -> dict:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "simd": torch.backends.cpu.get_cpu_capability()}


def allocator_note() -> str:
    """How this process's glibc allocator was set (see synth.allocator)."""
    from synth.allocator import kept_mb

    mb = kept_mb()
    if mb:
        return (f"glibc mmap/trim thresholds raised to {mb}/{min(2 * mb, 2047)} MB by synthscale's entry points "
                "(synth.allocator: batch temporaries are reused, not page-faulted in again); "
                "SYNTHSCALE_KEEP_FREED_MB=0 measures with glibc's defaults")
    return "glibc defaults (SYNTHSCALE_KEEP_FREED_MB=0, not glibc, or not run from the command line)"


def markdown(records: Sequence[BenchRecord], command: str, load_before: tuple, load_after: tuple,
             wall_s: float) -> str:
    """The results/synth_bench.md table with its provenance."""
    m = machine()
    lines = [
        REPORT_TITLE, "",
        f"- command: `{command}`",
        f"- machine: {m['cpu']}, {m['cores']} cores, SIMD {m['simd']}; python {m['python']}, "
        f"torch {m['torch']}, {m['torch_threads']} torch thread(s), one process, CPU device",
        f"- load average (1/5/15 min) before: {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {'/'.join(f'{x:.2f}' for x in load_after)}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}; total wall time {wall_s:.0f} s",
        f"- allocator: {allocator_note()}",
        "- images/CPU-s counts user+system CPU time of the process (resource.getrusage), the figure"
        " that is comparable on a shared machine; setup_s is the one-off per-process cost (view"
        " banks, glyph SDFs) before the timed batches and is excluded from both rates.",
        f"- each rate is the median of {records[0].rounds if records else 0} rounds, each round"
        " timing every cell in turn; the range is the lowest and highest images/CPU-s over the rounds.",
        "", "| generator | resolution | complexity | images/s (wall) | images/CPU-s | range over rounds "
            "| batch | images timed | setup_s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        lines.append(f"| {r.generator} | {r.resolution} | {r.complexity} | {r.images_per_s:,.0f} | "
                     f"{r.images_per_cpu_s:,.0f} | {r.cpu_rate_min:,.0f}-{r.cpu_rate_max:,.0f} | "
                     f"{r.batch} | {r.n_images} | {r.setup_s} |")
    return "\n".join(lines) + "\n"
