"""The run and sweep schema: YAML in, validated frozen models out, strict about unknown keys.

A *run* is one pre-training cell (generator, complexity, n, model, task, seed) and its fine-tunes on
each real subset size in `target.n_real`. A *sweep* is a base run plus a `grid` of dotted keys to
lists of values; its cells are the Cartesian product.
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Sequence, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from synth.console import DuplicateKey as _DuplicateKey, UniqueKeyLoader as _UniqueKeyLoader, parse_assignments
from synth.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _sizes(sizes: list[int]) -> list[int]:
    if not sizes or len(set(sizes)) < len(sizes):
        raise ValueError("give each real size once, at least one, e.g. [100]")
    # sizes < 1 are checked with the protocol (bench.run.check_names). Sorted: [40, 20] and [20, 40]
    # are one run (one id, its rows in size order), not two runs that compute the same rows.
    return sorted(sizes)


# Strict ints: YAML `true` is not a count (pydantic would read it as 1).
RealSizes = Annotated[list[Annotated[int, Field(strict=True)]], AfterValidator(_sizes)]


class SynthSpec(_Strict):
    """What to pre-train on: a registered generator at one size `n` (0 = no pre-training)."""

    generator: str = "shapes"
    n: int = Field(1000, ge=0, strict=True)
    complexity: int = Field(0, ge=0, strict=True)
    resolution: int = Field(32, ge=8, strict=True)
    channels: int = Field(1, ge=1, le=4, strict=True)
    # the pool's seed: runs that differ only in `seed` share nested sets (images are keyed by its low 64 bits)
    seed: int = Field(0, ge=0, le=2**63 - 1, strict=True)
    knobs: dict[str, Any] = Field(default_factory=dict)


class ModelSpec(_Strict):
    """A timm model by name; `small_input` adapts the stem to 28-32 px images."""

    name: str = "resnet10t"
    small_input: bool = True
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0)


class StageSpec(_Strict):
    """One training stage; the budget is in examples seen, so curves over n are comparable. It runs
    ceil(examples / batch_size) steps of full batches, so up to batch_size - 1 examples more than
    `examples` (which the rows record) are seen: 40 steps of 128 = 5120 for fine-tuning's default 5000."""

    examples: int = Field(20000, gt=0, strict=True)
    batch_size: int = Field(128, ge=2, strict=True)  # batch norm cannot train on one example
    lr: float = Field(0.05, gt=0.0, allow_inf_nan=False)  # inf trained to NaN weights
    weight_decay: float = Field(5e-4, ge=0.0, allow_inf_nan=False)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    warmup_frac: float = Field(0.05, ge=0.0, lt=1.0)
    augment: bool = True  # random shifts by up to 2 px, and left-right flips where `flips` allows them
    # Flips within the augmentation: None = by the images (stage_flips: off for digits, whose label a
    # mirror changes; on for the rest); true or false to say so for your own images.
    flips: Optional[bool] = None
    ckpt_every_s: float = Field(120.0, gt=0.0)  # not part of the run's identity


class PretrainSpec(StageSpec):
    """The pre-training stage: a StageSpec, plus a budget that can grow with synth.n."""

    # None: the budget is `examples`, whatever n. A number: at least ceil(min_epochs * n) examples, that
    # many epochs of the n images (1: every image seen), `examples` the floor (pretrain_examples). The run
    # id holds the resulting budget, not this field.
    min_epochs: Optional[float] = Field(None, gt=0.0, allow_inf_nan=False, strict=True)


class FinetuneSpec(StageSpec):
    """The fine-tuning stage: a StageSpec, plus how batch norm's statistics are set for the test."""

    # True: before testing, batch norm's running mean and variance are recomputed from the s fine-tuning
    # images (bench.train.recompute_bn_stats). After a short fine-tune the running averages trail the
    # weights: a scratch net scored 0.84 error with them and 0.36 with recomputed ones. False: the
    # running averages, as runs before this field (their run ids).
    recompute_bn: bool = True


class TargetSpec(_Strict):
    """The real task: fine-tune on `n_real` images (a stratified subset), test on a fixed split."""

    name: str = "fashion_mnist"
    n_real: RealSizes = Field(default_factory=lambda: [100])  # distinct sizes; 0 only for generalize
    test_size: Optional[int] = Field(None, gt=0, strict=True)  # None = the full test split
    data_root: Optional[str] = None  # a user root; part of the run's identity only for `folder`
    download: bool = False  # allow torchvision downloads where there is internet

    @field_validator("data_root")
    @classmethod
    def _absolute(cls, root: Optional[str]) -> Optional[str]:
        # Resolved once, where the user typed it: a job started in another directory reads the
        # same folder, and a folder tree's run id does not depend on how its path was spelt.
        return str(Path(root).expanduser().resolve()) if root else None


class AsgSpec(_Strict):
    """ASG options (docs/asg.md): ImageNet proxy guidance and per-layer-group learning rates."""

    proxy_lambda: float = Field(0.0, ge=0.0, allow_inf_nan=False)  # weight of KL(frozen || current via the old head)
    lr_policy: Literal["none", "handset", "learned"] = "none"
    policy: Optional[str] = None  # a saved learned policy (bench.asg_meta), needed for `learned`
    interval: int = Field(10, gt=0, strict=True)  # the controller acts every `interval` steps
    n_groups: int = Field(4, ge=1, le=16, strict=True)  # backbone layer groups; the new head is one more


