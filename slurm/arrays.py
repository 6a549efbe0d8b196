"""Slurm submission: one job array per resource shape (split at the cluster's MaxArraySize), its
exact sbatch text, and waiting on it."""
from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import submitit
from submitit.core.utils import FailedJobError
from submitit.slurm.slurm import _make_sbatch_string  # the text submitit will really submit

from bench.config import RunSpec
from slurm.jobs import CellJob
from slurm.profiles import Profile, Resources, group_by_shape
from slurm.tracking import (LIVE, TIMED_OUT_TOO_OFTEN, UNREACHABLE, JobRef, NoAnswer, cancel_pending,
                            cannot_start, cell_labels, pending_detail, slurm_states)
from synth.console import counted
from synth.errors import UserError

log = logging.getLogger("synthscale.sweep")
_NO_PICKLE_GRACE_S = 20.0  # a job that ended may need a moment before its result file is visible


def job_name(submission_id: str) -> str:
    """The Slurm job name of one submission's jobs (unique, so stale ids never match)."""
    return f"synthscale-{submission_id}"


def slurm_executor(folder: Path, res: Resources, profile: Profile, name: str) -> submitit.AutoExecutor:
    """An AutoExecutor for Slurm with exactly these resources."""
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm",
                               slurm_max_num_timeout=profile.max_requeues)
    ex.update_parameters(name=name, slurm_array_parallelism=profile.array_parallelism,
                         slurm_signal_delay_s=profile.signal_delay_s, **res.submitit_params())
    return ex


@contextlib.contextmanager
def _srun_optional() -> Iterator[None]:
    """submitit refuses to build a Slurm executor where `srun` is missing. Writing the sbatch text
    needs no Slurm (a dry run on a laptop), so within this block it may be built anyway."""
    if shutil.which("srun") is not None:
        yield
        return
    before = submitit.SlurmExecutor.__dict__["affinity"]
    submitit.SlurmExecutor.affinity = classmethod(lambda cls: 1)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        submitit.SlurmExecutor.affinity = before  # type: ignore[method-assign]


def _script(folder: Path, res: Resources, profile: Profile, name: str, n_cells: int, command: str) -> str:
    """The sbatch script submitit writes for an array of `n_cells` (a single job if one)."""
    with _srun_optional():
        ex = slurm_executor(folder, res, profile, name)
    return _make_sbatch_string(command=command, folder=ex._executor.folder,
                               map_count=n_cells if n_cells > 1 else None, **ex._executor.parameters)


def sbatch_text(folder: Path, res: Resources, profile: Profile, name: str, n_cells: int) -> str:
    """The `#SBATCH` lines submitit writes for an array of `n_cells` (a single job if one)."""
    text = _script(folder, res, profile, name, n_cells, "<command>")
    return "\n".join(line for line in text.splitlines() if line.startswith("#SBATCH"))


FIX_HINT = ("fix the flag or the profile entry it names (--partition, --mem-gb, --cpus-per-job, --gpus-per-job, "
            "--constraint, --sbatch, or a shapes rule)")
# Reasons sbatch gives when it could not ask the controller at all (no verdict on the options)
_NO_CONTROLLER = re.compile(r"unable to contact|could not establish|configuration file|connection refused|"
                            r"socket timed out|zero bytes were transmitted|ClusterName", re.I)
TEST_ONLY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Check:
    """What `sbatch --test-only` said about one array: accepted, refused, or could not be asked."""

    verdict: str  # ok | refused | unchecked
    said: str

    def line(self) -> str:
        return {"ok": "sbatch --test-only accepts it", "refused": "sbatch --test-only REFUSES it",
                "unchecked": "not checked"}[self.verdict] + f": {self.said}"


