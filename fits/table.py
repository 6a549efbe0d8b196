"""Fitting a runs table group by group: holdout scores, fits.json, the terminal summary."""
from __future__ import annotations

import contextlib
import difflib
import json
import re
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Sequence

import numpy as np
import pandas as pd

from fits.core import MAX_VALUE, Fit, evaluate, fit_curve, json_value, make_problem, strict_json, weighted
from fits.diagnostics import FLAT_TEXT, size_stats
from fits.errors import FitInputError, none_fitted, one_line, option
from fits.laws import AUTO, LAWS, get_law

LEVEL = 0.95
N_GRID = 60  # points of the stored curve and band, per group


def holdout_score(x: Any, y: Any, law: str = "power_floor", n_holdout: int = 1, *,
                  groups: Any = None, fixed: dict | None = None, weights: Any = None) -> dict[str, Any] | None:
    """Fit all but the `n_holdout` largest sizes, predict those: mean abs and relative error.

    None when fewer than 3 sizes (of weight > 0) would remain: a law cannot be tested without
    spare sizes. Laws of one size only (transfer_bound: fits.bound). law AUTO scores the choice
    too: fits.select chooses among the remaining sizes (holding out its own largest), and the
    result names the law it chose ("law"). The law chosen on all sizes, scored on the largest,
    is scored where it was chosen: its score is the lowest of the tried laws' there, biased low."""
    if isinstance(n_holdout, bool) or not isinstance(n_holdout, (int, np.integer)) or n_holdout < 1:
        raise FitInputError(f"n_holdout must be a whole number >= 1 (sizes held out), got {n_holdout!r}")
    auto = law == AUTO
    if not auto and get_law(law).n_inputs != 1:
        raise FitInputError(f"holdout_score holds out sizes of one-size laws; {law!r} takes two "
                            "(n and s): check it with fits.bound.check_bound")
    # bad input: one line, before any split; a point of weight 0 is left out: neither fitted nor scored
    if auto and fixed:
        raise FitInputError(f"law {AUTO!r} chooses among laws with different parameters: it takes no fixed values")
    prob = weighted(make_problem(x, y, "power_floor" if auto else law, groups, weights, fixed))
    xa, ya, groups, weights = prob.x, prob.y, prob.groups, prob.weights
    sizes = np.unique(xa)
    if len(sizes) - n_holdout < 3:
        return None
    cut = sizes[-n_holdout]
    train = xa < cut
    g = None if groups is None else groups[train]
    w = None if weights is None else weights[train]
    if auto:
        from fits.selection import select  # it imports this module

        fit = select(xa[train], ya[train], groups=g, weights=w).fit
    else:
        fit = fit_curve(xa[train], ya[train], law, groups=g, fixed=fixed, weights=w)
    held, mean, _, _ = size_stats(xa[~train], ya[~train])
    pred = evaluate(fit.law, held, fit.params)  # inf where the law overflows: a miss (select passes it over)
    abs_err = np.abs(pred - mean)
    rel = abs_err / np.where(mean > 0, mean, 1.0)  # as fits.extrapolate: an observed 0 counts the absolute miss
    return {"held_out": held.tolist(), "abs_err": float(abs_err.mean()),
            "rel_err": float(rel.mean()), "predicted": pred.tolist(), "observed": mean.tolist(),
            **({"law": fit.law.name} if auto else {})}


def _check_columns(df: pd.DataFrame, cols: Sequence[str | None], has: Sequence[Any] | None = None) -> None:
    """Each named column is in `df`, or one line naming it, the nearest name and the table's columns
    (`has`: the columns to list, by default df's; fit_rows lists the caller's, not the "a,b" it joined)."""
    several = [c for c in cols if not isinstance(c, Hashable)]
    if several:
        raise FitInputError(f"name one column for each size and error, got {several[0]!r} (only the grouping "
                            "may name several: by=['a', 'b'] or by='a,b')")
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        has = list(df.columns if has is None else has)
        names = [str(c) for c in has]
        close = [m for c in missing for m in difflib.get_close_matches(str(c), names, n=1)]
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise FitInputError(f"column(s) {missing} not in the table{hint}; it has {has}")


_ACCURACY = re.compile(r"(?<![a-z])acc(uracy)?(?![a-z])")
# names that say the column is an error after all: 1-acc, one_minus_acc, acc_drop, acc_gap, delta_acc
_NOT_ACCURACY = re.compile(r"^(1|100|one)\s*[-_ ]|err|loss|minus|drop|gap|delta|diff|deficit|complement")


