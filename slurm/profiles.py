"""Cluster settings: a named profile file plus command-line flags, never the experiment config.

A profile (`slurm/profiles/<name>.yaml` or any YAML path) gives the default resources of a job
and, optionally, `shapes`: rules that give some cells other resources (e.g. no GPU for the
scratch cells). Cells with equal resources form one *shape* and go to Slurm as one job array.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError,
                      field_validator)

from bench.config import RunSpec, format_validation_error, yaml_problem, yaml_text
from synth.console import DuplicateKey, load_yaml
from synth.errors import UserError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_one_line(text: str, where: str = "") -> None:
    """No control character in a value that becomes an `#SBATCH` line: a newline ended the line, and what
    followed ran as a command in the job script (from a shared profile, say) while the dry run, which
    shows the #SBATCH lines, showed nothing of it; sbatch also stops reading options at that line."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in str(text)):
        raise ValueError(f"{where}holds a control character (a newline would end its #SBATCH line and the rest "
                         "run as a command in the job script); give it on one line")


class Resources(_Strict):
    """What one job asks Slurm for; equal Resources = one shape = one job array."""

    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    gpus_per_job: int = Field(0, ge=0)
    cpus_per_job: int = Field(1, ge=1)
    mem_gb: Optional[float] = Field(None, ge=0.01, allow_inf_nan=False)  # sbatch --mem in whole MB: not 0 (= all)
    time_min: int = Field(120, ge=1)
    constraint: Optional[str] = None
    # extra `#SBATCH --key=value` lines (a number as written: `nice: 10`); `true` writes a flag
    # option that takes no value (`exclusive: true` -> `#SBATCH --exclusive`)
    sbatch: dict[str, Union[StrictBool, StrictStr, StrictInt, StrictFloat]] = Field(default_factory=dict)

    @field_validator("sbatch")
    @classmethod
    def _long_names_and_flags_true(cls, v: dict[str, Any]) -> dict[str, Any]:
        """Keys as sbatch's long option names (`--time`, `-c`, `mail_type` were written as `----time`,
        `---c`, and beside a flag's `mail-type`), each once; a flag option is true, never false."""
        out: dict[str, Any] = {}
        for key, val in v.items():
            for text in (key, val) if isinstance(val, str) else (key,):
                _check_one_line(text, f"{key!r}: " if text is val else "")
            name = sbatch_key(key)
            if val is False:
                raise ValueError(f"{key}: false; a flag option is written with true (exclusive: true), "
                                 "and left out by leaving out its key")
            if name in out:
                raise ValueError(f"{key!r} and another key are both --{name}; give it once")
            out[name] = val
        return out

    @field_validator("partition", "account", "qos", "constraint")
    @classmethod
    def _one_line(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            _check_one_line(v)
        return v

    def describe(self) -> str:
        """A short human label such as `partition=gpu gpus=1 cpus=8 mem=32G time=120m`."""
        parts = [f"partition={self.partition or '(default)'}", f"gpus={self.gpus_per_job}",
                 f"cpus={self.cpus_per_job}", f"mem={self.mem_gb:g}G" if self.mem_gb
                 else "mem=(default)", f"time={self.time_min}m"]
        parts += [f"{k}={v}" for k, v in (("account", self.account), ("qos", self.qos),
                                          ("constraint", self.constraint)) if v]
        parts += [f"--{k}" if v is True else f"--{k}={v}" for k, v in sorted(self.sbatch.items())]
        return " ".join(parts)

    def submitit_params(self) -> dict[str, Any]:
        """The AutoExecutor parameters that produce exactly these sbatch options."""
        params: dict[str, Any] = {"timeout_min": self.time_min, "nodes": 1, "tasks_per_node": 1,
                                  "cpus_per_task": self.cpus_per_job}
        if self.gpus_per_job:
            params["gpus_per_node"] = self.gpus_per_job
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(self, key):
                params[f"slurm_{key}"] = getattr(self, key)
        if self.sbatch:
            params["slurm_additional_parameters"] = dict(self.sbatch)
        return params


class ShapeRule(_Strict):
    """Cells whose dotted fields match `when` (a value or a list of values) get `set` on top."""

    when: dict[str, Any]
    set: dict[str, Any]


class Profile(_Strict):
    """A named set of cluster settings: default resources, array parallelism, shape rules."""

    resources: Resources = Field(default_factory=Resources)
    array_parallelism: int = Field(16, ge=1)
    max_requeues: int = Field(10, ge=0)  # timeouts a job may be requeued after (preemptions: any)
    signal_delay_s: int = Field(120, ge=10)  # USR2 this long before the time limit
    shapes: list[ShapeRule] = Field(default_factory=list)

    def resources_for(self, spec: RunSpec) -> Resources:
        """The resources of one cell: the defaults with every matching rule applied in order; a
        shape the suite could not run as meant is a UserError (check_shape)."""
        res, time_from = self.resources, None
        for i in self.rules_for(spec):
            rule = self.shapes[i]
            res = _validate(Resources, {**res.model_dump(), **rule.set}, "shapes[].set")
            if "time_min" in rule.set:  # a rule's set wins over --timeout-min: name the rule
                time_from = f"shapes[{i}].set.time_min"
        check_shape(res, self.signal_delay_s, time_from)
        return res

    def rules_for(self, spec: RunSpec) -> list[int]:
        """The indices of the shape rules that match the cell, in order. A rule value of another kind
        than the field's (`synth.n: "0"`, text, for a number) is a UserError: it could never match,
        and the cells it was meant for silently kept the defaults (the scratch cells on a GPU)."""
        out = []
        for i, rule in enumerate(self.shapes):
            # every key looked up (a misspelt one is an error even when an earlier key does not match)
            values = {key: _dotted(spec, key) for key in rule.when}
            for key, want in rule.when.items():
                _check_kind(i, key, values[key], want)
            if all(_matches(values[key], want) for key, want in rule.when.items()):
                out.append(i)
        return out

    def with_overrides(self, resources: dict[str, Any], **fields: Any) -> "Profile":
        """A copy with command-line resource flags and top-level fields (None = keep) applied."""
        res = {k: v for k, v in resources.items() if v is not None}
        data = self.model_dump()
        data["resources"] = {**data["resources"], **res}
        data.update({k: v for k, v in fields.items() if v is not None})
        try:
            return _validate(Profile, data, "command line")
        except UserError as err:  # named as typed: `--mem-gb: ...`, not `command line: resources.mem_gb: ...`
            text = str(err)
            for key in res:  # (time_min comes from --timeout-min)
                flag = "--timeout-min" if key == "time_min" else f"--{key.replace('_', '-')}"
                text = text.replace(f"command line: resources.{key}:", f"{flag}:")
            raise UserError(text) from None


_UNSET = object()  # a field under a section the cell does not have (asg.* of a transfer cell)


def _dotted(spec: RunSpec, key: str) -> Any:
    value: Any = spec.model_dump()
    for part in key.split("."):
        if value is None:  # `when: {protocol: generalize, asg.lr_policy: learned}` on a transfer cell
            return _UNSET
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"profile shapes: unknown cell field {key!r} in `when`: use a run config's dotted "
                            "field, such as synth.n, model.name or target.name")
        value = value[part]
    return value


