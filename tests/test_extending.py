"""A researcher extends the suite as the docs say: a new generator family, exports as ImageFolders."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import synth
from synth.core import GENERATORS, Family, Knob, Sample
from synth.errors import UserError
from synth.export import export


@pytest.fixture
def registry(monkeypatch):
    """GENERATORS with families registered by a test removed again afterwards."""
    monkeypatch.setattr(GENERATORS, "_items", dict(GENERATORS._items))
    return GENERATORS


def _blank():
    """A render function drawing grey images with labels from synth.rng."""
    from synth import rng

    def _render(self, seed, idx, device):
        r = self.resolution
        label = rng.randint(seed, idx, "t.label", 1, self.n_classes)[:, 0]
        return Sample(image=torch.full((len(idx), self.channels, r, r), 0.5), label=label)

    return _render


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
    manifest = export(out, "deadleaves", 30, seed=1, chunk_size=7, resolution=16, complexity=0, channels=1)
    folder = ImageFolder(str(out))
    assert len(folder) == 30
    ds = synth.make_dataset("deadleaves", 30, seed=1, resolution=16, complexity=0, channels=1)
    for path, target in folder.samples:
        index = int(Path(path).stem)
        assert int(folder.classes[target]) == ds[index][1]
    assert sorted(str(Path(p).relative_to(out)) for p, _ in folder.samples) == sorted(manifest["files"])
