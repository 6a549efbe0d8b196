"""Bad knobs, the synth command line (preview, bench, export) and its error handling."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import synth
from synth.cli import main
from synth.errors import UserError
from synth.export import export


@pytest.mark.parametrize("kwargs,words", [
    (dict(bogus=1), ["unknown", "bogus", "valid"]),
    (dict(objects_max=-1), ["objects_max", "[1, 8]", "-1"]),
    (dict(n_categories=1000), ["n_categories", "1000"]),
    (dict(clutter="lots"), ["clutter", "lots"]),
    (dict(n_categories=10 ** 400), ["n_categories", "[2, 100]", "got 1000000000000000000000000000000000000..."]),
    (dict(clutter=10 ** 400), ["clutter", "got 1000000000000000000000000000000000000..."]),  # were OverflowErrors
    (dict(objects_min=5, objects_max=2), ["objects_min", "objects_max"]),
    (dict(resolution=4), ["resolution", "8"]),
    (dict(complexity=8), ["complexity", "[0, 7]"]),
    (dict(channels=2), ["channels"]),
    (dict(channels=3.0), ["channels must be 1 (grayscale) or 3 (RGB), got 3.0"]),  # knobs() recorded 3.0
])
def test_bad_shapes_knobs_give_one_clear_line(kwargs, words):
    with pytest.raises(UserError) as err:
        synth.make_dataset("shapes", 10, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("name", synth.GENERATORS.names())
def test_every_family_rejects_unknown_knobs_and_tiny_resolutions(name):
    with pytest.raises(UserError, match="unknown"):
        synth.make_dataset(name, 10, no_such_knob=3)
    with pytest.raises(UserError, match="resolution"):
        synth.make_dataset(name, 10, resolution=7)
    with pytest.raises(UserError, match="complexity"):
        synth.make_dataset(name, 10, complexity=-1)
    with pytest.raises(UserError, match="n must"):
        synth.make_dataset(name, -5)


def test_unknown_generator_exits_2_with_one_line(tmp_path):
    exe = Path(sys.executable).with_name("synthscale")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bench.cli"]
    out = subprocess.run(cmd + ["synth", "preview", "--generator", "nope", "-o", str(tmp_path / "g.png")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "shapes" in lines[0]
    assert not (tmp_path / "g.png").exists()


def test_preview_writes_a_labelled_grid(tmp_path):
    path = tmp_path / "grid.png"
    assert main(["preview", "--generator", "shapes", "--complexity", "0..2", "--n", "3",
                 "--resolution", "16", "-o", str(path)]) == 0
    img = Image.open(path)
    assert img.size[1] > 3 * 64 and img.size[0] > 3 * 64    # 3 rows of 64 px tiles plus labels
    assert main(["preview", "--complexity", "x..y", "-o", str(path)]) == 2


def test_a_preview_with_knobs_says_so_in_its_title():
    # its rows read "level 1", "level 3" under the plain title, though no row was that level's preset
    from synth.preview import preview_grid

    def title(**knobs) -> np.ndarray:
        return np.asarray(preview_grid("shapes", [1], n_per_level=2, resolution=16, **knobs))[:14]

    assert not np.array_equal(title(), title(clutter=1.0))
    assert np.array_equal(title(), title())


def test_bench_json_records(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert main(["bench", "--generator", "shapes", "--resolution", "16", "--min-cpu-s", "0.05",
                 "--rounds", "3", "--json", "--out", str(out)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1
    rec = records[0]
    assert {"generator", "resolution", "complexity", "images_per_s", "images_per_cpu_s"} <= set(rec)
    assert rec["generator"] == "shapes" and rec["resolution"] == 16 and rec["complexity"] == 7
    assert rec["images_per_s"] > 0 and rec["images_per_cpu_s"] > 0
    assert rec["rounds"] == 3 and rec["cpu_rate_min"] <= rec["images_per_cpu_s"] <= rec["cpu_rate_max"]
    assert main(["bench", "--rounds", "0", "--out", "-"]) == 2
    text = out.read_text()
    assert "load average" in text and "| shapes | 16 | 7 |" in text


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_png_manifest_and_resume(tmp_path, capsys):
    out = tmp_path / "set"
    args = ["export", "--generator", "shapes", "--n", "25", "--resolution", "16", "--complexity", "2",
            "--chunk-size", "10", "--seed", "4", "-o", str(out)]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["files"]) == 25 and manifest["seed"] == 4
    assert manifest["config"]["complexity"] == 2
    for rel, digest in manifest["files"].items():
        assert _sha(out / rel) == digest
    ds = synth.make_dataset("shapes", 25, seed=4, resolution=16, complexity=2)
    rel = next(r for r in manifest["files"] if r.endswith("00000007.png"))
    assert int(rel.split("/")[0]) == ds[7][1]
    pixels = torch.from_numpy(np.asarray(Image.open(out / rel), dtype=np.float32))
    assert (pixels.reshape(16, 16, 3).permute(2, 0, 1) / 255 - ds[7][0]).abs().max() <= 0.5 / 255 + 1e-6
    assert not (out / ".chunks").exists()          # finished: the resume records are gone
    # interrupted after two of its three chunks: a rerun writes only the last chunk
    again = tmp_path / "again"

    calls = []

    def stop_after_two(n_done):
        calls.append(n_done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(again, "shapes", 25, seed=4, chunk_size=10, progress=stop_after_two, resolution=16,
               complexity=2, channels=3)
    assert not (again / "manifest.json").exists() and (again / ".chunks").is_dir()
    first = again / next(iter(manifest["files"]))
    stamp = first.stat().st_mtime_ns
    # what a kill -9 mid-write leaves: _atomic_write's temps (an image's, a chunk record's); the resume removes them
    label = first.parent.name
    stale = [again / label / ".00000021.png.tmp4242", again / ".chunks" / ".chunk_000002.json.tmp4242"]
    for f in stale:
        f.write_bytes(b"half a file")
    capsys.readouterr()
    assert main(args[:-1] + [str(again)]) == 0
    assert not any(f.exists() for f in stale), "a killed export's temp files stayed after the resume"
    # it says what it wrote: the last chunk's 5 images, not all 25 (as it used to)
    assert capsys.readouterr().out.strip().endswith(
        f"wrote 5 files and {again / 'manifest.json'} (20 more kept from the interrupted export)")
    assert json.loads((again / "manifest.json").read_text()) == manifest
    assert first.stat().st_mtime_ns == stamp and not (again / ".chunks").exists()
    assert main(args) == 0                          # a finished export is done
    assert json.loads((out / "manifest.json").read_text()) == manifest
    # another config into the same directory is refused
    assert main(args[:-2] + ["--knob", "clutter=1", "-o", str(out)]) == 2


@pytest.mark.parametrize("fmt", ["png", "shards"])
def test_export_renders_a_chunk_in_parts_and_writes_the_same_files(tmp_path, monkeypatch, fmt):
    # a chunk was one render, float images plus every annotation: 1,000 images at 512 px needed 16 GB
    import synth.export as ex
    from synth.core import SynthDataset

    kw = dict(seed=3, fmt=fmt, chunk_size=10, resolution=16, complexity=2)
    whole, _ = export(tmp_path / "whole", "shapes", 25, **kw)
    sizes: list[int] = []
    real = SynthDataset.render_batch
    monkeypatch.setattr(SynthDataset, "render_batch", lambda self, idx: sizes.append(len(idx)) or real(self, idx))
    monkeypatch.setattr(ex, "RENDER_PIXELS", 3 * 16 * 16)  # three 16 px images at a time
    parts, _ = export(tmp_path / "parts", "shapes", 25, **kw)
    assert sizes == [3, 3, 3, 1] * 2 + [3, 2] and parts["files"] == whole["files"]


def test_export_shards(tmp_path):
    import numpy as np

    out = tmp_path / "shards"
    assert main(["export", "--generator", "shapes", "--n", "12", "--resolution", "16", "--channels", "1",
                 "--format", "shards", "--chunk-size", "5", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == [f"shard_{i:06d}.npz" for i in range(3)]
    data = np.load(out / "shard_000002.npz")
    assert data["images"].shape == (2, 16, 16, 1) and data["indices"].tolist() == [10, 11]
    assert main(["export", "--n", "3", "--format", "tar", "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()  # refused before -o is made (it left an empty folder)
    shutil.rmtree(out)
