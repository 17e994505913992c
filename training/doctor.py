"""``abscopal doctor``: find what a crash left in the tracking store, and clean it with ``--fix``.

A process killed at the wrong moment (``kill -9``, a full disk, a lost machine) can leave:
- a version whose registration was interrupted (tag ``registration: pending``,
  training.registry): never loaded; ``--fix`` completes it when the alias already points to it
  (only the last tag was missing) and deletes it otherwise;
- a version without digests (a store from before verified artifacts or the pending protocol):
  never loaded; ``--fix`` deletes it unless an alias points to it;
- a run RUNNING forever: its recorded process is gone (this host), or it started more than
  ``stale_hours`` ago (runs from elsewhere); ``--fix`` marks it FAILED;
- a promotion lock (training.promotion_lock) whose holder on this host is gone, and tombstones of
  broken locks older than an hour: ``--fix`` breaks the one and deletes the others (``locks``).
The next ``abscopal train`` does the same for its own model and experiment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import RunStatus

from training.artifacts import DIGEST_TAG
from training.promotion_lock import is_lock, lock_findings, promotion_lock
from training.registry import pending, resolve_pending
from training.tracking import dead_run, running_here

STALE_RUN_HOURS = 6.0  # no abscopal training runs this long (the benchmark: ~40 s at n = 1,000)


@dataclass
class Findings:
    incomplete_versions: list[tuple[str, str]] = field(default_factory=list)
    stale_runs: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)  # run id -> why it is stale
    locks: list[str] = field(default_factory=list)  # promotion locks left by a dead process
    fixed: list[str] = field(default_factory=list)


def examine(client: MlflowClient, *, fix: bool = False,
            stale_hours: float = STALE_RUN_HOURS) -> Findings:
    found = Findings()
    found.locks, fixed = lock_findings(client, fix=fix)
    found.fixed += fixed
    models = [m for m in client.search_registered_models() if not is_lock(m.name)]
    for model in models:
        aliased = set(getattr(model, "aliases", {}).values())
        for version in client.search_model_versions(f"name='{model.name}'"):
            if pending(version) or DIGEST_TAG not in version.tags:
                found.incomplete_versions.append((model.name, str(version.version)))
                if fix and not pending(version) and str(version.version) not in aliased:
                    client.delete_model_version(model.name, version.version)
                    found.fixed.append(f"deleted {model.name} version {version.version}")
    for model in models if fix else ():
        # under the model's promotion lock: a registration in progress is pending too, and
        # holds it (in the tracking server, so also one running on another machine)
        with promotion_lock(client, model.name):
            found.fixed += resolve_pending(client, model.name)
    cutoff = (time.time() - stale_hours * 3600) * 1000
    experiments = [e.experiment_id for e in client.search_experiments()]
    if experiments:
        for run in client.search_runs(experiments, "attributes.status = 'RUNNING'"):
            if dead_run(run.data.tags):
                why = (f"RUNNING but its process (pid {run.data.tags['abscopal.pid']}) is gone")
            elif run.info.start_time < cutoff and not running_here(run.data.tags):
                why = f"RUNNING for more than {stale_hours:g} h"
            else:
                continue
            found.stale_runs.append(run.info.run_id)
            found.why[run.info.run_id] = why
            if fix:
                client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
                found.fixed.append(f"marked run {run.info.run_id} FAILED")
    return found
