"""Bootstrap ensembles: intervals and probability of benefit for any point learner.

B members are fitted on bootstrap resamples drawn *within each arm* (so every member sees the
trial's arm sizes). The bagged estimate is the members' mean (for curve-based learners, identical to
the gain read off the mean curves); the ``1 - alpha`` interval is the members' percentile interval
(numpy's "linear" quantile), widened to contain the estimate if the ensemble is skewed. Of the
members' distribution it holds on average (B - 1)(1 - alpha) / (B + 1), 0.86 for a 90% interval of
50 members; the (B + 1) q-th members (Davison and Hinkley 1997, ch. 5; numpy's "weibull") would hold
0.90, but covered the conditional gain 0.92-0.98 in the virtual trial's four scenarios, where this
one covers 0.89-0.96 (docs/benchmarks.md, "Twenty members or fifty"). P(gain >= MCID) is the share
of members whose 12-month RMST gain reaches the MCID. The two arms' curves get pointwise
``1 - alpha`` bands from the same members: their percentiles at each time (``percentile_band``),
not widened, so a skewed ensemble's mean curve may leave its band. Percentile bootstrap intervals
reflect the learner's sampling variability, not its bias (regularisation shrinks effects): their
coverage is measured on the virtual trial, not assumed. For the DR-learner, a resample's copies of
one patient can land in different cross-fitting folds, so some held-out nuisance curves and
calibration inputs come from a model that saw the patient; this makes the members *vary more*, and
the coverage measured for its intervals rests on it: keeping the copies in one fold narrowed the
intervals to a coverage of 0.42-0.80 in single trials of n = 1,000 (docs/benchmarks.md, "Tried and
dropped: grouped folds and cross-calibration"). The copies are therefore not grouped.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from numba import njit
from sklearn.base import clone

from models.base import (
    BENEFIT_GRID_MONTHS,
    ESTIMANDS,
    RMST_HORIZON_MONTHS,
    SURVIVAL_GRID_MONTHS,
    BenefitEstimator,
    CurveBands,
    PointBenefitEstimator,
    StackableCoxMembers,
    benefit_from_curves,
    check_estimand,
    validate_fit_inputs,
)
from models.prediction import Prediction
from models.recommend import RecommendationRule, recommend
from models.survival import RmstTable, step_at

CURVE_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                            else os.cpu_count() or 1))
PARALLEL_MIN_PATIENTS = 200  # per thread: below this, thread start-up outweighs the gain


def run_in_parts(fill, n: int) -> None:
    """``fill(start, stop)`` over patients 0..n, on up to CURVE_THREADS threads for large
    batches: numpy releases the GIL in its array loops, so they use every core of the machine."""
    parts = min(CURVE_THREADS, n // PARALLEL_MIN_PATIENTS) or 1
    bounds = np.linspace(0, n, parts + 1).astype(int)
    if parts == 1:
        fill(0, n)
        return
    with ThreadPoolExecutor(parts) as pool:
        list(pool.map(fill, bounds[:-1], bounds[1:]))


@njit(cache=True, nogil=True)
def _band_kernel(values, low_at, high_at, lower, upper):  # pragma: no cover (compiled)
    """Per lane of ``values`` (M, A, R, T): numpy's "linear" quantiles at ``low_at`` and
    ``high_at`` (below, above, gamma: positions in the sorted lane) from the lane's few smallest
    and largest values, kept by insertion. The members of each (A, R) row are visited in the
    order of their values at the middle of T (their order at the other times is much the same):
    the smallest (largest) come first, and most later values are rejected by one comparison."""
    n_members, n_a, n_r, n_t = values.shape
    k_low = int(low_at[1]) + 1  # the smallest values needed: sorted positions 0..above
    k_high = n_members - int(high_at[0])  # the largest: sorted positions below..M-1
    lo_below, lo_above, lo_gamma = int(low_at[0]), int(low_at[1]), low_at[2]
    hi_below = n_members - 1 - int(high_at[0])  # sorted position p is large[M - 1 - p]
    hi_above, hi_gamma = n_members - 1 - int(high_at[1]), high_at[2]
    small = np.empty((k_low, n_t))  # ascending
    large = np.empty((k_high, n_t))  # descending
    key = np.empty(n_members)
    for a in range(n_a):
        for r in range(n_r):
            for m in range(n_members):
                key[m] = values[m, a, r, n_t // 2]
            order = np.argsort(key)
            small[:, :] = np.inf
            large[:, :] = -np.inf
            for i in range(n_members):
                m = order[i]
                for t in range(n_t):
                    x = values[m, a, r, t]
                    if x < small[k_low - 1, t]:
                        j = k_low - 1
                        while j > 0 and small[j - 1, t] > x:
                            small[j, t] = small[j - 1, t]
                            j -= 1
                        small[j, t] = x
            for i in range(n_members - 1, -1, -1):
                m = order[i]
                for t in range(n_t):
                    x = values[m, a, r, t]
                    if x > large[k_high - 1, t]:
                        j = k_high - 1
                        while j > 0 and large[j - 1, t] < x:
                            large[j, t] = large[j - 1, t]
                            j -= 1
                        large[j, t] = x
            for t in range(n_t):
                x0, x1 = small[lo_below, t], small[lo_above, t]
                d = x1 - x0  # numpy's _lerp, so the values equal np.quantile's
                lower[a, r, t] = x1 - d * (1 - lo_gamma) if lo_gamma >= 0.5 else x0 + d * lo_gamma
                x0, x1 = large[hi_below, t], large[hi_above, t]
                d = x1 - x0
                upper[a, r, t] = x1 - d * (1 - hi_gamma) if hi_gamma >= 0.5 else x0 + d * hi_gamma


def _as_four_axes(a: np.ndarray) -> np.ndarray:
    """(M, ...) as (M, A, R, T): 1s in front (a view), or the middle axes merged."""
    if a.ndim <= 4:
        return a.reshape((a.shape[0],) + (1,) * (4 - a.ndim) + a.shape[1:])
    return a.reshape((a.shape[0], 1, -1, a.shape[-1]))


def _order_statistic(n: int, q: float) -> tuple[int, int, float]:
    """numpy's "linear" quantile q of n values: (below, above, gamma) in the sorted values."""
    virtual = (n - 1) * q
    below = int(np.floor(virtual))
    return below, min(below + 1, n - 1), virtual - below


