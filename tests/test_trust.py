"""What a colleague's files in a shared root, cache or profile can do: nothing but be refused or
trained again (from a security review). A checkpoint runs no code when loaded, a YAML file of nested
aliases is refused before it is expanded, a newline in a profile's value writes no command into the
job script, and a folder target with a link to its own parent is refused instead of walked for ever."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
import yaml

from synth.errors import UserError


class _Runs:
    """Unpickled, it writes a file: what a planted checkpoint could do with the runner's rights."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def _plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"backbone": _Runs(marker), "n_classes": 10}, f)


def test_a_planted_pre_training_result_runs_no_code_and_is_trained_again(tmp_path: Path) -> None:
    """shared_cell loaded ROOT/pretrain/<id>/final.pt with weights_only=False: a file planted there by anyone
    who can write the root ran code as whoever ran the next sweep of that (predictable) pretrain id."""
    from bench.config import RunSpec
    from bench.run import shared_cell

    spec = RunSpec()
    marker = tmp_path / "ran"
    _plant(tmp_path / "root" / "pretrain" / spec.pretrain_id / "final.pt", marker)
    got = shared_cell(spec, tmp_path / "root", lambda ckpt: {"backbone": {}, "n_classes": 3})
    assert not marker.exists() and got["n_classes"] == 3  # refused as unreadable, trained (here: made) again


def test_a_planted_checkpoint_runs_no_code_and_training_starts_from_step_0(tmp_path: Path) -> None:
    """A resumable checkpoint (ckpt.pt, ft-s*.ckpt) was loaded with weights_only=False too."""
    from bench.train import _maybe_resume

    marker = tmp_path / "ran"
    _plant(tmp_path / "ckpt.pt", marker)
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    assert _maybe_resume(net, opt, tmp_path / "ckpt.pt", torch.device("cpu"))[0] == 0
    assert not marker.exists()


BOMB = "".join(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))


def test_a_yaml_of_nested_aliases_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    """439 bytes of nested aliases under synth.knobs took 5 GB before `sweep --dry-run` was killed; `sweep status`
    and `collect` read every run's config.yaml of a shared root the same way (and took 2 GB in 30 s)."""
    from bench.collect import read_run_spec
    from bench.config import load_sweep
    from synth.console import YamlTooLarge, load_yaml

    text = "name: bomb\nsynth:\n  knobs:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + BOMB
    (tmp_path / "bomb.yaml").write_text(text)
    with pytest.raises(UserError, match="aliases expand to more than 1,000,000 values"):
        load_sweep(tmp_path / "bomb.yaml")
    (tmp_path / "config.yaml").write_text(text)
    assert read_run_spec(tmp_path / "config.yaml") is None  # unreadable, as a damaged one
    with pytest.raises(YamlTooLarge, match="refers to itself"):
        load_yaml("a: &a [1, *a]")
    assert load_yaml("b: &b {x: 1}\nc: {<<: *b, y: 2}\nd: [*b, *b]") == {"b": {"x": 1}, "c": {"x": 1, "y": 2},
                                                                         "d": [{"x": 1}, {"x": 1}]}


@pytest.mark.parametrize("field, value", [("partition", "gpu\necho hi"), ("sbatch", {"mail-type": "FAIL\necho hi #"}),
                                          ("sbatch", {"mail-type\necho hi": "FAIL"}), ("constraint", "a\rb")])
def test_a_control_character_in_a_profile_value_is_refused(tmp_path: Path, field: str, value) -> None:
    """A newline in a profile's (or --sbatch's) value ended its #SBATCH line, and what followed ran as a command
    in the job script, while the dry run (which shows the #SBATCH lines) showed nothing of it."""
    import yaml

    from slurm.profiles import load_profile

    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"resources": {field: value}}))
    with pytest.raises(UserError) as err:
        load_profile(str(tmp_path / "p.yaml"))
    text = str(err.value)
    assert "holds a control character" in text and "#SBATCH" in text and len(text.splitlines()) == 1, text


def test_a_folder_target_with_a_link_to_its_parent_is_refused(tmp_path: Path) -> None:
    """os.walk(followlinks=True) followed train/a/up -> .. round and round: one such link counted class b's
    images as class a's (82 images of 4), two made the plan-time check run for hours."""
    from PIL import Image

    from bench import targets

    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("L", (8, 8)).save(tmp_path / split / cls / "0.png")
    targets.check_target("folder", str(tmp_path), False)  # without the link: accepted
    os.symlink("..", tmp_path / "train" / "a" / "up")
    with pytest.raises(UserError, match="is a folder already read"):
        targets.check_target("folder", str(tmp_path), False)


