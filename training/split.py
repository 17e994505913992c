"""Folds and hold-out splits stratified by arm and event, so every part has events in both arms."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from models.pseudo_outcomes import cross_fit_folds
from training.data import TrainingData, TrainingDataError


def strata(data: TrainingData) -> np.ndarray:
    return data.T.to_numpy() * 2 + data.Y["event"].to_numpy()


def check_folds(data: TrainingData, n_splits: int) -> None:
    """Every arm x event stratum needs at least one patient per fold."""
    counts = np.bincount(strata(data), minlength=4)
    names = ["ICI censored", "ICI events", "RT+ICI censored", "RT+ICI events"]
    short = [
        f"{names[i]}: {c}" for i, c in enumerate(counts) if 0 < c < n_splits or (i % 2 and c == 0)
    ]
    if short:
        raise TrainingDataError(
            f"too few patients for {n_splits}-fold cross-validation stratified by arm and event "
            f"({', '.join(short)}); add patients or lower --folds"
        )


def holdout_split(data: TrainingData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(data.n)
    train, hold = train_test_split(
        index, test_size=fraction, stratify=strata(data), random_state=seed
    )
    return np.sort(train), np.sort(hold)


def cv_folds(data: TrainingData, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return cross_fit_folds(data.T.to_numpy(), data.Y["event"].to_numpy(), n_splits, seed)