def looks_like_accuracy(name: Any) -> bool:
    """Whether a value column's name says accuracy (test_acc, Accuracy, top1-acc, testAcc), not an
    error: synthscale's own runs table has test_acc beside test_err. Names that also say error, loss, a
    complement (1-acc, one_minus_acc) or a difference (acc_drop, acc_gap) pass."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name)).lower()  # camelCase: testAcc reads test_acc
    return bool(_ACCURACY.search(text)) and not _NOT_ACCURACY.search(text)


def _status_ok(status: pd.Series) -> pd.Series:
    """Which rows' status says ok: 'ok' in any case, spaces around it ignored ('OK', 'ok ' from a spreadsheet)."""
    return status.map(lambda v: isinstance(v, str) and v.strip().lower() == "ok").astype(bool)


def left_out_note(df: pd.DataFrame) -> str | None:
    """What usable_rows leaves out of `df` for its status, in one line: how many rows and which status
    values (a missing or empty one as blank), most frequent first; None when it leaves none out, or
    all (an error: usable_rows)."""
    if "status" not in df.columns:
        return None
    ok = _status_ok(df["status"])
    if ok.all() or not ok.any():
        return None
    names = df["status"][~ok].map(lambda v: "blank" if _missing(v) or not str(v).strip()
                                  else one_line(label(v).strip()))
    counts = names.value_counts(sort=False).sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    shown = ", ".join(f"{v}: {n}" for v, n in counts.head(5).items()) + (", ..." if len(counts) > 5 else "")
    return f"left out {int((~ok).sum())} of {len(df)} rows whose status is not 'ok' ({shown})"


# While a command runs, the function that prints left_out_note (fits.cli.tells_left_out_rows: once per
# command, as fit_rows reads the table again per group and plot twice); none in a library call.
_TELL_LEFT_OUT: list[Callable[[str], None]] = []


