"""Write a generated set to disk: an ImageFolder of PNGs or .npz shards, with a manifest.

Work is done in chunks; a chunk's files are written first and its record (file -> sha256) last,
atomically, under DIR/.chunks/. An interrupted export therefore resumes at the first chunk without
a record, and `manifest.json` (config, seed, every file's checksum) is assembled at the end. Then
DIR/.chunks/ is removed: a finished PNG export is a plain ImageFolder tree (torchvision's
ImageFolder, and the `folder` target, take every sub-folder for a class, hidden ones included).

An export holds a lock on DIR (the empty file DIR/.lock, left in place as bench's run locks are:
a file, not a class folder) while it works, so a second export of the same folder fails at once
instead of racing the first for its chunk records. A folder holding other files and no export
(neither manifest.json nor .chunks/) is refused rather than mixed with class folders.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from filelock import FileLock, Timeout
from PIL import Image

from synth.core import SynthDataset, make_dataset
from synth.errors import UserError

FORMATS = ("png", "shards")
LOCK_NAME = ".lock"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_TEMP = re.compile(r"\..+\.tmp\d+")  # _atomic_write's temp names


def _drop_stale_temps(out: Path) -> None:
    """Remove the temp files of _atomic_write in `out`, its label folders and .chunks/: left by a
    process killed mid-write (an image-sized hidden file per kill, which made two exports of one
    command differ under `diff -r`). Only under the export's lock: no other writer is running."""
    for folder in (out, *(d for d in out.iterdir() if d.is_dir())):
        for f in folder.iterdir():
            if _TEMP.fullmatch(f.name) and f.is_file():
                f.unlink(missing_ok=True)


def _uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) float in [0, 1] -> (B, H, W, C) uint8."""
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


# Pixels rendered at once: a render keeps float images and every annotation (mask, depth, normals),
# about 7 MB per 512 px image; a whole chunk of 1,000 at 512 px needed 16 GB. Rendered in parts of at
# most this many pixels and kept as uint8 images, a chunk costs 1 byte per pixel and channel. The
# images do not depend on how the indices are batched.
RENDER_PIXELS = 1 << 22


def _render_uint8(ds: SynthDataset, idx: torch.Tensor) -> tuple[np.ndarray, list[int]]:
    """The images (B, H, W, C uint8) and labels of `idx`, rendered RENDER_PIXELS at a time."""
    res = ds.generator.resolution
    step = max(1, RENDER_PIXELS // (res * res))
    images: list[np.ndarray] = []
    labels: list[int] = []
    for i in range(0, len(idx), step):  # one part's float sample alive at a time
        sample = ds.render_batch(idx[i:i + step])
        images.append(_uint8(sample.image))
        labels += sample.label.tolist()
    return np.concatenate(images), labels


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(buf, format="PNG")
    return buf.getvalue()


def _write_chunk(out: Path, fmt: str, chunk: int, indices: torch.Tensor, images: np.ndarray,
                 labels: list[int]) -> dict[str, str]:
    """Files of one chunk; returns relative path -> sha256."""
    files: dict[str, str] = {}
    if fmt == "png":
        for i, img, lab in zip(indices.tolist(), images, labels):
            rel = f"{lab}/{i:08d}.png"
            data = _png_bytes(img)
            (out / str(lab)).mkdir(exist_ok=True)
            _atomic_write(out / rel, data)
            files[rel] = hashlib.sha256(data).hexdigest()
    else:
        buf = io.BytesIO()
        np.savez(buf, images=images, labels=np.asarray(labels, dtype=np.int64),
                 indices=indices.numpy())
        rel = f"shard_{chunk:06d}.npz"
        _atomic_write(out / rel, buf.getvalue())
        files[rel] = hashlib.sha256(buf.getvalue()).hexdigest()
    return files


def check_chunk_size(chunk_size: object) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise UserError(f"--chunk-size must be a whole number of images >= 1, got {chunk_size!r}")


def export(out: Path, name: str, n: int, *, seed: int = 0, fmt: str = "png", chunk_size: int = 1000,
           progress: Callable[[int], None] | None = None, **config) -> tuple[dict, int | None]:
    """Export `n` images of generator `name`; resumes an interrupted export of the same config.
    Returns the manifest and how many of its files this call wrote (the rest were kept from an
    interrupted run), or None if the same export was already complete in `out` (nothing written)."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_chunk_size(chunk_size)
    ds = make_dataset(name, n, seed=seed, **config)
    header = {"generator": name, "n": n, "seed": seed, "format": fmt, "chunk_size": chunk_size,
              "config": ds.generator.knobs(), "n_classes": ds.n_classes}
    out.mkdir(parents=True, exist_ok=True)
    _check_no_other_files(out)  # before the lock, whose file is the one thing it would leave there
    with _holding(out):
        return _export_locked(out, ds, header, progress)


