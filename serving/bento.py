"""``abscopal bento`` (``make bento``): the deployable service as a Bento.

The MLflow champion (checked against its registered digests) is imported into the BentoML model
store with its provenance as labels, then ``bentofile.yaml`` is built with that exact model, so
``bentoml serve <bento>`` and ``bentoml containerize <bento>`` need no MLflow store: inside the
Bento, ``training.loading.load_model`` reads the model from the BentoML store.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.settings import Settings, get_settings
from training.loading import BENTO_DIGESTS, LoadedModel, load_model


@dataclass
class BentoBuild:
    bento_tag: str
    model_tag: str
    labels: dict[str, str]
    reused_model: bool


def provenance_labels(loaded: LoadedModel) -> dict[str, str]:
    """What the model is: its registered name and version, run and training-data fingerprint."""
    fingerprint = loaded.bundle.training.get("fingerprint") or {}
    return {
        "mlflow_model_name": loaded.name or "",
        "mlflow_model_version": loaded.version or "",
        "mlflow_run_id": loaded.run_id or "",
        "training_data_sha256": fingerprint.get("sha256") or "",
        "synthetic": str(bool(loaded.bundle.synthetic)).lower(),
    }


def import_champion(uri: str | None = None, settings: Settings | None = None
                    ) -> tuple[str, dict[str, str], bool]:
    """Import the model at ``uri`` (default: the champion) into the BentoML model store.

    Returns (model tag, labels, reused): a model already imported from the same registered
    version and run is reused, not copied again."""
    import bentoml
    import mlflow

    from training.artifacts import DIGEST_TAG, ModelIntegrityError, file_digests
    from training.loading import default_model_uri

    settings = settings or get_settings()
    uri = uri or default_model_uri(settings)
    loaded = load_model(uri, settings)  # verified; a clear error without a registered model
    if loaded.version is None:
        raise ValueError(f"{uri} is not a registered model version: a Bento takes a version of "
                         "the MLflow registry (models:/<name>@<alias> or models:/<name>/<n>)")
    labels = provenance_labels(loaded)
    try:
        imported = bentoml.models.list(loaded.name)
    except bentoml.exceptions.NotFound:
        imported = []
    for model in imported:
        if all(model.info.labels.get(k) == v for k, v in labels.items()):
            return str(model.tag), labels, True
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    digests = file_digests(local)
    recorded = mlflow.MlflowClient().get_model_version(loaded.name, loaded.version).tags
    if digests != json.loads(recorded[DIGEST_TAG]):  # the files registered, not others
        raise ModelIntegrityError(f"{uri}: the downloaded files do not match the digests "
                                  "recorded at registration; nothing imported")
    model = bentoml.mlflow.import_model(
        loaded.name, str(local), labels=labels,
        metadata={BENTO_DIGESTS: json.dumps(digests, sort_keys=True),
                  "mlflow_uri": uri},
    )
    return str(model.tag), labels, False


def build_bento(uri: str | None = None, *, project: Path | None = None,
                settings: Settings | None = None) -> BentoBuild:
    """Import the champion, then build ``bentofile.yaml`` pinned to it, labelled with its
    provenance."""
    import bentoml
    import yaml

    from common.settings import project_root

    project = project or project_root()
    model_tag, labels, reused = import_champion(uri, settings)
    config = yaml.safe_load((project / "bentofile.yaml").read_text())
    name = model_tag.split(":", 1)[0]
    config["models"] = [m for m in config.get("models") or []
                        if str(m).split(":", 1)[0] != name] + [model_tag]
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "bentofile.yaml"
        pinned.write_text(yaml.safe_dump(config, sort_keys=False))
        bento = bentoml.bentos.build_bentofile(str(pinned), build_ctx=str(project),
                                               labels=labels)
    return BentoBuild(bento_tag=str(bento.tag), model_tag=model_tag, labels=labels,
                      reused_model=reused)
