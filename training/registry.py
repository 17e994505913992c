"""Register a model version and move the champion alias only when the new version is better.

Better means: a lower benefit loss (of the gain each model serves) on the same held-out patients,
shown by a paired one-sided test at a pre-specified level (``criterion.promotion_test``), on
patients that neither model was trained on (each version stores hashes of its training records,
``TrainingData.record_hashes``). Retraining on identical data with identical settings does not
register a second, identical version.

Crash-safe: a version is created with all its tags in one transaction, marked ``registration:
pending``; then its promotion is decided and tagged, the alias moved, and the version marked
``complete`` last. Loaders refuse pending versions (training.artifacts); a process killed at any
step leaves a pending version that the next registration (under the promotion lock, so no live
registration is touched) or ``abscopal doctor --fix`` resolves: deleted, or completed when the
alias already points to it (only the last tag was missing).

Safe across machines: all of it runs under the model's promotion lock, which lives in the
tracking server itself (training.promotion_lock), not in a file beside a sqlite store; two
trainers that share only an ``http://`` tracking server promote one after the other, the second
compared with the first's result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from common.settings import Settings
from training.criterion import (
    SELECTION_ESTIMAND,
    benefit_loss,
    promotion_test,
)
from training.data import TrainingData
from training.promotion_lock import is_lock, promotion_lock

TRAINING_KEY_TAG = "training_key"
REGISTRATION_TAG = "registration"  # "pending" until every step of register_version is done
PENDING, COMPLETE = "pending", "complete"


def training_key(fingerprint: dict, settings: dict) -> str:
    """Identity of a training: the exact data (fingerprint) and every setting that shapes it."""
    blob = json.dumps({"data": fingerprint.get("sha256"), "settings": settings}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def register_and_promote(
    client: MlflowClient,
    settings: Settings,
    model_uri: str,
    run_id: str,
    name: str,
    *,
    new_gain: np.ndarray,
    holdout: TrainingData,
    psi: np.ndarray,
    key: str,
) -> tuple[str, bool, str]:
    """Returns (version, promoted, reason); ``psi``: the hold-out's pseudo-outcomes of the
    selection estimand. A failure deletes the half-made version."""
    tags = {"holdout_benefit_loss": f"{benefit_loss(psi, new_gain):.6g}",
            "synthetic": str(holdout.synthetic).lower()}
    return register_version(
        client, settings, model_uri, name, key=key, tags=tags,
        decide=lambda alias: _decide(client, name, alias, new_gain, holdout, psi))


def register_version(client: MlflowClient, settings: Settings, model_uri: str, name: str, *,
                     key: str, tags: dict[str, str], decide) -> tuple[str, bool, str]:
    """The registration every model kind shares, under the model's promotion lock (held in the
    tracking server): no duplicate of an identical training (tag ``training_key``); the version
    created pending with its tags, then ``decide(alias) -> (promote, reason)``, the alias move
    (after checking the lock is still held) and the completion tag. A failure puts the alias
    back and deletes the half-made version."""
    from training.artifacts import DIGEST_TAG, model_digests

    alias = settings.champion_alias
    tags = {**tags, DIGEST_TAG: model_digests(model_uri)}  # before the version exists
    with promotion_lock(client, name) as lease:
        resolve_pending(client, name)  # what a killed registration left (no live one: locked)
        duplicate = _version_with_key(client, name, key)
        if duplicate is not None:
            return duplicate, False, (f"not registered: version {duplicate} was trained on the "
                                      f"identical data with identical settings")
        version = mlflow.register_model(
            model_uri, name, await_registration_for=0,
            tags={**tags, TRAINING_KEY_TAG: key, REGISTRATION_TAG: PENDING}).version
        previous, moved = _aliased_version(client, name, alias), False
        try:
            promoted, reason = decide(alias)
            client.set_model_version_tag(name, version, "promotion", reason)
            if promoted:
                lease.check()  # paused past the lease: another trainer may hold it now
                client.set_registered_model_alias(name, alias, version)
                moved = True
            client.set_model_version_tag(name, version, REGISTRATION_TAG, COMPLETE)
        except BaseException:
            with contextlib.suppress(Exception):  # the store may be what failed
                if moved and previous is not None:
                    client.set_registered_model_alias(name, alias, previous)
                elif moved:
                    client.delete_registered_model_alias(name, alias)
                client.delete_model_version(name, version)
            raise
    return str(version), promoted, reason


def pending(version) -> bool:
    return version.tags.get(REGISTRATION_TAG) == PENDING


def resolve_pending(client: MlflowClient, name: str | None = None) -> list[str]:
    """Finish or remove the versions a killed registration left pending (call it under the
    model's promotion lock, or when no training runs): a pending version the alias points to had
    every step done but the last tag, and is marked complete; any other is deleted. Returns what
    was done, one line each."""
    done = []
    if name is None:
        models = [m for m in client.search_registered_models() if not is_lock(m.name)]
    else:
        models = [client.get_registered_model(name)] if _exists(client, name) else []
    for model in models:
        aliased = {str(v): a for a, v in (getattr(model, "aliases", None) or {}).items()}
        for version in client.search_model_versions(f"name='{model.name}'"):
            if not pending(version):
                continue
            number = str(version.version)
            if number in aliased and "promotion" in version.tags:
                client.set_model_version_tag(model.name, number, REGISTRATION_TAG, COMPLETE)
                done.append(f"completed {model.name} version {number} (@{aliased[number]} "
                            "already pointed to it)")
            else:
                client.delete_model_version(model.name, number)
                done.append(f"deleted {model.name} version {number} (registration interrupted)")
    return done


def _aliased_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _exists(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True


def _version_with_key(client: MlflowClient, name: str, key: str) -> str | None:
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    for v in versions:
        if v.tags.get(TRAINING_KEY_TAG) == key and not pending(v):
            return str(v.version)
    return None


def _decide(client, name, alias, new_gain, holdout, psi) -> tuple[bool, str]:
    try:
        champion = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return True, f"no {alias} yet: this version becomes {alias}"
    champion_gain, why_not, usable = champion_holdout_gain(f"models:/{name}@{alias}", holdout)
    if champion_gain is None:
        return False, (f"kept {alias} v{champion.version}: it cannot be scored on this cohort "
                       f"({why_not}); use another --model-name for a different cohort")
    n = int(usable.sum())
    promote, diff, se, p = promotion_test(psi[usable], np.asarray(new_gain)[usable],
                                          champion_gain[usable])
    versus = (f"held-out benefit loss difference {diff:.4g} (s.e. {se:.3g}, one-sided p = "
              f"{p:.3g}) on {n} patients neither model was trained on")
    if promote:
        return True, f"promoted over {alias} v{champion.version}: {versus}"
    return False, f"kept {alias} v{champion.version}: not shown better, {versus}"


def champion_holdout_gain(model_uri: str, holdout: TrainingData,
                          ) -> tuple[np.ndarray | None, str, np.ndarray]:
    """The champion's served gain on this run's held-out patients, with its own features, and
    which of them the champion was not trained on."""
    from training.artifacts import load_verified

    bundle = load_verified(model_uri).unwrap_python_model().bundle
    usable = np.ones(holdout.n, bool)
    if bundle.training.get("endpoint") != holdout.endpoint:
        why = f"it predicts {bundle.training.get('endpoint')}, not {holdout.endpoint}"
        return None, why, usable
    missing = [f for f in bundle.feature_names if f not in holdout.available.columns]
    if missing:
        return None, f"features absent from this cohort: {missing[:10]}", usable
    seen = set(bundle.training.get("record_hashes") or ())
    hashes = holdout.record_hashes_in_order()
    usable = np.array([h not in seen for h in hashes])
    X = holdout.available[bundle.feature_names]
    return bundle.served_gain(X, SELECTION_ESTIMAND), "", usable
