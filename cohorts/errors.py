"""One error type for a cohort that breaks the format, naming file, row and column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One offending cell: ``line`` is the 1-based line in the file (header = line 1)."""

    column: str | None
    message: str
    line: int | None = None
    value: object = None

    def describe(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        prefix = ", ".join(where)
        shown = "" if self.value is None else f" (got {self.value!r})"
        return f"{prefix}: {self.message}{shown}" if prefix else f"{self.message}{shown}"


class CohortFormatError(ValueError):
    """A cohort file does not follow docs/cohort-format.md."""

    def __init__(self, file: str | Path, problems: list[Problem], *, limit: int = 20) -> None:
        self.file = str(file)
        self.problems = problems
        shown = "\n".join(f"  - {p.describe()}" for p in problems[:limit])
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(f"{self.file}: {len(problems)} problem(s)\n{shown}{more}")
