"""``abscopal doctor``: find what a crash left in the tracking store, and clean it with ``--fix``.

A process killed at the wrong moment (``kill -9``, a full disk, a lost machine) can leave a
registered version without its tags (registration did not complete: such versions are never
loaded, training.artifacts) or a run RUNNING forever. Doctor lists both; ``--fix`` deletes the
incomplete versions that no alias points to and marks the stale runs FAILED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import RunStatus

from training.artifacts import DIGEST_TAG

STALE_RUN_HOURS = 6.0  # no abscopal training runs this long (the benchmark: ~40 s at n = 1,000)


@dataclass
class Findings:
    incomplete_versions: list[tuple[str, str]] = field(default_factory=list)
    stale_runs: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)


def examine(client: MlflowClient, *, fix: bool = False,
            stale_hours: float = STALE_RUN_HOURS) -> Findings:
    found = Findings()
    for model in client.search_registered_models():
        aliased = set(getattr(model, "aliases", {}).values())
        for version in client.search_model_versions(f"name='{model.name}'"):
            if DIGEST_TAG not in version.tags:
                found.incomplete_versions.append((model.name, str(version.version)))
                if fix and str(version.version) not in aliased:
                    client.delete_model_version(model.name, version.version)
                    found.fixed.append(f"deleted {model.name} version {version.version}")
    cutoff = (time.time() - stale_hours * 3600) * 1000
    experiments = [e.experiment_id for e in client.search_experiments()]
    if experiments:
        for run in client.search_runs(experiments, "attributes.status = 'RUNNING'"):
            if run.info.start_time < cutoff:
                found.stale_runs.append(run.info.run_id)
                if fix:
                    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
                    found.fixed.append(f"marked run {run.info.run_id} FAILED")
    return found
