"""One run: pre-train on n synthetic images (shared per pre-training cell), fine-tune on each real
subset size, test on the real test split, write one row per size. Idempotent and atomic.

Layout under ROOT:
    runs/<run_id>/config.yaml, row.json (the list of rows: written last, atomically), log.txt,
                  ft-s<n>.ckpt (fine-tune checkpoints), rows/s<n>.json (per-size results so far)
    pretrain/<pretrain_id>/config.yaml, final.pt (backbone weights), ckpt.pt (resumable state)
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import pickle
import platform
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from filelock import FileLock

import synth
from bench import targets
from bench.config import (RunSpec, budget_warning, dump_yaml, pretrain_distinct, pretrain_examples, pretrain_stage,
                          stage_augments, stage_flips)
from bench.data import SynthSource, close_loader, make_loader, real_images
from bench.models import build_model, check_device_name, check_input, count_params, pick_device, transfer_weights
from bench.records import (COLUMNS, STOPPED_UNSAVED, Interrupted, Row, is_row, read_json, read_rows,  # noqa: F401
                           write_json_atomic, writable_root)  # some lived here: importers keep working
from bench.tasks import TASKS
from bench.train import Diverged, TrainResult, evaluate, recompute_bn_stats, save_atomic, train
from synth.errors import UserError

log = logging.getLogger("synthscale.run")
@contextmanager
def _run_logging(path: Path) -> Iterator[None]:
    """The suite's log lines go to the run's own log.txt too, and so does the traceback of an error
    that ends the run (there only: the console has its own report), where `sweep status` reads it;
    a planned stop that saved its step (Interrupted) is one line ending with its message, which
    status reads the step from; and a line when a signal stops it before it can save a step
    (KeyboardInterrupt, SystemExit: it left nothing there, and status called the cell failed)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger("synthscale")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    except Interrupted as exc:  # a planned stop with its checkpoint: its line, not a traceback
        handler.handle(log.makeRecord(log.name, logging.WARNING, __file__, 0, f"the run ended without a row: {exc}",
                                      None, None))
        raise
    except Exception:
        handler.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "the run ended without a row",
                                      None, sys.exc_info()))
        raise
    except (KeyboardInterrupt, SystemExit) as exc:  # a signal that saved no step: it left nothing in
        handler.handle(log.makeRecord(log.name, logging.WARNING, __file__, 0,  # the log (status: failed)
                                      f"{STOPPED_UNSAVED} ({type(exc).__name__})", None, None))
        raise
    finally:
        root.removeHandler(handler)
        handler.close()