@contextlib.contextmanager
def telling_left_out(tell: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, fit_rows passes left_out_note to `tell` when it leaves rows out for their status."""
    _TELL_LEFT_OUT.append(tell)
    try:
        yield
    finally:
        _TELL_LEFT_OUT.remove(tell)


def usable_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of finished runs: status 'ok' (any case, spaces around it ignored) when the table has a
    status column (left_out_note says what the others are)."""
    if "status" not in df.columns:
        return df
    ok = _status_ok(df["status"])
    if not ok.any():
        seen = ", ".join(map(repr, df["status"].drop_duplicates().head(3).tolist()))
        raise FitInputError(f"no finished runs: the status column has no 'ok' rows (it has {seen}); "
                            "fit the rows of finished runs, or drop the column if every row is usable")
    return df[ok]


def _where(row: Any) -> str:
    """'row 5 (line 7 of a CSV with a header)': a row label as a user finds it in the file."""
    row = row.item() if isinstance(row, np.generic) else row  # np.int64(2) reads as 2
    line = f" (line {row + 2} of a CSV with a header)" if isinstance(row, int) and not isinstance(row, bool) else ""
    return f"row {row!r}{line}"


def fit_rows(df: pd.DataFrame, sizes: Sequence[str], values: Sequence[str],
             others: Sequence[str | None] = (), seed: str | None = "seed") -> pd.DataFrame:
    """The rows a table-reading command fits: the named columns exist (a group column "a,b" is made
    by group_column), only finished runs, size and value columns numeric and finite, sizes >= 0
    (0 = the scratch baseline; a second size is the fine-tuning size, > 0) and below MAX_VALUE,
    no missing `seed` (a column the caller uses for seeds, when the table has it) and no row
    repeated (check_repeats). One-line errors otherwise. Rows left out for their status (usable_rows)
    are told of, once the checks pass, inside telling_left_out."""
    if not isinstance(df, pd.DataFrame):
        raise FitInputError(f"the runs table must be a pandas DataFrame (e.g. pd.read_csv('runs.csv')), "
                            f"got a {type(df).__name__}; wrap it: pd.DataFrame(...)")
    given = list(df.columns)
    for c in others:
        df = group_column(df, c)
    _check_columns(df, [*sizes, *values, *others], has=given)
    named = [c for c in [*sizes, *values, *others] if c is not None]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        roles = ", ".join(option(k) for k in ("x", "s", "y", "by"))
        raise FitInputError(f"column {twice[0]!r} is named for two roles (size, error or group: {roles}); "
                            "give each role its own column")
    for c in values:
        if looks_like_accuracy(c):
            raise FitInputError(f"column {c!r} looks like an accuracy (higher is better), but the laws fit an error "
                                f"that falls with size (a rising curve read as an error turns every comparison "
                                f"around): name an error column, e.g. {option('y', 'test_err')}, or add one as "
                                "1 - accuracy (100 - accuracy for percent)")
    if df.empty:
        raise FitInputError("the table has no rows")
    note = left_out_note(df)
    df = usable_rows(df)
    for c in [*sizes, *values]:
        if pd.api.types.is_bool_dtype(df[c]):  # numeric to pandas: False read as size 0, the scratch baseline
            raise FitInputError(f"column {c!r} holds true/false values, not numbers; name a numeric column")
        if not pd.api.types.is_numeric_dtype(df[c]):
            num = pd.to_numeric(df[c], errors="coerce")
            bad = df[c][num.isna() & df[c].notna()]
            if len(bad):
                raise FitInputError(f"column {c!r} must hold numbers, but has {bad.iloc[0]!r}; "
                                    "name a numeric column or repair those rows")
            df = df.assign(**{c: num})  # numbers stored as text or objects (read with dtype=str, JSON)
    for c in [*sizes, *values]:
        bad = ~np.isfinite(df[c].to_numpy(float))
        if bad.any():
            first = df.index[bad][0]
            raise FitInputError(f"column {c!r} has {int(bad.sum())} missing or infinite value(s), the first "
                                f"{df[c][first]} at {_where(first)}; repair or drop those rows")
    for i, c in enumerate(sizes):
        if (df[c] < 0).any():
            rule = ("sizes must be >= 0 (0 = the scratch baseline)" if i == 0 else
                    f"{c} must be > 0 (it is the fine-tuning size)")
            raise FitInputError(f"column {c!r} has negative sizes (min {df[c].min():g}); {rule}")
        huge = df[c] >= MAX_VALUE
        if huge.any():  # the fit's arithmetic would overflow (fits.core.MAX_VALUE)
            raise FitInputError(f"column {c!r} has sizes too large to fit, the first {df[c][huge].iloc[0]:.4g} at "
                                f"{_where(df.index[huge][0])}; sizes must be below {MAX_VALUE:.0e}: repair or "
                                "drop those rows")
    for c in others:  # a blank group value made a curve named nan of a run's rows, or a false repeat
        for part in by_columns(c, given):
            blank = (df[sizes[0]] > 0) & df[part].isna()
            if blank.any():
                more = f" and {int(blank.sum()) - 1} more row(s)" if blank.sum() > 1 else ""
                raise FitInputError(f"column {part!r} is empty at {_where(df.index[blank][0])}{more} with "
                                    f"{sizes[0]} > 0: which curve such a run belongs to is unknown; fill in its "
                                    f"{part}, or drop those rows (only scratch rows, {sizes[0]} = 0, may leave it empty)")
    if seed is not None and seed in df.columns:
        _check_seeds(df, seed)
    check_repeats(df, [c for c in [*others, *sizes] if c is not None], seed if seed in df.columns else None)
    if note and _TELL_LEFT_OUT:  # after the checks: a refused table's error stays its one line
        _TELL_LEFT_OUT[-1](note)
    return df


def _check_seeds(df: pd.DataFrame, seed: str) -> None:
    """Every row names its seed: a missing one (NaN, an empty cell) would be fitted as a seed of its
    own and change the intervals. Text seeds are labels and are kept."""
    col = df[seed]
    bad = col.isna() | (col.astype(str).str.strip() == "")
    if bad.all():  # "drop those rows" would drop the table
        raise FitInputError(f"column {seed!r} is empty in every row; drop that column to fit the rows as "
                            "independent runs, or fill in each run's seed")
    if bad.any():
        raise FitInputError(f"column {seed!r} has {int(bad.sum())} missing value(s), the first at "
                            f"{_where(df.index[bad][0])}; give every run its seed, or drop those rows")


def _repeat(df: pd.DataFrame, key: list[str]) -> tuple[str, pd.Series] | None:
    """(where they are, the repeat's values) of the first pair of rows equal in every column of
    `key`, or None."""
    again = df.duplicated(key, keep="first")
    if not again.any():
        return None
    code = df.groupby(key, dropna=False, sort=False).ngroup().to_numpy()  # one code per distinct key
    second = int(np.argmax(again.to_numpy()))
    first = int(np.argmax(code == code[second]))
    if df.index.is_unique:
        where = _lines((df.index[first], df.index[second]))
    else:  # labels repeat (pd.concat without ignore_index): only positions tell the rows apart
        where = f"the rows at positions {first} and {second} (the table's index repeats labels)"
    return where, df.iloc[second], df.iloc[first]


NOT_A_CONDITION = frozenset({"run_id", "pretrain_id", "status", "host", "torch", "name", "knobs",
                             # numbers a run records of how it ran, not what: few values, not conditions
                             "torch_threads", "resumed_from_step", "pretrain_resumed_from_step",
                             # min(n_synth, the budget drawn): blank in rows written before it existed
                             "pretrain_distinct"})


def _told_apart_by(a: pd.Series, b: pd.Series, df: pd.DataFrame | None = None) -> list[str]:
    """Columns in which two rows differ that may name two conditions the table pools; not ids,
    hosts or statuses: text columns (a table from another tool: 'gen' = shapes / fractals), then,
    given the table `df`, numeric columns with few values in it (at most a third of its rows: 'lr'
    = 0.1 / 0.01, not a measured error or a time, whose every row differs)."""
    text = [c for c in a.index if isinstance(c, str) and c not in NOT_A_CONDITION
            and (isinstance(a[c], str) or isinstance(b[c], str)) and _shown(a[c]) != _shown(b[c])]
    if df is None:
        return text
    few = max(2, len(df) // 3)
    numeric = [c for c in a.index if isinstance(c, str) and c not in NOT_A_CONDITION and c not in text
               and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               and _shown(a[c]) != _shown(b[c]) and df[c].nunique() <= few]
    return text + numeric


def _lines(rows: tuple[Any, Any]) -> str:
    if all(isinstance(r, (int, np.integer)) for r in rows):
        return f"rows {rows[0]} and {rows[1]} (lines {rows[0] + 2} and {rows[1] + 2} of a CSV with a header)"
    return f"rows {rows[0]!r} and {rows[1]!r}"


def _shown(v: Any) -> str:
    """A cell's value in a message: "(empty)" for a missing one (a scratch row's complexity); one
    with a newline or another unprintable character escaped (fits.errors.one_line)."""
    return "(empty)" if _missing(v) else one_line(label(v))


def check_repeats(df: pd.DataFrame, keys: Sequence[str], seed: str | None) -> None:
    """Refuse a row that repeats another: the same run_id (and n_real: a run has one row per real
    size), or, with seeds, the same seed at the same `keys` (group and sizes) and design (a table
    concatenated with itself counts every run twice and narrows the intervals). Tables without
    run_id and seed columns may repeat a size: those are replicates."""
    if "run_id" in df.columns:
        key = ["run_id", *(["n_real"] if "n_real" in df.columns else [])]
        rows = _repeat(df[df["run_id"].notna()], key)
        if rows:
            where, row, _ = rows
            what = ", ".join(f"{c} {one_line(label(row[c]))}" for c in key)
            raise FitInputError(f"{what} appears twice, at {where}: a runs table has one row per "
                                f"{' and '.join(key)} (a table concatenated or collected twice?); drop the "
                                f"repeated rows, e.g. df.drop_duplicates({key})")
    if seed is None:
        return
    key = list(dict.fromkeys([*keys, seed, *design_columns(df)]))
    rows = _repeat(df, key)
    if rows:
        where, row, other = rows
        what = ", ".join(f"{one_line(c)}={_shown(row[c])}" for c in dict.fromkeys([*keys, seed]))
        apart = _told_apart_by(other, row, df)
        hint = (f"; they differ in {one_line(apart[0])!r} ({_shown(other[apart[0]])}, {_shown(row[apart[0]])}): "
                f"if those are two conditions, add {one_line(apart[0])} to {option('by')}"
                if apart else "")
        raise FitInputError(f"{where} repeat one measurement ({what}, same design): each seed counts "
                            "once per size, a repeat counts twice and narrows the intervals; drop the repeated "
                            f"row, or give a second measurement its own seed{hint}")


# Columns of a runs table (bench.run's rows) that say what was run. Rows of one curve that differ in
# one of them at the same size are different experiments pooled into one fit.
# n_test: a target's test subset (target.test_size); collect records it there, not as a config column.
DESIGN_COLUMNS = ("generator", "complexity", "knobs", "task", "model", "target", "n_synth", "n_real", "n_test",
                  "resolution",
                  "channels", "pretrain_examples", "finetune_examples", "protocol", "condition",
                  "proxy_lambda", "lr_policy", "policy", "asg_interval", "asg_n_groups")


# A runs table also has a column per config field its runs differ in beyond those (bench.collect:
# `finetune.lr`, `model.drop_rate`, ...), named by the field's dotted path.
CONFIG_PREFIXES = ("synth.", "model.", "pretrain.", "finetune.", "target.", "asg.")


def design_columns(df: pd.DataFrame) -> list[str]:
    """The columns of `df` that say what was run: DESIGN_COLUMNS and config-field columns."""
    return [c for c in DESIGN_COLUMNS if c in df.columns] + [
        c for c in df.columns if isinstance(c, str) and c.startswith(CONFIG_PREFIXES)]


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and bool(np.isnan(v)))


def label(v: Any) -> str:
    """A group value as text: 1 for 1.0 (a CSV's integers with blanks read as floats), nan if missing."""
    if _missing(v):
        return "nan"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def group_key(by: Any) -> Any:
    """`by` as the key the fitting functions take: a list or tuple of column names means the same
    as their "a,b" string (one group per combination); a single name, or None, as given."""
    if not isinstance(by, (list, tuple)):
        return by
    if not by or not all(isinstance(c, str) for c in by):
        raise FitInputError(f"by must name one column or a list of column names, got {by!r}")
    return ",".join(by)


def by_columns(by: Any, columns: Sequence[Any]) -> list[str]:
    """The table columns a group value `by` names: itself, or the parts of "a,b" when it is no column."""
    if by is None or by == "":
        return []
    return [by] if by in columns or not isinstance(by, str) or "," not in by else [c.strip() for c in by.split(",")]


def group_column(df: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """`df` with `by` as one column: "a,b" (when not itself a column) joins columns a and b into
    values like "plain/mnist5k"; a float column of whole numbers (with blanks) becomes integers, so
    its groups are 1 and 3, not 1.0 and 3.0."""
    if by is None or not isinstance(by, str):
        return df
    if by not in df.columns and "," in by:
        cols = by_columns(by, df.columns)
        twice = sorted({c for c in cols if cols.count(c) > 1})
        if twice:  # complexity,complexity used to label every group "1/1"
            raise FitInputError(f"{option('by', by)} names column {twice[0]!r} twice; name each column once "
                                f"({option('by', ','.join(dict.fromkeys(cols)))})")
        _check_columns(df, cols)
        df = df.copy()
        df[by] = ["/".join(map(label, vals)) for vals in zip(*(df[c] for c in cols))]
        return df
    if by in df.columns and pd.api.types.is_float_dtype(df[by]):
        vals = df[by].dropna().to_numpy(float)
        if np.isfinite(vals).all() and (vals == np.round(vals)).all() and (np.abs(vals) < 2.0 ** 53).all():
            df = df.copy()
            df[by] = df[by].astype("Int64")
    return df


def value_order(v: Any) -> tuple:
    """A sort key for group values: numbers by value (5 before 50 before 100, as one numeric column
    sorts), then text, then missing; numbers and text in one column do not raise."""
    if _missing(v):
        return (2, 0.0, "")
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def _groups(df: pd.DataFrame, by: str | None) -> list[tuple[Any, pd.DataFrame]]:
    if by is None:
        return [("all", df)]
    groups = [(k, g) for k, g in df.groupby(by, sort=True, dropna=False)]
    cols = [c.strip() for c in by.split(",")] if isinstance(by, str) and "," in by else []
    if cols and all(c in df.columns for c in cols):  # joined "1/50" labels: order by each column's values
        groups.sort(key=lambda kg: tuple(value_order(kg[1][c].iloc[0]) for c in cols))
    return groups


def pooling_columns(pos: pd.DataFrame, sizes: Sequence[str], by: str | None) -> list[str]:
    """The design columns of `pos` that may not vary within one fit, in the order they are checked: not the
    sizes nor the --by columns, and the whole knobs JSON last (a per-knob column, bench.collect's, names
    the knob)."""
    grouped = {*sizes, *(by.split(",") if isinstance(by, str) else [])}
    cols = [c for c in design_columns(pos) if c not in grouped]
    return [c for c in cols if c != "knobs"] + [c for c in cols if c == "knobs"]


def pooling_fix(by: str | None, key: Any, c: str, per: str) -> tuple[str, str]:
    """(what pools, the option that splits it) for a message that refuses a fit pooling the values of
    column `c`: 'the table' and `--by c` ("one <per> per value"), or, under --by, the group and
    `--by <by>,c`."""
    if by:
        return (f"group {one_line(by)}={one_line(label(key))}",
                f"group by both: {option('by', f'{one_line(by)},{c}')}")
    return "the table", f"one {per} per value: {option('by', c)}"


def check_not_pooled(g: pd.DataFrame, sizes: Sequence[str], by: str | None = None, key: Any = None) -> None:
    """One curve must be one experiment: refuse a group whose rows at one size (one combination of
    `sizes`) differ in a design column (two targets, two complexity levels, two real sizes ...
    fitted as if they were seeds). Rows with a first size of 0 (scratch) are the shared baseline."""
    pos = g[g[sizes[0]] > 0]
    for c in pooling_columns(pos, sizes, by):
        # a blank is not a second value: rows written before a column existed leave it empty
        if (pos.groupby(list(sizes))[c].nunique(dropna=True) > 1).any():
            vals = [label(v) for v in sorted(pos[c].dropna().drop_duplicates(), key=value_order)]
            shown = ", ".join(map(one_line, vals[:4])) + (", ..." if len(vals) > 4 else "")
            where, fix = pooling_fix(by, key, c, "curve")
            raise FitInputError(f"{where} pools runs that differ in {c!r} ({shown}) at the same "
                                f"{' and '.join(sizes)}, as if they were seeds of one curve; fit one {c} at a "
                                f"time (a table with one value of it), or {fix}")


def curve_groups(df: pd.DataFrame, x: str, by: str | None, *,
                 check_pooled: bool = True) -> list[tuple[Any, pd.DataFrame]]:
    """The rows of each value of `by`, in fit's order, without groups of scratch rows only: scratch
    rows (x == 0) have no generator, so their group value is missing (complexity) or 'none'
    (generator); they are the shared baseline, not a curve of their own. A group that pools
    different experiments at one x is refused unless check_pooled is False (the bound's groups
    vary n_real by design; it checks each over (n, s) itself)."""
    out = [(k, g) for k, g in _groups(df, by) if not (g[x] == 0).all()]
    if not out:
        raise FitInputError(f"no rows with {x} > 0 to fit (rows with {x} = 0 are the scratch baseline)")
    for k, g in out if check_pooled else []:
        check_not_pooled(g, [x], by, k)
    labels = [label(k) for k, _ in out]
    twice = sorted({t for t in labels if labels.count(t) > 1})
    if twice:  # e.g. "1" and 1.0 in one object column: one would overwrite the other's fit
        raise FitInputError(f"column {by!r} has several values that print as {twice[0]!r}; make them one "
                            "type (all text or all numbers)")
    return out


def write_fits_json(res: dict[str, Any], path: str | Path) -> Path:
    """Write what fit_runs returned as strict JSON (missing values as null); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(strict_json(res), indent=1, allow_nan=False) + "\n"
    from fits.datasets import write_aside

    write_aside(out, lambda tmp: tmp.write_text(text))  # a stop while writing keeps the old file whole
    return out


# What a scratch run (x = 0) has none of: the synthetic pre-training. A curve's baseline is the
# scratch runs that agree with it on every other design column (n_real, target, model, finetune.lr).
PRETRAIN_SIDE = ("generator", "complexity", "knobs", "task", "pretrain_examples")
PRETRAIN_PREFIXES = ("synth.", "pretrain.")


def _outside_pretraining(df: pd.DataFrame, x: str) -> list[str]:
    return [c for c in design_columns(df)
            if c != x and c not in PRETRAIN_SIDE and not c.startswith(PRETRAIN_PREFIXES)]


def _differ_outside_pretraining(rows: pd.DataFrame, x: str) -> bool:
    """Whether `rows` differ in a design column other than the pre-training's (blanks aside)."""
    return any(rows[c].nunique(dropna=True) > 1 for c in _outside_pretraining(rows, x))


def scratch_rows(df: pd.DataFrame, g: pd.DataFrame, x: str) -> pd.DataFrame:
    """The scratch rows (x == 0) that are the baseline of the curve `g`: its own if it has some
    (a `by` column the scratch runs share), else the table's; of those, the ones that agree with
    the curve's runs on every design column outside the pre-training (a blank matches anything)."""
    own = g[g[x] == 0]
    rows, pos = (own if len(own) else df[df[x] == 0]), g[g[x] > 0]
    for c in _outside_pretraining(df, x):
        want = pos[c].dropna().unique()
        if len(want):
            rows = rows[rows[c].isna() | rows[c].isin(want)]
    return rows


def scratch_stats(y: pd.Series) -> dict[str, float] | None:
    """Mean, seed-to-seed std and count of the scratch (x == 0) errors; None if there are none."""
    if len(y) == 0:
        return None
    return {"mean": float(y.mean()), "std": float(y.std(ddof=1)) if len(y) > 1 else 0.0, "n": int(len(y))}


def _curve(fit: Fit, x: np.ndarray) -> dict[str, list[float]]:
    grid = np.geomspace(x.min(), 2 * x.max(), N_GRID)
    lo, hi = fit.band(grid, LEVEL)
    return {"x": grid.tolist(), "fit": fit.predict(grid).tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def fit_group(g: pd.DataFrame, x: str, y: str, law: str, scratch: pd.DataFrame | None = None) -> dict[str, Any]:
    """fits.json entry of one group: params, CIs, holdout, diagnostics, curve + band, and the
    statistics of `scratch` (its baseline rows, or None: the table's shared one); with law AUTO, the
    law fits.select chooses for this group and why ("selection")."""
    from fits.selection import select  # fits.selection imports holdout_score from here

    pos = g[g[x] > 0]
    seeds = pos["seed"].to_numpy() if "seed" in pos.columns else None
    entry: dict[str, Any] = {"scratch": scratch_stats(scratch[y]) if scratch is not None else None}
    xs, ys = pos[x].to_numpy(float), pos[y].to_numpy(float)
    try:
        if law == AUTO:
            sel = select(xs, ys, groups=seeds)
            fit = sel.fit
            entry["selection"] = {"message": sel.message, "holdout_rel_err": sel.scores}
        else:
            fit = fit_curve(xs, ys, law, groups=seeds)
        curve = _curve(fit, pos[x].to_numpy(float))  # (a law that overflows there: this group is not fitted)
    except FitInputError as exc:
        return {**entry, "error": str(exc)}
    hold = holdout_score(pos[x], pos[y], law, groups=seeds)  # AUTO: the choice is scored too
    entry.update(fit.to_dict(LEVEL))
    entry.update({"sizes": np.unique(pos[x]).tolist(), "holdout": hold, "curve": curve,
                  "y_sum": float(np.sort(ys).sum())})  # plot checks it is drawn over the rows fitted
    return entry


def fit_runs(df: pd.DataFrame, x: str = "n_synth", y: str = "test_err", by: str | None = "complexity",
             law: str = "power_floor") -> dict[str, Any]:
    """What `synthscale fit` writes to fits.json: one fitted curve per group, plus scratch baselines.
    law AUTO fits each group with the law fits.select chooses for it (its entry's "law")."""
    if isinstance(law, str) and law not in LAWS and law != AUTO:
        raise FitInputError(f"unknown law {law!r}; valid: {', '.join(sorted(LAWS))}, or {AUTO} (chosen per group)")
    if law != AUTO and get_law(law).n_inputs != 1:
        raise FitInputError(f"{law!r} is fitted over two sizes (pre-training n and fine-tuning s): "
                            f"use `synthscale bound runs.csv --x {x} --s n_real`")
    by = group_key(by)
    df = fit_rows(df, [x], [y], [by])
    curves = curve_groups(df, x, by)
    base = {label(k): scratch_rows(df, g, x) for k, g in curves}
    everyone = df[df[x] == 0]
    # One baseline for the table only when its scratch runs are one experiment (not two real sizes,
    # targets or learning rates) that every curve shares; else each curve gets its own, or none
    shared = (not everyone.empty and not _differ_outside_pretraining(everyone, x)
              and all(len(b) for b in base.values()))
    groups = {label(k): {"value": json_value(k), **fit_group(
                  g, x, y, law, None if shared and len(base[label(k)]) == len(everyone) else base[label(k)])}
              for k, g in curves}
    if groups and all("error" in g for g in groups.values()):
        raise none_fitted(by, {k: g["error"] for k, g in groups.items()})
    return {"x": x, "y": y, "by": by, "law": law, "level": LEVEL, "groups": groups,
            "scratch": scratch_stats(everyone[y]) if shared else None}


def fit_table(df: pd.DataFrame, x: str, y: str, by: str | None, law: str = "power_floor") -> pd.DataFrame:
    """One row per group: parameters, their 95 % intervals, holdout error and diagnostic names, and
    `flat_level`: a flat power_floor fit's level at its largest size (NaN otherwise), the one number
    of it the data identify, whose D and C are an arbitrary split (the CLI prints "<= level (flat)").

    The first column holds the group's value, named by `by` ("group" without one), or "<by> (group)"
    when `by` is also the name of an output column (a sweep over a regulariser called "alpha")."""
    res = fit_runs(df, x, y, by, law)
    num = lambda v: np.nan if v is None else float(v)  # noqa: E731  (unknown: NaN, so columns stay float)
    rows = []
    for key, g in res["groups"].items():
        group_law = g.get("law", law)  # with AUTO, each fitted group's own; AUTO itself: not fitted
        row: dict[str, Any] = {"law": group_law}
        for name in () if group_law == AUTO else get_law(group_law).params:
            ci = g.get("ci", {}).get(name, [np.nan, np.nan])
            row.update({name: num(g.get("params", {}).get(name)), f"{name}_lo": num(ci[0]), f"{name}_hi": num(ci[1])})
        hold = g.get("holdout") or {}
        names = dict.fromkeys(d["name"] for d in g.get("diagnostics", []))  # one flag can fire for two parameters
        row.update({"holdout_abs_err": num(hold.get("abs_err")), "holdout_rel_err": num(hold.get("rel_err")),
                    "n_sizes": g.get("n_sizes", 0), "diagnostics": ";".join(names), "error": g.get("error", ""),
                    "flat_level": num(flat_level(g))})
        rows.append((g["value"], row))
    outputs = {name for _, row in rows for name in row}
    head = "group" if res["by"] is None else res["by"]
    head = f"{head} (group)" if head in outputs else head
    return pd.DataFrame([{head: value, **row} for value, row in rows])


TINY = 1e-9  # printed as 0: an optimiser's "0" on a bound comes back as 1e-23 or so


def fmt_num(v: float, digits: int = 3, scale: float = 1.0) -> str:
    """`digits` significant digits; magnitudes below TINY * `scale` (a parameter on its bound at 0;
    `scale`: the size of the errors, so that errors of 1e-10 print as errors of 0.1 do) as 0."""
    return "0" if abs(v) < TINY * scale else f"{v:.{digits}g}"


def fmt_ci(est: float, lo: float, hi: float, scale: float = 1.0) -> str:
    """'estimate [lo, hi]' with fmt_num."""
    return f"{fmt_num(est, scale=scale)} [{fmt_num(lo, scale=scale)}, {fmt_num(hi, scale=scale)}]"


def flat_level(g: dict) -> float | None:
    """A fits.json group's fitted level D n^-alpha + C at its largest size if its power_floor fit is
    flat, else None (its C alone is then a real estimate). Flat, as `compare` reads it: alpha on its
    bound 0 (the unidentifiable flag says so), or a slope too_flat cannot tell from the noise when the
    fit has intervals; either way the split of the level into D and C is arbitrary (alpha 0.004 with
    D's interval over 3.7 orders printed "C = 0.273 [0.0257, 0.379]" in `fit` and "<= 0.3 (flat)" in
    `compare`)."""
    p = g.get("params", {})
    names = {d["name"] for d in g.get("diagnostics", [])}
    on_zero = any(d["name"] == "unidentifiable" and FLAT_TEXT in d["message"] for d in g.get("diagnostics", []))
    c_ci = (g.get("ci") or {}).get("C") or [None, None]
    too_flat = "too_flat" in names and all(v is not None and np.isfinite(v) for v in c_ci)
    if not {"D", "alpha", "C"} <= set(p) or not (on_zero or too_flat):
        return None
    return float(p["D"] * max(g.get("sizes") or [1.0]) ** -p["alpha"] + p["C"])  # older files: D + C


def fmt_flat(level: float, scale: float = 1.0) -> str:
    """A flat fit's C (or D) as the tables print it: only its ceiling, the level, is identified."""
    return f"<= {fmt_num(level, scale=scale)} (flat)"


def group_scale(g: dict) -> float:
    """The size of a fits.json group's errors (its fitted curve's largest value, at most 1): fmt_num's
    `scale`, so that errors of 1e-10 print as errors of 0.1 do, in the table and the plot's legend."""
    curve = g.get("curve")
    fit = curve.get("fit") if isinstance(curve, dict) else None  # (a hand-edited file: its check says so)
    try:
        return min(1.0, max(map(abs, fit), default=1.0)) if fit else 1.0
    except TypeError:
        return 1.0


def _fmt_ci(g: dict, name: str) -> str:
    if name not in g.get("params", {}):
        return "-"
    scale = group_scale(g)
    # a flat fit's D and C are arbitrary shares of its level D + C, which alone is identified (as `compare` prints it)
    if name in ("C", "D") and (level := flat_level(g)) is not None:
        return fmt_flat(level, scale)
    lo, hi = g["ci"][name]
    if all(v is None or np.isnan(v) for v in (lo, hi)):  # no points left over for the noise: its flag says so
        return f"{fmt_num(g['params'][name], scale=scale)} [-]"
    return fmt_ci(g["params"][name], lo, hi, scale=scale)


def summary_table(fits_json: dict[str, Any]) -> str:
    """A short plain-text table of the fitted parameters per group, for the terminal; with law AUTO
    a law column, every chosen law's parameters, and one line per group on why its law was chosen."""
    auto = fits_json["law"] == AUTO
    laws = dict.fromkeys(g["law"] for g in fits_json["groups"].values() if "law" in g) if auto else [fits_json["law"]]
    names = list(dict.fromkeys(n for law in laws for n in get_law(law).params))
    head = ["group" if fits_json["by"] is None else one_line(fits_json["by"]), *(["law"] if auto else []), *names,
            "holdout_rel", "scratch", "flags"]
    lines = []
    for key, g in fits_json["groups"].items():
        law_cell = [g.get("law", "-")] if auto else []
        if "error" in g:
            lines.append([one_line(key), *law_cell, *["-"] * len(names), "-", "-", "not fitted: " + g["error"]])
            continue
        hold = g.get("holdout")
        sc = g.get("scratch") or fits_json.get("scratch")
        lines.append([one_line(key), *law_cell, *[_fmt_ci(g, n) for n in names],
                      # auto: the score of the choice, whose law, chosen without the held-out size, may differ
                      (fmt_num(hold["rel_err"]) + (f" ({hold['law']})" if hold.get("law", g.get("law")) != g.get("law")
                                                   else "")) if hold else "-",
                      fmt_num(sc["mean"], scale=group_scale(g)) if sc else "-",
                      # each name once: on_bound fires per parameter (fits.json keeps every message)
                      ";".join(dict.fromkeys(d["name"] for d in g["diagnostics"])) or "-"])
    widths = [max(len(str(r[i])) for r in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    level = int(round(100 * fits_json.get("level", LEVEL)))
    title = (f"{fits_json['y']} vs {fits_json['x']}, law chosen per group by held-out error" if auto
             else f"{fits_json['y']} = {fits_json['law']}({fits_json['x']})") + f", [{level} % interval]"
    why = [f"{one_line(key)}: {g['selection']['message']}" for key, g in fits_json["groups"].items()
           if "selection" in g]
    name = (lambda key: one_line(key)) if fits_json["by"] is None else (  # noqa: E731
        lambda key: f"{one_line(fits_json['by'])}={one_line(key)}")
    said = [f"{name(key)} {d['name']}: {one_line(d['message'])}" for key, g in fits_json["groups"].items()
            for d in g.get("diagnostics", [])]  # the names alone sent users to fits.json for what they meant
    said = ["", "flags (docs/fits.md, Diagnostics, says when each fires):", *said] if said else []
    return "\n".join([title, fmt.format(*head), *(fmt.format(*r) for r in lines), *why, *said])
