"""cohort.json: what a cohort is, where it came from, and whether it is synthetic."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohorts.errors import CohortFormatError, Problem


class CohortMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    synthetic: bool = Field(description="True for simulated data; carried into models and APIs.")
    panel_size_mb: float | None = Field(
        default=None, gt=0, description="Territory of the sequencing panel in Mb, for TMB."
    )
    on_treatment_week: float | None = Field(
        default=None, gt=0, description="When on-treatment samples (TCR, ctDNA) were taken."
    )
    sources: list[str] = Field(default_factory=list)
    generator: dict | None = Field(
        default=None, description="For synthetic cohorts: simulator version, seed and scenario."
    )

    @classmethod
    def read(cls, path: str | Path) -> CohortMeta:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            problem = Problem(None, f"invalid JSON: {exc.msg}", exc.lineno)
            raise CohortFormatError(path, [problem]) from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = [
                Problem(".".join(map(str, e["loc"])) or None, e["msg"], value=e.get("input"))
                for e in exc.errors()
            ]
            raise CohortFormatError(path, problems) from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True) + "\n"
