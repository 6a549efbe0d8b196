"""The generator contract, for every registered family and complexity level."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import synth
from synth.cli import n_levels
from synth.errors import UserError
from synth.core import Sample

CASES = [(name, level) for name in synth.GENERATORS.names() for level in range(n_levels(name))]


def _source_digest() -> str:
    """sha256 of every synth/*.py source file as it is on disk now."""
    h = hashlib.sha256()
    for path in sorted(Path(synth.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


# Taken right after `import synth`: the code this process runs. Other engineers edit the same
# working tree; a subprocess started later may import a newer synth/ (this once made the test
# below fail for exactly the presets an edit had changed), which is not a determinism bug.
_LOADED_SOURCES = _source_digest()
FIELDS = ("image", "label", "multilabel", "mask", "depth", "normals")
# 48 x 32 x 32 pixels exceed torch's 32k-element grain size, so a 2-thread process really splits
# the per-pixel ops between threads (6 images, as before, ran single-threaded in both processes)
N_PROCESS = 48


def _gen(name: str, level: int, resolution: int = 32, channels: int = 3):
    return synth.GENERATORS.get(name)(resolution=resolution, complexity=level, channels=channels)


def _digest(s: Sample) -> str:
    h = hashlib.sha256()
    for f in FIELDS:
        v = getattr(s, f)
        if v is not None:
            h.update(f.encode() + v.contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name,level", CASES)
def test_contract_shapes_ranges_labels(name, level):
    for res, ch in ((28, 1), (32, 3)):
        gen = _gen(name, level, res, ch)
        s = gen.render(3, torch.arange(24))
        assert s.image.shape == (24, ch, res, res) and s.image.dtype == torch.float32
        assert float(s.image.min()) >= 0.0 and float(s.image.max()) <= 1.0
        assert s.label.shape == (24,) and s.label.dtype == torch.int64
        assert int(s.label.min()) >= 0 and int(s.label.max()) < gen.n_classes
        json.dumps(gen.knobs())                                   # JSON-able for run hashing
        if s.mask is not None:
            assert s.mask.shape == (24, res, res) and s.mask.dtype == torch.int64
            assert int(s.mask.min()) >= 0 and int(s.mask.max()) <= gen.n_classes
        if s.multilabel is not None:
            assert s.multilabel.shape == (24, gen.n_classes)
            assert set(s.multilabel.unique().tolist()) <= {0.0, 1.0}
        if s.depth is not None:
            assert s.depth.shape == (24, 1, res, res) and torch.isfinite(s.depth).all()
        if s.normals is not None:
            assert s.normals.shape == (24, 3, res, res)


@pytest.mark.parametrize("name,level", CASES)
def test_bitwise_identical_across_batches(name, level):
    gen = _gen(name, level)
    full = gen.render(7, torch.arange(40))
    picks = torch.tensor([39, 11, 0, 26])
    for part in (gen.render(7, picks), Sample(*[None] * 2)):
        if part.image is None:        # one image at a time
            singles = [gen.render(7, picks[i:i + 1]) for i in range(len(picks))]
            part = Sample(*[None if getattr(singles[0], f) is None
                            else torch.cat([getattr(p, f) for p in singles]) for f in FIELDS])
        for f in FIELDS:
            a, b = getattr(full, f), getattr(part, f)
            assert (a is None) == (b is None), f
            if a is not None:
                assert torch.equal(a[picks], b), f"{name} level {level}: {f} depends on the batch"


@pytest.mark.parametrize("name,level", CASES)
def test_a_batch_split_into_chunks_renders_each_image_as_alone(name, level):
    """Family.render cuts a batch into chunks of chunk_pixels // resolution**2 images; a chunk past the
    first rendered with another seed or from a shifted slice of the indices changed (or dropped) images
    of every batch over 256 at 32 px, while the tests above render 40 images, one chunk."""
    gen = _gen(name, level, resolution=16)
    gen.chunk_pixels = 3 * 16 * 16 + 5  # 3 images a chunk: 7 indices are chunks of 3, 3 and 1
    calls = []
    real = gen._render
    gen._render = lambda seed, idx, device: calls.append(idx.tolist()) or real(seed, idx, device)
    picks = torch.tensor([9, 0, 31, 4, 4, 17, 2])  # not in order, one index twice
    whole = gen.render(5, picks)
    assert calls == [[9, 0, 31], [4, 4, 17], [2]]
    for j, i in enumerate(picks.tolist()):
        alone = gen.render(5, torch.tensor([i]))
        for f in FIELDS:
            a, b = getattr(whole, f), getattr(alone, f)
            assert (a is None) == (b is None), f
            if a is not None:
                assert torch.equal(a[j:j + 1], b), f"{name} level {level}: {f} of index {i} (chunk {j // 3})"


@pytest.mark.parametrize("name", synth.GENERATORS.names())
def test_nested_subsets_and_dataset_items(name):
    small = synth.make_dataset(name, 5, seed=2, resolution=32, complexity=n_levels(name) - 1)
    big = synth.make_dataset(name, 500, seed=2, resolution=32, complexity=n_levels(name) - 1)
    assert len(small) == 5 and len(big) == 500 and small.n_classes == big.n_classes
    for i in range(5):
        (a, la), (b, lb) = small[i], big[i]
        assert torch.equal(a, b) and la == lb and isinstance(la, int)
    assert torch.equal(big.render_batch(torch.arange(5)).image, torch.stack([small[i][0] for i in range(5)]))
    other_seed = synth.make_dataset(name, 5, seed=3, resolution=32, complexity=n_levels(name) - 1)
    assert not torch.equal(other_seed[0][0], small[0][0])
    with pytest.raises(IndexError):
        small[5]


def test_bitwise_identical_in_another_process():
    script = (
        "import hashlib, json, torch, synth\n"
        "from synth.cli import n_levels\n"
        "from tests.test_synth import CASES, N_PROCESS, _LOADED_SOURCES, _gen, _digest\n"
        "print(json.dumps({f'{n}:{l}': _digest(_gen(n, l).render(11, torch.arange(N_PROCESS)))\n"
        "                  for n, l in CASES}))\n"
        "print(_LOADED_SOURCES)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "0", "PATH": "/usr/bin:/bin"}, cwd=str(_repo()))
    *_, digests, their_sources = out.stdout.strip().splitlines()
    if their_sources != _LOADED_SOURCES:
        pytest.fail("synth/ changed on disk during this test session (a concurrent edit): the two "
                    "processes ran different code, so their digests cannot be compared; rerun")
    ours = {f"{n}:{l}": _digest(_gen(n, l).render(11, torch.arange(N_PROCESS))) for n, l in CASES}
    theirs = json.loads(digests)
    differ = sorted(k for k in ours if ours[k] != theirs.get(k))
    assert not differ, f"digests differ across processes/threads: {differ}"


def _repo():
    from pathlib import Path
    return Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name,level", [c for c in CASES if c[0] != "digits"])
def test_annotations_are_consistent(name, level):
    gen = _gen(name, level)
    s = gen.render(5, torch.arange(48))
    assert s.multilabel is not None, f"{name} gives no multilabel target for the multilabel task"
    if s.mask is None:  # no mask to read the categories from (deadleaves): multilabel is the label's one-hot
        assert torch.equal(s.multilabel, torch.nn.functional.one_hot(s.label, gen.n_classes).float())
        return
    present = torch.zeros(48, gen.n_classes)
    for b in range(48):
        cats = s.mask[b].unique()
        present[b, cats[cats > 0] - 1] = 1.0
    assert torch.equal(present, s.multilabel), "multilabel must list exactly the categories in the mask"
    has_label = s.multilabel[torch.arange(48), s.label] > 0
    assert has_label.float().mean() >= 0.9, "the labelled (main) object should be visible"
    if s.normals is not None:
        norm = (s.normals * s.normals).sum(1).sqrt()
        assert ((norm - 1).abs() < 1e-4).all(), "normals must be unit vectors"
        on = (s.mask > 0).unsqueeze(1)
        assert (s.normals[:, 2:3][on] > -1e-3).all(), "visible surfaces face the camera (nz >= 0)"
        assert (s.depth[on] < 5.0).all() and (s.depth[~on] == 5.0).all(), "objects lie before the wall"


@pytest.mark.parametrize("name", synth.GENERATORS.names())
def test_an_empty_batch_has_every_field_with_no_rows(name):
    # shapes raised IndexError and fractals a reshape error on torch.arange(0)
    gen = _gen(name, n_levels(name) - 1)
    empty, one = gen.render(3, torch.arange(0)), gen.render(3, torch.arange(1))
    for f in FIELDS:
        a, b = getattr(empty, f), getattr(one, f)
        assert (a is None) == (b is None), f
        if a is not None:
            assert a.shape == (0, *b.shape[1:]) and a.dtype == b.dtype, f


def test_render_batch_takes_indices_as_the_dataset_does() -> None:
    # it rendered 5 images for a 3-image set, a different image than ds[-1] for -1, truncated floats
    # and raised AttributeError on a list
    ds = synth.make_dataset("shapes", 3, resolution=16, seed=2)
    assert torch.equal(ds.render_batch([-1, 0]).image, torch.stack([ds[-1][0], ds[0][0]]))
    assert torch.equal(ds.render_batch(torch.tensor([2])).image[0], ds[2][0])
    with pytest.raises(IndexError, match="indices 0..4 out of range for a dataset of 3 images"):
        ds.render_batch(torch.arange(5))
    with pytest.raises(UserError, match="integer indices, got a tensor of torch.float32"):
        ds.render_batch(torch.tensor([0.5]))
    assert len(ds.render_batch(torch.arange(0)).image) == 0


@pytest.mark.parametrize("kw", [{"seed": 2**64}, {"seed": 2**63}, {"n": 2**63}])
def test_a_seed_or_size_beyond_int64_is_refused(kw):
    # seed 2**64 gave seed 0's images (keys take its low 64 bits); n = 2**63 made len() raise OverflowError
    with pytest.raises(UserError, match=r"must be an integer from 0 to 2\*\*63 - 1"):
        synth.make_dataset("deadleaves", **{"n": 4, **kw})
    assert len(synth.make_dataset("deadleaves", 2**63 - 1, seed=2**63 - 1)) == 2**63 - 1


def test_dataset_indices_empty_batches_and_numpy_knobs_behave_alike() -> None:
    import numpy as np

    ds = synth.make_dataset("deadleaves", 5, resolution=16)
    assert ds.render_batch([]).image.shape == (0, 3, 16, 16)  # was "takes integer indices, got ... float32"
    with pytest.raises(TypeError, match="whole numbers, got 1.5"):  # ds[1.5] was silently ds[1]
        ds[1.5]
    assert torch.equal(ds[np.int64(2)][0], ds[2][0]) and torch.equal(ds[torch.tensor(2)][0], ds[2][0])
    # np.float64 was taken as a float while np.int64 was refused as "not an integer"
    gen = synth.make_dataset("fractals", 5, resolution=16, n_classes=np.int64(20)).generator
    assert gen.knobs()["n_classes"] == 20 and type(gen.knobs()["n_classes"]) is int


def test_the_counter_rng_is_splitmix64_and_its_streams_are_pinned():
    """Every synthetic image is a function of these numbers: a changed constant or seed mix would
    silently make every committed result unreproducible, while the determinism tests (same image in
    any batch or process) still passed. mix64 of the states 0, g, 2g (g the golden gamma) is
    SplitMix64's first three outputs from seed 0 (Steele et al. 2014), the published reference."""
    from synth.rng import _GOLDEN, mix64, uniform

    g = torch.tensor(_GOLDEN, dtype=torch.int64)
    out = [int(v) & (2 ** 64 - 1) for v in mix64(torch.stack([g * 0, g, g * 2]))]
    assert out == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    # the (seed, stream) mix on top: values of the committed code (24-bit floats: exact)
    assert uniform(7, torch.arange(3), "shape", 2).tolist() == [
        [0.15139353275299072, 0.033831238746643066], [0.6071048974990845, 0.19645047187805176],
        [0.12218958139419556, 0.07001984119415283]]
    assert uniform(8, torch.arange(1), "shape", 1).tolist() == [[0.23748183250427246]]
