"""Rewrite the table of clinical.csv's columns in docs/cohort-format.md from the input contract.

    .venv/bin/python -m cohorts.docs [docs/cohort-format.md]

tests/cohorts/test_contract.py fails when the file and the contract (cohorts/contract.py) differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cohorts.contract import docs_with_table
from common.atomic import write_text

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cohort-format.md"


def main(argv: list[str]) -> None:
    target = Path(argv[0]) if argv else DOCS
    write_text(target, docs_with_table(target.read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
