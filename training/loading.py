"""Load a registered or logged benefit model (any MLflow model URI) as a ModelBundle."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException

from abscopal.settings import Settings, get_settings
from training.bundle import ModelBundle


class ModelNotFoundError(LookupError):
    """No model at the URI; the message names the command that trains one."""


@dataclass
class LoadedModel:
    bundle: ModelBundle
    uri: str
    name: str | None
    version: str | None
    run_id: str | None


def registered_version(uri: str) -> tuple[str | None, str | None]:
    """(name, version) for registry URIs (models:/name@alias, models:/name/3); else (None, None).

    MLflow 3's logged-model URIs (models:/m-<id>) and runs:/ URIs are not registry versions.
    """
    ref = uri.removeprefix("models:/") if uri.startswith("models:/") else None
    if ref is None:
        return None, None
    client = mlflow.MlflowClient()
    if "@" in ref:
        name, alias = ref.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    elif "/" in ref:
        mv = client.get_model_version(*ref.split("/", 1))
    else:
        return None, None
    return mv.name, str(mv.version)


def _load_pyfunc(uri: str, settings: Settings, train_command: str):
    """The MLflow pyfunc at ``uri``; a clear ModelNotFoundError naming the command otherwise."""
    from training.artifacts import load_verified
    from training.tracking import configure

    configure(settings)
    try:
        return load_verified(uri)
    except (MlflowException, OSError) as exc:
        raise ModelNotFoundError(
            f"no model at {uri} in {settings.tracking_uri} ({str(exc).splitlines()[0]}). "
            f"Train and register one first: {train_command}."
        ) from None


def default_model_uri(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.model_uri or f"models:/{settings.model_name}@{settings.champion_alias}"


def load_model(uri: str | None = None, settings: Settings | None = None) -> LoadedModel:

    settings = settings or get_settings()
    uri = uri or default_model_uri(settings)
    pyfunc = _load_pyfunc(uri, settings, "`abscopal train --cohort data/virtual_trial` (or "
                                         "`make run`)")
    name, version = registered_version(uri)
    return LoadedModel(
        bundle=pyfunc.unwrap_python_model().bundle,
        uri=uri,
        name=name,
        version=version,
        run_id=pyfunc.metadata.run_id,
    )


PROGNOSIS_URI = "models:/ici-prognosis@champion"


def load_prognosis(uri: str | None = None, settings: Settings | None = None):
    """The registered prognosis model (training.prognosis_bundle.PrognosisBundle) and its version.

    Fails with the command that trains one when none is registered."""

    settings = settings or get_settings()
    uri = uri or PROGNOSIS_URI
    pyfunc = _load_pyfunc(uri, settings, "`abscopal train-prognosis --cohort "
                                         "../shared/data/public_ici/nsclc_ici_cohorts.csv` (or "
                                         "`make run`, which does when the real cohorts are "
                                         "present)")
    bundle = pyfunc.unwrap_python_model().bundle
    if not hasattr(bundle, "models"):
        raise ModelNotFoundError(f"{uri} is not a prognosis model (train-prognosis makes one)")
    _, version = registered_version(uri)
    return bundle, version
