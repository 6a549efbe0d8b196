"""Models from timm by name, with an optional stem adapted to small (28-32 px) inputs."""
from __future__ import annotations

import difflib
import functools
from typing import Optional

import timm
import torch
from torch import nn

from bench.config import ModelSpec
from synth.errors import UserError


def build_model(spec: ModelSpec, n_classes: int, in_chans: int, img_size: int | None = None) -> nn.Module:
    """A randomly initialised timm model; `small_input` keeps early resolution for tiny images.

    `img_size`: the input resolution, for models built for one size (ViT, Swin: a 224-px ViT refuses
    32 px inputs); models without an `img_size` argument (CNNs) take any size and ignore it."""
    if not timm.is_model(spec.name):
        close = difflib.get_close_matches(spec.name, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
        raise UserError(f"model.name: unknown timm model {spec.name!r}{hint}")
    kw = dict(pretrained=False, num_classes=n_classes, in_chans=in_chans, drop_rate=spec.drop_rate)
    try:
        model = timm.create_model(spec.name, **kw, **({"img_size": img_size} if img_size else {}))
    except TypeError as err:
        if "img_size" not in str(err):
            raise
        model = timm.create_model(spec.name, **kw)
    if spec.small_input and not adapt_stem(model):  # true would only give the same run another id
        raise UserError(f"model.small_input: model.name={spec.name} has no stem this option adapts (a stem max-pool "
                        "`maxpool`, or a strided convolution in `stem` or `conv_stem`), so true (also its default) "
                        "would change nothing but the run id; set model.small_input=false")
    return model


@functools.lru_cache(maxsize=32)
def _forward_error(spec: ModelSpec, in_chans: int, img_size: int) -> Optional[str]:
    """The first line of the error a forward pass of two blank images raises, or None if it runs."""
    try:
        net = build_model(spec, 2, in_chans, img_size).eval()
        with torch.no_grad():
            net(torch.zeros(2, in_chans, img_size, img_size))
    except UserError:
        raise
    except (RuntimeError, ValueError, AssertionError, IndexError) as err:
        return (str(err).splitlines() or [type(err).__name__])[0][:160]
    return None


def check_input(spec: ModelSpec, in_chans: int, img_size: int) -> None:
    """Fail before any work (UserError) when the model cannot take the run's images: some timm
    models (LeViT) fix their later layers' sizes to the stem's original output, so the stride
    change of `small_input` breaks them at the first batch. One forward pass, once per process."""
    err = _forward_error(spec, in_chans, img_size)
    if err is None:
        return
    if spec.small_input and _forward_error(spec.model_copy(update={"small_input": False}), in_chans, img_size) is None:
        raise UserError(f"model.name={spec.name}: model.small_input=true (also its default) breaks this model "
                        f"({err}); set model.small_input=false")
    raise UserError(f"model.name={spec.name}: cannot take {in_chans}-channel {img_size}x{img_size} px "
                    f"images ({err}); choose another model or synth.resolution")


def adapt_stem(model: nn.Module) -> bool:
    """Halve the stem's downsampling for 28-32 px inputs: drop the stem max-pool (ResNet-style), or
    else set the first strided convolution of `stem` / `conv_stem` to stride 1. Returns whether it
    found either (DenseNet, VGG, ViT and others have neither: their stem is left as it is).

    ImageNet stems downsample by 4 before the first stage (a 32 px image becomes 8x8); CIFAR-style
    networks keep 32x32 there. Removing only the max-pool (16x16 after the stem) recovers most of the
    accuracy at a quarter of the cost of a stride-1 stem.
    """
    if isinstance(getattr(model, "maxpool", None), (nn.MaxPool2d, nn.AvgPool2d)):
        model.maxpool = nn.Identity()
        return True
    stem = getattr(model, "stem", None) or getattr(model, "conv_stem", None)
    for m in stem.modules() if isinstance(stem, nn.Module) else []:
        if isinstance(m, nn.Conv2d) and m.stride != (1, 1):
            m.stride = (1, 1)
            return True
    return False


def transfer_weights(pretrained: nn.Module, model: nn.Module) -> int:
    """Copy every tensor whose name and shape match (all but the classifier); returns the count copied."""
    src = pretrained.state_dict()
    dst = model.state_dict()
    copied = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    head = {f"{n}.weight" for n in _classifier_names(model)} | {f"{n}.bias" for n in _classifier_names(model)}
    copied = {k: v for k, v in copied.items() if k not in head}
    model.load_state_dict({**dst, **copied})
    return len(copied)


def _classifier_names(model: nn.Module) -> list[str]:
    names = getattr(model, "default_cfg", {}).get("classifier", "fc")
    return [names] if isinstance(names, str) else list(names)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_device_name(name: str) -> None:
    """A UserError for a device name torch does not know (`device=foo`), checked when a sweep is
    planned; whether the device is present is checked where the run runs (a login node planning a
    Slurm sweep may have no GPU)."""
    if name != "auto":
        try:
            torch.device(name)
        except RuntimeError:
            raise UserError(f"device: unknown device {name!r}; use auto, cpu or cuda") from None


def pick_device(name: str) -> torch.device:
    """`auto` -> cuda when present, else cpu (on Apple silicon too: mps only when asked for). Any other
    device must be present here, or it is a UserError: torch takes names this machine may lack (mps,
    xpu, cuda:3), and a run on one ended in a long traceback after it had made its run folder."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(name)
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device: {name!r} asked for, but this machine has no usable CUDA device; "
                        "use device=auto (cuda where present) or device=cpu")
    if device.type == "cpu" and device.index not in (None, 0):  # torch runs it on the one CPU device
        raise UserError(f"device: {name!r}: torch has one CPU device, cpu (threads=N sets how many cores it "
                        "uses); use device=cpu or device=auto")
    if device.type == "meta":
        raise UserError(f"device: {name!r} is torch's device for shapes alone, with no data to train on; "
                        "use device=auto (cuda where present) or device=cpu")
    if not _usable(device):
        raise UserError(f"device: {name!r} asked for, but this machine has no such device (it has "
                        f"{', '.join(present_devices())}); use device=auto (cuda where present) or device=cpu")
    return device


def _usable(device: torch.device) -> bool:
    """Whether `device` is here: asked of its torch backend (torch.cuda, torch.mps, torch.xpu, ...), which
    makes no tensor (on a GPU that would hold memory in the sweep's process while it runs), else by making
    an empty tensor on it."""
    backend = getattr(torch, device.type, None)
    if hasattr(backend, "is_available") and hasattr(backend, "device_count"):
        return (device.index or 0) < _count(device.type)
    try:
        torch.empty(0, device=device)
    except Exception:  # RuntimeError, NotImplementedError, AssertionError, ImportError: not built in, or absent
        return False
    return True


def _count(kind: str) -> int:
    """How many devices of torch backend `kind` (cuda, mps, xpu) this machine has; 0 if it has none."""
    backend = getattr(torch, kind, None)
    try:
        return backend.device_count() if backend.is_available() else 0
    except Exception:  # a backend torch was not built with may raise rather than say False
        return 0


def present_devices() -> list[str]:
    """The devices this machine can train on, by name: cpu, then each cuda:N, mps and xpu:N present."""
    return ["cpu", *(f"cuda:{i}" for i in range(_count("cuda"))), *(["mps"] if _count("mps") else []),
            *(f"xpu:{i}" for i in range(_count("xpu")))]
