"""The training loop: resuming from a checkpoint reproduces an uninterrupted run; batches are pure."""
import threading

import pytest
import torch

from bench.config import ModelSpec, StageSpec
from bench.data import IndexStream, augment, make_loader
from bench.models import build_model
from bench.tasks import TASKS
from bench.train import Interrupted, schedule, train
from synth import Sample

CPU = torch.device("cpu")


def tiny_data(n: int = 48) -> Sample:
    g = torch.Generator().manual_seed(0)
    return Sample(image=torch.rand(n, 1, 16, 16, generator=g), label=torch.randint(0, 4, (n,), generator=g))


def fresh_net(drop_rate: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelSpec(name="resnet10t", small_input=False, drop_rate=drop_rate), 4, 1)


STAGE = StageSpec(examples=16 * 8, batch_size=16, lr=0.05, ckpt_every_s=1e9)


def test_index_stream_is_a_pure_function_of_step():
    a, b = IndexStream(10, 4, seed=3), IndexStream(10, 4, seed=3)
    seq = torch.cat([a(k) for k in range(5)])  # 20 indices = 2 epochs
    assert sorted(seq[:10].tolist()) == list(range(10)) and sorted(seq[10:].tolist()) == list(range(10))
    assert torch.equal(b(4), a(4)) and torch.equal(b(0), a(0))  # random access, any order
    assert not torch.equal(IndexStream(10, 4, seed=4)(0), a(0))


def test_augment_is_deterministic_and_shape_preserving():
    x = torch.rand(8, 1, 16, 16)
    assert torch.equal(augment(x, 1, 5), augment(x, 1, 5))
    assert augment(x, 1, 5).shape == x.shape and not torch.equal(augment(x, 1, 5), augment(x, 1, 6))


def test_schedule_warms_up_then_decays_to_zero():
    assert schedule(0, 100, 10) == pytest.approx(0.1)
    assert schedule(9, 100, 10) == pytest.approx(1.0)
    assert schedule(99, 100, 10) < 0.01


def test_resume_after_stop_matches_uninterrupted_run(tmp_path):
    """With dropout, so the torch RNG state the checkpoint restores is what draws its masks (without
    dropout, a resume that dropped the RNG state passed)."""
    data, loss = tiny_data(), TASKS.get("classification").loss
    ref = fresh_net(0.3)
    train(ref, make_loader(data, len(data.label), 16, 7, True, CPU), loss, STAGE, device=CPU)

    net, stop, ckpt = fresh_net(0.3), threading.Event(), tmp_path / "ckpt.pt"
    on_step = lambda step, _loss, _opt: stop.set() if step == 3 else None  # noqa: E731
    with pytest.raises(Interrupted) as info:
        train(net, make_loader(data, len(data.label), 16, 7, True, CPU), loss, STAGE, device=CPU,
              ckpt_path=ckpt, stop=stop, on_step=on_step)
    assert info.value.step == 4 and ckpt.is_file()

    resumed = fresh_net(0.3)  # a new process would start from a fresh model too
    res = train(resumed, make_loader(data, len(data.label), 16, 7, True, CPU), loss, STAGE, device=CPU,
                ckpt_path=ckpt)
    assert res.resumed_from == 4 and res.steps == 8
    for (name, p), q in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name


def test_resume_from_a_periodic_checkpoint_after_a_hard_kill_matches_uninterrupted_run(tmp_path):
    """A preempted or killed job leaves only the last periodic checkpoint (no stop request saves one):
    it must record the steps done, or the resumed run repeats or skips a step."""
    data, loss = tiny_data(), TASKS.get("classification").loss
    ref = fresh_net()
    train(ref, make_loader(data, 48, 16, 7, True, CPU), loss, STAGE, device=CPU)

    class Killed(Exception):
        pass

    def kill(step, _loss, _opt):
        if step == 3:  # after step 3's update, before its checkpoint: as a SIGKILL would land
            raise Killed

    every_step = STAGE.model_copy(update={"ckpt_every_s": 1e-9})
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Killed):
        train(fresh_net(), make_loader(data, 48, 16, 7, True, CPU), loss, every_step, device=CPU, ckpt_path=ckpt,
              on_step=kill)
    resumed = fresh_net()
    res = train(resumed, make_loader(data, 48, 16, 7, True, CPU), loss, every_step, device=CPU, ckpt_path=ckpt)
    assert res.resumed_from == 3 and res.steps == 8
    for (name, p), q in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name


def test_recomputed_bn_statistics_are_the_average_of_the_training_batches_statistics():
    """After a short stage the running averages trail the weights; recompute_bn_stats replaces them
    with the mean over the stage's own batches of each layer's batch mean and variance."""
    from bench.train import BN_MIN_BATCHES, recompute_bn_stats

    data = tiny_data()
    net = fresh_net()
    train(net, make_loader(data, 48, 16, 0, True, CPU), TASKS.get("classification").loss, STAGE,
          device=CPU)
    get_batch = make_loader(data, 48, 16, 0, True, CPU)
    first = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen: list[torch.Tensor] = []
    hook = first.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    momentum, dropout_before = first.momentum, [m.training for m in net.modules()]
    assert recompute_bn_stats(net, get_batch, 48, 16) == BN_MIN_BATCHES  # 48 images: 3 batches, 8 at least
    hook.remove()
    assert len(seen) == BN_MIN_BATCHES
    expect_mean = torch.stack([x.mean((0, 2, 3)) for x in seen]).mean(0)
    expect_var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in seen]).mean(0)
    torch.testing.assert_close(first.running_mean, expect_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(first.running_var, expect_var, rtol=1e-4, atol=1e-5)
    assert first.momentum == momentum and all(m.training for m in net.modules()) and all(dropout_before)
    # the batches are the stage's own: the same inputs again give the same statistics
    again = first.running_mean.clone()
    recompute_bn_stats(net, get_batch, 48, 16)
    assert torch.equal(first.running_mean, again)
    vit = build_model(ModelSpec(name="vit_tiny_patch16_224", small_input=False), 4, 1, 16)  # no batch norm
    assert recompute_bn_stats(vit, get_batch, 48, 16) == 0


def test_a_closed_prefetcher_leaves_no_thread_behind():
    """Streamed pre-training renders the next batch in a thread; its pool was never shut down, so the
    thread rendered one batch past the end beside fine-tuning and then idled until the process ended."""
    from bench.data import Prefetcher, close_loader

    made = []
    before = set(threading.enumerate())  # (another test's loader may hold a thread of the same name)
    fetch = Prefetcher(lambda step: made.append(step) or step)
    assert [fetch(k) for k in range(3)] == [0, 1, 2]
    mine = set(threading.enumerate()) - before
    assert mine and all(t.name.startswith("prefetch") for t in mine), mine
    close_loader(fetch)
    assert max(made) <= 3  # at most one past the last step (cancelled if it had not started)
    assert not [t for t in mine if t.is_alive()], mine
    close_loader(lambda step: step)  # a plain loader holds nothing
