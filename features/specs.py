"""What a feature is: its name, group, unit, timepoint and source, declared once per feature."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Timepoint = Literal["baseline", "on_treatment"]
Group = Literal["clinical", "biomarker", "expression", "tcr", "ctdna"]


class FeatureSpec(BaseModel):
    """One feature column; its ``timepoint`` decides whether the benefit model may use it."""

    model_config = ConfigDict(frozen=True)

    name: str
    group: Group
    unit: str
    timepoint: Timepoint
    source: str
    description: str


def spec(name: str, group: Group, unit: str, source: str, description: str,
         timepoint: Timepoint = "baseline") -> FeatureSpec:
    return FeatureSpec(name=name, group=group, unit=unit, timepoint=timepoint, source=source,
                       description=description)
