"""The offline defaults are one fact (``common.OFFLINE_ENV``): the files that cannot import it
(the Makefile, the Bento's build file) carry exactly its variables, and importing any layer sets
them before MLflow or BentoML could phone home."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml

from common import OFFLINE_ENV
from common.settings import project_root


def test_makefile_and_bentofile_export_the_offline_defaults():
    root = project_root()
    exported = dict(re.findall(r"^export (\w+) := (\S+)$", (root / "Makefile").read_text(),
                               flags=re.MULTILINE))
    assert {k: exported.get(k) for k in OFFLINE_ENV} == OFFLINE_ENV
    bento = yaml.safe_load((root / "bentofile.yaml").read_text())
    envs = {e["name"]: e["value"] for e in bento["envs"]}
    assert {k: envs.get(k) for k in OFFLINE_ENV} == OFFLINE_ENV


def test_importing_a_layer_sets_the_offline_defaults():
    clean = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    probe = ("import os, features, mlflow; "
             f"print(all(os.environ.get(k) == v for k, v in {OFFLINE_ENV!r}.items()))")
    out = subprocess.run([sys.executable, "-c", probe], env=clean, cwd=project_root(),
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr[-2000:]
