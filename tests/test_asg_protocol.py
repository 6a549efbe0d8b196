"""Tiny end-to-end runs of the generalize protocol, proxy guidance in transfer fine-tuning, and a
two-episode meta-training of the learned policy (real models and data, seconds each)."""
import json
from pathlib import Path

import pytest
import torch

import synth.digits  # noqa: F401  (registers `digits`)
from bench.asg import load_policy
from bench.asg_meta import meta_train
from bench.commands import resolve_config
from bench.config import apply_overrides, load_run
from bench.run import check_names, run
from synth.errors import UserError

TINY = {"synth.n": 32, "pretrain.examples": 64, "pretrain.batch_size": 16, "threads": 1}


def _gen(**over):
    return load_run(resolve_config("generalize"), {**TINY, **over})


def test_generalize_run_trains_once_per_cell_and_records_asg(tmp_path):
    spec = _gen(**{"asg.proxy_lambda": 0.1, "asg.lr_policy": "handset"})
    rows = run(spec, tmp_path)
    assert len(rows) == 1
    r = rows[0]
    assert r["protocol"] == "generalize" and r["condition"] == "proxy0.1+handset"
    assert r["proxy_lambda"] == 0.1 and r["lr_policy"] == "handset" and r["n_real"] == 0
    assert r["n_test"] == 1000 and 0.0 <= r["test_acc"] <= 1.0 and r["test_err"] == pytest.approx(1 - r["test_acc"])
    assert json.loads(r["mean_multipliers"]) == [0.1, 0.4, 0.7, 1.0]
    cell = tmp_path / "pretrain" / spec.pretrain_id / "final.pt"
    stamp = cell.stat().st_mtime_ns
    other = run(apply_overrides(spec, {"target.name": "sklearn_digits"}), tmp_path)[0]
    assert other["target"] == "sklearn_digits" and other["n_test"] == 500
    assert cell.stat().st_mtime_ns == stamp  # the second target reused the trained cell
    assert other["pretrain_loss"] == r["pretrain_loss"]
    assert len(list((tmp_path / "pretrain").iterdir())) == 1
    # the columns of a transfer row (bench.run): the threads, and where the (synthetic) training resumed
    assert r["torch_threads"] == 1 and r["pretrain_resumed_from_step"] == 0 and r["resumed_from_step"] is None


def test_a_generalize_cell_is_a_function_of_its_seed_not_of_the_process(tmp_path):
    # the new classifier head was built before anything set a seed: torch's default generator, random
    # per process, chose its initial weights, and the same cell gave test_acc 0.156 in one process,
    # 0.068 in another
    spec = _gen()
    torch.manual_seed(12345)  # what another process's start would have left
    first = run(spec, tmp_path / "a")[0]
    torch.manual_seed(678)
    again = run(spec, tmp_path / "b")[0]
    keys = ("test_acc", "pretrain_loss", "synth_val_acc", "proxy_agree")
    assert [first[k] for k in keys] == [again[k] for k in keys]


@pytest.mark.parametrize("over,msg", [
    ({"target.n_real": [100]}, "n_real"),
    ({"synth.channels": 1}, "channels"),
    ({"asg.lr_policy": "learned", "asg.policy": None}, "policy"),
    ({"asg.lr_policy": "learned", "asg.policy": "no/such/policy.pt"}, "not found"),
    # settings the protocol does not read: each made a cell of its own, trained again, tabulated apart
    ({"pretrain.augment": True}, "pretrain.augment: the generalize protocol trains without flips"),
    ({"model.drop_rate": 0.5}, "model.drop_rate: not used by the generalize protocol"),
    ({"model.small_input": False}, "model.small_input: not used by the generalize protocol"),
    ({"finetune.lr": 0.5}, "finetune: the generalize protocol does not fine-tune"),
    # the reference model's name: not checked before the cells ran (a ValueError traceback in each)
    ({"model.name": "torchvision/nope"}, "'torchvision/nope' is neither an offline reference"),
    ({"model.name": "foo_bar"}, "nor a torchvision or timm model"),
    ({"model.name": "x/resnet18"}, "named NAME, torchvision/NAME or timm/NAME"),
])
def test_generalize_misconfigurations_fail_before_work(over, msg):
    with pytest.raises(UserError, match=msg):
        check_names(_gen(**over))


def test_a_policy_file_names_a_generalize_cell_only_when_the_learned_policy_reads_it():
    # a global asg.policy made a handset cell with it and one without two cells, identical in every column
    handset = _gen(**{"asg.lr_policy": "handset"})
    with_file = apply_overrides(handset, {"asg.policy": "results/asg/policy.pt"})
    assert with_file.run_id == handset.run_id and with_file.pretrain_id == handset.pretrain_id
    learned = apply_overrides(with_file, {"asg.lr_policy": "learned"})
    other = apply_overrides(learned, {"asg.policy": "elsewhere/policy.pt"})
    assert learned.run_id != other.run_id


def test_the_controllers_interval_and_groups_name_a_generalize_cell_only_where_training_reads_them():
    # a sweep over asg.interval for the learned condition retrained every plain and handset cell and
    # tabulated the copies as extra seeds (same pre-training loss and test error to the last digit)
    plain, handset, learned = (_gen(**{"asg.lr_policy": p, **({"asg.policy": "p.pt"} if p == "learned" else {})})
                               for p in ("none", "handset", "learned"))
    for over in ({"asg.interval": 5}, {"asg.n_groups": 3}, {"asg.interval": 7, "asg.n_groups": 2}):
        assert apply_overrides(plain, over).run_id == plain.run_id, over  # every group at the base rate
    assert apply_overrides(handset, {"asg.interval": 5}).run_id == handset.run_id  # its multipliers never change
    assert apply_overrides(handset, {"asg.n_groups": 3}).run_id != handset.run_id  # 0.1, 0.55, 1.0: other rates
    for over in ({"asg.interval": 5}, {"asg.n_groups": 3}):
        assert apply_overrides(learned, over).run_id != learned.run_id, over
    assert apply_overrides(plain, {"asg.proxy_lambda": 0.1}).run_id != plain.run_id


