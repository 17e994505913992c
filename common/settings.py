"""One settings object for the whole product (environment prefix ``ABSCOPAL_``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def project_root() -> Path:
    """The repository root for a source checkout, else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _default_tracking_uri() -> str:
    # MLflow's own variable wins, so existing MLflow setups keep working.
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABSCOPAL_", extra="ignore")

    tracking_uri: str = Field(default_factory=_default_tracking_uri)
    registry_uri: str | None = None
    experiment: str = "abscopal"
    model_name: str = "rt-benefit"
    champion_alias: str = "champion"
    model_uri: str | None = None  # overrides models:/<model_name>@<champion_alias> for serving
    # A server following an alias (the default champion) checks it this often and swaps in a
    # new version without a restart (serving/hot_swap.py); 0 turns it off.
    model_poll_seconds: float = Field(default=30.0, ge=0)
    host: str = "127.0.0.1"
    port: int = 3000
    api_token: str | None = None
    max_patients_per_request: int = 1000
    # Bodies above this get 413: the largest legal request (serving/sizing.py: 1,000 patients
    # with every field, raw expression of the 139 scored genes and 100 mutations each: 11.2 MB)
    # with a third as margin.
    max_request_bytes: int = 16_000_000
    # Bodies with more commas than this (an upper bound of their JSON values) get 413 before
    # they are parsed: parsing costs per value, and the cheapest values (``{}``, ``1``) let
    # 16 MB hold millions. The largest legal request has 358,000; this leaves 40 % margin.
    max_request_values: int = 500_000
    # With api_token set, /metrics needs the token too (probes stay open).
    metrics_require_token: bool = True
    workers: int = 2  # BentoML worker processes of `abscopal serve` (each loads the model)
    # Load shedding, per worker, on POST /predict (serving/overload.py; docs/serving.md,
    # "Overload"): at most this many requests compute at once (0 disables shedding), this many
    # more wait up to queue_timeout_seconds for a slot, the rest get 503 with Retry-After at
    # once. 2/16/1 s chosen from overload_bench runs of 2/32/2, 2/16/1 and 2/8/1 on the 2-core
    # machine (docs/benchmarks.md, "Overload"): a line of 32 let the answered p99 reach ~1 s at
    # 512 clients, a line of 8 refused ~7% already at 32 clients.
    max_concurrent_requests: int = Field(default=2, ge=0)
    max_queued_requests: int = Field(default=16, ge=0)
    queue_timeout_seconds: float = Field(default=1.0, gt=0)
    # From the request's arrival to the start of its response; beyond it 504.
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # Slow clients: the request line and headers must arrive within header_timeout_seconds of
    # their first byte, the body within body_timeout_seconds of the headers (16 MB at ~1 MB/s).
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    random_seed: int = 2025
    # How long a sqlite tracking store waits for another writer before "locked" (MLflow's own
    # writes take milliseconds; a lock held longer belongs to another program).
    store_timeout_seconds: float = Field(default=10.0, gt=0)
    # Minimal clinically important difference, months of 12-month RMST gain: the recommendation
    # rule's threshold (models/recommend.py), stored with each trained model.
    mcid_months: float = Field(default=1.0, ge=0.0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