def _export_locked(out: Path, ds: SynthDataset, header: dict,
                   progress: Callable[[int], None] | None) -> tuple[dict, int | None]:
    """`export`'s work, done while this process holds the lock on `out`."""
    n, fmt, chunk_size = header["n"], header["format"], header["chunk_size"]
    parts = out / ".chunks"
    done = _finished(out, header)
    if done is not None:
        shutil.rmtree(parts, ignore_errors=True)  # left by a process stopped right after the manifest
        return done, None
    if parts.is_dir():  # an interrupted export: a kill -9 mid-write left its temp file; this process holds the lock
        _drop_stale_temps(out)
    parts.mkdir(exist_ok=True)
    head_file = parts / "header.json"
    if head_file.exists() and json.loads(head_file.read_text()) != header:
        _refuse(out, "an unfinished export", json.loads(head_file.read_text()), header)
    _atomic_write(head_file, json.dumps(header, sort_keys=True).encode())
    files: dict[str, str] = {}
    new = 0
    for chunk, start in enumerate(range(0, n, chunk_size)):
        record = parts / f"chunk_{chunk:06d}.json"
        if not record.exists():
            idx = torch.arange(start, min(n, start + chunk_size))
            images, labels = _render_uint8(ds, idx)
            written = _write_chunk(out, fmt, chunk, idx, images, labels)
            _atomic_write(record, json.dumps(written, sort_keys=True).encode())
            new += len(written)
        files.update(json.loads(record.read_text()))
        if progress:
            progress(min(n, start + chunk_size) - start)
    manifest = {**header, "files": files}
    _atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    shutil.rmtree(parts)
    return manifest, new


@contextmanager
def _holding(out: Path) -> Iterator[None]:
    """This process's lock on the export folder `out`; a UserError at once if another holds it."""
    lock = FileLock(str(out / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"{out} is being written by another export (lock {out / LOCK_NAME}); wait for it "
                        "or pick another -o") from None
    try:
        yield
    finally:
        lock.release()


def _check_no_other_files(out: Path) -> None:
    """A UserError if `out` holds files but neither a finished export (manifest.json) nor an
    unfinished one (.chunks/): an export would mix its class folders and manifest into them."""
    if (out / "manifest.json").is_dir():  # the manifest is written last, after every image
        raise UserError(f"{out / 'manifest.json'} is a folder, where the export writes its manifest; remove it or "
                        "give a new or empty -o folder")
    if (out / "manifest.json").exists() or (out / ".chunks").exists():
        return
    found = sorted(p.name + "/" * p.is_dir() for p in out.iterdir() if p.name != LOCK_NAME)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise UserError(f"{out} holds files that are not an export ({shown}), which its class folders and "
                        "manifest.json would mix with; give a new or empty -o folder")


def _finished(out: Path, header: dict) -> dict | None:
    """The manifest of a finished export of the same config in `out`, None if there is none; a
    finished export of another config is a UserError."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or {k: manifest.get(k) for k in header} != header:
        _refuse(out, "an export", manifest if isinstance(manifest, dict) else {}, header)
    return manifest


def _refuse(out: Path, what: str, found: dict, asked: dict) -> None:
    """A UserError naming what differs between the export in `out` and the one asked for."""
    old_knobs, new_knobs = found.get("config") or {}, asked["config"]
    diffs = [f"{k}={found.get(k)!r} where this asks {asked[k]!r}" for k in asked if k != "config" and found.get(k) != asked[k]]
    diffs += [f"{k}={old_knobs.get(k)!r} where this asks {new_knobs.get(k)!r}" for k in sorted({*old_knobs, *new_knobs})
              if k not in asked and old_knobs.get(k) != new_knobs.get(k)]
    raise UserError(f"{out} holds {what} with another config ({'; '.join(diffs) or 'no readable config'}); "
                    "repeat its command to resume or reuse it, or pick another -o directory")
