"""The logged MLflow model is self-contained: its own code (``code/``) and complete pip
requirements are enough to load it in a fresh virtual environment, where it predicts what
``abscopal predict`` does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from models.base import PREDICTION_COLUMNS
from tests.serving.conftest import records_from_csv
from training.pyfunc import MODEL_CODE_PACKAGES
from training.scoring import predict_cohort

# Run in the fresh environment: load the model from its directory, score the records, and say
# where the project's code came from.
SCORE = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
import training
frame = pd.DataFrame(json.loads(open(sys.argv[2]).read()))
# the signature's numeric inputs are doubles (MLflow does not cast int64 to float64 itself)
frame = frame.astype({c: float for c in frame.select_dtypes("integer").columns})
out = model.predict(frame)
out.drop(columns=["months", "survival_ici", "survival_rt_ici"]).to_csv(sys.argv[3], index=False)
find_spec = __import__("importlib.util").util.find_spec
print(json.dumps({"training": training.__file__, "common": find_spec("common").origin,
                  "abscopal": find_spec("abscopal") is not None}))
"""


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed (make install puts it in .venv/bin)")
    return uv


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def test_logged_model_carries_code_and_requirements(champion, tmp_path):
    model_dir = Path(mlflow.artifacts.download_artifacts(champion.result.model_uri,
                                                         dst_path=str(tmp_path)))
    requirements = (model_dir / "requirements.txt").read_text().split()
    names = {r.split("==")[0] for r in requirements}
    assert "abscopal" not in names  # not on any index: its code travels in code/
    assert {"mlflow", "numba", "numpy", "xgboost", "lifelines", "cloudpickle"} <= names
    assert all("==" in r for r in requirements)  # pinned to the training environment
    assert {p.name for p in (model_dir / "code").iterdir()} == set(MODEL_CODE_PACKAGES)
    assert not list((model_dir / "code").rglob("__pycache__"))


@pytest.mark.slow
def test_model_predicts_in_a_fresh_environment(champion, tmp_path):
    model_dir = Path(mlflow.artifacts.download_artifacts(champion.result.model_uri,
                                                         dst_path=str(tmp_path / "model")))
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, env=env, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([_uv(), "pip", "install", "--quiet", "--python", str(python), "-r",
                    str(model_dir / "requirements.txt")], check=True, env=env, timeout=600)

    records = records_from_csv(champion.cohort, 5)
    (tmp_path / "records.json").write_text(json.dumps(records))
    out = tmp_path / "fresh.csv"
    run = subprocess.run(
        [str(python), "-I", "-c", SCORE, str(model_dir), str(tmp_path / "records.json"),
         str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    where = json.loads(run.stdout.strip().splitlines()[-1])
    assert where["training"].startswith(str(model_dir / "code"))  # the model's own code
    assert where["common"].startswith(str(model_dir / "code"))
    assert not where["abscopal"]  # the top package (CLI, API) is not needed to predict

    fresh = pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id")
    expected = predict_cohort(None, champion.cohort, tmp_path / "p.csv").set_index("patient_id")
    assert list(fresh.index) == [r["patient_id"] for r in records]
    for column in PREDICTION_COLUMNS:
        if column == "recommendation":
            assert (fresh[column] == expected.loc[fresh.index, column]).all()
        else:
            pd.testing.assert_series_equal(fresh[column], expected.loc[fresh.index, column],
                                           rtol=1e-9, check_names=False)


def test_loading_keeps_this_process_on_its_own_code(champion):
    """MLflow puts the model's code/ first on sys.path while loading; load_model restores it, so
    no module imported later comes from a (possibly older) model's copy."""
    import abscopal
    from training.loading import load_model

    before = list(sys.path)
    load_model()
    assert sys.path == before
    installed = Path(abscopal.__file__).resolve().parents[1]
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in MODEL_CODE_PACKAGES and getattr(module, "__file__", None):
            assert Path(module.__file__).resolve().is_relative_to(installed), name