def percentile_band(draws: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)`` for draws (M, ...): the
    members' pointwise percentile band, equal to numpy's, ~3x faster: numpy sorts or partitions
    every column of the short member axis; only the order statistics the two quantiles need are
    kept here (docs/benchmarks.md, "Curve intervals").
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    draws = np.asarray(draws, dtype=float)
    n = draws.shape[0]
    lower, upper = np.empty(draws.shape[1:]), np.empty(draws.shape[1:])
    # contiguous: one compiled version of the kernel (built by the server's warm-up), whatever
    # the caller's slicing
    _band_kernel(np.ascontiguousarray(_as_four_axes(draws)),
                 np.array(_order_statistic(n, alpha / 2), float),
                 np.array(_order_statistic(n, 1 - alpha / 2), float),
                 _as_four_axes(lower[None])[0], _as_four_axes(upper[None])[0])
    return lower, upper


def _fit_member(learner, Y, T, X):
    return learner.fit(Y, T, X)


def _on_dask() -> bool:
    """Whether joblib's active backend is Dask (``joblib.parallel_config(backend="dask")``)."""
    from joblib.parallel import get_active_backend

    return type(get_active_backend()[0]).__name__ == "DaskDistributedBackend"


def stratified_bootstrap_indices(arm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices of one bootstrap resample drawn with replacement within each arm."""
    parts = []
    for a in (0, 1):
        idx = np.flatnonzero(arm == a)
        parts.append(rng.choice(idx, size=len(idx), replace=True))
    return np.sort(np.concatenate(parts))


class BootstrapBenefit(BenefitEstimator):
    """Wrap a point learner (models.LEARNERS; default SLearner) into the full BenefitEstimator."""

    def __init__(
        self,
        base_learner=None,
        n_bootstrap: int = 50,
        alpha: float = 0.1,
        random_state: int | None = 0,
        n_jobs: int = 2,
        rule: RecommendationRule | None = None,
    ):
        self.base_learner = base_learner
        self.n_bootstrap = n_bootstrap
        self.alpha = alpha
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.rule = rule

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> BootstrapBenefit:
        from models.s_learner import SLearner

        if self.n_bootstrap < 2:
            raise ValueError(f"n_bootstrap must be >= 2; got {self.n_bootstrap}")
        base = SLearner() if self.base_learner is None else self.base_learner
        base._check_features(X)  # refuse on-treatment features before any member is fitted
        _, _, arm, Xf = validate_fit_inputs(Y, T, X)
        rng = np.random.default_rng(self.random_state)
        jobs = []
        for _ in range(self.n_bootstrap):
            idx = stratified_bootstrap_indices(arm, rng)
            member = clone(base)
            if "random_state" in member.get_params():
                member.set_params(random_state=int(rng.integers(2**31 - 1)))
            jobs.append(
                delayed(_fit_member)(
                    member,
                    Y.iloc[idx].reset_index(drop=True),
                    arm[idx],
                    Xf.iloc[idx].reset_index(drop=True),
                )
            )
        # on a Dask cluster (training/distributed.py) every worker takes members, not n_jobs
        self.members_ = Parallel(n_jobs=-1 if _on_dask() else self.n_jobs)(jobs)
        self.feature_names_in_ = list(Xf.columns)
        return self

    # --- predictions ------------------------------------------------------------------------

    def member_effects(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each member's estimate of each estimand: {estimand: (n_bootstrap, n)}."""
        if self._stackable():
            return self._member_draws_stacked(X, np.array([]))[2]
        per_member = [m.effect_all(X) for m in self.members_]
        return {k: np.array([d[k] for d in per_member]) for k in ESTIMANDS}

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._stackable():
            return self._member_draws_stacked(X, times)[:2]
        curves = [m.predict_survival(X, times) for m in self.members_]
        return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)

    def effect(self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo") -> np.ndarray:
        check_estimand(estimand)
        return self._draws(X, estimand).mean(axis=0)

    def effect_all(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return {k: v.mean(axis=0) for k, v in self.member_effects(X).items()}

    @staticmethod
    def _interval(draws: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1); got {alpha}")
        est = draws.mean(axis=0)
        lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
        return est, np.minimum(lo, est), np.maximum(hi, est)

    def effect_interval(
        self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo", alpha: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        check_estimand(estimand)
        draws = self._draws(X, estimand)
        _, lo, hi = self._interval(draws, self.alpha if alpha is None else alpha)
        return lo, hi

    def _rule(self) -> RecommendationRule:
        return self.rule or RecommendationRule()

    def _draws(self, X: pd.DataFrame, estimand: str) -> np.ndarray:
        if self._stackable():
            return self.member_effects(X)[estimand]
        return np.array([m.effect(X, estimand) for m in self.members_])

    def _member_draws(
        self, X: pd.DataFrame, times: np.ndarray, band_alpha: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
        """One pass over the members: mean curves on ``times``, every member's estimands, and
        (``band_alpha`` given) the members' pointwise percentile bands of both arms' curves on
        ``times``, (2 arms, 2 bounds, n, len(times)); None without ``band_alpha``.

        Each member predicts its curves once, on BENEFIT_GRID_MONTHS followed by ``times``; the
        estimands come from the first part (as ``effect_all`` does) unless the member has its own
        effect model (DR-learner). Members of a StackableCoxMembers class (S, T, risk) are
        evaluated all at once (``_member_draws_stacked``); the others member by member.
        """
        if self._stackable():
            return self._member_draws_stacked(X, times, band_alpha)
        return self._member_draws_loop(X, times, band_alpha)

    # Fast path. Every S-, T- and risk-learner member gives, per arm, a log risk f(x) and a
    # baseline H0: S(t | x) = exp(-H0(t) exp(f(x))); a DR-learner member's curve is the mean of
    # k such curves (its cross-fitting T-learners). The learner class computes all members' log
    # risks at once (models.base.StackableCoxMembers.stacked_cox_terms: one compiled forest or
    # one loop of matrix products). The 12-month RMST of each member and arm is a smooth
    # function of f alone, read from a table (``models.survival.RmstTable``, built once: error
    # < 1e-9 months); S at 6 and 12 months and on the requested times comes from one broadcast
    # multiply and exp, in patient chunks that stay in the CPU cache. A learner with its own
    # effect model gives its members' effects at once too (``stacked_effects``: the
    # DR-learner's final stages in one compiled forest). Tests: equal to the member loop.
    _STACK_CHUNK = 500_000  # curve values per chunk: 4 MB stays in cache (2.3x faster than 16 MB)

    def _stackable(self) -> bool:
        members = getattr(self, "members_", None)
        if not members:
            return False
        cache = self.__dict__.get("_stack")
        if cache is not None and cache["members"] is members:
            return cache["stackable"]
        kind = type(members[0])
        return (issubclass(kind, StackableCoxMembers)
                and all(type(m) is kind and m.feature_names_in_ == members[0].feature_names_in_
                        for m in members)
                and getattr(kind, "can_stack", lambda _: True)(members))

    def _stack_cache(self) -> dict:
        cache = self.__dict__.get("_stack")
        if cache is None or cache["members"] is not self.members_:
            cache = self.__dict__["_stack"] = {"members": self.members_, "terms": {},
                                               "h0": {}, "stackable": self._stackable()}
        return cache

    @staticmethod
    def _baseline_terms(baselines: list, times: np.ndarray, cache: dict) -> np.ndarray:
        """-H0 of every member and arm at 6 and 12 months and at ``times``: (M, 2, 2 + len(times)),
        cached per ``times``."""
        key = times.tobytes()
        if key not in cache["h0"]:
            if len(cache["h0"]) > 8:
                cache["h0"].clear()
            at = np.concatenate([[6.0, RMST_HORIZON_MONTHS], times])
            cache["h0"][key] = -np.array(
                [[step_at(knots, cumhaz, at) for knots, cumhaz in arms] for arms in baselines])
        return cache["h0"][key]

    @staticmethod
    def _rmst_table(baselines: list, cache: dict) -> RmstTable:
        """12-month RMST of every member and arm (member-major) as a function of the log risk.

        The RMST is the left Riemann sum of S on BENEFIT_GRID_MONTHS; H0 takes ~100 distinct
        values (levels) on that grid, each covering the grid widths summed in ``weights``.
        """
        if "rmst" not in cache:
            left = BENEFIT_GRID_MONTHS[:-1]  # left end points of the RMST Riemann sum
            widths = np.diff(BENEFIT_GRID_MONTHS)
            levels, weights = [], []
            for knots, cumhaz in (arm for arms in baselines for arm in arms):
                h, inverse = np.unique(step_at(knots, cumhaz, left), return_inverse=True)
                levels.append(h)
                weights.append(np.bincount(inverse, weights=widths, minlength=len(h)))
            n_levels = max(len(h) for h in levels)
            padded_h = np.zeros((len(levels), n_levels))  # padding: level 0 with width 0
            padded_w = np.zeros((len(levels), n_levels))
            for j, (h, w) in enumerate(zip(levels, weights, strict=True)):
                padded_h[j, : len(h)], padded_w[j, : len(w)] = h, w
            cache["rmst"] = RmstTable(padded_h, padded_w)
        return cache["rmst"]

    def _member_draws_stacked(
        self, X: pd.DataFrame, times: np.ndarray, band_alpha: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
        times = np.asarray(times, dtype=float)
        cache = self._stack_cache()
        kind, n_members = type(self.members_[0]), len(self.members_)
        own_effects = getattr(kind, "stacked_effects", None)
        draws = None if own_effects is None else own_effects(self.members_, X, cache["terms"])
        if draws is not None and not len(times):  # the effects alone: no curve is needed
            return np.empty((len(X), 0)), np.empty((len(X), 0)), draws, None
        log_risk, baselines = kind.stacked_cox_terms(self.members_, X, cache["terms"])
        log_risk = np.asarray(log_risk, dtype=float)  # (M x k, 2, n)
        k, n = log_risk.shape[0] // n_members, log_risk.shape[2]  # k Cox curves per member
        curve_gains = draws is None  # the gains from the members' curves
        if curve_gains:
            rmst = self._rmst_table(baselines, cache)(log_risk.reshape(-1, n))
            rmst = rmst.reshape(n_members, k, 2, n).mean(axis=1)  # RMST is linear in S
            draws = {"rmst_gain_12mo": rmst[:, 1] - rmst[:, 0]}
            draws.update({e: np.empty((n_members, n)) for e in ("pfs_gain_6mo", "pfs_gain_12mo")})
        h0 = self._baseline_terms(baselines, times, cache)  # -H0: (M x k, 2, 2 + len(times))
        risk = np.exp(log_risk)
        mean0 = np.empty((n, len(times)))
        mean1 = np.empty((n, len(times)))
        bands = None if band_alpha is None else np.empty((2, 2, n, len(times)))
        rows = max(1, self._STACK_CHUNK // (n_members * k * 2 * h0.shape[2]))

        def fill(lo: int, hi: int) -> None:
            """Patients lo..hi, ``rows`` at a time in one reused buffer."""
            buffer = np.empty((n_members * k, 2, min(rows, hi - lo), h0.shape[2]))
            for start in range(lo, hi, rows):
                end = min(hi, start + rows)
                # exp(r * -H0): the products of np.outer(r, h0) in cox_survival, in place
                curves = buffer[:, :, : end - start]  # (M x k, 2, c, G)
                np.multiply(risk[:, :, start:end, None], h0[:, :, None, :], out=curves)
                np.exp(curves, out=curves)
                if k > 1:  # each member's curve: the mean of its k (also without bands, so
                    # that the mean curve is the same to the bit either way)
                    curves = curves.reshape(n_members, k, *curves.shape[1:]).mean(axis=1)
                if curve_gains:
                    for e, j in (("pfs_gain_6mo", 0), ("pfs_gain_12mo", 1)):
                        draws[e][:, start:end] = curves[:, 1, :, j] - curves[:, 0, :, j]
                mean0[start:end] = curves[:, 0, :, 2:].sum(axis=0) / n_members
                mean1[start:end] = curves[:, 1, :, 2:].sum(axis=0) / n_members
                if bands is not None:
                    lower, upper = percentile_band(curves, band_alpha)  # (2, c, G) each
                    bands[:, 0, start:end] = lower[:, :, 2:]
                    bands[:, 1, start:end] = upper[:, :, 2:]

        run_in_parts(fill, n)
        return mean0, mean1, {e: draws[e] for e in ESTIMANDS}, bands

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_stack", None)  # a cache, rebuilt on first prediction
        return state

    _LOOP_BAND_ROWS = 2_000  # patients per pass when bands are kept: members x curves in memory

    def _member_draws_loop(
        self, X: pd.DataFrame, times: np.ndarray, band_alpha: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
        """``_member_draws`` member by member (any learner; the reference for the fast path)."""
        times = np.asarray(times, dtype=float)
        if band_alpha is not None and len(X) > self._LOOP_BAND_ROWS:
            # every member's curves are kept for the band: bounded by scoring in parts
            parts = [self._member_draws_loop(X.iloc[i:i + self._LOOP_BAND_ROWS], times,
                                             band_alpha)
                     for i in range(0, len(X), self._LOOP_BAND_ROWS)]
            return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                    {e: np.concatenate([p[2][e] for p in parts], axis=1) for e in ESTIMANDS},
                    np.concatenate([p[3] for p in parts], axis=2))
        grid = np.concatenate([BENEFIT_GRID_MONTHS, times])
        k = len(BENEFIT_GRID_MONTHS)
        n_rows = max(len(X), 1)
        sum0 = sum1 = 0.0
        per_member: list[dict | None] = []
        pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # curve-based members, batched
        kept: list[tuple[np.ndarray, np.ndarray]] = []  # each member's curves, for the band

        def flush():
            # One benefit_from_curves call for several members' stacked curves (its fixed cost
            # dominates for a single patient).
            gains = benefit_from_curves(np.vstack([p[1] for p in pending]),
                                        np.vstack([p[2] for p in pending]))
            for j, (m, _, _) in enumerate(pending):
                per_member[m] = {e: g[j * len(X):(j + 1) * len(X)] for e, g in gains.items()}
            pending.clear()

        for m, member in enumerate(self.members_):
            s0, s1 = member.predict_survival(X, grid)
            sum0, sum1 = sum0 + s0[:, k:], sum1 + s1[:, k:]
            if band_alpha is not None:
                kept.append((s0[:, k:], s1[:, k:]))
            if type(member).effect_all is PointBenefitEstimator.effect_all:
                per_member.append(None)
                pending.append((m, s0[:, :k], s1[:, :k]))
                if len(pending) * n_rows >= 20_000:
                    flush()
            else:
                per_member.append(member.effect_all(X))
        if pending:
            flush()
        draws = {e: np.array([d[e] for d in per_member]) for e in ESTIMANDS}
        n = len(self.members_)
        bands = None
        if band_alpha is not None:
            lower, upper = percentile_band(np.array(kept), band_alpha)  # (2 arms, n, times)
            bands = np.stack([lower, upper], axis=1)
        return sum0 / n, sum1 / n, draws, bands

    def predict(self, X: pd.DataFrame, times: np.ndarray | None = None,
                alpha: float | None = None, bands: bool = False) -> Prediction:
        """Mean curves on ``times`` (SURVIVAL_GRID_MONTHS by default), the estimands with the
        members' percentile intervals, P(benefit), the recommendation and (``bands``) both arms'
        pointwise ``1 - alpha`` bands on ``times`` (the members' percentiles, the distribution
        the gains' intervals come from): one pass over the members."""
        alpha = self.alpha if alpha is None else alpha
        times = SURVIVAL_GRID_MONTHS if times is None else np.asarray(times, dtype=float)
        s0, s1, draws, band = self._member_draws(X, np.concatenate([[6.0, 12.0], times]),
                                                alpha if bands else None)
        columns = {
            "s_ici_6mo": s0[:, 0],
            "s_rt_ici_6mo": s1[:, 0],
            "s_ici_12mo": s0[:, 1],
            "s_rt_ici_12mo": s1[:, 1],
        }
        # the three estimands' intervals in one quantile call (same values as ``_interval``)
        est, lo, hi = self._interval(np.stack([draws[k] for k in ESTIMANDS], axis=1), alpha)
        for j, k in enumerate(ESTIMANDS):
            columns[k], columns[f"{k}_lower"], columns[f"{k}_upper"] = est[j], lo[j], hi[j]
        rule = self._rule()
        columns["probability_of_benefit"] = rule.probability(draws["rmst_gain_12mo"])
        columns["recommendation"] = recommend(columns["probability_of_benefit"], rule)
        curve_bands = (None if band is None
                       else CurveBands(*band[:, :, :, 2:].reshape(4, len(X), -1)))
        return Prediction.from_columns(X.index, times, columns, s0[:, 2:], s1[:, 2:],
                                       curve_bands)

    def hazard_ratio_draws(self, X: pd.DataFrame, times: np.ndarray
                           ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Each member's ratio of cumulative hazards H_rt / H_ici on ``times``: the trial's
        relative effect that models.transport carries onto another baseline. (M, n, G) from
        the members' curves; for StackableCoxMembers, without their curves, (scale (M, n),
        curve (M, G)) with r = scale x curve and NaN (no hazard yet) meaning 1: for
        S = exp(-H0 e^f), H_rt / H_ici = e^(f_rt - f_ici) H0_rt(t) / H0_ici(t), equal to
        ``hazard_ratio_curve`` of the members' curves where H0_ici > 0."""
        from models.transport import TINY_HAZARD, hazard_ratio_curve

        times = np.asarray(times, dtype=float)
        if self._stackable():
            cache = self._stack_cache()
            log_risk, baselines = type(self.members_[0]).stacked_cox_terms(
                self.members_, X, cache["terms"])
        if not self._stackable() or len(log_risk) != len(self.members_):
            # members whose curve is a mean of Cox curves have no single hazard ratio term
            return np.stack([hazard_ratio_curve(*m.predict_survival(X, times))
                             for m in self.members_])
        h = -self._baseline_terms(baselines, times, cache)[:, :, 2:]  # (M, 2, G)
        with np.errstate(divide="ignore", invalid="ignore"):
            curve = np.where(h[:, 0] > TINY_HAZARD, h[:, 1] / h[:, 0], np.nan)  # (M, G)
        log_risk = np.asarray(log_risk, dtype=float)
        return np.exp(log_risk[:, 1] - log_risk[:, 0]), curve