class RunSpec(_Strict):
    """Everything one run needs; its hash (without thread counts and paths, except a folder
    target's root) is the run id."""

    name: str = "run"
    synth: SynthSpec = Field(default_factory=SynthSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    task: str = "classification"
    pretrain: PretrainSpec = Field(default_factory=PretrainSpec)
    finetune: FinetuneSpec = Field(default_factory=lambda: FinetuneSpec(examples=5000, lr=0.02))
    target: TargetSpec = Field(default_factory=TargetSpec)
    # At least 0 (-1 is not "a random seed": every run is seeded); at most 2**63 - 2, as torch's
    # generators take int64 seeds and fine-tuning seeds with seed + 1 (a larger one was a traceback).
    seed: int = Field(0, ge=0, le=2**63 - 2, strict=True)
    threads: Optional[int] = Field(None, gt=0, strict=True)  # torch threads; None = torch's default
    device: str = "auto"
    # Added for ASG; None keeps the run ids of configs written before them (see identity()).
    protocol: Optional[Literal["transfer", "generalize"]] = None  # None = transfer
    asg: Optional[AsgSpec] = None

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result; scratch runs (n = 0) drop the generator fields."""
        d = self.model_dump(exclude={"name", "threads", "device"})
        if self.protocol != "generalize":  # written-out defaults keep the id of the shorter config:
            if d["protocol"] == "transfer":  # `protocol: transfer` is the default protocol, and
                d["protocol"] = None  # fine-tuning reads only asg.proxy_lambda (check_asg), so the
            if d["asg"] is not None:  # other ASG keys are set to their defaults here
                d["asg"] = _ASG_DEFAULT | {"proxy_lambda": self.asg.proxy_lambda}
                if d["asg"] == _ASG_DEFAULT:
                    d["asg"] = None
        else:
            if d["asg"] is None:  # no section: the defaults, spelled as an all-default section is (the
                d["asg"] = dict(_ASG_DEFAULT)  # packaged config's plain cells): one cell had two ids
            if d["asg"]["lr_policy"] == "learned":  # the policy file in one spelling
                d["asg"]["policy"] = _policy_key(self.asg.policy)
            else:  # only the learned policy reads
                d["asg"]["policy"] = None  # a policy file: a global asg.policy made equal cells distinct
                d["asg"]["interval"] = _ASG_DEFAULT["interval"]  # and acts every `interval` steps (handset's
                if d["asg"]["lr_policy"] == "none":  # multipliers never change); without a policy the layer
                    d["asg"]["n_groups"] = _ASG_DEFAULT["n_groups"]  # groups all keep the base rate
        for key in ("protocol", "asg"):  # optional sections enter the hash only when set
            if d[key] is None:
                d.pop(key)
        if self.target.name != "folder":  # a folder target's root *is* its dataset; the other
            d["target"].pop("data_root")  # targets' files are the same data wherever they lie
        if tests_whole_split(self):  # 10000, 20000 and None on Fashion-MNIST: one run
            d["target"]["test_size"] = None
        d["target"].pop("download")
        for stage in ("pretrain", "finetune"):  # checkpoint cadence never changes a result; the
            d[stage]["ckpt_every_s"] = _CKPT_DEFAULT  # default keeps the ids of older configs
            # flips enter only where they are off in an augmenting stage: the runs before the field
            # flipped every image, and keep their ids where they still do (digits are not flipped now)
            d[stage].pop("flips")
            if stage_augments(self, stage) and not stage_flips(self, stage):
                d[stage]["flips"] = False
        # the budget the stage trains for, not how it was asked for: examples 1000 with min_epochs 1 at
        # n = 8000 is the run of examples 8000, and a min_epochs that does not raise the budget keeps the id
        d["pretrain"]["examples"] = pretrain_examples(self)  # (a scratch run drops the section below)
        d["pretrain"].pop("min_epochs")
        if not _task_augments(self.task):  # a task that never augments: its pretrain.augment is read
            d["pretrain"]["augment"] = True  # by nothing (true, false and the default: the default's id)
        # the running averages, as before the field: those runs keep their ids (generalize: no fine-tune)
        if not self.finetune.recompute_bn or self.protocol == "generalize":
            d["finetune"].pop("recompute_bn")
        d["synth"]["knobs"] = _canonical_knobs(self.synth)
        if self.synth.n == 0:
            d["synth"] = {"n": 0, "resolution": self.synth.resolution, "channels": self.synth.channels}
            d["pretrain"] = None
            d["task"] = None
        return d

    @property
    def run_id(self) -> str:
        """A short stable hash of `identity()`."""
        return _hash(self.identity())

    @property
    def sizes_free_id(self) -> str:
        """The hash of `identity()` without `target.n_real`: each real size is fine-tuned on its own
        (its subset, seed and steps do not depend on the others), so runs that differ only in their
        list of sizes measure each size they share once over (bench.collect merges those rows)."""
        d = self.identity()
        d["target"] = {k: v for k, v in d["target"].items() if k != "n_real"}
        return _hash(d)

    @property
    def pretrain_id(self) -> str:
        """The hash of what determines the pre-trained weights, shared by runs that differ downstream."""
        d = self.identity()
        keys = ("synth", "model", "task", "pretrain", "seed")
        if self.protocol == "generalize":  # the synthetic training itself depends on the ASG options
            keys += tuple(k for k in ("protocol", "asg") if k in d)
        return _hash({k: d[k] for k in keys})


_CKPT_DEFAULT = StageSpec.model_fields["ckpt_every_s"].default
_ASG_DEFAULT = AsgSpec().model_dump()
REPO_ROOT = Path(__file__).resolve().parent.parent  # what the packaged configs' relative paths start from


def policy_file(policy: str) -> Optional[Path]:
    """The file `asg.policy` names: as given (relative paths from the current directory), else
    relative to the repository the packaged configs come from; None if neither exists."""
    for p in (Path(policy), REPO_ROOT / policy):
        if p.is_file():
            return p
    return None


def _policy_key(policy: Optional[str]) -> Optional[str]:
    """`asg.policy` in one spelling for the run id, by its text alone (`./p.pt` and `q/../p.pt` are
    `p.pt`): the id must not depend on the directory it is computed from, nor on the file being there
    (a sweep's jobs, collect and status may run elsewhere). An absolute path and a relative one to the
    same file stay two spellings; the rows record the file's sha256 either way."""
    return os.path.normpath(policy) if policy else policy


# Images whose label a left-right mirror changes (a mirrored 2, 3 or 7 is no digit): their stages
# shift them but do not flip them, unless the stage says `flips: true`. A scratch resnet10t fine-tuned
# on 500 mnist5k images (finetune.examples=6400, seeds 0-2) scored test error 0.102-0.121 with flips
# and 0.049-0.060 with shifts alone.
MIRROR_UNSAFE_TARGETS = frozenset({"mnist5k", "sklearn_digits"})
MIRROR_UNSAFE_GENERATORS = frozenset({"digits"})


def _task_augments(name: str) -> bool:
    """Whether the pre-training task's annotations survive flips and shifts (Task.augment; the dense
    tasks' do not, and they train unaugmented whatever pretrain.augment says)."""
    if name == "classification":
        return True
    from bench.tasks import TASKS  # torch: reached only for the other tasks

    return getattr(TASKS.get(name), "augment", True) if name in TASKS else True


def stage_augments(spec: "RunSpec", stage: str) -> bool:
    """Whether `stage` ('pretrain' or 'finetune') trains on augmented images."""
    if stage == "pretrain":
        return spec.pretrain.augment and spec.synth.n > 0 and _task_augments(spec.task)
    return spec.finetune.augment and spec.protocol != "generalize"


def stage_flips(spec: "RunSpec", stage: str) -> bool:
    """Whether `stage`'s augmentation flips images left-right: its `flips` if set, else unless its
    images are digits (the generator for pre-training, the target for fine-tuning)."""
    flips = getattr(spec, stage).flips
    if flips is not None:
        return flips
    if stage == "pretrain":
        return spec.synth.generator not in MIRROR_UNSAFE_GENERATORS
    return spec.target.name not in MIRROR_UNSAFE_TARGETS


def _canonical_knobs(s: SynthSpec) -> dict[str, Any]:
    """The knob overrides that change the data, each in one spelling: a value equal to the preset of
    `s.complexity` is dropped and a number is written as an int when it is integral (4.0 -> 4), so
    `{}`, `{clutter: <preset>}` and `{clutter: 4.0}` for 4 share a run id. Integral ints are the
    form YAML gives for `4`, so the ids of runs with such overrides stay as they were. A knob the
    family rejects is kept as given: check_names refuses it before any run."""
    import synth  # (GENERATORS loads synth.core, every family and torch: reached only when knobs are set)

    cls = synth.GENERATORS.get(s.generator) if s.knobs and s.generator in synth.GENERATORS else None
    specs = {k.name: k for k in getattr(cls, "KNOBS", ())}
    presets = getattr(cls, "PRESETS", [])
    if not specs or not 0 <= s.complexity < len(presets):
        return dict(s.knobs)
    out = {}
    for name, value in s.knobs.items():
        try:
            value, preset = (specs[name].check(s.generator, v) for v in (value, presets[s.complexity][name]))
        except (KeyError, UserError):
            out[name] = value
            continue
        if value != preset:
            out[name] = int(value) if float(value).is_integer() else float(value)
    return out


class SweepSpec(_Strict):
    """A base run and a grid of dotted keys to lists of values."""

    base: RunSpec
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    def cells(self) -> list[RunSpec]:
        """Every grid cell as a run spec, deduplicated by run id (scratch cells collapse to one)."""
        seen: dict[str, RunSpec] = {}
        product = [spec for _, spec in self._product()]
        mixed = any(spec.synth.n > 0 for spec in product)  # scratch cells beside pre-trained ones
        for spec in product:
            spec = _scratch_unguided(spec) if mixed else spec
            seen.setdefault(spec.run_id, spec)
        return list(seen.values())

    def _product(self) -> list[tuple[tuple[int, ...], RunSpec]]:
        """Every combination of the grid's values (as indices into each axis) with its run spec."""
        keys = list(self.grid)
        return [(idx, apply_overrides(self.base, {k: self.grid[k][i] for k, i in zip(keys, idx)},
                                      where="grid"))
                for idx in itertools.product(*(range(len(self.grid[k])) for k in keys))]

    def check_identity_axes(self) -> None:
        """Refuse an axis whose values differ only in fields outside a cell's identity (threads,
        device, ...): every value would give the same run id, so the grid silently runs one of them.
        (Scratch cells and knob values equal to their preset collapse on purpose: not refused.)"""
        product = self._product()
        _check_budget_axes(self.grid, [spec for _, spec in product])
        for a, key in enumerate(self.grid):
            slices: dict[tuple[int, ...], list[RunSpec]] = {}
            for idx, spec in product:
                slices.setdefault(idx[:a] + idx[a + 1:], []).append(spec)
            reasons: dict[str, str] = {}
            for specs in slices.values():
                _check_distinct(key, self.grid[key], specs)
                if len({s.run_id for s in specs}) > 1:
                    break  # the axis makes distinct cells here
                dumps = [s.model_dump() for s in specs]
                paths = {p for d in dumps[1:] for p in _differing(dumps[0], d)}
                why = {p: _outside_identity(p, specs[0]) for p in paths}
                if paths and all(why.values()):
                    reasons.update(why)
            else:
                if reasons:
                    raise UserError(_collapsed_axis(key, self.grid[key], reasons))


def _check_budget_axes(grid: dict[str, list[Any]], cells: list[RunSpec]) -> None:
    """Refuse an axis over pretrain.min_epochs, or over pretrain.examples where min_epochs is set: where two
    values give one budget (small n under min_epochs, large n over examples) their cells are one run, shared
    by both values, and the rows (which record the budget, not min_epochs) cannot tell the values' curves
    apart (a review: fit then asked for --by pretrain_examples, one group per budget)."""
    fix = "run one sweep per value, each with its own --root, and fit each runs table"
    if len(grid.get("pretrain.min_epochs", [])) > 1:
        raise UserError("grid.pretrain.min_epochs: values that give a cell one budget (max(pretrain.examples, "
                        "ceil(min_epochs * synth.n)), e.g. at small n) make it one run shared by both, and the rows "
                        f"record the budget, not min_epochs, so no table could split them into curves; {fix}")
    if len(grid.get("pretrain.examples", [])) > 1 and any(c.pretrain.min_epochs is not None for c in cells):
        raise UserError("grid.pretrain.examples with pretrain.min_epochs set: where ceil(min_epochs * synth.n) is "
                        "above the values (at large n) their cells are one run shared by all of them, and no table "
                        f"could split them into curves; {fix}, or leave pretrain.min_epochs unset")


def _scratch_unguided(spec: RunSpec) -> RunSpec:
    """A grid's scratch cell without proxy guidance, which needs a pre-trained model: an axis
    asg.proxy_lambda=[0, 0.5] over synth.n=[0, ...] was refused for its scratch cells; as with
    pre-training settings, they collapse into one. (Only beside pre-trained cells: a grid of scratch
    cells alone that asks for guidance is refused, as a single run that asks for both is.)"""
    if spec.synth.n or spec.asg is None or spec.asg.proxy_lambda == 0 or spec.protocol == "generalize":
        return spec
    return spec.model_copy(update={"asg": spec.asg.model_copy(update={"proxy_lambda": 0.0})})


def _check_distinct(key: str, values: list[Any], specs: list[RunSpec]) -> None:
    """Refuse two values of one axis that read as the same config (`[0.001, '0.001']`, `[4, '4']`):
    the cell would run once where the grid lists it twice. `specs` are one slice of the axis, in the
    order of `values`."""
    dumps: list[dict[str, Any]] = []
    for value, spec in zip(values, specs):
        dump = spec.model_dump()
        if dump in dumps:
            first = values[dumps.index(dump)]
            raise UserError(f"grid.{key}: {_short(first)} and {_short(value)} are the same value once "
                            "read, so their cells would run once, not twice; give each value once")
        dumps.append(dump)


# Fields a grid could vary that never enter a cell's run id, and why.
_NOT_IDENTITY = {
    "name": "it is a label in the rows, not part of the result",
    "threads": "it changes speed, and results only through float rounding (the order of sums), which "
               "training can grow to the size of seed noise; each row records torch_threads",
    "device": "it changes speed, and results through the arithmetic: float rounding on CPUs, bfloat16 "
              "autocast on a GPU (docs/cluster.md); keep runs on different devices in separate roots",
    "pretrain.ckpt_every_s": "it sets how often a checkpoint is saved, not the result",
    "finetune.ckpt_every_s": "it sets how often a checkpoint is saved, not the result",
    "target.download": "it only allows the files to be downloaded",
}


def _outside_identity(path: str, spec: RunSpec) -> str:
    """Why the field at dotted `path` is not part of `spec`'s run id, or '' if it is."""
    if path in _NOT_IDENTITY:
        return _NOT_IDENTITY[path]
    stage = path.split(".")[0]
    if path == "pretrain.augment" and not _task_augments(spec.task):
        return f"the {spec.task} task trains without augmentation (flips and shifts would not move its annotations)"
    if path in ("pretrain.flips", "finetune.flips") and not stage_augments(spec, stage):
        return f"{stage} does not augment (augment: false{', or a task that never does' * (stage == 'pretrain')})"
    if path in ("pretrain.flips", "finetune.flips"):  # (asked only of values that gave one id: unset and
        auto = stage_flips(apply_overrides(spec, {path: None}), stage)  # the value unset means here)
        images = (f"the {spec.synth.generator} generator's" if stage == "pretrain" else f"{spec.target.name}'s")
        return f"left unset it means {str(auto).lower()} for {images} images, the same cell as {str(auto).lower()}"
    if path == "target.data_root" and spec.target.name != "folder":
        return "only a folder target's root is; the other targets' files are the same data wherever they lie"
    if (path.startswith("asg.") and path != "asg.proxy_lambda" and spec.protocol != "generalize"
            and spec.asg is not None):
        return "the transfer protocol reads only asg.proxy_lambda"
    if path == "target.test_size" and tests_whole_split(spec):
        whole = FIXED_TEST_SPLITS[spec.target.name]
        return f"a cap of {whole:,} or more, or none, is {spec.target.name}'s whole test split of {whole:,}"
    return ""


# the test split sizes of the targets whose files are fixed (a test checks them against the loaded data):
# `target.test_size` at or above one means the whole split, the same run as None (RunSpec.identity)
FIXED_TEST_SPLITS = {"fashion_mnist": 10_000, "mnist5k": 1_000, "sklearn_digits": 500}


def tests_whole_split(spec: "RunSpec") -> bool:
    """Whether the run tests on a fixed target's whole test split: no cap, or one at or above it."""
    whole = FIXED_TEST_SPLITS.get(spec.target.name)
    return whole is not None and (spec.target.test_size or whole) >= whole


def identity_leaves(spec: RunSpec) -> dict[str, Any]:
    """The run's identity as dotted field -> value (a list stays one value); a scratch run has no
    generator or pre-training fields, a generalize run no finetune.recompute_bn (it does not fine-tune).
    A field left at None is a value like any other (target.test_size None against 100 is what tells
    two runs apart: dropping it printed their labels alike)."""
    out: dict[str, Any] = {}

    def walk(d: Any, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict) and v:
                walk(v, f"{prefix}{k}.")
            elif v is not None or prefix:  # a top-level None: a section a scratch run drops
                out[f"{prefix}{k}"] = v
    walk(spec.identity(), "")
    if spec.protocol != "generalize":  # its id leaves the field out when false (the ids of runs before it)
        out["finetune.recompute_bn"] = spec.finetune.recompute_bn
    for stage in ("pretrain", "finetune"):  # what the stage did, where the id keeps a default's spelling
        if f"{stage}.augment" in out:
            out[f"{stage}.augment"] = stage_augments(spec, stage)
            if out[f"{stage}.augment"]:
                out[f"{stage}.flips"] = stage_flips(spec, stage)
    return out


def synth_label(spec: RunSpec) -> str:
    """The run's synthetic data in a few words: 'scratch', or 'shapes c=3 n=1000'."""
    s = spec.synth
    return "scratch" if s.n == 0 else f"{s.generator} c={s.complexity} n={s.n}"


def pretrain_examples(spec: RunSpec) -> int:
    """Pre-training's budget in examples (0 for scratch): `pretrain.examples`, or with
    `pretrain.min_epochs` set, max(examples, ceil(min_epochs * n)), so the budget grows with n and
    small n keep the floor. Everything that reads the budget reads it here (training, rows, run id,
    warnings, the sweep's cost order), never `pretrain.examples` itself: a value resolved into that
    field from the base's n would leak into grid cells of other n. min_epochs is taken as written
    (its shortest decimal), so 1.1 epochs of 100 images are 110 examples, not 111."""
    n = spec.synth.n
    if n == 0:
        return 0
    epochs = spec.pretrain.min_epochs
    if epochs is None:
        return spec.pretrain.examples
    return max(spec.pretrain.examples, math.ceil(Fraction(repr(epochs)) * n))


def pretrain_stage(spec: RunSpec) -> PretrainSpec:
    """`spec.pretrain` with `examples` set to the budget it trains for (pretrain_examples): what
    bench.train.train is given."""
    return spec.pretrain.model_copy(update={"examples": pretrain_examples(spec) or spec.pretrain.examples})


def pretrain_drawn(spec: RunSpec) -> int:
    """The examples pre-training draws: ceil(budget / batch_size) full batches (bench.train); 0 for scratch."""
    return -(-pretrain_examples(spec) // spec.pretrain.batch_size) * spec.pretrain.batch_size


def pretrain_distinct(spec: RunSpec) -> int:
    """The distinct synthetic images pre-training shows (0 for scratch): batches are cut from
    per-epoch permutations of the n images (bench.data.IndexStream), so min(n, examples drawn). The
    generalize protocol's synthetic training draws its batches the same way, so it counts too."""
    return min(spec.synth.n, pretrain_drawn(spec))


def budget_warning(specs: Sequence[RunSpec]) -> Optional[str]:
    """One line when some of `specs` pre-train on more images than their budget of examples can show
    (pretrain_distinct < synth.n), else None. Not an error: a fixed budget is a legitimate design, but
    its curve is flat past the budget for that reason alone, which a fit or compare would read as
    "more data removed nothing"."""
    short = [s for s in specs if pretrain_distinct(s) < s.synth.n]
    if not short:
        return None
    n_max = max(s.synth.n for s in short)
    sizes = f"synth.n={n_max}" if len({s.synth.n for s in short}) == 1 else f"synth.n up to {n_max}"
    examples = sorted({s.pretrain.examples for s in short})
    budget = (f"pretrain.examples={examples[0]}" if len(examples) == 1
              else f"pretrain.examples ({examples[0]} to {examples[-1]})")
    cells = f" in {len(short)} cell{'s' * (len(short) > 1)}" if len(specs) > 1 else ""
    drawn = sorted({pretrain_drawn(s) for s in short})
    # (min_epochs of 1 or more shows every image: a short cell's is below 1, a budget growing with n
    # but below it, so its sizes do not measure one budget and the advice is min_epochs 1)
    epochs = sorted({s.pretrain.min_epochs for s in short if s.pretrain.min_epochs is not None})
    if epochs:
        budget = "the budget of " + budget + " and " + (
            f"pretrain.min_epochs={epochs[0]}" if len(epochs) == 1
            else f"pretrain.min_epochs ({epochs[0]} to {epochs[-1]})")
        span = f"{drawn[0]}" if len(drawn) == 1 else f"{drawn[0]} to {drawn[-1]}"
        return (f"{sizes} exceeds {budget}{cells}: a run draws max(pretrain.examples, ceil(min_epochs * n)) "
                f"examples in whole batches ({span} here), so it shows that many distinct images, fewer than its "
                f"n; set pretrain.min_epochs: 1 to show every image (or raise pretrain.examples to at least {n_max})")
    if len(drawn) == 1:
        batches = " or ".join(str(b) for b in sorted({s.pretrain.batch_size for s in short}))
        whole = f" (pretrain.examples in whole batches of {batches})" if drawn != examples else ""
        shows = (f"a run shows at most {drawn[0]} distinct images{whole}, so sizes past {drawn[0]} measure the "
                 "same budget")
        read = f"read the curve only up to {drawn[0]}"
    else:
        shows = (f"a run shows at most as many distinct images as its budget draws ({drawn[0]} to {drawn[-1]} here), "
                 "so sizes past that measure the same budget")
        read = "read each curve only up to its budget"
    return (f"{sizes} exceeds {budget}{cells}: {shows}; raise pretrain.examples to at least {n_max}, or set "
            f"pretrain.min_epochs: 1, or {read}")


def identity_suffix(spec: RunSpec, fields: Sequence[str]) -> str:
    """" f=value" for each of `fields` the run's identity has (a scratch run has no pre-training
    fields), to tell apart cells that print alike (status labels, dry-run lines)."""
    leaves = identity_leaves(spec)
    return "".join(f" {f}={_as_typed(leaves[f])}" for f in fields if f in leaves)


def _as_typed(value: Any) -> str:
    """A value as an override spells it: null, true, false (labels printed Python's None and True)."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def varying_identity(specs: list[RunSpec]) -> list[str]:
    """The identity fields (dotted) with more than one value among the `specs` that have them,
    sorted: what tells these runs apart (a scratch run's missing pre-training fields are not a
    second value)."""
    seen: dict[str, list[Any]] = {}
    knobs: dict[str, int] = {}  # pre-trained cells that set each knob
    for spec in specs:
        for key, value in identity_leaves(spec).items():
            vals = seen.setdefault(key, [])
            if value not in vals:
                vals.append(value)
            if key.startswith("synth.knobs.") and spec.synth.n > 0:
                knobs[key] = knobs.get(key, 0) + 1
    # a knob at its level's preset is dropped from the identity (_canonical_knobs): a pre-trained cell
    # without it has another value of it (a grid [{n_categories: 5}, {n_categories: 10}] printed alike)
    n_pretrained = sum(spec.synth.n > 0 for spec in specs)
    return sorted(k for k, v in seen.items() if len(v) > 1 or 0 < knobs.get(k, n_pretrained) < n_pretrained)


def _differing(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the leaves where two dumped specs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in {*a, *b} for p in _differing(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if a != b else []


def _collapsed_axis(key: str, values: list[Any], reasons: dict[str, str]) -> str:
    fields = sorted(reasons)
    what = (f"{key} is not part of a cell's identity ({reasons[key]})" if fields == [key] else
            f"the values of {key} differ only in {', '.join(fields)}, which a cell's identity leaves "
            f"out ({'; '.join(dict.fromkeys(reasons[f] for f in fields))})")
    return (f"grid: {what}, so every value of it gives the same cell; set {key} once, outside the "
            f"grid (e.g. {key}={_flow(values[0])})")


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _section(cls: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The schema model at `loc` (e.g. ('synth',) -> SynthSpec), or None below a plain field."""
    for part in loc:
        if isinstance(part, int):  # an item of a list of sections (a profile's shapes[0])
            continue
        field = cls.model_fields.get(str(part))
        if field is None:
            return None
        inner = [a for a in (field.annotation, *get_args(field.annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return None
        cls = inner[0]
    return cls


def format_validation_error(err: ValidationError, prefix: str = "", cls: type[BaseModel] | None = None,
                            top_keys: tuple[str, ...] = ()) -> str:
    """One line: `pretrain.lr: expected a number, got 'fast'` (plus a count of further errors);
    `top_keys`: keys the file may also have at its top level (a sweep's `grid`)."""
    errors = err.errors()  # a misspelt key first: it explains the required one "missing" beside it
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    path = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(first["loc"]))
    dotted = str(first["loc"][-1]).partition(".")  # `synth.n: [0, 32]` beside `grid:`, not under it
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1 and cls is not None and dotted[1] \
            and _section(cls, (dotted[0],)) is not None:
        given = first.get("input")  # several values, unless the field takes a list (target.n_real: [100])
        takes_list = cls is RunSpec and bool(_is_list_field(path))
        if takes_list and not isinstance(given, list):  # `target.n_real: 100`: its one value is [100]
            given = [given]
        several = isinstance(given, list) and not takes_list
        nested = "..." if several else _flow(given)
        for part in reversed(dotted[2].split(".")):  # synth.knobs.clutter -> synth: {knobs: {clutter: 0.5}}
            nested = f"{{{part}: {nested}}}"
        grid = (f"put it under `grid:` as a list of values (`grid: {{{path}: "
                f"{_flow(given if several else [given])}}}`), or " if "grid" in top_keys else "")
        msg = f"a dotted key at the top level; {grid}nest it under its section (`{dotted[0]}: {nested}`)"
    elif first["type"] == "extra_forbidden":
        section = _section(cls, first["loc"][:-1]) if cls is not None else None
        names = list(section.model_fields) if section is not None else []
        names += list(top_keys) if len(first["loc"]) == 1 else []
        close = difflib.get_close_matches(str(first["loc"][-1]), names, n=1)
        msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "") + (
            f" (keys here: {', '.join(names)})" if names else " (check the spelling)")
    elif first["type"] == "missing":  # its input is the whole section around the missing key
        msg = "missing: this key is required here"
    else:
        said = first["msg"].removeprefix("Value error, ")  # its first letter lowered, not its values' ('FAIL', GPU)
        msg = f"{said[:1].lower() + said[1:]}, got {first.get('input')!r}"
        given = first.get("input")
        scalar = first["type"] in ("int_type", "float_type", "bool_type", "string_type", "literal_error",
                                   "int_parsing", "float_parsing", "bool_parsing")
        if isinstance(given, list) and scalar:  # `run seed=[0,1]`, `seed: [0, 1]` (not a mapping field's)
            msg += "; several values are a grid axis: list them under `grid:` and run `synthscale sweep`"
        elif first["type"] == "int_type" and isinstance(given, float) and given.is_integer():
            msg += f": a whole number is wanted, write it as {int(given)}"  # 1e3 and 1000.0 read as floats
        elif first["type"] == "list_type" and not isinstance(given, (dict, list)):  # `target.n_real=200`
            msg += _list_fix(path, given, cls is RunSpec)
    more = len(errors) - 1
    return f"{path}: {msg}" + (f" (and {more} more error{'s' * (more > 1)})" if more else "")


def _list_fix(path: str, given: Any, run_field: bool) -> str:
    """How to give a list-valued field (target.n_real) one value: as a list of it, also in a grid axis,
    whose values are then lists (a grid cell's `target.n_real: [100, 200]` said only "input should
    be a valid list, got 100")."""
    one = f"[{_as_typed(given)}]"
    if path.startswith("grid."):
        field = path.removeprefix("grid.")
        return (f"; {field} takes a list, so each grid value is one: write {field}: [{one}, ...] under `grid:` "
                "(or set the whole list once, outside the grid)")
    override = f" (as an override: {path}='{one}')" if run_field else ""
    return f"; it takes a list, even of one value: write {one}{override}"


def _validate(cls: type[_Strict], data: Any, where: str = "", top_keys: tuple[str, ...] = ()) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err, where, cls, top_keys)) from None


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """Set `d['a']['b'] = value` for key 'a.b', creating dicts on the way; a mapping value is merged
    into an existing mapping (so `asg: {lr_policy: handset}` keeps the other asg fields)."""
    *parents, last = key.split(".")
    for p in parents:
        if d.get(p) is None:  # an absent or unset optional section (e.g. `asg`) starts empty
            d[p] = {}
        nxt = d[p]
        if not isinstance(nxt, dict):
            raise UserError(f"{key}: cannot set a field inside {p!r}, which is not a mapping")
        d = nxt
    d[last] = _merged(d.get(last), value)


def _merged(old: Any, new: Any) -> Any:
    """`new`, or for two mappings `old` updated key by key (recursively) from `new`."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    return {**old, **{k: _merged(old.get(k), v) for k, v in new.items()}}


def apply_overrides(spec: RunSpec, overrides: dict[str, Any], where: str = "") -> RunSpec:
    """A new validated spec with dotted-key overrides applied; errors name the offending key."""
    data = spec.model_dump()
    for key, value in overrides.items():
        set_dotted(data, key, value)
    return _validate(RunSpec, data, where)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`['pretrain.lr=0.1', 'synth.n=500']` -> dict with YAML-typed values. A key given twice inside
    one value (`synth={n: 1, n: 2}`) is refused, as in a config file."""
    out = parse_assignments(items, "override", "synth.n=1000")
    for item in items:
        text = item.partition("=")[2]
        try:
            yaml.load(text, Loader=_UniqueKeyLoader)
        except _DuplicateKey as err:
            lines = f" (lines {err.first} and {err.second})" if err.first != err.second else ""
            raise UserError(f"override {item!r}: {err.key!r} is given twice{lines}; keep one of them") from None
    seen: dict[str, str] = {}  # one field in two spellings: `pretrain.lr=0.1 pretrain={lr: 0.2}` (the last won)
    for item, (key, value) in zip(items, out.items()):
        for path in _set_paths(key, value):
            other = next((seen[p] for p in seen if p == path or p.startswith(path + ".") or path.startswith(p + ".")),
                         None)
            if other is not None:
                raise UserError(f"overrides {other!r} and {item!r} both set {path}; give it once")
            seen[path] = item
    return out


def _set_paths(key: str, value: Any) -> list[str]:
    """The dotted fields an override sets: `pretrain={lr: 0.2}` sets pretrain.lr."""
    if isinstance(value, dict):  # ({} sets nothing: merged, it changes no field)
        return [p for k, v in value.items() for p in _set_paths(f"{key}.{k}", v)]
    return [key]


def set_data_root(overrides: dict[str, Any], data_root: str, flag: str = "--data-root") -> dict[str, Any]:
    """`overrides` with target.data_root set from `flag`, refused in one line if an override sets it too
    (`target.data_root=X --data-root Y` ran with Y without a word)."""
    for key, value in overrides.items():
        if "target.data_root" in _set_paths(key, value):
            raise UserError(f"{flag} and the override {key}=... both set target.data_root; give it once")
    return {**overrides, "target.data_root": data_root}


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's own words on what is wrong and where (`found character '\\t' that cannot start any
    token, line 2 column 1`), which its first line (`while scanning ...`) does not say."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if not problem:
        return str(err).splitlines()[0]
    where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    tab = "; indent with spaces, not tabs" if "\\t" in problem else ""
    return f"{problem}{where}{tab}"


def yaml_text(path: Path) -> str:
    """The text of a YAML file, or a UserError when it is not UTF-8 (an image, a latin-1 file)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#x} at offset {exc.start}); "
                        "give a YAML file saved as UTF-8") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file, or a UserError naming the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config {str(p)!r} not found; pass a YAML file such as bench/configs/quickstart.yaml")
    try:
        data = yaml.load(yaml_text(p), Loader=_UniqueKeyLoader)
    except _DuplicateKey as err:
        raise UserError(f"{p}: {err}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{p}: not valid YAML ({yaml_problem(err)})") from None
    if data is None:  # empty, or only comments: most likely not the file meant (`{}` is all defaults)
        raise UserError(f"{p}: the config is empty; write the run's fields in it (see "
                        "bench/configs/quickstart.yaml), or `{}` for every default")
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of config fields at the top level, got "
                        f"{type(data).__name__} {_short(data)}")
    return data


def _flow(value: Any) -> str:
    """A value as YAML on one line (`[0, 32]`, `{n: 5}`), for examples in messages."""
    return yaml.safe_dump(value, default_flow_style=True, width=1_000_000).removesuffix("\n...\n").strip()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_sweep(path: str | Path) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    data = read_yaml(path)
    grid = data.pop("grid", {})
    if grid is None:  # `grid:` with nothing under it
        grid = {}
    if not isinstance(grid, dict):
        raise UserError(f"{path}: grid: expected a mapping of dotted keys to lists of values, "
                        "e.g. `grid: {synth.n: [0, 100], seed: [0, 1]}`")
    for key, value in grid.items():  # `seed: 0` was "expected a mapping of ..." without naming seed
        if value is None:
            raise UserError(f"{path}: grid: {key} has no values; give a list, e.g. `{key}: [A, B]`, or remove it")
        if isinstance(value, dict) and value:  # `synth: {n: [0, 32]}`
            sub, values = next(iter(value.items()))
            example = _flow(values) if isinstance(values, list) else "[...]"
            raise UserError(f"{path}: grid: {key}: expected a list of values, got a mapping; grid keys are dotted "
                            f"field names, e.g. `{key}.{sub}: {example}`")
        if not isinstance(value, list):
            raise UserError(f"{path}: grid: {key}: {_short(value)} is one value, not a list; write a list, "
                            f"e.g. `{key}: {_flow([value])}`")
    for key in grid:
        if not isinstance(key, str) or not key.strip():
            raise UserError(f"{path}: grid: the key {key!r} is not a config field; keys are dotted "
                            "field names such as synth.n or seed")
    return data, grid


def _check_overlaps(grid: dict[str, list[Any]], path: str | Path) -> None:
    """`synth: [{n: 64}]` beside `synth.n: [32]`: one of the two would silently win."""
    for a in grid:
        for b in (k for k in grid if k.startswith(a + ".")):
            if any(_sets(v, b[len(a) + 1:].split(".")) for v in grid[a]):
                raise UserError(f"{path}: grid: {a!r} and {b!r} both set {b!r}, and one would silently "
                                "win; give it in one of them")


def _check_not_swept(key: str, value: Any, grid: dict[str, list[Any]]) -> None:
    """An override of the base that a grid axis sets again in every cell would be silently lost."""
    for axis, values in grid.items():
        if axis.startswith(key + ".") and _sets(value, axis[len(key) + 1:].split(".")):
            raise UserError(f"override {key}: it sets {axis}, which the grid sweeps, so the grid's values "
                            f"would replace it; give {axis}=VALUE (or a list) to replace that axis")
        if key.startswith(axis + ".") and any(_sets(v, key[len(axis) + 1:].split(".")) for v in values):
            raise UserError(f"override {key}: the grid's {axis} entries set it, so they would replace it; "
                            f"give {axis}=... to replace that axis, or change the entries in the config")


def _is_list_field(key: str) -> bool | None:
    """Whether the dotted `key` names a list-valued field (target.n_real), another field (False), or
    no field (None). A key inside a free mapping (synth.knobs.NAME) holds one value."""
    cls: type[BaseModel] = RunSpec
    parts = key.split(".")
    for i, part in enumerate(parts):
        field = cls.model_fields.get(part)
        if field is None:
            return None
        rest = parts[i + 1:]
        if not rest:
            return get_origin(field.annotation) is list
        inner = [a for a in (field.annotation, *get_args(field.annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return False if get_origin(field.annotation) is dict and len(rest) == 1 else None
        cls = inner[0]
    return None


def _sets(value: Any, parts: list[str]) -> bool:
    """Whether the mapping `value` sets the field at the dotted path `parts`."""
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def _check_axes(grid: dict[str, list[Any]]) -> None:
    """An axis without values would make a sweep of no cells that reports success."""
    for key, values in grid.items():
        if not values:
            raise UserError(f"grid.{key}: the list is empty, so the sweep would have no cells; give it "
                            "at least one value, or remove it from the grid")
        for i, value in enumerate(values):  # `[4, 4.0]` too: one cell, run once, not two
            if value in values[:i]:
                seeds = " (seeds are an axis of their own)" if key != "seed" else ""  # for repeats
                raise UserError(f"grid.{key}: {_short(value)} is listed twice, so its cells would run "
                                f"once, not twice; give each value once{seeds}")


def written_out(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sweep config at `path` (with `overrides`) with every run field written out, defaults included,
    and its grid: what `synthscale config` prints and a demo's config.yaml holds; load_sweep reads it
    back as the same cells."""
    sweep = load_sweep(path, overrides)
    return {**sweep.base.model_dump(), "grid": sweep.grid}


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """A sweep file: run fields at the top level plus an optional `grid`. An override of a grid key
    replaces that axis (a list gives its values, a scalar one value); a list for another
    single-valued field (`model.name=[resnet10t, resnet18]`) adds an axis; the others apply to the
    base, unless an axis would set them again in every cell (refused: the override would be lost)."""
    for key in overrides or {}:
        if key == "grid" or key.startswith("grid."):  # it read as an unknown run field "grid"
            field = key.partition(".")[2] or "synth.n"
            values = "[0, 32]" if field == "synth.n" else "[A, B]"
            raise UserError(f"override {key!r}: name the field itself, a list of values makes or replaces "
                            f"its grid axis (e.g. {field}='{values}')")
    data, grid = _read_sweep(path)
    base_overrides: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key in grid:
            list_field = all(isinstance(v, list) for v in grid[key])  # e.g. target.n_real: a list is one value
            grid[key] = value if isinstance(value, list) and not list_field else [value]
        elif isinstance(value, list) and _is_list_field(key) is False:
            grid[key] = value
        else:
            _check_not_swept(key, value, grid)
            base_overrides[key] = value
    _check_overlaps(grid, path)
    _check_axes(grid)
    base = apply_overrides(_validate(RunSpec, data, top_keys=("grid",)), base_overrides)
    sweep = SweepSpec(base=base, grid=grid)
    sweep.check_identity_axes()  # also validates every cell, so a bad grid value fails before anything runs
    return sweep


def load_run(path: str | Path, overrides: dict[str, Any] | None = None) -> RunSpec:
    """One run from a run or sweep file, with dotted-key overrides. The run ignores the grid, but a
    sweep file is checked whole, as `sweep` checks it: a typo in its grid is said now, not at the
    first sweep."""
    data, grid = _read_sweep(path)
    if grid:
        load_sweep(path)
    return apply_overrides(_validate(RunSpec, data, top_keys=("grid",)), overrides or {})


def dump_yaml(spec: BaseModel) -> str:
    """The resolved config as YAML (what is written beside each run)."""
    return yaml.safe_dump(spec.model_dump(), sort_keys=False)
