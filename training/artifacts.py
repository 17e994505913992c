"""Verified model artifacts: record the sha256 of every file of a logged model with its registered
version, and check them before anything is unpickled.

A registered model is a pickle (the MLflow pyfunc's ``python_model.pkl``): loading it runs code.
Whoever can write the artifact store can therefore run code in the server and in ``abscopal
train`` (which loads the champion to compare). The digests live in the tracking database (a
version tag), not beside the files, so a file replaced or truncated in the artifact store is
refused with its name before it is read; a version registered without digests (a crash between
registration and tagging, or a store from before digests existed) is refused too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow

DIGEST_TAG = "artifact_sha256"
# Files of the model last verified and loaded per registered name, in this process:
# name -> {path: (size, mtime_ns) at load} (for /readyz; a reload of the name replaces it).
_LOADED: dict[str, dict[Path, tuple[int, int]]] = {}
# Written by MLflow itself into the model directory at registration: not part of what we logged.
MLFLOW_MANAGED = {"registered_model_meta"}


class ModelIntegrityError(LookupError):
    """A registered model's files do not match the digests recorded at registration."""


def _local_dir(model_uri: str) -> Path:
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` (relative POSIX paths), MLflow's own metadata
    excluded."""
    out = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel not in MLFLOW_MANAGED:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            out[rel] = digest.hexdigest()
    return out


def model_digests(model_uri: str) -> str:
    """The digests of a logged model, as the compact JSON stored in the version tag."""
    return json.dumps(file_digests(_local_dir(model_uri)), sort_keys=True, separators=(",", ":"))


def load_verified(uri: str):
    """``mlflow.pyfunc.load_model(uri)`` after checking a registered version's files against
    its recorded digests. URIs that are not registered versions (``runs:/``, logged models) are
    the caller's own fresh artifacts and load as they are."""
    from training.loading import registered_version

    name, version = registered_version(uri)
    if version is None:
        return mlflow.pyfunc.load_model(uri)
    tags = mlflow.MlflowClient().get_model_version(name, version).tags
    recorded = tags.get(DIGEST_TAG)
    if tags.get("registration") == "pending":
        raise ModelIntegrityError(
            f"{name} version {version} is pending: its registration was interrupted (a killed "
            "or failed `abscopal train`); it is not loaded. `abscopal doctor --fix` completes "
            "or removes it.")
    if recorded is None:
        raise ModelIntegrityError(
            f"{name} version {version} has no recorded artifact digests: its registration did "
            "not complete (or it predates verified artifacts); it is not loaded. Retrain it, "
            "or remove it with `abscopal doctor --fix`.")
    expected = json.loads(recorded)
    directory = _local_dir(uri)
    actual = file_digests(directory)
    for rel, digest in expected.items():
        if rel not in actual:
            raise ModelIntegrityError(f"{name} version {version}: {directory / rel} is missing")
        if actual[rel] != digest:
            raise ModelIntegrityError(
                f"{name} version {version}: {directory / rel} does not match the sha256 recorded "
                "at registration (changed or truncated); it is not loaded")
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise ModelIntegrityError(
            f"{name} version {version}: unexpected file {directory / extra[0]} in the model "
            "directory; it is not loaded")
    model = mlflow.pyfunc.load_model(str(directory))
    stats = {directory / rel: (directory / rel).stat() for rel in expected}
    _LOADED[name] = {path: (st.st_size, st.st_mtime_ns) for path, st in stats.items()}
    return model


def loaded_snapshot() -> dict[str, dict[Path, tuple[int, int]]]:
    """The table of loaded models' files, to put back with ``restore_loaded`` when a model that
    was to replace them fails after its files were verified (serving.hot_swap)."""
    return dict(_LOADED)


def restore_loaded(snapshot: dict[str, dict[Path, tuple[int, int]]]) -> None:
    _LOADED.clear()
    _LOADED.update(snapshot)


def loaded_artifacts_intact() -> str | None:
    """None while every file of the registered models this process loaded is still in place,
    unchanged in size and modification time (a few stat calls: cheap enough for every
    ``/readyz``); else what is wrong, naming the file. A worker restarted now would verify the
    digests again and refuse such a model, so readiness says so before that happens."""
    # list(): a snapshot (one C-level copy under the GIL); a hot swap may be loading meanwhile
    for path, (size, mtime) in [item for files in list(_LOADED.values())
                                for item in list(files.items())]:
        try:
            stat = path.stat()
        except OSError:
            return f"{path.name} is missing from the loaded model's directory {path.parent}"
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
            return (f"{path.name} changed since it was loaded (the model's directory "
                    f"{path.parent})")
    return None
