"""The one result of a benefit prediction, whoever asks for it (CLI, pyfunc, server, notebooks).

Arrays stay numpy: the server writes the curves with orjson straight from these rows, and a
Python list per patient would cost it ~20 ms per 1,000 patients (serving/predictor.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.base import ESTIMANDS, PREDICTION_COLUMNS, CurveBands

# The PREDICTION_COLUMNS held in ``Prediction.estimands``: the arms' PFS at 6 and 12 months and
# each estimand's estimate, lower and upper bound (the two others have their own fields).
ESTIMAND_COLUMNS = tuple(c for c in PREDICTION_COLUMNS
                         if c not in ("probability_of_benefit", "recommendation"))


@dataclass(frozen=True, eq=False)  # eq: arrays have no single truth value
class Prediction:
    """Per patient (rows, in the order of ``index``): both arms' PFS curves on ``months``, their
    pointwise bands when asked for (``bands``, else None), ESTIMAND_COLUMNS with the gains'
    ``1 - alpha`` intervals, P(benefit) and the recommendation."""

    index: pd.Index  # patient_id
    months: np.ndarray  # (len(months),)
    survival_ici: np.ndarray  # (n, len(months))
    survival_rt_ici: np.ndarray  # (n, len(months))
    estimands: dict[str, np.ndarray]  # ESTIMAND_COLUMNS -> (n,)
    probability_of_benefit: np.ndarray  # (n,)
    recommendation: np.ndarray  # (n,) of models.recommend.RECOMMENDATIONS
    bands: CurveBands | None = None

    @classmethod
    def from_columns(cls, index: pd.Index, months: np.ndarray, columns: dict[str, np.ndarray],
                     survival_ici: np.ndarray, survival_rt_ici: np.ndarray,
                     bands: CurveBands | None = None) -> Prediction:
        """From PREDICTION_COLUMNS as {column: array} (what the three model paths compute)."""
        return cls(index=index, months=np.asarray(months, dtype=float),
                   survival_ici=survival_ici, survival_rt_ici=survival_rt_ici,
                   estimands={c: columns[c] for c in ESTIMAND_COLUMNS},
                   probability_of_benefit=columns["probability_of_benefit"],
                   recommendation=columns["recommendation"], bands=bands)

    def __len__(self) -> int:
        return len(self.index)

    def interval(self, estimand: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(estimate, lower, upper) of one of ESTIMANDS."""
        if estimand not in ESTIMANDS:
            raise ValueError(f"unknown estimand {estimand!r}; expected one of "
                             f"{', '.join(ESTIMANDS)}")
        e = self.estimands
        return e[estimand], e[f"{estimand}_lower"], e[f"{estimand}_upper"]

    def columns(self) -> dict[str, np.ndarray]:
        """PREDICTION_COLUMNS as {column: array}, in order."""
        out = {**self.estimands, "probability_of_benefit": self.probability_of_benefit,
               "recommendation": self.recommendation}
        return {c: out[c] for c in PREDICTION_COLUMNS}

    def to_frame(self) -> pd.DataFrame:
        """PREDICTION_COLUMNS per patient, indexed by patient_id: the table of
        ``abscopal predict`` (without its ``patient_id`` and ``warnings`` columns)."""
        return pd.DataFrame(self.columns(), index=self.index, columns=PREDICTION_COLUMNS)
