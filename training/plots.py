"""Figures of a benefit model's performance; logged to MLflow runs and reused by the notebooks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

ARM_LABELS = {0: "ICI alone", 1: "RT then ICI"}
ARM_COLOURS = {0: "#4C72B0", 1: "#DD8452"}


def calibration_figure(calibration: dict, horizon: float = 6.0, title: str = "") -> plt.Figure:
    """Predicted vs Kaplan-Meier observed gain per quantile group (models.metrics output)."""
    groups = pd.DataFrame(calibration["groups"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if len(groups):
        lo = min(groups["predicted"].min(), groups["observed"].min(), 0) - 0.05
        hi = max(groups["predicted"].max(), groups["observed"].max(), 0) + 0.05
        ax.plot([lo, hi], [lo, hi], ls="--", c="grey", lw=1, label="perfect calibration")
        ax.scatter(groups["predicted"], groups["observed"], s=20 + groups["n"], c="#4C72B0",
                   label="quantile group (size = n)")
        if np.isfinite(calibration.get("slope", np.nan)):
            xs = np.linspace(lo, hi, 10)
            ax.plot(xs, calibration["intercept"] + calibration["slope"] * xs, c="#C44E52",
                    label=f"fit: slope {calibration['slope']:.2f}, "
                          f"intercept {calibration['intercept']:.2f}")
    ax.axhline(0, c="black", lw=0.5)
    ax.axvline(0, c="black", lw=0.5)
    ax.set_xlabel(f"predicted gain in {horizon:g}-month PFS")
    ax.set_ylabel(f"observed gain (Kaplan-Meier) at {horizon:g} months")
    ax.set_title(title or "Calibration of benefit")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def qini_figure(qini: dict, title: str = "") -> plt.Figure:
    """Cumulative uplift when the top fraction by predicted gain gets RT, vs random ranking."""
    f = np.concatenate([[0.0], np.asarray(qini["fraction"], float)])
    q = np.concatenate([[0.0], np.asarray(qini["qini"], float)])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    label = f"model (Qini coefficient {qini['qini_coefficient']:.3f})"
    ax.plot(f, q, marker="o", ms=3, label=label)
    ax.plot([0, 1], [0, q[-1]], ls="--", c="grey", label="random ranking")
    ax.set_xlabel("fraction of patients given RT (highest predicted gain first)")
    ax.set_ylabel("extra progression-free patients at 6 months, per patient")
    ax.set_title(title or "Uplift (Qini) curve")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def km_by_benefit_figure(
    time, event, arm, predicted_gain, n_groups: int = 3, title: str = ""
) -> plt.Figure:
    """Kaplan-Meier PFS by arm within groups of predicted benefit (tertiles by default)."""
    gain = np.asarray(predicted_gain, float)
    groups = pd.qcut(pd.Series(gain).rank(method="first"), n_groups, labels=False).to_numpy()
    names = ["lowest", "middle", "highest"] if n_groups == 3 else [
        f"group {g + 1}" for g in range(n_groups)
    ]
    return km_by_group_figure(
        time, event, arm, groups, [f"{name} predicted benefit" for name in names],
        title=title or "Kaplan-Meier by predicted-benefit group and arm",
    )


def km_by_group_figure(
    time, event, arm, groups, labels: list[str], title: str = ""
) -> plt.Figure:
    """One panel per group (codes 0..len(labels)-1, titled by ``labels``): Kaplan-Meier PFS by arm.

    Shared by the predicted-benefit groups above and the notebooks' PD-L1 / TMB subgroups.
    """
    time, event = np.asarray(time, float), np.asarray(event, int)
    arm, groups = np.asarray(arm, int), np.asarray(groups)
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.8), sharey=True)
    for g, ax in enumerate(np.atleast_1d(axes)):
        for a in (0, 1):
            m = (groups == g) & (arm == a)
            if m.sum() == 0:
                continue
            KaplanMeierFitter(label=f"{ARM_LABELS[a]} (n={m.sum()})").fit(
                time[m], event[m]
            ).plot_survival_function(ax=ax, ci_show=False, color=ARM_COLOURS[a])
        ax.set_title(labels[g])
        ax.set_xlabel("months")
        ax.set_xlim(0, min(24, time.max()))
    np.atleast_1d(axes)[0].set_ylabel("progression-free survival")
    fig.suptitle(title or "Kaplan-Meier by group and arm")
    fig.tight_layout()
    return fig


def training_figures(oof_gains: dict[str, np.ndarray], data) -> dict[str, plt.Figure]:
    """The figures of one training run, from out-of-fold predicted gains on the training part."""
    from models.metrics import calibration_of_benefit, qini_curve

    time, event, arm = data.Y["time"].to_numpy(), data.Y["event"].to_numpy(), data.T.to_numpy()
    g6 = oof_gains["pfs_gain_6mo"]
    return {
        "calibration_of_benefit": calibration_figure(
            calibration_of_benefit(time, event, arm, g6),
            title="Calibration of benefit (out-of-fold)",
        ),
        "qini": qini_figure(qini_curve(time, event, arm, g6), title="Uplift (out-of-fold)"),
        "km_by_predicted_benefit": km_by_benefit_figure(
            time, event, arm, oof_gains["rmst_gain_12mo"],
            title="PFS by predicted 12-month RMST gain (out-of-fold)",
        ),
    }
