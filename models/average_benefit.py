"""The trial's average effect, served to every patient when heterogeneity is not shown.

Kaplan-Meier per arm: S(t) on any grid, S at 6 and 12 months with Greenwood variances, the
12-month RMST with its variance (``models.metrics.average.km_rmst``); differences get Wald
intervals (arms independent). P(average RMST gain >= MCID) comes from the same normal sampling
distribution as the interval. The recommendation is ``uncertain`` for everyone: an average
effect says nothing about which patient gains, so no individual recommendation is made (the
decision rests on the trial's average effect, its interval and the clinician).

The curves' pointwise ``1 - alpha`` bands use the same Greenwood variance, on the log(-log S)
scale (the "exponential Greenwood" band, lifelines' KaplanMeierFitter confidence interval): it
stays in [0, 1] and contains the curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy.stats import norm

from models.base import ESTIMANDS, PREDICTION_COLUMNS, RMST_HORIZON_MONTHS, CurveBands
from models.metrics.average import km_rmst, km_survival_with_variance
from models.recommend import RecommendationRule


class AverageBenefit:
    """Fit on a randomised trial's (Y, T); gives every patient the same PREDICTION_COLUMNS."""

    def __init__(self, alpha: float = 0.1, rule: RecommendationRule | None = None):
        self.alpha = alpha
        self.rule = rule

    def fit(self, Y: pd.DataFrame, T) -> AverageBenefit:
        time = np.asarray(Y["time"], float)
        event = np.asarray(Y["event"], int)
        arm = np.asarray(T, int)
        self.km_ = [KaplanMeierFitter().fit(time[arm == a], event[arm == a]) for a in (0, 1)]
        by_arm = [(time[arm == a], event[arm == a]) for a in (0, 1)]
        z = norm.ppf(1 - self.alpha / 2)
        col: dict[str, float] = {}
        est, se = {}, {}
        for h, k in ((6.0, "pfs_gain_6mo"), (12.0, "pfs_gain_12mo")):
            (s0, v0), (s1, v1) = (km_survival_with_variance(t, e, h) for t, e in by_arm)
            col[f"s_ici_{h:.0f}mo"], col[f"s_rt_ici_{h:.0f}mo"] = s0, s1
            est[k], se[k] = s1 - s0, np.sqrt(v0 + v1)
        (r0, v0), (r1, v1) = (km_rmst(time[arm == a], event[arm == a], RMST_HORIZON_MONTHS)
                              for a in (0, 1))
        est["rmst_gain_12mo"], se["rmst_gain_12mo"] = r1 - r0, np.sqrt(v0 + v1)
        for k in ESTIMANDS:
            col[k] = est[k]
            col[f"{k}_lower"], col[f"{k}_upper"] = est[k] - z * se[k], est[k] + z * se[k]
        rule = self.rule or RecommendationRule()
        k = "rmst_gain_12mo"
        p = float(norm.sf((rule.mcid - est[k]) / max(se[k], 1e-12)))  # P(gain >= MCID)
        col["probability_of_benefit"] = p
        self.columns_ = col
        return self

    def fit_ratio_draws(self, Y: pd.DataFrame, T, n_draws: int = 200,
                        random_state: int = 0) -> AverageBenefit:
        """Bootstrap draws (within arm) of the two Kaplan-Meier curves, kept as step functions:
        the sampling distribution of the average hazard-ratio curve that a real-world baseline
        carries (models.transport)."""
        time = np.asarray(Y["time"], float)
        event = np.asarray(Y["event"], int)
        arm = np.asarray(T, int)
        rng = np.random.default_rng(random_state)
        self.km_draws_ = []
        for _ in range(n_draws):
            pair = []
            for a in (0, 1):
                idx = rng.choice(np.flatnonzero(arm == a), size=int((arm == a).sum()))
                sf = KaplanMeierFitter().fit(time[idx], event[idx]).survival_function_
                pair.append((sf.index.to_numpy(float), sf.iloc[:, 0].to_numpy(float)))
            self.km_draws_.append(pair)
        return self

    def ratio_draws(self, times: np.ndarray) -> np.ndarray:
        """(n_draws, 1, len(times)) hazard-ratio curves H_rt / H_ici of the bootstrap draws."""
        from models.survival import step_at
        from models.transport import hazard_ratio_curve

        times = np.asarray(times, float)
        def survival(knots, values):  # S = 1 before the first knot (step_at gives 0 there)
            return 1.0 - step_at(knots, 1.0 - values, times)

        out = [hazard_ratio_curve(survival(k0, v0), survival(k1, v1))
               for (k0, v0), (k1, v1) in self.km_draws_]
        return 1.0 * np.array(out)[:, None, :]

    def benefit_columns(self, n: int) -> dict[str, np.ndarray]:
        out = {c: np.full(n, v) for c, v in self.columns_.items()}
        out["recommendation"] = np.full(n, "uncertain", dtype=object)
        return {c: out[c] for c in PREDICTION_COLUMNS}

    def predict_survival(self, n: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s0, s1 = (km.survival_function_at_times(times).to_numpy(float) for km in self.km_)
        return np.tile(s0, (n, 1)), np.tile(s1, (n, 1))

    def survival_band(self, n: int, times: np.ndarray) -> CurveBands:
        """Both arms' pointwise ``1 - alpha`` exponential-Greenwood bands on ``times``, the same
        for all ``n`` patients."""
        times = np.asarray(times, float)
        arms = [km_band(km, times, self.alpha) for km in self.km_]
        return CurveBands(*(np.tile(b, (n, 1)) for lower_upper in arms for b in lower_upper))


def km_band(km: KaplanMeierFitter, times: np.ndarray, alpha: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Exponential Greenwood band of a fitted Kaplan-Meier curve at ``times`` (as a step
    function): S ** exp(+-z sqrt(V) / log S), V = sum d / (r (r - d)) (Greenwood), 1 where S = 1.
    Computed from the event table, so a curve fitted at another level gives this level's band."""
    table = km.event_table
    deaths = table["observed"].to_numpy(float)
    at_risk = table["at_risk"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - deaths / at_risk)
        terms = deaths / (at_risk * (at_risk - deaths))
    variance = np.cumsum(np.where(np.isfinite(terms), terms, 0.0))  # r = d: no term (S = 0)
    z = norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        spread = z * np.sqrt(variance) / log_s  # <= 0
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    lower, upper = np.nan_to_num(lower, nan=1.0), np.nan_to_num(upper, nan=1.0)
    at = np.searchsorted(table.index.to_numpy(float), times, side="right") - 1
    before = at < 0  # before the first time of the table: S = 1
    at = np.maximum(at, 0)
    return np.where(before, 1.0, lower[at]), np.where(before, 1.0, upper[at])
