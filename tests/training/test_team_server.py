"""The team MLflow server (issue 16, items 2-3), for real: a PostgreSQL started from Debian's
package, ``mlflow server`` on it serving the artifacts itself, and the command line of separate
processes that share nothing with it but ``http://127.0.0.1:<port>``.

Two trainers reach promotion at the same moment (a file barrier right before the promotion
lock): exactly one champion, the better one by the promotion rule, both runs and versions
recorded with their decisions; then evaluate and serve that champion, and ``doctor`` finds the
store clean. The lock's own rules (a dead holder broken at once, a silent one after its lease,
a live one waited for and named, a lost lock promotes nothing) are tested on a sqlite store,
which takes the same code path.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from common import OFFLINE_ENV
from serving.process import ServerProcess, free_port
from training.doctor import examine
from training.promotion_lock import (
    BEAT_TAG,
    BROKEN_INFIX,
    TOKEN_TAG,
    PromotionLockLost,
    PromotionLockTimeout,
    lock_findings,
    lock_name,
    promotion_lock,
    read_holder,
)

pytestmark = pytest.mark.slow  # a live server or a build: run by make test, not make test-fast

BIN = Path(sys.executable).parent
TRAIN = ["--folds", "2", "--bootstrap", "10", "--learner", "t", "--json"]  # small and fast


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL programs (the newest major version), or initdb on the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the package's postgres user (or
    nobody) through runuser; as anyone else, directly."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"]
    pytest.skip("running as root without a postgres or nobody user to run PostgreSQL as")


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL of its own in a temporary directory on a free loopback port; its URI."""
    programs = postgres_bin()
    if programs is None:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package; .ci/run installs "
                    "it when missing): the team-server tests need it")
    prefix = as_user()
    root = Path(tempfile.mkdtemp(prefix="abscopal-pg-"))  # under /tmp: the postgres user reaches it
    if prefix:
        shutil.chown(root, user=prefix[2])
    data, port = root / "data", free_port()
    run = {"cwd": root, "capture_output": True, "text": True, "timeout": 120}
    try:
        made = subprocess.run([*prefix, str(programs / "initdb"), "-D", str(data), "-U",
                               "abscopal", "--auth=trust", "-E", "UTF8", "--no-sync"], **run)
        started = made.returncode == 0 and subprocess.run(
            [*prefix, str(programs / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
             "-t", "60", "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off",
             "start"], **run).returncode == 0
        if not started:
            log = (root / "log").read_text() if (root / "log").exists() else made.stderr
            pytest.skip(f"PostgreSQL from {programs} could not be started: {log[-1500:]}")
        created = subprocess.run([*prefix, str(programs / "createdb"), "-h", "127.0.0.1", "-p",
                                  str(port), "-U", "abscopal", "mlflow"], **run)
        assert created.returncode == 0, created.stderr
        yield f"postgresql+psycopg://abscopal@127.0.0.1:{port}/mlflow"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(programs / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def team_server(postgres) -> Iterator[ServerProcess]:
    """``mlflow server`` on the PostgreSQL store, serving the artifacts from a directory only it
    knows (``--artifacts-destination``); its http:// URI."""
    root = Path(tempfile.mkdtemp(prefix="abscopal-mlflow-server-"))
    port = free_port()
    server = ServerProcess(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", postgres,
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2"], port, root / "server.log", cwd=root)
    try:
        deadline = time.monotonic() + 240  # schema migrations on a fresh database: tens of s
        while True:
            assert server.proc.poll() is None, server.log_tail()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"no /health in 240 s:\n{server.log_tail()}"
            time.sleep(0.5)
        server.artifacts = root / "artifacts"
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):  # its store is thrown away: no grace
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def write_trial(path: Path, n: int, seed: int) -> Path:
    """A randomised trial with strong effect modification by PD-L1: RT adds ~6 months of 12-month
    RMST in PD-L1-negative tumours and costs ~2 in the others (SYNTHETIC test data), so serving
    individual effects is clearly better than serving the average."""
    rng = np.random.default_rng(seed)
    pdl1 = rng.choice([0.0, 5.0, 30.0, 70.0], n, p=[0.5, 0.15, 0.15, 0.2])
    arm = rng.integers(0, 2, n)
    rate = 0.3 * np.exp(arm * np.where(pdl1 < 1, -2.0, 1.0))
    t, c = rng.exponential(1 / rate), rng.uniform(6, 30, n)
    path.mkdir()
    pd.DataFrame({
        "patient_id": [f"S{seed}-{i:04d}" for i in range(n)], "arm": arm,
        "pfs_months": np.round(np.minimum(t, c), 3) + 0.01, "pfs_event": (t <= c).astype(int),
        "pdl1_tps": pdl1, "tmb": np.round(rng.lognormal(2.0, 0.7, n), 2),
        "age": rng.integers(40, 80, n), "ecog": rng.integers(0, 2, n),
    }).to_csv(path / "clinical.csv", index=False)
    (path / "cohort.json").write_text('{"name": "team-server test trial", "synthetic": true}\n')
    return path


# A trainer whose registration waits, right before the promotion lock, until the other trainer
# has reached the same point: both then ask for the lock at the same moment.
AT_THE_SAME_MOMENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from training import registry

    barrier, me, peer = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    real = registry.promotion_lock

    def promotion_lock(client, name, **kwargs):
        (barrier / me).touch()
        deadline = time.monotonic() + 600
        while not (barrier / peer).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the other trainer never reached promotion")
            time.sleep(0.005)
        print(f"{me} asks for the lock at {time.time():.3f}", file=sys.stderr, flush=True)
        return real(client, name, **kwargs)

    registry.promotion_lock = promotion_lock
    from abscopal.cli import app
    app(sys.argv[4:], prog_name="abscopal")
""")


def client_env(uri: str) -> dict[str, str]:
    """Only the server's URI: no sqlite store, no artifact directory."""
    return {**os.environ, "ABSCOPAL_TRACKING_URI": uri, "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "OMP_NUM_THREADS": "1",
            **OFFLINE_ENV}


@pytest.fixture(scope="module")
def race(team_server, tmp_path_factory) -> dict:
    """Trainer "good" (serves individual effects) and trainer "plain" (its pre-specified gate
    level 0 serves the trial's average effect), on two trials of the same design, started
    together in two processes; they meet at the promotion lock."""
    root = tmp_path_factory.mktemp("race")
    barrier = root / "barrier"
    barrier.mkdir()
    good, plain = write_trial(root / "good", 600, 21), write_trial(root / "plain", 600, 22)
    args = {"good": ["train", "--cohort", str(good), "--seed", "1", "--heterogeneity-alpha", "1",
                     *TRAIN],
            "plain": ["train", "--cohort", str(plain), "--seed", "2", "--heterogeneity-alpha",
                      "0", *TRAIN]}
    procs = {}
    for me, peer in (("good", "plain"), ("plain", "good")):
        with open(root / f"{me}.out", "w") as out, open(root / f"{me}.err", "w") as err:
            procs[me] = subprocess.Popen(
                [sys.executable, "-c", AT_THE_SAME_MOMENT, str(barrier), me, peer, *args[me]],
                cwd=root, env=client_env(team_server.url), stdout=out, stderr=err)
    deadline = time.monotonic() + 1200
    try:
        while any(p.poll() is None for p in procs.values()):
            failed = [me for me, p in procs.items() if p.poll() not in (None, 0)]
            assert not failed, f"{failed[0]}: {(root / f'{failed[0]}.err').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the trainers did not finish in 20 min"
            time.sleep(0.5)
    finally:
        for p in procs.values():  # one failed: the other would wait at the barrier
            if p.poll() is None:
                p.kill()
                p.wait()
    out = {}
    for me, proc in procs.items():
        stderr = (root / f"{me}.err").read_text()
        assert proc.returncode == 0, f"{me}: {stderr[-3000:]}"
        stdout = (root / f"{me}.out").read_text()
        out[me] = {**json.loads(stdout.strip().splitlines()[-1]), "stderr": stderr}
    return {**out, "root": root, "good_cohort": good}


def test_two_trainers_promoting_at_once_leave_one_champion_the_better_one(team_server, race):
    client = MlflowClient(team_server.url, team_server.url)
    good, plain = race["good"], race["plain"]
    # both asked for the lock within a few milliseconds; one of them waited for the other
    asked = [float(r["stderr"].split("asks for the lock at ")[1].split()[0]) for r in (good,
                                                                                      plain)]
    assert abs(asked[0] - asked[1]) < 1.0, asked
    waited = [r for r in (good, plain)
              if "waiting for the promotion lock rt-benefit.promotion-lock held by host" in
              r["stderr"]]
    assert len(waited) == 1, [r["stderr"][-2000:] for r in (good, plain)]
    # one after the other: exactly one found no champion, the other was compared with it
    firsts = [r for r in (good, plain) if r["reason"].startswith("no champion yet")]
    assert len(firsts) == 1, (good["reason"], plain["reason"])
    champion = client.get_model_version_by_alias("rt-benefit", "champion")
    assert champion.run_id == good["run_id"] and good["promoted"]
    if firsts[0] is plain:  # the better model came second and was shown better
        assert plain["promoted"]  # first, then replaced
        assert good["reason"].startswith(f"promoted over champion v{plain['version']}:")
    else:
        assert not plain["promoted"]
        assert plain["reason"].startswith(f"kept champion v{good['version']}: not shown better")
    versions = {v.run_id: v for v in client.search_model_versions("name='rt-benefit'")}
    assert set(versions) == {good["run_id"], plain["run_id"]}
    for result in (good, plain):
        version = versions[result["run_id"]]
        assert str(version.version) == result["version"]
        assert version.tags["promotion"] == result["reason"]
        assert version.tags["registration"] == "complete"
        run = client.get_run(result["run_id"])
        assert run.info.status == "FINISHED"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server
    # the artifacts went through the server, into the directory only it knows
    assert any(team_server.artifacts.rglob("python_model.pkl"))
    # the lock is gone and never listed as a model
    names = {m.name for m in client.search_registered_models()}
    assert names == {"rt-benefit"}, names


def test_evaluate_serve_and_doctor_against_the_team_server(team_server, race, tmp_path):
    env = client_env(team_server.url)
    client = MlflowClient(team_server.url, team_server.url)
    champion = client.get_model_version_by_alias("rt-benefit", "champion")
    out = tmp_path / "metrics.json"
    evaluated = subprocess.run([str(BIN / "abscopal"), "evaluate", "--cohort",
                                str(race["good_cohort"]), "--out", str(out)], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert metrics["cohort"]["n"] == 600 and np.isfinite(metrics["benefit_loss"])
    assert metrics["model"]["version"] == str(champion.version)
    found = examine(client)  # what `abscopal doctor` reports: nothing, and no lock as a model
    assert not (found.incomplete_versions or found.stale_runs or found.locks), found

    server = ServerProcess.abscopal(tmp_path / "serve.log", tracking_uri=team_server.url,
                                    env={**{k: env[k] for k in (
                                        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
                                        "OMP_NUM_THREADS")},
                                         "ABSCOPAL_WORKERS": "1"})
    try:
        server.wait_ready(timeout=240)
        answer = httpx.post(f"{server.url}/predict", timeout=60, json={"patients": [
            {"patient_id": "a", "pdl1_tps": 0.0, "tmb": 5.0, "age": 60, "ecog": 0},
            {"patient_id": "b", "pdl1_tps": 70.0, "tmb": 5.0, "age": 60, "ecog": 0}]})
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"]["version"] == str(champion.version)
    assert body["model"]["run_id"] == race["good"]["run_id"]
    gains = {p["patient_id"]: p["benefit"]["rmst_gain_12mo"]["estimate"]
             for p in body["predictions"]}
    assert gains["a"] > gains["b"]  # the champion serves the effect modification it learned


# The lock's own rules, on a sqlite store (the same client calls as over HTTP).

@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    """One store for these tests (each its own model name): creating a store takes seconds."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('locks') / 'mlflow.db'}"
    return MlflowClient(uri, uri)


def names(client: MlflowClient, model: str) -> set[str]:
    return {m.name for m in client.search_registered_models() if m.name.startswith(model)}


def hold(client: MlflowClient, model: str, **tags: str) -> None:
    """A lock as another process left it."""
    client.create_registered_model(lock_name(model), tags={
        "abscopal.host": "elsewhere", "abscopal.pid": "1", "abscopal.process_start": "",
        TOKEN_TAG: "other", BEAT_TAG: "0", **tags})


def test_a_live_holder_is_waited_for_and_named(client):
    hold(client, "live", **{"abscopal.host": os.uname().nodename})  # pid 1 lives here
    start = time.monotonic()
    with pytest.raises(PromotionLockTimeout) as err, promotion_lock(
            client, "live", wait_seconds=1.0, lease_seconds=60, poll_seconds=0.1):
        pass
    assert 1.0 <= time.monotonic() - start < 10
    assert f"held by host {os.uname().nodename} pid 1" in str(err.value)
    assert read_holder(client, lock_name("live")).token == "other"  # untouched


def test_a_dead_holder_on_this_host_is_broken_at_once(client):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    hold(client, "dead", **{"abscopal.host": os.uname().nodename,
                            "abscopal.pid": dead.stdout.strip()})
    problems, _ = lock_findings(client)
    assert problems == [f"promotion lock dead.promotion-lock held by host {os.uname().nodename} "
                        f"pid {dead.stdout.strip()} since ?, whose process is gone"]
    start = time.monotonic()
    with promotion_lock(client, "dead", wait_seconds=30, lease_seconds=60) as lease:
        assert read_holder(client, lock_name("dead")).token == lease.token
    assert time.monotonic() - start < 5
    # released; the broken one kept as a tombstone, which is no problem while young
    assert names(client, "dead") == {f"dead{BROKEN_INFIX}other"}
    assert lock_findings(client) == ([], [])
    problems, fixed = lock_findings(client, fix=True, now_ms=time.time() * 1000 + 7200e3)
    assert fixed == [f"deleted dead{BROKEN_INFIX}other"] and len(problems) == 1
    assert names(client, "dead") == set()


def test_a_holder_elsewhere_is_broken_only_after_a_lease_without_heartbeat(client):
    hold(client, "far")
    start = time.monotonic()
    with promotion_lock(client, "far", wait_seconds=30, lease_seconds=1.5, poll_seconds=0.1):
        waited = time.monotonic() - start
    assert 1.5 <= waited < 10
    assert names(client, "far") == {f"far{BROKEN_INFIX}other"}


def test_a_heartbeat_keeps_the_lock_and_a_lost_lock_promotes_nothing(client):
    with promotion_lock(client, "beat", lease_seconds=0.4) as lease:
        time.sleep(1.0)  # a waiter watching would see the beat move
        assert int(read_holder(client, lock_name("beat")).beat) >= 1
        lease.check()
        client.rename_registered_model(lock_name("beat"), f"beat{BROKEN_INFIX}x")  # broken
        hold(client, "beat")  # and taken by another process
        with pytest.raises(PromotionLockLost, match="nothing was promoted"):
            lease.check()
    # release left the newer holder's lock alone
    assert read_holder(client, lock_name("beat")).token == "other"


def test_concurrent_creates_give_one_holder(client):
    """The primitive itself: of two creations of one name, the second is refused."""
    client.create_registered_model("twice")
    with pytest.raises(MlflowException) as err:
        client.create_registered_model("twice")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_an_experiment_created_meanwhile_by_another_trainer_is_taken(client, monkeypatch):
    """On a shared server two trainers may both find no experiment and both create it (the file
    lock orders only sqlite stores): the refused one takes the other's."""
    from training.tracking import experiment_id

    theirs = client.create_experiment("shared")
    real = client.get_experiment_by_name
    calls = []

    def not_yet(name):  # the first look happens before the other trainer's creation
        calls.append(name)
        return None if len(calls) == 1 else real(name)

    monkeypatch.setattr(client, "get_experiment_by_name", not_yet)
    assert experiment_id(client, "shared") == theirs
    assert len(calls) == 2
