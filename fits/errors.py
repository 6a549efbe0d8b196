"""The one exception type for bad input to `fits`: the CLI prints it on one line and exits with 2."""
from __future__ import annotations

import argparse
import contextlib
import contextvars
from typing import Iterator, Sequence


class FitInputError(ValueError):
    """Input the user can fix: too few sizes, NaN or negative errors, unknown law or column."""


class PredictionOverflow(FitInputError):
    """A prediction far outside the fitted sizes, where the law's arithmetic leaves the floats
    (fits.core.finite_prediction). Scoring code (holdout scores, fits.select, the benchmark) counts
    it as a miss; a user's predict or band gets it as its one line."""


def one_line(name: object) -> str:
    """A name (a group's value, a column) as a message shows it: as it is, or escaped and quoted as
    repr does ('a\\nb') when it holds a newline, tab or other unprintable character, which would break
    the message's one line (or hide in it)."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def none_fitted(by: str | None, errors: dict[str, str]) -> FitInputError:
    """The error when every group failed, on one line: each distinct reason once, with the groups
    it stopped (it named only the first group, though another may have failed for another reason)."""
    reasons: dict[str, list[str]] = {}
    for group, why in errors.items():
        reasons.setdefault(why, []).append(f"{one_line(by)}={one_line(group)}" if by else one_line(group))
    parts = [f"{', '.join(gs[:3])}{f' and {len(gs) - 3} more' if len(gs) > 3 else ''}: {why}"
             for why, gs in reasons.items()]
    shown = "; ".join(parts[:3]) + (f"; and {len(parts) - 3} other reasons" if len(parts) > 3 else "")
    return FitInputError(f"no group could be fitted ({shown})")


_ON_CLI = contextvars.ContextVar("fits_on_cli", default=False)


@contextlib.contextmanager
def cli_spelling() -> Iterator[None]:
    """Within it, option() spells settings as the command line does: the entry points of `synthscale`
    and `python -m fits` run their subcommands in it (demo's --by reaches the fits API via slurm.demo)."""
    token = _ON_CLI.set(True)
    try:
        yield
    finally:
        _ON_CLI.reset(token)


def option(name: str, value: str | None = None) -> str:
    """A setting as the user gives it: `--by complexity` on the command line, `by='complexity'` from
    Python (fit_table and compare_runs take `by`; a hint to pass --by read as a flag there)."""
    if _ON_CLI.get():
        return f"--{name}" if value is None else f"--{name} {value}"
    return name if value is None else f"{name}={value!r}"


def did_you_mean(parser: argparse.ArgumentParser, prog: str, extra: Sequence[str]) -> str:
    """'; did you mean --dry-run?' for the first unknown option in `extra` close to one of the options
    of the (sub)command of `parser` whose prog is `prog` (as argparse named it), else ''. Here, not in
    synth.console, so that `python -m fits` (which imports nothing of synth) and `synthscale` share it."""
    import difflib

    def find(p: argparse.ArgumentParser) -> argparse.ArgumentParser | None:
        if p.prog == prog:
            return p
        for action in p._actions:  # argparse keeps subcommands in these actions' choices
            for sub in (action.choices or {}).values() if isinstance(action, argparse._SubParsersAction) else ():
                if (hit := find(sub)) is not None:
                    return hit
        return None

    cmd = find(parser)
    options = [o for a in (cmd._actions if cmd else []) for o in a.option_strings if o.startswith("--")]
    for word in extra:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.7)
            if close:
                return f"; did you mean {close[0]}?"
    return ""
