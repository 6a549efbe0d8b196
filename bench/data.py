"""Batches as pure functions of (seed, step): index streams, cached or streamed synthetic sets, real arrays.

Determinism by construction: the indices of the batch at step k come from per-epoch permutations
seeded by (seed, epoch), and augmentation parameters from (seed, step). So resuming at step k, or
changing how batches are produced (cached vs rendered on the fly), never changes what is trained on.
"""
from __future__ import annotations

import sys
from typing import Optional

import torch
import torch.nn.functional as F

from synth import Sample, SynthDataset

CACHE_LIMIT_BYTES = 512 * 2**20  # synthetic sets up to this size are rendered once and kept in memory


def _mix(*xs: int) -> int:
    """A 63-bit hash of integers (splitmix64 finaliser), for seeding per-epoch/per-step generators."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (x & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class IndexStream:
    """Batch `step` of an endless stream of per-epoch random permutations of range(n)."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 4:  # only the current and next epoch are ever needed
                self._perms.pop(min(self._perms))
            g = torch.Generator().manual_seed(_mix(self.seed, epoch))
            self._perms[epoch] = torch.randperm(self.n, generator=g)
        return self._perms[epoch]

    def __call__(self, step: int) -> torch.Tensor:
        start = step * self.batch_size
        out, filled = [], 0
        while filled < self.batch_size:
            epoch, pos = divmod(start + filled, self.n)
            take = min(self.batch_size - filled, self.n - pos)
            out.append(self._perm(epoch)[pos:pos + take])
            filled += take
        return torch.cat(out)


def augment(x: torch.Tensor, seed: int, step: int, pad: int = 2, flips: bool = True) -> torch.Tensor:
    """Random horizontal flips (unless `flips` is False) and translations by up to `pad` px, drawn
    from (seed, step); the translations are the same draws either way."""
    b, _, h, w = x.shape
    g = torch.Generator().manual_seed(_mix(seed, step, 0xA6))
    flip = torch.rand(b, generator=g) < 0.5
    if flips:
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    dy, dx = (torch.randint(0, 2 * pad + 1, (2, b), generator=g))
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    rows = (dy[:, None] + torch.arange(h)[None]).view(b, 1, h, 1).expand(b, x.shape[1], h, w + 2 * pad)
    xp = xp.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(b, 1, 1, w).expand(b, x.shape[1], h, w)
    return xp.gather(3, cols)


class SynthSource:
    """Synthetic batches by index: rendered once into memory when small, else on the fly."""

    def __init__(self, ds: SynthDataset, fields: tuple[str, ...] = ("image", "label"),
                 cache: Optional[bool] = None, chunk: int = 1024) -> None:
        self.ds, self.fields = ds, fields
        c, h, w = ds[0][0].shape if len(ds) else (1, 1, 1)
        per_image = 4 * (c + 4) * h * w  # image plus room for dense annotations, float32
        self.cached: Optional[Sample] = None
        if cache or (cache is None and len(ds) * per_image <= CACHE_LIMIT_BYTES):
            self.cached = self._render_all(chunk)

    def _render_all(self, chunk: int) -> Sample:
        parts = []
        idx = torch.arange(len(self.ds))
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(self.ds), desc="generate", unit="img", leave=False)
        for i in range(0, len(self.ds), chunk):
            s = self.ds.render_batch(idx[i:i + chunk])
            parts.append({f: getattr(s, f) for f in self.fields})
            if bar is not None:
                bar.update(len(idx[i:i + chunk]))
        if bar is not None:
            bar.close()
        return Sample(**{f: torch.cat([p[f] for p in parts]) for f in self.fields})

    def get(self, idx: torch.Tensor) -> Sample:
        """The batch of items `idx`."""
        if self.cached is not None:
            return Sample(**{f: getattr(self.cached, f)[idx] for f in self.fields})
        s = self.ds.render_batch(idx)
        return Sample(**{f: getattr(s, f) for f in self.fields})


def real_images(x_uint8: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1] at `resolution` with `channels` (gray repeated / RGB averaged)."""
    x = x_uint8.float().div_(255.0)
    if x.shape[1] != channels:
        if x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        elif channels == 1:
            x = x.mean(1, keepdim=True)
        else:
            raise ValueError(f"cannot map {x.shape[1]} channels to {channels}")
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=True)
    return x.contiguous()


def make_loader(source, n: int, batch_size: int, seed: int, do_augment: bool, device: torch.device,
                flips: bool = True):
    """`get_batch(step) -> Sample` for the training loop; `source` is a SynthSource or a Sample of arrays;
    `do_augment` shifts the images, and flips them too unless `flips` is False.

    When the synthetic set is rendered on the fly, the next batch is rendered in a background thread
    while the current one trains (torch ops release the GIL); batches are pure functions of the step,
    so prefetching never changes what is trained on.
    """
    stream = IndexStream(n, batch_size, seed)

    def make(step: int) -> Sample:
        idx = stream(step)
        s = source.get(idx) if isinstance(source, SynthSource) else \
            Sample(image=source.image[idx], label=source.label[idx])
        image = augment(s.image, seed, step, flips=flips) if do_augment else s.image
        fields = {k: v.to(device) for k, v in vars(s).items() if v is not None and k != "image"}
        image = image.to(device)
        if device.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        return Sample(image=image, **fields)

    if not (isinstance(source, SynthSource) and source.cached is None):
        return make
    return Prefetcher(make)


class Prefetcher:
    """Calls `make(step)` and starts `make(step + 1)` in a worker thread, for sequential access."""

    def __init__(self, make) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.make = make
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self.ahead: Optional[tuple[int, object]] = None

    def __call__(self, step: int) -> Sample:
        if self.ahead is not None and self.ahead[0] == step:
            batch = self.ahead[1].result()  # type: ignore[attr-defined]
        else:
            batch = self.make(step)
        self.ahead = (step + 1, self.pool.submit(self.make, step + 1))
        return batch

    def close(self) -> None:
        """Stop the worker: a batch one past the last step not yet started is cancelled, one being
        rendered is waited for (a pool left open rendered it beside fine-tuning, then kept the thread)."""
        self.ahead = None
        self.pool.shutdown(wait=True, cancel_futures=True)


def close_loader(get_batch) -> None:
    """Release what a loader from make_loader holds (a Prefetcher's thread); nothing otherwise."""
    if isinstance(get_batch, Prefetcher):
        get_batch.close()
