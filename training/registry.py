"""Register a model version and move the champion alias only when the new version is better."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from abscopal.settings import Settings
from training.criterion import SELECTION_ESTIMAND, benefit_loss, pseudo_outcomes
from training.data import TrainingData
from training.tracking import store_lock


def register_and_promote(
    client: MlflowClient,
    settings: Settings,
    model_uri: str,
    run_id: str,
    name: str,
    *,
    new_loss: float,
    holdout: TrainingData,
) -> tuple[str, bool, str]:
    """Returns (version, promoted, reason). A failure deletes the half-made version."""
    alias = settings.champion_alias
    with store_lock(settings.tracking_uri):
        version = mlflow.register_model(model_uri, name, await_registration_for=0).version
        try:
            client.set_model_version_tag(name, version, "holdout_benefit_loss", f"{new_loss:.6g}")
            client.set_model_version_tag(name, version, "synthetic",
                                         str(holdout.synthetic).lower())
            promoted, reason = _decide(client, name, alias, new_loss, holdout)
            if promoted:
                client.set_registered_model_alias(name, alias, version)
            client.set_model_version_tag(name, version, "promotion", reason)
        except BaseException:
            client.delete_model_version(name, version)
            raise
    return str(version), promoted, reason


def _decide(client, name, alias, new_loss, holdout) -> tuple[bool, str]:
    try:
        champion = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return True, f"no {alias} yet: this version becomes {alias}"
    champion_loss, why_not = champion_holdout_loss(f"models:/{name}@{alias}", holdout)
    if champion_loss is None:
        return False, (f"kept {alias} v{champion.version}: it cannot be scored on this cohort "
                       f"({why_not}); use another --model-name for a different cohort")
    if new_loss < champion_loss:
        return True, (f"promoted: held-out benefit loss {new_loss:.4g} < {alias} "
                      f"v{champion.version}'s {champion_loss:.4g} on the same patients")
    return False, (f"kept {alias} v{champion.version}: its held-out benefit loss "
                   f"{champion_loss:.4g} <= this version's {new_loss:.4g} on the same patients")


def champion_holdout_loss(model_uri: str, holdout: TrainingData) -> tuple[float | None, str]:
    """The champion's benefit loss on this run's held-out patients, with its own features."""
    bundle = mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle
    if bundle.training.get("endpoint") != holdout.endpoint:
        return None, f"it predicts {bundle.training.get('endpoint')}, not {holdout.endpoint}"
    missing = [f for f in bundle.feature_names if f not in holdout.available.columns]
    if missing:
        return None, f"features absent from this cohort: {missing[:10]}"
    X = holdout.available[bundle.feature_names]
    psi = pseudo_outcomes(holdout.Y, holdout.T)[SELECTION_ESTIMAND].to_numpy()
    return benefit_loss(psi, bundle.served_gain(X, SELECTION_ESTIMAND)), ""