def check_names(spec: RunSpec, targets_checked: Optional[set] = None) -> None:
    """Fail before any work (UserError) on an unknown name, generator settings the generator itself
    rejects (level, channels, knobs, pool seed), a target whose files are not where the config
    says, or real sizes below 1 or above the target's training images. (target.test_size is a cap: a
    target with fewer test images is tested on all of them, as the row's n_test says.)
    `targets_checked`: the (name, data_root, download) of targets already checked by this caller, which
    are not read again (a sweep's plan checked Fashion-MNIST's 55 MB per cell: 20 of 22 s of 890 cells)."""
    import timm

    check_device_name(spec.device)
    if spec.synth.channels not in (1, 3):  # the generators refuse others; a scratch run reached the loader
        raise UserError(f"synth.channels: {spec.synth.channels}; images are gray (1) or RGB (3)")
    if spec.synth.n > 0:
        s = spec.synth
        try:  # an empty dataset runs the generator's own checks (level, channels, knobs, seed)
            synth.make_dataset(s.generator, 0, seed=s.seed, resolution=s.resolution,
                               complexity=s.complexity, channels=s.channels, **s.knobs)
        except UserError as err:
            raise UserError(f"synth: {err}") from None
        check_task_fields(spec)
    targets.TARGETS.get(spec.target.name)
    if spec.protocol is not None or spec.asg is not None:
        from bench.asg_run import check_asg  # ASG protocol and options (docs/asg.md)

        check_asg(spec)
    # after the protocol's own checks: its target pairing rule is the first thing to fix
    target = (spec.target.name, spec.target.data_root, spec.target.download)
    if targets_checked is None or target not in targets_checked:
        targets.check_target(*target)
        if targets_checked is not None:
            targets_checked.add(target)
    if spec.protocol == "generalize":  # model.name names a pretrained reference model, not timm
        from bench.asg_reference import check_reference_name

        check_reference_name(spec.model.name)
        return
    if min(spec.target.n_real) < 1:  # (the generalize protocol's n_real is [0])
        raise UserError(f"target.n_real: real fine-tuning sizes must be at least 1, got {spec.target.n_real}")
    t = spec.target
    n_max = targets.train_size(t.name, t.data_root, t.download)
    if max(t.n_real) > n_max:  # fine-tuning failed on it, after pre-training had run
        fit = ",".join(str(s) for s in [s for s in t.n_real if s <= n_max] or [n_max])
        raise UserError(f"target.n_real: {max(t.n_real)} is more than the {n_max} training images of target "
                        f"{t.name!r}; use sizes of at most {n_max} (e.g. target.n_real=[{fit}]), "
                        "or a target with more images")
    if not timm.is_model(spec.model.name):
        build_model(spec.model, 2, 1)  # raises the UserError with suggestions
    check_input(spec.model, spec.synth.channels, spec.synth.resolution)  # e.g. small_input on LeViT
    if spec.asg is not None and spec.asg.proxy_lambda > 0:  # the frozen head of the proxy term (bench.asg)
        head = build_model(spec.model, 2, spec.synth.channels, spec.synth.resolution).get_classifier()
        if not isinstance(head, torch.nn.Module):  # distilled models (LeViT, DeiT-distilled): two heads
            raise UserError(f"asg.proxy_lambda: model.name={spec.model.name} has {len(head)} classifier heads (a "
                            "distilled model); proxy guidance needs one: choose another model or set "
                            "asg.proxy_lambda=0")


@functools.lru_cache(maxsize=64)
def _fields_of(generator: str, complexity: int, resolution: int, channels: int, knobs: str) -> frozenset[str]:
    """The Sample fields a generator fills, from one rendered image (milliseconds; once per config)."""
    ds = synth.make_dataset(generator, 1, resolution=resolution, complexity=complexity, channels=channels,
                            **json.loads(knobs))
    sample = ds.render_batch(torch.zeros(1, dtype=torch.int64))
    return frozenset(f.name for f in dataclasses.fields(sample) if getattr(sample, f.name) is not None)


def check_task_fields(spec: RunSpec) -> None:
    """Fail before any work when the task needs an annotation (mask, normals, ...) that the run's
    generator does not render, naming the generators that do (the loss failed mid-run before)."""
    task, s = TASKS.get(spec.task), spec.synth
    have = _fields_of(s.generator, s.complexity, s.resolution, s.channels, json.dumps(s.knobs, sort_keys=True))
    missing = [f for f in task.fields if f not in have]
    if missing:
        able = [g for g in synth.GENERATORS if set(task.fields) <= _fields_of(g, 0, 16, 1, "{}")]
        raise UserError(f"task {spec.task!r} needs Sample.{missing[0]}, which generator {s.generator!r} does "
                        f"not provide; generators that do: {', '.join(able) or 'none'} "
                        "(set synth.generator to one, or task=classification)")


def run(spec: RunSpec, root: Path | str, stop: Optional[threading.Event] = None) -> list[Row]:
    """Pre-train, fine-tune on each real size, evaluate; one row per size. Skips a finished run."""
    check_names(spec)
    run_dir = Path(root) / "runs" / spec.run_id
    done = read_rows(run_dir)
    if done is not None:
        return done
    pick_device(spec.device)  # here, where it runs: a device this machine lacks leaves no run folder
    fresh = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    # One process per run at a time: a second sweep over the same root waits, then finds it done.
    with FileLock(str(run_dir / ".lock")):
        done = read_rows(run_dir)
        if done is not None:
            return done
        (run_dir / "config.yaml").write_text(dump_yaml(spec))
        try:
            with _run_logging(run_dir / "log.txt"), _threads(spec.threads):
                warn_if_short_budget(spec)
                rows = _execute(spec, Path(root), run_dir, stop)
        except UserError as exc:
            if fresh and not isinstance(exc, Diverged):  # it trained: a failed cell, with its log
                _drop_unstarted(run_dir)
            raise
        write_json_atomic(rows, run_dir / "row.json")
    return rows