def test_proxy_guidance_on_a_model_with_two_heads_is_refused_before_work():
    # a distilled model's get_classifier() is a pair: TypeError 'tuple' object is not callable after pre-training
    spec = load_run(resolve_config("quickstart"), {"model.name": "levit_128s", "model.small_input": False,
                                                   "asg.proxy_lambda": 0.5})
    with pytest.raises(UserError, match="asg.proxy_lambda: model.name=levit_128s has 2 classifier heads"):
        check_names(spec)
    check_names(apply_overrides(spec, {"asg.proxy_lambda": 0.0}))  # the model itself is fine


def test_layerwise_rates_are_refused_in_the_transfer_protocol():
    spec = apply_overrides(_gen(), {"protocol": None, "model.name": "resnet10t", "asg.lr_policy": "handset"})
    with pytest.raises(UserError, match="generalize"):
        check_names(spec)


def test_transfer_protocol_with_proxy_guidance_in_finetuning(tmp_path):
    base = load_run(resolve_config("quickstart"), {
        "synth.generator": "digits", "synth.complexity": 1, "synth.n": 32, "pretrain.examples": 64,
        "pretrain.batch_size": 16, "finetune.examples": 64, "finetune.batch_size": 16,
        "target.name": "sklearn_digits", "target.n_real": [20], "threads": 1})
    plain = run(base, tmp_path)[0]
    proxy_spec = apply_overrides(base, {"asg.proxy_lambda": 0.5})
    proxy = run(proxy_spec, tmp_path)[0]
    assert proxy_spec.pretrain_id == base.pretrain_id  # the same pre-trained cell is reused
    assert plain["protocol"] == proxy["protocol"] == "transfer"
    assert plain["proxy_lambda"] == 0.0 and proxy["proxy_lambda"] == 0.5
    assert proxy["finetune_loss"] != plain["finetune_loss"]  # the KL term is in the optimised loss


def test_meta_training_saves_a_policy_that_runs(tmp_path):
    spec = _gen(**{"asg.lr_policy": "learned", "asg.interval": 2})
    history = meta_train(spec, tmp_path / "policy.pt", episodes=2)
    assert len(history) == 2 and all(0.0 <= h["reward"] <= 2.0 for h in history)
    ctrl = load_policy(tmp_path / "policy.pt")
    assert ctrl.n_groups == spec.asg.n_groups
    learned = apply_overrides(spec, {"asg.policy": str(tmp_path / "policy.pt")})
    row = run(learned, tmp_path / "runs")[0]
    assert row["condition"] == "learned" and row["policy"].startswith("policy.pt:")
    assert len(json.loads(row["mean_multipliers"])) == spec.asg.n_groups
    assert torch.load(tmp_path / "policy.pt", weights_only=True)["meta"]["episodes"] == 2


def test_a_resumed_generalize_cell_counts_its_earlier_training_time(tmp_path):
    """A generalize run stopped mid-training and rerun: its row's wall_s and cpu_s include the time
    the first process spent up to the checkpoint, as a transfer row's do (they counted only the
    last process: a cell resumed near its end looked almost free)."""
    import logging
    import threading

    from bench.train import Interrupted

    spec = _gen(**{"pretrain.examples": 640})  # 40 steps, logged every 8th
    stop = threading.Event()

    class StopAtStep8(logging.Handler):
        def emit(self, record):
            if "step 8/40" in record.getMessage():
                stop.set()

    handler = StopAtStep8()
    logging.getLogger("synthscale.train").addHandler(handler)
    try:
        with pytest.raises(Interrupted):
            run(spec, tmp_path, stop=stop)
    finally:
        logging.getLogger("synthscale.train").removeHandler(handler)
    ckpt = tmp_path / "pretrain" / spec.pretrain_id / "ckpt.pt"
    saved = torch.load(ckpt, weights_only=False)
    assert saved["step"] == 8
    # what a long first job would have stored (the real one took a second or so)
    saved["wall_s"], saved["cpu_s"] = 1000.0, 900.0
    torch.save(saved, ckpt)
    (row,) = run(spec, tmp_path)
    assert row["pretrain_resumed_from_step"] == 8 and row["resumed_from_step"] is None  # no fine-tuning
    assert 1000 < row["pretrain_wall_s"] <= row["wall_s"] < 1000 + 600, row
    assert 900 < row["cpu_s"] < 900 + 1200, row


def test_a_generalize_row_has_the_design_columns_demo_predicts_for_it() -> None:
    """asg_row hand-copied design_row's columns and wrote finetune_examples 0 where design_row (the row demo's
    --by checks take each cell to write) said 5000; it now builds on design_row, which knows generalize has no
    fine-tuning."""
    from bench.asg_run import asg_row
    from bench.config import load_sweep
    from bench.run import design_row

    spec = load_sweep(Path(__file__).resolve().parents[1] / "bench" / "configs" / "generalize.yaml").cells()[0]
    cell = {"loss": 0.5, "wall_s": 1.0, "resumed_from": None, "knobs": {}, "synth_val_acc": 0.9, "proxy_agree": 0.8,
            "multipliers": [], "policy": ""}
    row, design = asg_row(spec, 0.7, 0.6, 100, cell, 10), design_row(spec, 0)
    assert {k: row[k] for k in design} == design and design["finetune_examples"] == 0 and design["n_real"] == 0
