"""No leakage: only baseline features may enter a benefit model.

The feature manifest (features/) marks each feature ``baseline`` or ``on_treatment``. On-treatment
features (TCR expansion, ctDNA change) are measured after randomisation, so they are partly caused
by the treatment and would bias any estimate of its effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def check_baseline_features(feature_names: Iterable[str], timepoints: Mapping[str, str]) -> None:
    """Raise ValueError naming every feature that is not a known ``baseline`` feature.

    ``timepoints`` maps feature name -> ``"baseline"`` or ``"on_treatment"`` (the manifest).
    A feature absent from the manifest is refused too: nothing vouches that it is baseline.
    """
    names = list(feature_names)
    on_treatment = [f for f in names if timepoints.get(f) == "on_treatment"]
    unknown = [f for f in names if f not in timepoints]
    other = [
        f"{f} ({timepoints[f]!r})"
        for f in names
        if f in timepoints and timepoints[f] not in ("baseline", "on_treatment")
    ]
    problems = []
    if on_treatment:
        problems.append(
            "on_treatment features may not enter a benefit model (measured after randomisation): "
            + ", ".join(on_treatment)
        )
    if unknown:
        problems.append("features not in the feature manifest: " + ", ".join(unknown))
    if other:
        problems.append(
            "features with a timepoint other than baseline/on_treatment: " + ", ".join(other)
        )
    if problems:
        raise ValueError("; ".join(problems))


# Outcome-leakage guard: a feature that *is* the outcome under another name (``pfs_copy``,
# ``progressed_6mo``) passes the timepoint check above, so the data are tested too.
# Thresholds measured (docs/models.md, "Leakage guard"): the largest single-feature concordance
# of a legitimate baseline feature was 0.60 on virtual trials (published/strong, n 300-5000) and
# 0.74 on ACTG 320 (Karnofsky score against death, 26 events; CD4 0.73 against AIDS or death),
# over untied pairs 0.67 and 0.83; a renamed outcome scores 0.94-1.0.
MAX_CONCORDANCE = 0.85
MAX_UNTIED_CONCORDANCE = 0.95
MAX_TIME_SPEARMAN = 0.95
MAX_EVENT_AGREEMENT = 0.95
MIN_ROWS = 20


class OutcomeLeakError(ValueError):
    """A feature is (nearly) the outcome; the message names it, its figure and the override."""


def outcome_association(values, time, event) -> dict[str, float] | None:
    """How strongly one feature tracks the outcome, on its non-missing rows.

    ``concordance``: Harrell's C of the feature with the (censored) time, as ``max(C, 1 - C)``;
    ``untied_concordance``: the same over the pairs the feature does not tie;
    ``time_spearman``: |Spearman| with the time; ``event_agreement``: |Pearson correlation| with
    the event indicator (the phi coefficient for a two-valued feature). None when the feature
    has fewer than ``MIN_ROWS`` values or no variance.
    """
    import numpy as np
    from lifelines.utils import concordance_index
    from scipy.stats import spearmanr

    x = np.asarray(values, dtype=float)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    keep = np.isfinite(x) & np.isfinite(t) & np.isfinite(e)
    x, t, e = x[keep], t[keep], e[keep]
    if len(x) < MIN_ROWS or np.ptp(x) == 0:
        return None
    out = {"n": float(len(x))}
    if e.sum() > 0:
        c = concordance_index(t, x, e)
        out["concordance"] = float(max(c, 1 - c))
    else:
        out["concordance"] = float("nan")
    out["untied_concordance"] = untied_concordance(x, t, e)
    rho = spearmanr(x, t).statistic
    out["time_spearman"] = float(abs(rho)) if np.isfinite(rho) else 0.0
    if np.ptp(e) == 0:
        out["event_agreement"] = 0.0
    else:  # |correlation| (phi for a two-valued feature): a near-constant feature scores ~0
        r = np.corrcoef(x, e)[0, 1]
        out["event_agreement"] = float(abs(r)) if np.isfinite(r) else 0.0
    return out


def untied_concordance(x, t, e, min_minority: int = 10, chunk: int = 1000,
                       max_rows: int = 5000) -> float:
    """Harrell's concordance over the comparable pairs whose feature values differ, as
    ``max(C, 1 - C)``: 1.0 for a feature derived from the outcome (``progressed_6mo`` = event
    before 6 months orders every untied pair), whose many ties hide it from Harrell's C (ties
    count one half). NaN when fewer than ``min_minority`` rows differ from the most common
    value (a rare level orders few pairs, perfectly by chance). Pairs cost O(n^2): above
    ``max_rows`` rows a fixed random subset of ``max_rows`` is used (3 s for 50 features)."""
    import numpy as np

    if len(x) > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(len(x), max_rows, replace=False))
        x, t, e = x[keep], t[keep], e[keep]
    _, counts = np.unique(x, return_counts=True)
    if len(x) - counts.max() < min_minority:
        return float("nan")
    concordant = discordant = 0
    for start in range(0, len(x), chunk):  # pairs (i event, t_i < t_j): i should rank riskier
        i = slice(start, start + chunk)
        comparable = (e[i, None] == 1) & (t[i, None] < t[None, :])
        higher = x[i, None] > x[None, :]
        lower = x[i, None] < x[None, :]
        concordant += int((comparable & higher).sum())
        discordant += int((comparable & lower).sum())
    if concordant + discordant == 0:
        return float("nan")
    c = concordant / (concordant + discordant)
    return float(max(c, 1 - c))


def check_outcome_leakage(
    X, time, event, *, allow: Iterable[str] = (),
    max_concordance: float = MAX_CONCORDANCE,
    max_untied_concordance: float = MAX_UNTIED_CONCORDANCE,
    max_time_spearman: float = MAX_TIME_SPEARMAN,
    max_event_agreement: float = MAX_EVENT_AGREEMENT,
) -> dict[str, dict[str, float]]:
    """Refuse every feature of ``X`` (a DataFrame) that predicts the outcome too well to be a
    baseline measurement: concordance with the time above ``max_concordance`` (or above
    ``max_untied_concordance`` over the pairs the feature does not tie), a near-copy of the
    time (|Spearman| above ``max_time_spearman``) or of the event (agreement above
    ``max_event_agreement``). Features in ``allow`` are measured but never refused.

    Returns the figures of every tested feature; raises OutcomeLeakError naming each refused one.
    """
    allowed = set(allow)
    limits = (  # (figure, what it measures, threshold)
        ("concordance", "concordance with the outcome", max_concordance),
        ("untied_concordance", "concordance with the outcome over pairs with different values",
         max_untied_concordance),
        ("time_spearman", "|Spearman| with the time", max_time_spearman),
        ("event_agreement", "agreement with the event", max_event_agreement),
    )
    figures: dict[str, dict[str, float]] = {}
    refused: list[str] = []
    for name in X.columns:
        figure = outcome_association(X[name].to_numpy(), time, event)
        if figure is None:
            continue
        figures[name] = figure
        reasons = [f"{label} {figure[key]:.3f} > {limit:.2f}"
                   for key, label, limit in limits if figure[key] > limit]
        if reasons and name not in allowed:
            refused.append(f"{name} ({', '.join(reasons)})")
    if refused:
        names = [r.split(" (")[0] for r in refused]
        raise OutcomeLeakError(
            "features that look like the outcome itself (a leak: a baseline measurement does not "
            "predict the outcome this well): " + "; ".join(refused) + ". If a feature is truly "
            "measured before randomisation, allow it explicitly with "
            + " ".join(f"--allow-feature {n}" for n in names)
        )
    return figures
