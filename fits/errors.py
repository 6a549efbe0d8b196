"""The one exception type for bad input to `fits`: the CLI prints it on one line and exits with 2."""


class FitInputError(ValueError):
    """Input the user can fix: too few sizes, NaN or negative errors, unknown law or column."""


def none_fitted(by: str | None, errors: dict[str, str]) -> FitInputError:
    """The error when every group failed, on one line: each distinct reason once, with the groups
    it stopped (it named only the first group, though another may have failed for another reason)."""
    reasons: dict[str, list[str]] = {}
    for group, why in errors.items():
        reasons.setdefault(why, []).append(f"{by}={group}" if by else group)
    parts = [f"{', '.join(gs[:3])}{f' and {len(gs) - 3} more' if len(gs) > 3 else ''}: {why}"
             for why, gs in reasons.items()]
    shown = "; ".join(parts[:3]) + (f"; and {len(parts) - 3} other reasons" if len(parts) > 3 else "")
    return FitInputError(f"no group could be fitted ({shown})")