_BOOKKEEPING = {"config.yaml", "log.txt", ".lock", "rows"}


def _drop_unstarted(run_dir: Path) -> None:
    """Clear the folder of a run this call created when a mistake in its input (UserError: ImageNet
    weights not available offline, a changed policy file) ended it before it saved anything of its
    own: left behind, it was a failed cell in `sweep status` until removed by hand. Its config.yaml
    and log go (status lists a cell by them); the folder and its .lock stay, for another process that
    may be waiting on that lock. A run with a saved row or checkpoint keeps everything."""
    entries = list(run_dir.iterdir())
    if any(p.name not in _BOOKKEEPING or (p.is_dir() and any(p.iterdir())) for p in entries):
        return
    for name in ("config.yaml", "log.txt"):
        (run_dir / name).unlink(missing_ok=True)


@contextmanager
def _threads(n: Optional[int]) -> Iterator[None]:
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _execute(spec: RunSpec, root: Path, run_dir: Path, stop: Optional[threading.Event]) -> list[Row]:
    if spec.protocol == "generalize":
        from bench.asg_run import execute_generalize

        return execute_generalize(spec, root, stop)
    t0, cpu0 = time.time(), time.process_time()
    device = pick_device(spec.device)
    data = targets.load_target(spec.target.name, spec.target.data_root, spec.target.download)
    pre = pretrain(spec, root, device, stop)
    test_x, test_y = real_test_split(spec, data)
    rows = []
    (run_dir / "rows").mkdir(exist_ok=True)
    pre = _count_pretraining_once(pre, run_dir, time.time() - t0, time.process_time() - cpu0)
    for s in spec.target.n_real:
        part = run_dir / "rows" / f"s{s}.json"
        row = read_json(part) if part.is_file() else None
        if is_row(row):
            _ft_ckpt(run_dir, s).unlink(missing_ok=True)  # left by a process stopped after writing the row
            rows.append(row)
            continue
        if part.is_file():
            log.warning(f"{part}: unreadable or incomplete; fine-tuning s={s} again")
        row, res = finetune(spec, s, pre, data, test_x, test_y, device, run_dir, stop)
        warn_if_chance(row["test_acc"], test_y, f"run {spec.run_id} s={s}")
        # A resumed stage adds the training time its earlier processes spent up to the checkpoint
        # (work after that checkpoint was lost and is not counted); pre-training's only in the
        # row whose process trained it.
        pre_wall, pre_cpu = earlier_time(pre)
        wall, cpu = res.earlier_wall_s + pre_wall, res.earlier_cpu_s + pre_cpu
        if pre is not None and pre.get("trained_now"):  # counted once, in this first row
            pre = {**pre, "trained_now": False}
        row["wall_s"] = round(time.time() - t0 + wall, 2)
        row["cpu_s"] = round(time.process_time() - cpu0 + cpu, 2)  # all threads; load-independent cost
        t0, cpu0 = time.time(), time.process_time()  # the next row counts its own work only (COLUMNS)
        write_json_atomic(row, part)
        _ft_ckpt(run_dir, s).unlink(missing_ok=True)  # only now: a stop before the row resumes from it
        rows.append(row)
    return rows


def _ft_ckpt(run_dir: Path, s: int) -> Path:
    """The resumable checkpoint of the fine-tune on `s` real images."""
    return run_dir / f"ft-s{s}.ckpt"


def warn_if_short_budget(spec: RunSpec) -> bool:
    """Log a warning (log.txt and the console) when pre-training's budget of examples shows fewer
    distinct images than synth.n (bench.config.budget_warning); the run goes on. True if warned."""
    text = budget_warning([spec])
    if text is None:
        return False
    log.warning(f"run {spec.run_id}: {text}")
    return True