_KIND_TEXT = {"number": "a number", "text": "text", "true/false": "true/false"}


def _kind(v: Any) -> Optional[str]:
    if v is None or v is _UNSET:
        return None
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return "number"
    return "text" if isinstance(v, str) else None  # (a list field, target.n_real: compared as is)


def _check_kind(i: int, key: str, value: Any, want: Any) -> None:
    """A UserError if the rule's value (or a value of its list) is of another kind than the cell's field."""
    have = _kind(value)
    for w in (want if isinstance(want, list) and not isinstance(value, list) else [want]):
        got = _kind(w)
        if have and got and got != have:
            hint = f"; write {w} without quotes" if have == "number" and got == "text" else ""
            raise UserError(f"profile shapes[{i}].when: {key} is {_KIND_TEXT[have]} (a cell has {value!r}), but "
                            f"the rule gives {w!r} ({_KIND_TEXT[got]}), which can never match{hint}")


def _matches(value: Any, want: Any) -> bool:
    if value is _UNSET:
        return False
    """`want` is the value, or a list of values; a field that is itself a list (target.n_real: [20])
    matches that list, or one of a list of lists."""
    if isinstance(value, list):
        return value == want or (isinstance(want, list) and value in want)
    return value in want if isinstance(want, list) else value == want


def _validate(cls: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as err:  # worded as a run config's: "unknown key; did you mean ...?"
        raise UserError(f"{where}: {format_validation_error(err, cls=cls)}") from None


def profile_names() -> list[str]:
    """The packaged profiles, by name."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: Optional[str]) -> Profile:
    """A packaged profile by name, a YAML file by path, or the defaults when None."""
    if name_or_path is None:
        return Profile()
    path = Path(name_or_path)
    if not path.is_file():
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UserError(f"profile {name_or_path!r} not found: pass a YAML path or one of "
                        f"{', '.join(profile_names()) or '(none packaged)'}")
    try:
        data = load_yaml(yaml_text(path), unique=True) or {}
    except DuplicateKey as err:  # PyYAML keeps the last value without a word: `time_min` twice ran with the second
        raise UserError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({yaml_problem(err)})") from None  # as a config's: where, and why
    if not isinstance(data, dict):  # pydantic's "input should be a valid dictionary" under an empty field name
        raise UserError(f"{path}: expected a mapping of profile fields at the top level (resources, shapes, ...), "
                        f"got {type(data).__name__} {data!r:.60}")
    return _validate(Profile, data, str(path))


_OWN_FIELD = "set it with the resources field (or command-line flag) of that name"
# sbatch options the suite writes itself: a profile's or --sbatch's copy would silently undo what
# relies on them (checkpoint on USR2, job logs where `sweep status` reads them, jobs found by name)
MANAGED_SBATCH = {
    "time": "the time limit is --timeout-min (or the profile's time_min)",
    "signal": "the suite asks for USR2 signal_delay_s before the limit, which makes jobs checkpoint; "
              "set the profile's signal_delay_s instead",
    "output": "each job's log goes under ROOT/submitit, where `sweep status` reads it",
    "error": "each job's log goes under ROOT/submitit, where `sweep status` reads it",
    "job-name": "`sweep status` and the next sweep find a submission's jobs by their name",
    "array": "the sweep makes one job array per resource shape",
    **{k: _OWN_FIELD for k in ("partition", "account", "qos", "constraint", "mem", "cpus-per-task",
                                "gpus-per-node")},
    **{k: "each cell is one task on one node: more would run the same cell several times at once"
       for k in ("nodes", "ntasks", "ntasks-per-node")},
    "open-mode": "job logs are appended across requeues, so a checkpointed job's earlier log is kept",
}
SBATCH_SHORT = {"t": "time", "o": "output", "e": "error", "J": "job-name", "a": "array", "p": "partition",
                "A": "account", "q": "qos", "C": "constraint", "c": "cpus-per-task", "N": "nodes", "n": "ntasks"}


def sbatch_key(key: Any) -> str:
    """A profile's or --sbatch's option name as sbatch's long name, without leading dashes; a
    ValueError for an empty one."""
    name = str(key).strip().lstrip("-").strip()
    if not name:
        raise ValueError(f"{key!r} is not an sbatch option name; give it without the dashes, e.g. mail-type")
    return sbatch_name(name)


def sbatch_name(key: str) -> str:
    """An sbatch option's long name: `c` -> cpus-per-task, `cpus_per_task` -> cpus-per-task (submitit
    writes a key's underscores as dashes, so both spellings reach sbatch as the same option)."""
    return SBATCH_SHORT.get(key, key.replace("_", "-"))


def check_shape(res: Resources, signal_delay_s: int, time_from: Optional[str] = None) -> None:
    """A UserError for a job shape Slurm would accept but the suite could not run as meant: an
    extra sbatch option it manages itself, or a time limit no longer than the checkpoint signal's
    lead (each job would be told to checkpoint and requeue as it starts, until max_requeues).
    `time_from` names the profile field the time limit came from when it is not --timeout-min's."""
    for key in res.sbatch:
        name = sbatch_name(key)
        if name in MANAGED_SBATCH:
            raise UserError(f"sbatch option {key!r}: {MANAGED_SBATCH[name]}; drop it from --sbatch and the "
                            "profile's sbatch")
    if res.time_min * 60 <= signal_delay_s:
        fix = (f"set the profile's {time_from} to {signal_delay_s // 60 + 1} or more" if time_from
               else f"give --timeout-min {signal_delay_s // 60 + 1} or more")
        raise UserError(f"a time limit of {res.time_min} min{f' ({time_from})' if time_from else ''} is not "
                        f"longer than the profile's signal_delay_s ({signal_delay_s} s), the checkpoint signal's "
                        f"lead: each job would be stopped as it starts; {fix}, or a smaller signal_delay_s")


def parse_sbatch_items(items: list[str]) -> dict[str, str | bool]:
    """`['exclude=node7', 'mail-type=FAIL', 'exclusive']` -> {'exclude': 'node7', 'mail-type': 'FAIL',
    'exclusive': True}: a KEY without `=` is a flag option that takes no value (`#SBATCH --exclusive`)."""
    out: dict[str, str | bool] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip().lstrip("-"):
            raise UserError(f"--sbatch {item!r}: expected KEY=VALUE or a flag KEY, e.g. --sbatch exclude=node7 "
                            "or --sbatch exclusive")
        name = sbatch_key(key)  # the profile's keys are named so too: a flag replaces the profile's option
        if sep and value.strip().lower() == "false":
            raise UserError(f"--sbatch {item!r}: a flag option is given by its name alone (--sbatch {name}) and "
                            f"left out by leaving it out; sbatch takes no --{name}=false")
        if name in out:
            raise UserError(f"--sbatch {item!r}: --{name} is given twice; give it once")
        out[name] = value if sep else True
    return out


def group_by_shape(cells: list[RunSpec], profile: Profile) -> list[tuple[Resources, list[RunSpec]]]:
    """Cells grouped by their resources, in first-seen order (one job array per group)."""
    groups: dict[str, tuple[Resources, list[RunSpec]]] = {}
    for spec in cells:
        res = profile.resources_for(spec)
        groups.setdefault(res.model_dump_json(), (res, []))[1].append(spec)
    return list(groups.values())