def test_status_shows_control_sequences_from_a_shared_root_escaped() -> None:
    """A label or log line holding a terminal control sequence (a window title, colours, a cleared screen) in a
    manifest or job log of a shared root reached the terminal of whoever ran `sweep status` as it was."""
    from slurm.tracking import CellStatus, format_status

    shown = format_status([CellStatus("abc", "failed", label="x\x1b]0;owned\x07\x1b[31m", detail="d\x1b[2J",
                                      log_tail=["Error\x1b[0m", "\tcaf\u00e9"])])
    assert "\x1b" not in shown and "\x07" not in shown and "\t" not in shown
    assert "x\\x1b]0;owned\\x07\\x1b[31m" in shown and "[d\\x1b[2J]" in shown and "| \\tcaf\u00e9" in shown


def test_a_planted_link_as_the_local_clusters_runtime_folder_is_refused(tmp_path: Path) -> None:
    """The local cluster's /tmp runtime folder has a name anyone can compute: a link planted there made `up`
    (run as root) remove pid files through it and then fail with 'File exists'."""
    from slurm.localcluster.cluster import check_run_dir
    from slurm.localcluster.errors import ClusterUnavailable

    check_run_dir(tmp_path / "absent")  # fine: up makes it
    (tmp_path / "own").mkdir()
    check_run_dir(tmp_path / "own")
    (tmp_path / "link").symlink_to(tmp_path / "own")
    with pytest.raises(ClusterUnavailable, match="is a link, not this user's own folder"):
        check_run_dir(tmp_path / "link")
    (tmp_path / "file").write_text("")
    with pytest.raises(ClusterUnavailable, match="is not a folder"):
        check_run_dir(tmp_path / "file")


def _naive_flatten(self, node) -> None:
    """Merge keys flattened as PyYAML did before its own fix: every merged pair kept, repeats and all."""
    merged, own = [], []
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            own.append((key_node, value_node))
            continue
        for sub in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
            self.flatten_mapping(sub)
            merged += sub.value
    node.value = merged + own


def test_merge_keys_are_flattened_once_each_whatever_pyyaml_does(monkeypatch) -> None:
    """The alias cap sees values once built; PyYAML releases before its fix repeated merged keys while
    flattening, 10x per level of `<<: [*a, *a, ...]` (7 levels: 534 bytes, 58 s and 1.6 GB, accepted)."""
    from synth.console import CappedSafeLoader, load_yaml

    merges = "a: &a {x: 1, y: 1}\nb: &b {x: 2}\nc: {<<: [*b, *a], y: 3}\nd: {<<: [*a, *b]}"
    assert load_yaml(merges) == yaml.safe_load(merges) == {"a": {"x": 1, "y": 1}, "b": {"x": 2},
                                                           "c": {"x": 2, "y": 3}, "d": {"x": 1, "y": 1}}
    monkeypatch.setattr(yaml.constructor.SafeConstructor, "flatten_mapping", _naive_flatten)
    text = "a0: &a0 {" + ", ".join(f"k{i}: {i}" for i in range(10)) + "}\n" + "".join(
        f"a{d}: &a{d} {{<<: [" + ", ".join([f"*a{d - 1}"] * 10) + "]}\n" for d in range(1, 6))
    loader = CappedSafeLoader(text)
    try:
        doc = loader.get_single_node()
        deepest = doc.value[-1][1]
        loader.flatten_mapping(deepest)
        assert len(deepest.value) == 10  # 100,000 pairs without the dedup
    finally:
        loader.dispose()


def test_a_run_config_named_like_a_number_reads_back() -> None:
    """read_run_spec read config.yaml with the loader that takes 1e3 for a number, but safe_dump writes the
    name '1e3' unquoted: the run's config became unreadable to collect and status."""
    import tempfile

    from bench.collect import read_run_spec
    from bench.config import RunSpec

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(RunSpec(name="1e3").model_dump()))
        assert read_run_spec(path).name == "1e3"


def test_status_escapes_run_ids_and_executors_and_drops_unprintable_ids() -> None:
    """Labels and log lines were escaped, but a run id or executor from a manifest of a shared root reached the
    terminal as written; a manifest's run id holding a control character is now no run id at all."""
    from slurm.tracking import CellStatus, JobRef, _plain_name, format_status

    job = JobRef("\x1b[31mred", "local\x1b[5m", "1", "n", "/f", 0.0, "")
    shown = format_status([CellStatus("\x1b]0;x\x07y", "failed", job=job)])
    assert "\x1b" not in shown and "\x07" not in shown and "\\x1b]0;x\\x07y" in shown and "(local\\x1b[5m)" in shown
    assert not _plain_name("\x1b[31mred") and _plain_name("0123456789ab")