def chance_acc(test_y: torch.Tensor) -> float:
    """The accuracy of always answering the test split's most frequent class."""
    return float(torch.bincount(test_y.long()).max()) / len(test_y)


CHANCE_FIX = "raise finetune.examples or pretrain.examples, or check the learning rates"


def warn_if_chance(acc: float, test_y: torch.Tensor, where: str, fix: str = CHANCE_FIX) -> bool:
    """Log a warning (log.txt and the console) when a run's test accuracy is no more than two binomial
    standard errors above chance_acc (below chance too): its net learned nothing usable (a budget shrunk
    too far, a learning rate of 0), and a curve fitted through such rows measures nothing. The row is
    kept. `fix`: what to change (the generalize protocol has no fine-tuning to raise). True if warned."""
    chance = chance_acc(test_y)
    if acc > chance + 2 * (chance * (1 - chance) / len(test_y)) ** 0.5:
        return False
    log.warning(f"{where}: test_acc {acc:.3f} is at chance (always answering the most frequent test class scores "
                f"{chance:.3f}): the net learned nothing usable here; {fix} (the row is kept)")
    return True


def real_test_split(spec: RunSpec, data: targets.RealData) -> tuple[torch.Tensor, torch.Tensor]:
    """The target's test images (at the run's resolution and channels) and labels: all of them, or a
    stratified subset of `target.test_size` drawn with a fixed seed, the same for every run (each
    class keeps its share of the split: the subset's error estimates the split's)."""
    idx = torch.arange(len(data.test_y))
    if spec.target.test_size and spec.target.test_size < len(idx):
        # the same for every run: seed 0
        idx = targets.stratified_subset(data.test_y, spec.target.test_size, seed=0, proportional=True)
    x = real_images(data.test_x[idx], spec.synth.resolution, spec.synth.channels)
    return x, data.test_y[idx]


def pretrain(spec: RunSpec, root: Path, device: torch.device,
             stop: Optional[threading.Event] = None) -> Optional[dict[str, Any]]:
    """The pre-trained backbone state for this run's cell (None for scratch), trained at most once."""
    if spec.synth.n == 0:
        return None
    return shared_cell(spec, root, lambda ckpt: _pretrain_cell(spec, device, ckpt, stop))


PRETRAIN_TIME = "pretrain_time.json"  # in a run's folder: the pre-training its process did, until a row holds it


def _count_pretraining_once(pre: Optional[dict[str, Any]], run_dir: Path, wall: float,
                            cpu: float) -> Optional[dict[str, Any]]:
    """The time of pre-training belongs in the run's first row, counted once. A process that trained
    the cell records it (its own seconds so far, `wall`/`cpu`, plus the cell's earlier processes') in
    the run's folder: if it stops while fine-tuning, before any row, the process that writes the first
    row adds it from there (before, that row left it out: a resumed run's wall_s was smaller than its
    own pretrain_wall_s + finetune_wall_s). A run that already has a row counted it there."""
    if pre is None:
        return None
    stamp = run_dir / PRETRAIN_TIME
    if pre.get("trained_now"):
        earlier_wall, earlier_cpu = earlier_time(pre)
        write_json_atomic({"wall_s": round(wall + earlier_wall, 2), "cpu_s": round(cpu + earlier_cpu, 2)}, stamp)
        return pre
    if not stamp.is_file() or any(is_row(read_json(p)) for p in (run_dir / "rows").glob("s*.json")):
        return pre
    done = read_json(stamp)
    try:
        wall_s, cpu_s = (float(done[k]) for k in ("wall_s", "cpu_s"))
    except (TypeError, KeyError, ValueError):  # a damaged record: no time rather than a failed run
        log.warning(f"{stamp}: unreadable; this run's first row leaves out its earlier pre-training time")
        return pre
    # as if this process had trained it: the first row adds these seconds (earlier_time) to its own
    return {**pre, "trained_now": True, "earlier_wall_s": wall_s, "earlier_cpu_s": cpu_s}


