"""The evaluation notebooks run top to bottom on small cohorts, each is the image of its script,
and git holds them stripped.

The percent-format scripts (notebooks/0*.py, jupytext) are the source; the .ipynb beside each is
paired with it and generated (``jupytext --sync``). Each notebook runs in a fresh kernel of this
venv's python (papermill), in an empty MLflow store (tests/conftest.py): 02 exercises the
no-champion path (it trains a small model first), 03 is given a copy of the session's champion.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_store

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SMALL = {
    "01_virtual_trial.ipynb": {"patients": 300, "seed": 5},
    "02_model_evaluation.ipynb": {"patients": 300, "seed": 5, "train_patients": 200,
                                  "n_bootstrap": 5, "actg_bootstrap": 5},
    "03_scoring_via_http.ipynb": {"score_patients": 3, "seed": 5, "train_patients": 200,
                                  "n_bootstrap": 5},
    "04_real_world_prognosis.ipynb": {"n_boot": 20, "seed": 5},  # data_path: its default
}
# REAL data read by notebook 04's default data_path; without it the notebook skips itself.
PUBLIC_ICI = ROOT.parent / "shared" / "data" / "public_ici" / "nsclc_ici_cohorts.csv"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch) -> str:
    """A ``python3`` kernelspec running this interpreter, found first on JUPYTER_PATH.

    A user-level python3 kernel (another python, without the project installed) must not be
    picked up by the executed notebooks.
    """
    from ipykernel.kernelspec import write_kernel_spec

    write_kernel_spec(tmp_path / "jupyter" / "kernels" / "python3")
    spec = json.loads((tmp_path / "jupyter" / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # the notebooks' work directories (tempfile.mkdtemp) go under the test's own directory,
    # which pytest cleans, not under the machine's /tmp
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    return "python3"


def execute(name: str, kernel: str, out_dir: Path, **parameters) -> dict:
    import papermill

    out = out_dir / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(out), parameters={**SMALL[name], **parameters},
        kernel_name=kernel,
        cwd=str(NOTEBOOKS), progress_bar=False, log_output=False, execution_timeout=600,
    )
    return json.loads(out.read_text())


def outputs_text(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.extend("".join(v) for k, v in output.get("data", {}).items()
                         if k.startswith("text/"))
    return "\n".join(parts)


@pytest.mark.slow
def test_virtual_trial_notebook(venv_kernel, tmp_path):
    nb = execute("01_virtual_trial.ipynb", venv_kernel, tmp_path)
    text = outputs_text(nb)
    assert "SYNTHETIC" in text
    assert "median PFS, RT then ICI (months)" in text and "Theelen 2019" in text


@pytest.mark.slow
def test_model_evaluation_notebook(venv_kernel, tmp_path):
    nb = execute("02_model_evaluation.ipynb", venv_kernel, tmp_path)
    text = outputs_text(nb)
    assert "no champion found" in text  # the empty store: trained its own small model
    assert "C-for-benefit" in text and "coverage" in text
    assert "published 0.50 (0.33-0.76)" in text
    assert "integrated_brier_12mo" in text and "calibration_slope_12mo" in text  # per arm


@pytest.mark.slow
def test_scoring_via_http_notebook(venv_kernel, tmp_path, trained_model):
    """On a copy of the session's champion (02 covers the no-champion path): the notebook finds
    the champion of the store it is given, and logs its figure to that copy."""
    store = copy_store(trained_model.root, tmp_path / "store")
    nb = execute("03_scoring_via_http.ipynb", venv_kernel, tmp_path,
                 tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    text = outputs_text(nb)
    assert "using the champion models:/rt-benefit@champion (version 1)" in text
    assert "HTTP predictions equal the in-process ones for 3 patients" in text
    assert "server stopped" in text


@pytest.mark.slow
@pytest.mark.needs_shared_data
def test_real_world_prognosis_notebook(venv_kernel, tmp_path):
    nb = execute("04_real_world_prognosis.ipynb", venv_kernel, tmp_path)
    text = outputs_text(nb)
    if not PUBLIC_ICI.exists():  # the notebook said so and ran its cells as no-ops
        assert "REAL data not found" in text and "nothing was measured" in text
        return
    assert "REAL patients: " in text and "nsclc_ici_cohorts" in text
    for endpoint in ("PFS", "OS"):
        assert f"{endpoint}: leave-one-cohort-out on REAL patients" in text
        assert f"{endpoint}, pooled held-out Harrell C (REAL patients, measured here)" in text
    assert "probable duplicates removed" in text and "calibration slope at 12 months" in text
    assert "paired difference in Harrell C" in text


@pytest.mark.slow
def test_real_world_prognosis_notebook_without_data(venv_kernel, tmp_path):
    nb = execute("04_real_world_prognosis.ipynb", venv_kernel, tmp_path,
                 data_path=str(tmp_path / "absent.csv"))
    text = outputs_text(nb)
    assert "REAL data not found" in text and "nothing was measured" in text
    assert "leave-one-cohort-out" not in text


def repository_notebooks() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.ipynb")
                  if not ({".venv", ".ipynb_checkpoints", "data"} & set(p.relative_to(ROOT).parts)))


def test_notebooks_in_the_repository_are_stripped():
    found = repository_notebooks()
    assert {p.name for p in found} >= set(SMALL)
    for path in found:
        nb = json.loads(path.read_text())
        # a notebook saved with its outputs: rewrite it from its script, which has none
        fix = f"jupytext --to ipynb {path.with_suffix('.py').relative_to(ROOT)}"
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path} cell {i} has outputs: {fix}"
                assert cell["execution_count"] is None, (
                    f"{path} cell {i} has an execution count: {fix}")
        assert "papermill" not in nb["metadata"], f"{path} holds papermill run metadata: {fix}"


def cells(nb) -> list[tuple[str, str, list[str]]]:
    """What a notebook runs and shows: each cell's type, source and tags (papermill finds its
    ``parameters`` cell by tag); outputs, ids and execution counts are left out."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_each_notebook_has_its_paired_script():
    import jupytext

    scripts = {p.stem for p in NOTEBOOKS.glob("*.py")} - {"nbsupport"}
    notebooks = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert scripts == notebooks == {Path(name).stem for name in SMALL}
    for stem in scripts:
        for path in (NOTEBOOKS / f"{stem}.py", NOTEBOOKS / f"{stem}.ipynb"):
            formats = jupytext.read(path).metadata.get("jupytext", {}).get("formats")
            assert formats == "ipynb,py:percent", f"{path} is not paired: formats {formats!r}"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_is_in_sync_with_its_script(name):
    import jupytext
    import nbformat

    script = NOTEBOOKS / name.replace(".ipynb", ".py")
    expected = cells(jupytext.read(script))
    found = cells(nbformat.read(NOTEBOOKS / name, as_version=4))
    fix = f"edit {script.relative_to(ROOT)}, then run: jupytext --sync {script.relative_to(ROOT)}"
    for i, (a, b) in enumerate(zip(found, expected, strict=False)):
        assert a == b, f"notebooks/{name} cell {i} differs from its script; {fix}"
    assert len(found) == len(expected), (
        f"notebooks/{name} has {len(found)} cells, its script {len(expected)}; {fix}")


def test_sync_check_sees_an_edited_script():
    """The comparison above notices a one-character edit of a script and a moved tag."""
    import jupytext

    nb = jupytext.read(NOTEBOOKS / "01_virtual_trial.py")
    edited = jupytext.reads(jupytext.writes(nb, fmt="py:percent").replace(
        "patients = 1000", "patients = 1001"), fmt="py:percent")
    assert cells(edited) != cells(nb)
    untagged = jupytext.reads(jupytext.writes(nb, fmt="py:percent").replace(
        '# %% tags=["parameters"]', "# %%"), fmt="py:percent")
    assert cells(untagged) != cells(nb)
    assert [c[:2] for c in cells(untagged)] == [c[:2] for c in cells(nb)]