def ask_sbatch(folder: Path, res: Resources, profile: Profile, name: str, n_cells: int) -> Check:
    """Ask the cluster's sbatch whether it would queue this array as written (`sbatch --test-only`:
    nothing is submitted). `unchecked` when sbatch is not here, or cannot reach its controller."""
    if shutil.which("sbatch") is None:
        return Check("unchecked", "no sbatch on this machine's PATH")
    text = _script(folder, res, profile, name, n_cells, "true")
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="synthscale-test-only-") as script:
        script.write(text)
        script.flush()
        try:
            proc = subprocess.run(["sbatch", "--test-only", script.name], capture_output=True, text=True,
                                  timeout=TEST_ONLY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Check("unchecked", f"sbatch did not answer within {TEST_ONLY_TIMEOUT_S:g} s")
    said = [ln.split("error:", 1)[-1].split("failure:", 1)[-1].strip()
            for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    if proc.returncode == 0:
        start = next((s for s in said if " to start at " in s), "; ".join(said))  # "Job 36 to start at ..."
        return Check("ok", re.sub(r"^(sbatch: )?Job \d+ to start", "it would start", start) or "no message")
    reason = "; ".join(dict.fromkeys(s for s in said if not s.startswith("retrying"))) or f"exit {proc.returncode}"
    return Check("unchecked" if _NO_CONTROLLER.search(reason) else "refused", reason)


SLURM_MAX_ARRAY_SIZE = 1001  # Slurm's default MaxArraySize: an array's task indices must be below it
SCONTROL_TIMEOUT_S = 20.0


def parse_max_array_size(config: str) -> Optional[int]:
    """MaxArraySize from the text `scontrol show config` prints (None if it has no such line)."""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)\s*$", config, re.M)
    return int(match.group(1)) if match else None


def max_array_size() -> tuple[int, str]:
    """How many tasks one job array may have on this cluster, and where that number came from.
    Slurm refuses an array whose indices reach MaxArraySize with only "Invalid job array
    specification"; the sweep splits a larger shape instead. From `scontrol show config`; where
    scontrol is missing, fails or does not answer within SCONTROL_TIMEOUT_S, Slurm's default, 1001.
    MaxArraySize 0 turns arrays off: then every cell is a job of its own (size 1)."""
    default = f"Slurm's default MaxArraySize, {SLURM_MAX_ARRAY_SIZE}"
    if shutil.which("scontrol") is None:
        return SLURM_MAX_ARRAY_SIZE, f"{default}: no scontrol on this machine's PATH"
    try:
        proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                              timeout=SCONTROL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return SLURM_MAX_ARRAY_SIZE, f"{default}: scontrol did not answer within {SCONTROL_TIMEOUT_S:g} s"
    except OSError as exc:
        return SLURM_MAX_ARRAY_SIZE, f"{default}: scontrol did not run ({exc.strerror or exc})"
    found = parse_max_array_size(proc.stdout) if proc.returncode == 0 else None
    if found is None:
        said = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        why = said if proc.returncode else "it names no MaxArraySize"
        return SLURM_MAX_ARRAY_SIZE, f"{default}: `scontrol show config` did not tell ({why})"
    if found == 0:
        return 1, "MaxArraySize 0 in `scontrol show config`: arrays are off, one job per cell"
    return found, f"MaxArraySize {found}, from `scontrol show config`"


def split_array(cells: list[RunSpec], max_size: int) -> list[list[RunSpec]]:
    """`cells` in order, in consecutive chunks of at most `max_size` (at least 1): one job array
    each, whose task indices 0 .. len - 1 stay below the cluster's MaxArraySize."""
    size = max(1, max_size)
    return [cells[k:k + size] for k in range(0, len(cells), size)]


@dataclass(frozen=True)
class JobArray:
    """The cells one sbatch submission runs: of one resource shape, at most MaxArraySize of them."""

    res: Resources
    cells: list[RunSpec]
    shape: int              # which resource shape (from 1, in first-seen order)
    sizes: tuple[int, ...]  # the cells of each array of this shape: one entry unless it was split


def job_arrays(todo: list[RunSpec], profile: Profile, max_size: int) -> list[JobArray]:
    """One array per resource shape, in first-seen order; a shape with more cells than `max_size`
    (the cluster's MaxArraySize) is split into consecutive arrays of at most that many."""
    out: list[JobArray] = []
    for shape, (res, cells) in enumerate(group_by_shape(todo, profile), 1):
        parts = split_array(cells, max_size)
        out += [JobArray(res, part, shape, tuple(len(p) for p in parts)) for part in parts]
    return out


def _arrays_of(sizes: tuple[int, ...]) -> str:
    """'2 arrays of 1001 and 245 tasks', '3 arrays of 5 tasks', '4 arrays: 3 of 5 tasks and 1 of 2'."""
    n, full, last = len(sizes), sizes[0], sizes[-1]
    if last == full:
        return f"{n} arrays of {full} task" + ("s" if full > 1 else "")
    if n == 2:
        return f"2 arrays of {full} and {last} tasks"
    return f"{n} arrays: {n - 1} of {full} tasks and 1 of {last}"


def preview(todo: list[RunSpec], root: Path, profile: Profile,
            listed_above: bool = False) -> tuple[str, list[str]]:
    """What `--dry-run` prints for Slurm: each array's shape, cells, exact sbatch options and what
    `sbatch --test-only` says of them; and one line per array sbatch refuses (empty: none). A shape
    with more cells than the cluster's MaxArraySize shows each array it is split into. With
    `listed_above` (the plan just printed `todo`, in its order), one array of them all names them
    instead of listing each cell a second time."""
    max_size, source = max_array_size()
    arrays = job_arrays(todo, profile, max_size)
    n_shapes = arrays[-1].shape if arrays else 0
    labels = cell_labels(todo)
    folder = root.absolute() / "submitit" / "<submission>"
    head = (f"{n_shapes} job array(s), one per resource shape:" if len(arrays) == n_shapes else
            f"{len(arrays)} job arrays for {counted(n_shapes, 'resource shape')}, at most {max_size} "
            f"task{'s' if max_size > 1 else ''} each ({source}):")
    lines, refused = [head], []
    unchecked: Optional[Check] = None  # sbatch missing or its controller silent: not asked again
    for i, arr in enumerate(arrays, 1):
        res, cells = arr.res, arr.cells
        if len(arr.sizes) > 1 and (i == 1 or arrays[i - 2].shape != arr.shape):  # before its first array
            lines.append(f"shape {arr.shape}: {counted(sum(arr.sizes), 'cell')} in {_arrays_of(arr.sizes)} "
                         f"(arrays {i}-{i + len(arr.sizes) - 1} below)")
        if listed_above and len(arrays) == 1:  # the plan's list, again, doubled a 1,000-cell dry run
            lines.append(f"array {i}: the {counted(len(cells), 'cell')} listed above; {res.describe()}")
        else:
            lines.append(f"array {i}: {counted(len(cells), 'cell')}; {res.describe()}")
            lines += [f"  {c.run_id}  {labels[c.run_id]}" for c in cells]
        lines.append(sbatch_text(folder, res, profile, job_name("<submission>"), len(cells)))
        check = unchecked or ask_sbatch(folder, res, profile, job_name("<submission>"), len(cells))
        unchecked = check if check.verdict == "unchecked" else None
        lines.append(f"array {i}: {check.line()}")
        if check.verdict == "refused":
            refused.append(f"sbatch --test-only refuses {_which(i, len(arrays))}({res.describe()}): "
                           f"{check.said}{_array_size_note(check.said, len(cells), source)}")
    used = {k for c in todo for k in profile.rules_for(c)}  # a rule meant for some cells that matched none
    lines += [f"shapes[{k}] (when {', '.join(f'{key}: {v}' for key, v in rule.when.items())}) matches none of "
              "these cells" for k, rule in enumerate(profile.shapes) if k not in used]
    return "\n".join(lines), refused


@dataclass
class Submitted:
    """The jobs of one submission, in the order of their cells."""

    refs: list[JobRef]
    jobs: list[Any]
    specs: list[RunSpec]


def require_slurm() -> None:
    """A UserError unless sbatch and srun are on PATH (submitit's own check is a RuntimeError traceback)."""
    missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
    if missing:
        raise UserError(f"no {' or '.join(missing)} on this machine's PATH: submit from a Slurm login node, or use "
                        "--executor local (this machine) or --dry-run (the arrays it would submit)")


def submit(todo: list[RunSpec], root: Path, profile: Profile, submission_id: str,
           folder: Path, on_array: Optional[Callable[[Submitted], None]] = None) -> Submitted:
    """Submit one array per shape; each task runs a checkpointable CellJob. `on_array(so_far)` is
    called after each array is queued, so its job ids are recorded before the next sbatch can
    fail. An array sbatch refuses is one UserError line naming the shape and sbatch's reason; the
    arrays queued before it keep running (recorded, so `sweep status` and the next sweep see them).
    The caller has checked that Slurm is here (require_slurm, before it wrote anything)."""
    out = Submitted([], [], [])
    name = job_name(submission_id)
    max_size, source = max_array_size()  # once per sweep
    arrays = job_arrays(todo, profile, max_size)
    labels = cell_labels(todo)
    for i, arr in enumerate(arrays, 1):
        res, cells = arr.res, arr.cells
        ex = slurm_executor(folder, res, profile, name)
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # submitit echoes sbatch's stderr
                jobs = ex.map_array(CellJob(), [c.model_dump() for c in cells],
                                    [str(root)] * len(cells))
        except FailedJobError as err:
            raise UserError(_refused(err, i, len(arrays), res, out, name, len(cells), source)) from None
        split = f"; shape {arr.shape} is {_arrays_of(arr.sizes)} ({source})" if len(arr.sizes) > 1 else ""
        log.info("submitted %s as %s (%s%s)", counted(len(cells), "cell"), jobs[0].job_id.split("_")[0],
                 res.describe(), split)
        for spec, job in zip(cells, jobs):
            out.refs.append(JobRef(spec.run_id, "slurm", job.job_id, name, str(folder), time.time(),
                                   labels[spec.run_id]))
            out.jobs.append(job)
            out.specs.append(spec)
        if on_array is not None:
            on_array(out)
    return out


def _which(i: int, n: int) -> str:
    """How a message names array i of n: 'the array ' when it is the only one."""
    return f"array {i} of {n} " if n > 1 else "the array "


def _array_size_note(reason: str, n_tasks: int, source: str) -> str:
    """What sbatch's bare "Invalid job array specification" likely means here: the array has more
    tasks than the cluster's MaxArraySize (`source`: where the sweep took its size limit from)."""
    if "invalid job array specification" not in reason.lower() or n_tasks < 2:
        return ""
    return (f" (an array of {n_tasks} tasks: more than the cluster's MaxArraySize? the sweep took {source}; "
            "`scontrol show config | grep MaxArraySize` shows it)")


def _refused(err: FailedJobError, i: int, n: int, res: Resources, queued: Submitted, name: str = "",
             n_tasks: int = 0, source: str = "") -> str:
    """One line for an array sbatch refused: which shape, sbatch's own reason, what still runs. An
    sbatch that timed out may have queued the array all the same (an overloaded controller): its
    tasks find no cell to run (submitit moves their files into place only once sbatch answers) and
    end within a minute; the line says how to see and cancel them."""
    said = [ln.split("error:", 1)[-1].strip() for ln in str(err).splitlines() if ln.strip()]
    reason = "; ".join(dict.fromkeys(said)) or "no reason given"
    unreached = _NO_CONTROLLER.search(reason)  # (before the note, which may quote scontrol's own error)
    reason += _array_size_note(reason, n_tasks, source)
    if unreached:  # nothing was judged: the options may be fine
        line = (f"sbatch could not reach the Slurm controller for {_which(i, n)}({res.describe()}): {reason}; "
                "check that Slurm runs and this machine's slurm.conf (`sinfo` should answer), then run the same "
                "command again" + (f" (a controller that timed out may have queued it all the same: `squeue --name "
                                   f"{name}` shows it; its tasks have no cell to run and end within a minute, or "
                                   "scancel them)" if name else ""))
    else:
        line = (f"sbatch refused {_which(i, n)}({res.describe()}): {reason}; {FIX_HINT} and run the same "
                "command again")
    if queued.refs:
        arrays = sorted({r.job_id.split("_")[0] for r in queued.refs})
        cells = f"{len(queued.refs)} cell" + ("s" if len(queued.refs) > 1 else "")
        line += (f"; the {cells} already queued (job {', '.join(arrays)}) run on and the next "
                 f"sweep waits for them")
    return line


def wait(sub: Submitted, fail_fast: bool, on_end) -> None:
    """Wait for every job; call `on_end(spec, CellError_or_None)` as each ends. --fail-fast cancels
    the tasks that have not started at the first cell that did not finish; they end with NOT_RUN
    (what the sweep did, not what sacct remembers of a pending task: often nothing)."""
    pending = list(range(len(sub.jobs)))
    ended_at: dict[int, float] = {}
    cancelled = False
    not_started: set[int] = set()  # the cells pending when --fail-fast cancelled them
    warned: set[str] = set()  # arrays already said to be unable to start
    said_no_answer = False

    def no_answer(why: NoAnswer) -> None:  # said once per spell of silence, as soon as squeue fails
        nonlocal said_no_answer
        if not said_no_answer:
            log.warning("Slurm does not answer (%s): waiting for it; a job is judged ended only when "
                        "sacct says so", why)
        said_no_answer = True

    while pending:
        reasons: dict[str, str] = {}
        states = slurm_states([sub.refs[i] for i in pending], reasons, no_answer)
        _warn_cannot_start(reasons, warned)
        if not any(isinstance(v, NoAnswer) for v in reasons.values()):
            said_no_answer = False
        still = []
        for i in pending:
            err = _outcome(sub.jobs[i], states.get(sub.refs[i].job_id, ""), ended_at, i)
            if err is _RUNNING:
                still.append(i)
                continue
            if i in not_started and err is not None and not sub.jobs[i].paths.result_pickle.exists():
                err = NOT_RUN  # (one that started after all has a result)
            on_end(sub.specs[i], err)
            if err is not None and not err.not_run and fail_fast and not cancelled:
                cancelled = True
                not_started = {j for j in pending if j != i and
                               LIVE.get(states.get(sub.refs[j].job_id, "")) == "pending"}
                cancel_pending(sorted({sub.refs[j].job_id.split("_")[0] for j in pending}))
                log.warning("--fail-fast: cancelled the cells that had not started")
        pending = still
        if pending:
            time.sleep(1.0)


_RUNNING = object()


def _warn_cannot_start(reasons: dict[str, str], warned: set[str]) -> None:
    """Once per array: say so when its tasks pend for a reason no running job will clear."""
    for job_id, reason in sorted(reasons.items()):
        array = job_id.split("_")[0]
        if not isinstance(reason, NoAnswer) and cannot_start(reason) and array not in warned:
            warned.add(array)
            log.warning("job %s %s (the sweep goes on waiting: Ctrl-C leaves it queued)", array,
                        pending_detail(reason))


@dataclass(frozen=True)
class CellError:
    """Why a cell's job ended without rows, in one line. `stopped`: a signal (scancel, kill) stopped
    it after it saved a checkpoint (bench.train.Interrupted), so the next sweep resumes it."""

    message: str
    stopped: bool = False
    not_run: bool = False  # --fail-fast kept it from starting: the next sweep runs it


# How a cell --fail-fast kept from starting ends, on every executor: counted, not listed
NOT_RUN = CellError("kept from starting by --fail-fast (not submitted, or cancelled while pending); the "
                    "next sweep runs it", not_run=True)
# A Slurm job that ended before it started (scancel while pending, or lost by the cluster): not run
NEVER_STARTED = CellError("its job ended before it started (cancelled while pending, or lost by the cluster); "
                          "the next sweep runs it", not_run=True)


def _outcome(job: Any, state: str, ended_at: dict[int, float], i: int) -> Any:
    """None (success), a CellError, or _RUNNING."""
    # The queue first: a preempted job's `scontrol requeue` fails (Slurm is requeueing it already)
    # and submitit records that as an error, yet the job runs again and resumes.
    if state in LIVE:
        return _RUNNING
    if state == UNREACHABLE:  # Slurm did not answer: only a success is sure (a preempted job's
        ended_at.pop(i, None)  # error may be followed by its requeue), else wait for Slurm
        done = job.paths.result_pickle.exists() and job.exception() is None
        return None if done else _RUNNING
    if job.paths.result_pickle.exists():
        exc = job.exception()
        if exc is not None and TIMED_OUT_TOO_OFTEN in str(exc):
            return CellError("timed out again after as many requeues as max_requeues allows: rerun "
                             "with a larger --timeout-min (it resumes from its checkpoint)")
        return None if exc is None else cell_error(exc)
    # Ended (or unknown) without a result file: give the file system a moment, then report.
    first = ended_at.setdefault(i, time.monotonic())
    if time.monotonic() - first < _NO_PICKLE_GRACE_S and state in ("", "COMPLETED"):
        return _RUNNING
    if state in ("CANCELLED", "") and not job.paths.stderr.exists():  # Slurm opens it as the job starts
        return NEVER_STARTED  # (`sweep status` calls such a cell missing; the sweep called it failed)
    if state == "CANCELLED":
        return CellError("cancelled")
    if not state:
        return CellError("left the queue without a result (cancelled while pending, or lost)")
    return CellError(f"ended as {state} without a result")


STOPPED_BY_SIGNAL = "stopped by a signal"


def cell_error(exc: BaseException, stop_reason: str = STOPPED_BY_SIGNAL) -> CellError:
    """A failed job's own error in one line: for submitit's errors, the exception that ends the
    traceback they wrap in dashes (a user mistake as its message alone, others with their type).
    `stop_reason` says why a run that saved its step and stopped (bench.train.Interrupted) did."""
    if not isinstance(exc, submitit.core.utils.UncompletedJobError):  # raised in this process
        return _one_line(type(exc).__name__, str(exc), stop_reason)
    blocks = re.split(r"\n-{10,}\n", str(exc).strip())
    return (traceback_error(blocks[1] if len(blocks) >= 3 else blocks[0], stop_reason)
            or CellError(type(exc).__name__))


def traceback_error(trace: str, stop_reason: str = STOPPED_BY_SIGNAL) -> Optional[CellError]:
    """The exception that ends a Python traceback in `trace`, as one line (None if there is none)."""
    lines = trace.strip().splitlines()
    frames = [i for i, ln in enumerate(lines) if ln.startswith("  File ")]
    if not frames:
        return None
    rest = lines[frames[-1] + 1:]
    while rest and rest[0].startswith(" "):  # the frame's source line and its ^^^ markers
        rest = rest[1:]
    head, _, msg = " ".join(ln.strip() for ln in rest if ln.strip()).partition(": ")
    if not re.fullmatch(r"[\w.]+", head):
        return None
    return _one_line(head.rsplit(".", 1)[-1], msg, stop_reason)


def _one_line(name: str, msg: str, stop_reason: str = STOPPED_BY_SIGNAL) -> CellError:
    msg = " ".join(msg.split())
    if name == "Interrupted" and msg:  # bench.train.Interrupted: a signal (scancel, kill) stopped it
        return CellError(f"{msg} ({stop_reason}); the next sweep resumes it from that step",
                         stopped=True)
    return CellError(msg if name == "UserError" and msg else f"{name}: {msg}" if msg else name)
