"""The learning-curve laws, by name: formula, bounds, starting points and change of x units.

Every law is fitted on a rescaled x (x / x0, x0 = geometric mean of the sizes) so that its
scale parameters are O(1) and its bounds mean something; `unscale` maps the parameters back to
the caller's units. Laws with two inputs (transfer_bound: n and s) take x of shape (N, 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fits.errors import FitInputError

Params = dict[str, float]
Array = np.ndarray


@dataclass(frozen=True)
class Law:
    """A named parametric learning curve y = f(x; params)."""

    # repr=False: the callables' reprs are function addresses (hundreds of characters in a Fit's repr);
    # equality and hashing still compare every field
    name: str
    params: tuple[str, ...]
    func: Callable[[Array, Params], Array] = field(repr=False)
    bounds: Callable[[Array, Array], dict[str, tuple[float, float]]] = field(repr=False)
    starts: Callable[[Array, Array], list[Params]] = field(repr=False)
    unscale: Callable[[Params, Array], Params] = field(repr=False)
    doc: str = field(repr=False)
    log_params: frozenset[str] = field(default_factory=frozenset)  # optimised as log(p), p > 0
    n_inputs: int = 1
    # grad(x, params, y), y = func(x, params): d func / d param at x, one array per parameter (raw,
    # not log), the optimiser's Jacobian in closed form. None: finite differences (one more call of
    # func per free parameter and step)
    grad: Callable[[Array, Params, Array], dict[str, Array]] | None = field(default=None, repr=False)

    def __call__(self, x: Array, params: Params) -> Array:
        return self.func(np.asarray(x, dtype=float), params)

    def __reduce_ex__(self, protocol: int):
        # a registered law pickles by its name: several hold lambdas, which pickle cannot store, so a
        # Fit of power_floor could not come back from a worker process (a law not in LAWS pickles whole)
        if LAWS.get(self.name) is self:
            return get_law, (self.name,)
        return super().__reduce_ex__(protocol)


class LawTable(dict):
    """name -> Law; an unknown name is a FitInputError that lists the valid names."""

    def __missing__(self, name: str) -> Law:
        raise FitInputError(f"unknown law {name!r}; valid: {', '.join(sorted(self))}")

    def register(self, law: Law) -> Law:
        """Add `law`; a duplicate name is a programming error."""
        if law.name in self:
            raise KeyError(f"duplicate law name {law.name!r}")
        self[law.name] = law
        return law


LAWS = LawTable()
AUTO = "auto"  # not a law: fit_runs / `synthscale fit --law auto` choose one per group (fits.select)


def lowest_scale(y_max: float) -> float:
    """Lower bound of a scale parameter (D, b, delta): 1e-9, or a millionth of the largest error
    when errors are below 1e-3, so the bound stays far under the data at any scale (a fixed 1e-9
    fitted errors of ~1e-10 as a flat line 9x too high)."""
    return min(1e-9, 1e-6 * y_max)


def loglinear(x: Array, y: Array, floor: float) -> tuple[float, float]:
    """(D, alpha) of the least-squares line log(y - floor) = log D - alpha log x (points above floor)."""
    keep = y > floor
    if keep.sum() < 2 or np.ptp(np.log(x[keep])) == 0:
        return float(max(np.mean(y) - floor, 1e-12)), 0.1
    slope, icpt = np.polyfit(np.log(x[keep]), np.log(y[keep] - floor), 1)
    return float(np.exp(icpt)), float(np.clip(-slope, 0.0, 3.0))


def _floor_grid(x: Array, y: Array, n_best: int = 3) -> list[Params]:
    """Best few (D, alpha, C) by variable projection over a grid of floors C below min(y), plus
    one generic start. (For power_floor one grid start suffices: on the LCDB sample 1 and 3 gave
    identical predictions at half the CPU time.)"""
    y_min = float(np.min(y))
    cands = []
    for frac in (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98):
        c = frac * y_min
        d, a = loglinear(x, y, c)
        pred = d * x ** -a + c
        loss = float(np.sum((np.log(np.maximum(pred, 1e-300)) - np.log(np.maximum(y, 1e-300))) ** 2))
        cands.append((loss, {"D": d, "alpha": max(a, 0.02), "C": c}))
    cands.sort(key=lambda t: t[0])
    d_min = 1e3 * lowest_scale(float(np.max(y)))  # 1e-6 for errors of 1e-3 and above
    return [p for _, p in cands[:n_best]] + [{"D": max(np.ptp(y), d_min), "alpha": 0.5, "C": 0.5 * y_min}]


def _scale_d(p: Params, x0: Array, key: str = "D", exp: str = "alpha") -> Params:
    """D x^-alpha with x = x0 * xs: D_raw = D_scaled * x0^alpha."""
    out = dict(p)
    out[key] = p[key] * float(x0[0]) ** p[exp]
    return out


def _power(x: Array, p: Params) -> Array:
    return p["D"] * x ** -p["alpha"]


def _power_floor(x: Array, p: Params) -> Array:
    return p["D"] * x ** -p["alpha"] + p["C"]


def _power_grad(x: Array, p: Params, y: Array) -> dict[str, Array]:
    xa = x ** -p["alpha"]
    return {"D": xa, "alpha": -p["D"] * xa * np.log(x), "C": np.ones_like(x)}


def unit_room(x: Array, exponent: float = 3.0) -> float:
    """How far a scale parameter's upper bound must stretch when x is in the caller's units.

    Bounds such as D <= 1e3 max(y) are meant for x rescaled to geometric mean 1 (D is then about
    the error at a typical size). A fit with fixed or boxed parameters runs on raw x (see
    fits.core.make_problem), where D = D_scaled x0^alpha: at n ~ 1e5 a true D of 1.6e3 would hit a
    cap of 600. So the cap grows by x0^exponent (exponent = the largest allowed power) when the
    geometric mean x0 exceeds 1; for rescaled x (x0 = 1) it is 1 and nothing changes."""
    log_x0 = float(np.mean(np.log(x)))  # capped at 1e100 so that products of two stay finite
    return float(np.exp(min(exponent * log_x0, np.log(1e100)))) if log_x0 > 1e-9 else 1.0


def _pf_bounds(x: Array, y: Array) -> dict[str, tuple[float, float]]:
    # C may not exceed the largest error (a floor above every observation explains nothing);
    # alpha up to 3 covers every LCDB curve we saw while keeping D finite in raw units.
    y_max = float(np.max(y))
    return {"D": (lowest_scale(y_max), 1e3 * max(y_max, 1e-6) * unit_room(x)), "alpha": (0.0, 3.0),
            "C": (0.0, y_max)}


LAWS.register(Law(
    name="power", params=("D", "alpha"), func=_power,
    bounds=lambda x, y: {k: v for k, v in _pf_bounds(x, y).items() if k != "C"},
    starts=lambda x, y: [dict(zip(("D", "alpha"), loglinear(x, y, 0.0)))],
    unscale=_scale_d, log_params=frozenset({"D"}), grad=_power_grad,
    doc="D * n^-alpha: a pure power law, no floor."))

LAWS.register(Law(
    name="power_floor", params=("D", "alpha", "C"), func=_power_floor,
    bounds=_pf_bounds, starts=lambda x, y: _floor_grid(x, y, n_best=1), unscale=_scale_d, log_params=frozenset({"D"}),
    grad=_power_grad,
    doc="D * n^-alpha + C: a power law with an irreducible floor C (the transfer gap)."))


def _bnsl(x: Array, p: Params) -> Array:
    # Caballero et al. 2022, one break: the local slope changes from -c0 to -(c0 + c1) around d1,
    # with sharpness f1. Computed in logs so large x / d1 do not overflow.
    z = np.log(x / p["d1"]) / p["f1"]
    soft = np.logaddexp(0.0, z) * (-p["c1"] * p["f1"])
    return p["a"] + p["b"] * np.exp(-p["c0"] * np.log(x) + soft)


def _bnsl_grad(x: Array, p: Params, y: Array) -> dict[str, Array]:
    z = np.log(x / p["d1"]) / p["f1"]
    soft_log = np.logaddexp(0.0, z)
    sig = np.exp(z - soft_log)  # the logistic of z, d soft_log / dz
    e = np.exp(-p["c0"] * np.log(x) - p["c1"] * p["f1"] * soft_log)
    term = p["b"] * e
    return {"a": np.ones_like(x), "b": e, "c0": -np.log(x) * term, "c1": -p["f1"] * soft_log * term,
            "d1": term * p["c1"] * sig / p["d1"], "f1": -term * p["c1"] * (soft_log - z * sig)}


def _bnsl_bounds(x: Array, y: Array) -> dict[str, tuple[float, float]]:
    y_max = float(np.max(y))
    return {"a": (0.0, y_max), "b": (lowest_scale(y_max), 1e3 * max(y_max, 1e-6) * unit_room(x)), "c0": (0.0, 3.0),
            "c1": (-1.0, 3.0), "d1": (float(np.min(x)), float(np.max(x))), "f1": (0.05, 5.0)}


def _bnsl_starts(x: Array, y: Array) -> list[Params]:
    out = []
    for p in _floor_grid(x, y, n_best=2):
        for d1 in (float(np.exp(np.mean(np.log(x)))), float(np.max(x)) * 0.7):
            out.append({"a": p["C"], "b": p["D"], "c0": p["alpha"], "c1": 0.01, "d1": d1, "f1": 1.0})
    return out


def _bnsl_unscale(p: Params, x0: Array) -> Params:
    out = _scale_d(p, x0, key="b", exp="c0")
    out["d1"] = p["d1"] * float(x0[0])
    return out


LAWS.register(Law(
    name="bnsl", params=("a", "b", "c0", "c1", "d1", "f1"), func=_bnsl, bounds=_bnsl_bounds,
    starts=_bnsl_starts, unscale=_bnsl_unscale, log_params=frozenset({"b", "d1", "f1"}), grad=_bnsl_grad,
    doc="a + b n^-c0 (1 + (n/d1)^(1/f1))^(-c1 f1): a smoothly broken power law, one break."))


def _m4(x: Array, p: Params) -> Array:
    # Alabdulmohsin et al. 2022: (y - C) / (E0 - y)^a = b n^c, c < 0; y solved on (C, E0) by
    # bisection (the left side increases in y), vectorised over x. 50 halvings: ~1e-15 relative.
    rhs = p["b"] * x ** p["c"]
    lo = np.full_like(rhs, p["C"])
    hi = np.full_like(rhs, p["E0"])
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        g = (mid - p["C"]) - rhs * np.maximum(p["E0"] - mid, 0.0) ** p["a"]
        lo = np.where(g < 0, mid, lo)
        hi = np.where(g < 0, hi, mid)
    return 0.5 * (lo + hi)


def _m4_grad(x: Array, p: Params, y: Array) -> dict[str, Array]:
    # implicit differentiation of F(y) = (y - C) - b x^c (E0 - y)^a = 0: dy = -dF / (dF/dy)
    rhs = p["b"] * x ** p["c"]
    gap = np.maximum(p["E0"] - y, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pw = gap ** p["a"]
        log_gap = np.log(gap)
        dfdy = 1.0 + rhs * p["a"] * gap ** (p["a"] - 1.0)
        return {"C": 1.0 / dfdy, "E0": rhs * p["a"] * gap ** (p["a"] - 1.0) / dfdy,
                "a": rhs * pw * log_gap / dfdy, "b": x ** p["c"] * pw / dfdy,
                "c": rhs * np.log(x) * pw / dfdy}


def _m4_bounds(x: Array, y: Array) -> dict[str, tuple[float, float]]:
    y_max = float(np.max(y))
    return {"C": (0.0, y_max), "E0": (y_max * 1.0001 + 1e-9, max(1.0, 2 * y_max)),
            "a": (0.0, 5.0), "b": (1e-9, 1e6 * unit_room(x)), "c": (-3.0, -1e-3)}


def _m4_starts(x: Array, y: Array) -> list[Params]:
    e0 = max(1.0, 2 * float(np.max(y))) * 0.75 + 0.25 * float(np.max(y)) * 1.001
    out = []
    for p in _floor_grid(x, y, n_best=2):
        for a in (0.0, 1.0):
            b = float(np.exp(np.mean(np.log(np.maximum(y - p["C"], 1e-9) / (e0 - y) ** a))))
            out.append({"C": p["C"], "E0": e0, "a": a, "b": b, "c": -max(p["alpha"], 0.01)})
    return out


def _m4_unscale(p: Params, x0: Array) -> Params:
    out = dict(p)
    out["b"] = p["b"] * float(x0[0]) ** -p["c"]
    return out


LAWS.register(Law(
    name="m4", params=("C", "E0", "a", "b", "c"), func=_m4, bounds=_m4_bounds,
    starts=_m4_starts, unscale=_m4_unscale, log_params=frozenset({"b"}), grad=_m4_grad,
    doc="M4 (Alabdulmohsin et al. 2022): (y - C) / (E0 - y)^a = b n^c, solved for y."))


def _bound(x: Array, p: Params) -> Array:
    n, s = x[:, 0], x[:, 1]
    return p["delta"] * (p["gamma"] + n ** -p["alpha"]) * s ** -p["beta"]


def _bound_grad(x: Array, p: Params, y: Array) -> dict[str, Array]:
    n, s = x[:, 0], x[:, 1]
    s_b = s ** -p["beta"]
    n_a = n ** -p["alpha"]
    return {"delta": (p["gamma"] + n_a) * s_b, "gamma": p["delta"] * s_b,
            "alpha": -p["delta"] * n_a * np.log(n) * s_b, "beta": -np.log(s) * y}


def _bound_starts(x: Array, y: Array) -> list[Params]:
    out = []
    for p in _floor_grid(x[:, 0], y, n_best=2):
        for beta in (0.1, 0.5):
            delta = p["D"] * float(np.mean(x[:, 1] ** beta))
            out.append({"delta": delta, "gamma": max(p["C"] / p["D"], 1e-3),
                        "alpha": max(p["alpha"], 0.02), "beta": beta})
    return out


def _bound_unscale(p: Params, x0: Array) -> Params:
    # delta (gamma + n^-alpha) s^-beta with n = n0 n', s = s0 s' (see module docstring).
    n0, s0 = float(x0[0]), float(x0[1])
    return {"delta": p["delta"] * n0 ** p["alpha"] * s0 ** p["beta"],
            "gamma": p["gamma"] * n0 ** -p["alpha"], "alpha": p["alpha"], "beta": p["beta"]}


LAWS.register(Law(
    name="transfer_bound", params=("delta", "gamma", "alpha", "beta"), func=_bound,
    bounds=lambda x, y: {"delta": (lowest_scale(float(np.max(y))), 1e6 * unit_room(x[:, 0]) * unit_room(x[:, 1])),
                         "gamma": (0.0, 1e3 * unit_room(1 / x[:, 0])), "alpha": (0.0, 3.0),
                         "beta": (-1.0, 3.0)},
    starts=_bound_starts, unscale=_bound_unscale, log_params=frozenset({"delta"}), n_inputs=2, grad=_bound_grad,
    doc="delta (gamma + n^-alpha) s^-beta (Mikami et al.): joint over pre-training n, real s."))


def get_law(name: str) -> Law:
    """The law called `name`, or a FitInputError listing the valid ones."""
    if not isinstance(name, str):
        raise FitInputError(f"law must be one name, e.g. 'power_floor', got {name!r}; valid: {', '.join(sorted(LAWS))}")
    return LAWS[name]
