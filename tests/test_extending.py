"""A researcher extends the suite as the docs say: a new generator family, exports as ImageFolders."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import synth
from synth.cli import main as synth_main
from synth.core import GENERATORS, Family, Knob, Sample
from synth.errors import UserError
from synth.export import export

DOCS = Path(__file__).resolve().parents[1] / "docs" / "synth.md"


@pytest.fixture
def registry(monkeypatch):
    """GENERATORS with families registered by a test removed again afterwards."""
    monkeypatch.setattr(GENERATORS, "_items", dict(GENERATORS._items))
    return GENERATORS


def _doc_family_source() -> str:
    """The example family of docs/synth.md ("Adding a generator"), as written there."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    found = [b for b in blocks if "@GENERATORS.register(" in b]
    assert len(found) == 1, "docs/synth.md should hold one example family"
    return found[0]


def _blank():
    """A render function drawing grey images with labels from synth.rng."""
    from synth import rng

    def _render(self, seed, idx, device):
        r = self.resolution
        label = rng.randint(seed, idx, "t.label", 1, self.n_classes)[:, 0]
        return Sample(image=torch.full((len(idx), self.channels, r, r), 0.5), label=label)

    return _render


@pytest.fixture
def stripes(registry):
    """The docs' example family, registered for this test only."""
    exec(compile(_doc_family_source(), "docs/synth.md:stripes", "exec"), {"__name__": "stripes_doc"})
    return registry.get("stripes")


def test_doc_example_family_meets_the_generator_contract(stripes):
    assert stripes.n_levels == 2 and stripes.name == "stripes"
    for level in range(stripes.n_levels):
        for channels in (1, 3):
            gen = stripes(resolution=24, complexity=level, channels=channels)
            s = gen.render(5, torch.arange(40))
            assert s.image.shape == (40, channels, 24, 24) and s.image.dtype == torch.float32
            assert 0 <= float(s.image.min()) and float(s.image.max()) <= 1
            assert s.label.dtype == torch.int64
            assert 0 <= int(s.label.min()) and int(s.label.max()) < gen.n_classes
            picks = torch.tensor([39, 3, 17])
            part = gen.render(5, picks)
            assert torch.equal(part.image, s.image[picks]) and torch.equal(part.label, s.label[picks])
    small = synth.make_dataset("stripes", 4, seed=2, complexity=1)
    big = synth.make_dataset("stripes", 400, seed=2, complexity=1)
    assert all(torch.equal(small[i][0], big[i][0]) and small[i][1] == big[i][1] for i in range(4))
    assert big.n_classes == 16 and len(set(big.render_batch(torch.arange(400)).label.tolist())) == 16


def test_doc_example_family_in_preview_and_its_bad_knob_is_one_line(stripes, tmp_path, capsys):
    grid = tmp_path / "stripes.png"
    assert synth_main(["preview", "--generator", "stripes", "--n", "3", "-o", str(grid)]) == 0
    assert grid.is_file()
    capsys.readouterr()
    assert synth_main(["preview", "--generator", "stripes", "--knob", "n_orient=99", "-o", str(grid)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("stripes knob 'n_orient' must be an integer in [2, 64], got 99"), err
    assert len(err.splitlines()) == 1


def test_doc_example_family_trains_in_a_run(stripes, tmp_path):
    from bench.config import RunSpec
    from bench.run import run

    spec = RunSpec.model_validate({
        "synth": {"generator": "stripes", "n": 64, "complexity": 1, "channels": 1},
        "model": {"name": "resnet10t", "small_input": False},
        "pretrain": {"examples": 128, "batch_size": 64}, "finetune": {"examples": 128, "batch_size": 64},
        "target": {"n_real": [20], "test_size": 50}, "threads": 1})
    (row,) = run(spec, tmp_path)
    assert row["generator"] == "stripes" and row["n_synth"] == 64 and row["status"] == "ok"


def _family(name: str = "mine", knobs=(Knob("a", int, 0, 3, "a"),), presets=({"a": 1},),
            n_classes: int = 3, **attrs):
    return type("Mine", (Family,), {"name": name, "KNOBS": tuple(knobs), "PRESETS": list(presets),
                                    "n_classes": n_classes, "_render": _blank(), **attrs})


@pytest.mark.parametrize("kwargs,words", [
    (dict(name=""), ["'mine'", "name = 'mine'"]),
    (dict(name="other"), ["'mine'", "'other'"]),
    (dict(presets=()), ["'mine'", "PRESETS"]),
    (dict(presets=({"a": 1}, {})), ["'mine'", "PRESETS[1]", "missing ['a']"]),
    (dict(presets=({"a": 1, "b": 2},)), ["'mine'", "PRESETS[0]", "not a knob ['b']"]),
    (dict(presets=({"a": 9},)), ["'mine'", "PRESETS[0]", "'a'", "[0, 3]", "9"]),
    (dict(knobs=(Knob("a", int, 0, 3, "a"), Knob("a", int, 0, 3, "a"))), ["'mine'", "twice"]),
])
def test_a_family_that_breaks_the_contract_fails_when_registered(registry, kwargs, words):
    cls = _family(**kwargs)
    with pytest.raises(TypeError) as err:
        registry.register("mine")(cls)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "mine" not in registry


def test_a_family_without_a_class_count_fails_when_built(registry):
    registry.register("mine")(_family(n_classes=0))
    with pytest.raises(TypeError, match="n_classes"):
        synth.make_dataset("mine", 4)


def test_a_well_formed_family_registers_and_takes_user_errors(registry):
    registry.register("mine")(_family())
    ds = synth.make_dataset("mine", 6, a=2)
    assert ds.generator.knobs()["generator"] == "mine" and ds.generator.knobs()["a"] == 2
    with pytest.raises(UserError, match=r"mine knob 'a' must be an integer in \[0, 3\], got 7"):
        synth.make_dataset("mine", 6, a=7)


def test_a_png_export_is_an_image_folder(tmp_path):
    from torchvision.datasets import ImageFolder

    out = tmp_path / "set"
    manifest, _ = export(out, "deadleaves", 30, seed=1, chunk_size=7, resolution=16, complexity=0, channels=1)
    folder = ImageFolder(str(out))
    assert len(folder) == 30
    ds = synth.make_dataset("deadleaves", 30, seed=1, resolution=16, complexity=0, channels=1)
    for path, target in folder.samples:
        index = int(Path(path).stem)
        assert int(folder.classes[target]) == ds[index][1]
    assert sorted(str(Path(p).relative_to(out)) for p, _ in folder.samples) == sorted(manifest["files"])


def test_cluster_doc_example_profile_sends_scratch_cells_to_cpu_nodes(tmp_path):
    from bench.config import RunSpec
    from slurm.profiles import load_profile

    text = (DOCS.parent / "cluster.md").read_text()
    path = tmp_path / "my-site.yaml"
    path.write_text(re.search(r"```yaml\n(.*?)```", text, flags=re.S).group(1))
    profile = load_profile(str(path))
    gpu = profile.resources_for(RunSpec.model_validate({"synth": {"n": 1000}}))
    cpu = profile.resources_for(RunSpec.model_validate({"synth": {"n": 0}}))
    assert gpu.partition == "gpu" and gpu.gpus_per_job == 1 and gpu.constraint == "a100|h100"
    assert cpu.partition == "cpu" and cpu.gpus_per_job == 0
    assert cpu.constraint is None, "CPU nodes lack the GPU feature: the job would never start"


def test_synth_exports_serve_as_a_folder_target(tmp_path):
    """docs/bench.md: an export of `synth export` is a `folder` target's train or test split."""
    from bench.config import RunSpec
    from bench.run import run

    data = tmp_path / "data"
    export(data / "train", "deadleaves", 80, seed=1, chunk_size=30, resolution=16, complexity=0, channels=3)
    export(data / "test", "deadleaves", 40, seed=2, chunk_size=30, resolution=16, complexity=0, channels=3)
    spec = RunSpec.model_validate({
        "synth": {"generator": "shapes", "n": 32, "channels": 1, "resolution": 16},
        "model": {"name": "resnet10t", "small_input": False},
        "pretrain": {"examples": 64, "batch_size": 32}, "finetune": {"examples": 64, "batch_size": 32},
        "target": {"name": "folder", "data_root": str(data), "n_real": [20]}, "threads": 1})
    (row,) = run(spec, tmp_path / "root")
    assert row["target"] == "folder" and row["status"] == "ok" and row["n_real"] == 20


def test_list_gives_each_knob_its_range_and_levels(stripes, capsys):
    assert synth_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "\n  n_orient: int in [2, 64], levels 4 / 16; orientation bins (the classes)\n" in out
    assert "\n  clutter: float in [0, 1], levels 0 / 0 / 0 / 0.25 / 0.25 / 0.5 / 0.5 / 1;" in out


def test_benchmarking_one_family_does_not_overwrite_the_committed_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["bench", "--generator", "shapes", "--resolution", "16", "--min-cpu-s", "0.05", "--rounds", "1"]
    assert synth_main(args) == 2
    assert not (tmp_path / "results").exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "results/synth_bench.md" in err
    assert synth_main(args + ["--out", "mine.md"]) == 0 and (tmp_path / "mine.md").is_file()
