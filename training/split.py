"""Folds and hold-out splits stratified by arm and event, so every part has events in both arms."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from models.pseudo_outcomes import cross_fit_folds, fold_strata
from training.data import TrainingData, TrainingDataError


def strata(data: TrainingData, n_parts: int = 2) -> np.ndarray:
    return fold_strata(data.T.to_numpy(), data.Y["event"].to_numpy(), n_parts)


def check_folds(data: TrainingData, n_splits: int) -> None:
    """Each arm's events must reach every fold, so every training part has events in both arms
    (censored patients may be fewer than the folds: models.pseudo_outcomes.fold_strata)."""
    arm, event = data.T.to_numpy(), data.Y["event"].to_numpy()
    short = [f"{name} events: {int(event[arm == a].sum())}"
             for a, name in ((0, "ICI"), (1, "RT+ICI")) if event[arm == a].sum() < n_splits]
    if short:
        raise TrainingDataError(
            f"too few patients for {n_splits}-fold cross-validation stratified by arm and event "
            f"({', '.join(short)}); add patients or lower --folds"
        )


def holdout_split(data: TrainingData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(data.n)
    train, hold = train_test_split(
        index, test_size=fraction, stratify=strata(data, n_parts=2), random_state=seed
    )
    return np.sort(train), np.sort(hold)


def cv_folds(data: TrainingData, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return cross_fit_folds(data.T.to_numpy(), data.Y["event"].to_numpy(), n_splits, seed)