def earlier_time(cell: Optional[dict[str, Any]]) -> tuple[float, float]:
    """(wall, CPU) seconds the earlier processes of a shared cell's training spent up to the
    checkpoint this process resumed from; (0, 0) unless this process trained the cell."""
    if cell is None or not cell.get("trained_now"):
        return 0.0, 0.0
    return cell.get("earlier_wall_s", 0.0), cell.get("earlier_cpu_s", 0.0)


def shared_cell(spec: RunSpec, root: Path, train_cell: Callable[[Path], dict[str, Any]],
                keys: tuple[str, ...] = ("backbone", "n_classes")) -> dict[str, Any]:
    """The result of `train_cell(ckpt_path)` for this spec's pre-training cell, computed at most once.

    Runs that share a cell (same pretrain_id) wait on its lock and then load `final.pt`; the result
    is written atomically and the resumable checkpoint removed only after it. A `final.pt` that
    cannot be read, or lacks one of the result's `keys`, is trained again.
    """
    cell = root / "pretrain" / spec.pretrain_id
    cell.mkdir(parents=True, exist_ok=True)
    final = cell / "final.pt"
    with FileLock(str(cell / ".lock")):
        if final.is_file():
            try:
                got = torch.load(final, map_location="cpu", weights_only=True)  # no code from a shared root
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:  # e.g. truncated
                log.warning(f"{final}: unreadable ({type(err).__name__}); training the cell again")
            else:  # another file saved under the name failed every cell sharing it with a KeyError
                if isinstance(got, dict) and set(keys) <= got.keys():
                    return got
                log.warning(f"{final}: not a pre-trained cell's result (no {' or '.join(keys)} in it); training "
                            "the cell again")
        (cell / "config.yaml").write_text(dump_yaml(spec))
        result = train_cell(cell / "ckpt.pt")
        save_atomic(result, final)
        (cell / "ckpt.pt").unlink(missing_ok=True)
    return {**result, "trained_now": True}  # by this process (its time is in this run's first row)


def _pretrain_cell(spec: RunSpec, device: torch.device, ckpt: Path,
                   stop: Optional[threading.Event]) -> dict[str, Any]:
    s = spec.synth
    task = TASKS.get(spec.task)
    ds = synth.make_dataset(s.generator, s.n, seed=s.seed, resolution=s.resolution,
                            complexity=s.complexity, channels=s.channels, **s.knobs)
    torch.manual_seed(spec.seed)
    net = task.build(build_model(spec.model, ds.n_classes, s.channels, s.resolution), ds.n_classes)
    source = SynthSource(ds, fields=tuple(dict.fromkeys(("image",) + task.fields)))
    get_batch = make_loader(source, s.n, spec.pretrain.batch_size, spec.seed, stage_augments(spec, "pretrain"),
                            device, flips=stage_flips(spec, "pretrain"))
    try:
        res = train(net, get_batch, task.loss, pretrain_stage(spec), device=device, ckpt_path=ckpt, stop=stop,
                    desc=f"pretrain n={s.n}")
    finally:
        close_loader(get_batch)
    backbone = task.backbone(net).to("cpu", memory_format=torch.contiguous_format)
    return {"backbone": backbone.state_dict(), "n_classes": ds.n_classes, "knobs": ds.generator.knobs(),
            "loss": res.final_loss, "wall_s": res.wall_s, "steps": res.steps,
            "resumed_from": res.resumed_from, "earlier_wall_s": res.earlier_wall_s,
            "earlier_cpu_s": res.earlier_cpu_s}


