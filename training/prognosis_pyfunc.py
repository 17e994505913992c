"""The MLflow pyfunc flavour of the prognosis model: clinical rows in, S(t) under ICI alone out."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Schema

from models.base import SURVIVAL_GRID_MONTHS
from training.prognosis_bundle import PrognosisBundle


class PrognosisPyfunc(mlflow.pyfunc.PythonModel):
    """Output per patient and endpoint: log risk, S(6), S(12) and the curve on the 0-24 month
    grid (``survival_<endpoint>``, aligned with ``months``)."""

    def __init__(self, bundle: PrognosisBundle):
        self.bundle = bundle

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        import features

        records = [{k: v for k, v in row.items() if not pd.isna(v)}
                   for row in pd.DataFrame(model_input).to_dict(orient="records")]
        X = self.bundle.features_for(features.raw_inputs_from_records(records))
        out = pd.DataFrame({"patient_id": X.index.to_numpy()})
        out["months"] = [list(map(float, SURVIVAL_GRID_MONTHS))] * len(X)
        for ep in self.bundle.endpoints:
            curves = self.bundle.survival(X, ep)
            out[f"{ep}_log_risk"] = self.bundle.log_risk(X, ep)
            out[f"{ep}_s_6mo"] = curves[:, 12]
            out[f"{ep}_s_12mo"] = curves[:, 24]
            out[f"survival_{ep}"] = [list(map(float, row)) for row in curves]
        return out


def signature(endpoints: list[str]) -> ModelSignature:
    from training.pyfunc import baseline_inputs

    inputs = baseline_inputs()
    outputs = [ColSpec("string", "patient_id"), ColSpec(Array("double"), "months")]
    for ep in endpoints:
        outputs += [ColSpec("double", f"{ep}_{k}") for k in ("log_risk", "s_6mo", "s_12mo")]
        outputs.append(ColSpec(Array("double"), f"survival_{ep}"))
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))
