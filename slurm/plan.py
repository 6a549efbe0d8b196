"""Expand a sweep into run specs and split them into done and to-do by the rows under the root."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.config import RunSpec, SweepSpec, identity_suffix, pretrain_examples, synth_label, varying_identity
from bench.records import read_rows
from synth.console import counted


@dataclass(frozen=True)
class Plan:
    """The cells of a sweep over one root: those with a row and those still to run."""

    root: Path
    done: list[RunSpec]
    todo: list[RunSpec]

    @property
    def cells(self) -> list[RunSpec]:
        """All cells, done first."""
        return self.done + self.todo

    def describe(self) -> str:
        """One line per cell to run, and a count."""
        lines = [f"{counted(len(self.cells), 'cell')}: {len(self.done)} done, {len(self.todo)} to run (root {self.root})"]
        # Identity fields the grid varies beyond the ones every line shows (pretrain.lr,
        # synth.knobs.clutter, ...), so that two cells never print the same line; as in `sweep
        # status` labels (slurm.tracking.cell_labels), a scratch cell shows no pre-training field.
        # Varying among all the cells, done ones too: a grid extended by one value (finetune.lr=[0.015,
        # 0.05] over a root holding the 0.015 runs) leaves that field one value among the cells to run,
        # and its lines did not say which.
        extra = [f for f in varying_identity(self.cells) if f not in _SHOWN]
        for spec in self.todo:
            lines.append(f"  {spec.run_id}  {synth_label(spec):<28} model={spec.model.name} seed={spec.seed} "
                         f"n_real={spec.target.n_real}{identity_suffix(spec, extra)}")
        return "\n".join(lines)


_SHOWN = {"synth.generator", "synth.complexity", "synth.n", "model.name", "seed", "target.n_real"}


def plan(sweep: SweepSpec, root: Path | str) -> Plan:
    """Every grid cell, split by whether `runs/<run_id>/row.json` exists under `root`."""
    from bench.run import check_names  # here: it loads the model and generator registries (torch, timm)

    root = Path(root)
    cells = sweep.cells()
    checked: set = set()  # each target's files once, not per cell
    for c in cells:
        check_names(c, checked)
    finished = {c.run_id for c in cells if read_rows(root / "runs" / c.run_id) is not None}
    done = [c for c in cells if c.run_id in finished]
    todo = [c for c in cells if c.run_id not in finished]
    # Longest cells first, so the tail of a sweep is short jobs rather than one straggler.
    # (pre-training's budget as trained, pretrain.min_epochs included; 0 for scratch)
    todo.sort(key=lambda c: -pretrain_examples(c) - c.finetune.examples * len(c.target.n_real))
    return Plan(root, done, todo)