def finetune(spec: RunSpec, s: int, pre: Optional[dict[str, Any]], data: targets.RealData,
             test_x: torch.Tensor, test_y: torch.Tensor, device: torch.device, run_dir: Path,
             stop: Optional[threading.Event] = None) -> tuple[Row, TrainResult]:
    """Fine-tune on a stratified subset of `s` real training images; evaluate; return the row and
    the training result (its earlier_wall_s/cpu_s: a resumed stage's time before this process)."""
    idx = targets.stratified_subset(data.train_y, s, seed=spec.seed)
    train_set = synth.Sample(image=real_images(data.train_x[idx], spec.synth.resolution, spec.synth.channels),
                             label=data.train_y[idx])
    torch.manual_seed(spec.seed + 1)
    net = build_model(spec.model, data.n_classes, spec.synth.channels, spec.synth.resolution)
    if pre is not None:
        pre_net = build_model(spec.model, pre["n_classes"], spec.synth.channels, spec.synth.resolution)
        pre_net.load_state_dict(pre["backbone"])
        transfer_weights(pre_net, net)
    get_batch = make_loader(train_set, s, spec.finetune.batch_size, spec.seed + 1, stage_augments(spec, "finetune"),
                            device, flips=stage_flips(spec, "finetune"))
    loss_fn = TASKS.get("classification").loss
    if pre is not None and spec.asg is not None and spec.asg.proxy_lambda > 0:
        from bench.asg import transfer_proxy_loss  # proxy guidance towards the pre-trained model

        loss_fn = transfer_proxy_loss(pre_net.to(device), spec.asg.proxy_lambda)
    res = train(net, get_batch, loss_fn, spec.finetune, device=device,
                ckpt_path=_ft_ckpt(run_dir, s), stop=stop, desc=f"finetune s={s}")
    if spec.finetune.recompute_bn:  # the running averages trail the weights after a short fine-tune
        recompute_bn_stats(net, get_batch, s, spec.finetune.batch_size)
    acc = evaluate(net, test_x, test_y, device=device)
    # (its checkpoint is removed by the caller once the row is written: a kill in between kept neither)
    return _row(spec, s, acc, len(test_y), pre, res, count_params(net)), res


def design_row(spec: RunSpec, s: int) -> Row:
    """The columns of a run's row at real size `s` that say what was run (known before it runs)."""
    scratch = spec.synth.n == 0
    return {
        "run_id": spec.run_id, "pretrain_id": None if scratch else spec.pretrain_id, "name": spec.name,
        "generator": "none" if scratch else spec.synth.generator,
        "complexity": None if scratch else spec.synth.complexity,
        "n_synth": spec.synth.n, "resolution": spec.synth.resolution, "channels": spec.synth.channels,
        "task": "none" if scratch else spec.task, "model": spec.model.name,
        "target": spec.target.name, "n_real": s, "seed": spec.seed,
        "pretrain_examples": pretrain_examples(spec),  # the budget trained for (pretrain.min_epochs); 0 for scratch
        # the distinct synthetic images pre-training shows: below n_synth when the budget is (budget_warning)
        "pretrain_distinct": pretrain_distinct(spec),
        # generalize has no fine-tuning stage (its rows' n_real is 0 too)
        "finetune_examples": 0 if spec.protocol == "generalize" else spec.finetune.examples, **_asg_columns(spec),
    }


def _row(spec: RunSpec, s: int, acc: float, n_test: int, pre: Optional[dict[str, Any]], res,
         n_params: int) -> Row:
    scratch = spec.synth.n == 0
    return {  # (row.json is written with sorted keys: the order here is not the files')
        **design_row(spec, s), "n_params": n_params,
        "test_err": round(1.0 - acc, 6), "test_acc": round(acc, 6), "n_test": n_test,
        "pretrain_loss": None if scratch else round(pre["loss"], 5),
        "finetune_loss": round(res.final_loss, 5),
        "pretrain_wall_s": 0.0 if scratch else round(pre["wall_s"], 2),
        "finetune_wall_s": round(res.wall_s, 2), "resumed_from_step": res.resumed_from,
        # the pre-training cell's own resume (None for scratch and for cells saved before this column)
        "pretrain_resumed_from_step": pre.get("resumed_from") if pre else None,
        "knobs": json.dumps(pre["knobs"], sort_keys=True) if pre else "",
        "status": "ok", "host": platform.node(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),  # reduction order: the last bits, not the run id
    }


def _asg_columns(spec: RunSpec) -> Row:
    from bench.asg_run import asg_columns  # protocol, proxy_lambda, lr_policy, policy

    return asg_columns(spec)
