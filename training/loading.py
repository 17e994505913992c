"""Load a registered or logged benefit model (any MLflow model URI) as a ModelBundle."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from common.settings import Settings, get_settings
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


@contextlib.contextmanager
def installed_code_first() -> Iterator[None]:
    """A model carries a copy of the project's code (``code/``, training/pyfunc.py) that MLflow
    puts first on sys.path while loading it. This process keeps its own code: the project's
    packages are imported before, and sys.path is restored after, so a model logged by an
    older version never shadows a module imported later."""
    from training.pyfunc import MODEL_CODE_PACKAGES

    for name in MODEL_CODE_PACKAGES:
        importlib.import_module(name)
    before = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = before


def _load_pyfunc(uri: str, settings: Settings, train_command: str):
    """The MLflow pyfunc at ``uri``; a clear ModelNotFoundError naming the command otherwise."""
    from training.artifacts import load_verified
    from training.tracking import configure

    configure(settings)
    try:
        with installed_code_first():
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
    """The model at ``uri``: an MLflow model URI, or ``bentoml:<tag>`` (BentoML model store).

    Without a URI: inside a built Bento, the model it was built with (no MLflow store needed);
    elsewhere the champion of the MLflow registry."""
    settings = settings or get_settings()
    if uri is None and settings.model_uri is None:
        tag = bento_model_tag(settings.model_name)
        if tag is not None:
            return load_bento_model(tag)
    uri = uri or default_model_uri(settings)
    if uri.startswith(BENTO_SCHEME):
        return load_bento_model(uri.removeprefix(BENTO_SCHEME))
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


# A model imported into the BentoML model store (serving/bento.py): its MLflow model directory
# and the provenance it was imported with.
BENTO_SCHEME = "bentoml:"
BENTO_MLFLOW_FOLDER = "mlflow_model"  # where bentoml.mlflow.import_model puts the MLflow model
BENTO_DIGESTS = "artifact_sha256"  # metadata: sha256 of every file of that directory
BENTO_LABELS = ("mlflow_model_name", "mlflow_model_version", "mlflow_run_id",
                "training_data_sha256", "synthetic")


def bento_model_tag(model_name: str, bento_root: Path | None = None) -> str | None:
    """Inside a built Bento (its ``bento.yaml`` sits above the copied ``src/``), the tag of the
    model named ``model_name`` it was built with; None in a source checkout or installation."""
    import yaml

    root = bento_root or Path(__file__).resolve().parents[2]
    info = root / "bento.yaml"
    if not info.is_file():
        return None
    for model in yaml.safe_load(info.read_text()).get("models") or []:
        tag = str(model["tag"] if isinstance(model, dict) else model)
        if tag.split(":", 1)[0] == model_name:
            return tag
    return None


def load_bento_model(tag: str) -> LoadedModel:
    """A benefit model from the BentoML model store, checked against the digests recorded when
    it was imported; no MLflow tracking store is read."""
    import bentoml
    from bentoml.exceptions import NotFound

    from training.artifacts import ModelIntegrityError, file_digests

    try:
        model = bentoml.models.get(tag)
    except NotFound:
        raise ModelNotFoundError(
            f"no model {tag} in the BentoML model store: import the champion with `abscopal "
            "bento` (or `make bento`)") from None
    directory = Path(model.path_of(BENTO_MLFLOW_FOLDER))
    expected = json.loads(model.info.metadata.get(BENTO_DIGESTS) or "{}")
    if not expected:
        raise ModelIntegrityError(f"BentoML model {model.tag} has no recorded digests: it was "
                                  "not imported by `abscopal bento`; it is not loaded")
    actual = file_digests(directory)
    for rel, digest in expected.items():
        if actual.get(rel) != digest:
            raise ModelIntegrityError(f"BentoML model {model.tag}: {directory / rel} is missing "
                                      "or changed since it was imported; it is not loaded")
    with installed_code_first():
        pyfunc = mlflow.pyfunc.load_model(str(directory))
    labels = model.info.labels
    return LoadedModel(
        bundle=pyfunc.unwrap_python_model().bundle,
        uri=f"{BENTO_SCHEME}{model.tag}",
        name=labels.get("mlflow_model_name"),
        version=labels.get("mlflow_model_version"),
        # the MLflow run (labels["mlflow_run_id"]) is not reachable from a Bento: no run_id, so
        # nothing asks the tracking store for it
        run_id=None,
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
