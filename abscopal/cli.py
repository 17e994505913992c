"""The ``abscopal`` command line: one subcommand per stage of the pipeline.

This module sits on top of the flow ``cohorts -> features -> models -> training -> serving`` and
imports each layer lazily, so ``abscopal --help`` stays fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

import abscopal

app = typer.Typer(
    name="abscopal",
    help="Predict the benefit of adding stereotactic radiation to immunotherapy (research use).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)  # no hard wraps: messages stay copyable


def clean_errors(func: Callable) -> Callable:
    """Turn user mistakes (bad files, bad flags) into one red message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (FileExistsError, FileNotFoundError, LookupError, ValueError) as exc:
            # CohortFormatError and TrainingDataError are ValueErrors.
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper


def _print_version(value: bool) -> None:
    """Eager: runs while the options are parsed, before a subcommand is required."""
    if value:
        typer.echo(f"abscopal {abscopal.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version,
        is_eager=True)] = False,
) -> None:
    """Predict the benefit of adding stereotactic radiation to immunotherapy (research use)."""


# The simulator's scenarios (cohorts.simulate.outcomes.SCENARIOS; docs/virtual-trial.md).
Scenario = Enum("Scenario", {name: name for name in (
    "published", "weak", "null", "harm", "latent", "missing", "strong")}, type=str)


@app.command()
@clean_errors
def simulate(
    out: Annotated[Path, typer.Option(help="Cohort directory to write.")],
    patients: Annotated[int, typer.Option(min=2, help="Number of randomised patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; equal seeds give equal files.")] = 2025,
    scenario: Annotated[Scenario, typer.Option(
        help="How RT acts: published (calibrated to PEMBRO-RT), weak, null (no effect), harm "
             "(a frail subgroup is harmed), latent (effect from unobserved biology only), "
             "missing (50% of omics missing), strong.")] = Scenario.published,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Simulate a virtual PEMBRO-RT trial (SYNTHETIC data) in the cohort format."""
    from cohorts.simulate import write_trial

    write_trial(out, n_patients=patients, seed=seed, scenario=scenario.value, overwrite=force)
    console.print(f"wrote synthetic cohort of {patients} patients to {out}")


class Learner(str, Enum):
    auto = "auto"
    risk = "risk"
    t = "t"
    s = "s"
    dr = "dr"


class TimeUnit(str, Enum):
    days = "days"
    weeks = "weeks"
    months = "months"


class Endpoint(str, Enum):
    pfs = "pfs"
    os = "os"


# Options shared by the commands that read a foreign trial's columns or a registered model.
ArmCol = Annotated[str | None, typer.Option(help="Column holding the arm (0/1).")]
TimeCol = Annotated[str | None, typer.Option(help="Column holding the event time.")]
EventCol = Annotated[str | None, typer.Option(help="Column holding the event (0/1).")]
IdCol = Annotated[str | None, typer.Option(help="Column holding the patient id.")]
TimeUnitOpt = Annotated[TimeUnit, typer.Option(help="Unit of the time column.")]
Baseline = Enum("Baseline", {"trial": "trial", "real_world": "real-world"}, type=str)
PrognosisLearner = Enum("PrognosisLearner", {n: n for n in ("auto", "boost", "cox")},
                        type=str)
ModelUri = Annotated[str | None, typer.Option(help="MLflow model URI (default: champion).")]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", metavar="COLUMN=CODE:VALUE,...",
    help="Recode a column (named as in the file) onto the format's values, e.g. --map "
         "sex=1:M,2:F (an empty "
         "VALUE means missing; repeatable). A value left unmapped is an error naming it.")]
IgnoreOpt = Annotated[list[str] | None, typer.Option(
    "--ignore-column", metavar="COLUMN",
    help="Carry a column unread although its name is close to a known field (e.g. a pdl1_tsp "
         "that is not pdl1_tps); repeatable or comma-separated.")]


def reading(maps: list[str] | None, ignore: list[str] | None):
    """The --map / --ignore-column options as the cohort readers' context (cohorts.io)."""
    from cohorts.io import parse_coding, read_options

    codings = dict(parse_coding(text) for text in maps or [])
    return read_options(codings, [c.strip() for v in ignore or [] for c in v.split(",")
                                  if c.strip()])


@app.command()
@clean_errors
def train(
    cohort: Annotated[Path, typer.Option(help="Cohort directory or clinical CSV.")],
    arm_col: ArmCol = None,
    time_col: TimeCol = None,
    event_col: EventCol = None,
    id_col: IdCol = None,
    time_unit: TimeUnitOpt = TimeUnit.months,
    endpoint: Annotated[Endpoint, typer.Option(help="Outcome to model.")] = Endpoint.pfs,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated features (default: all baseline ones).")
    ] = None,
    feature_table: Annotated[
        Path | None, typer.Option(help="Parquet from `abscopal features` (else built now).")
    ] = None,
    learner: Annotated[Learner, typer.Option(help="auto: chosen by cross-validation.")] = "auto",
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    model_name: Annotated[str | None, typer.Option(help="Registered model name.")] = None,
    register: Annotated[bool, typer.Option(help="Register a model version.")] = True,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    bootstrap: Annotated[int, typer.Option(min=10, help="Bootstrap members for intervals.")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2025,
    heterogeneity_alpha: Annotated[float, typer.Option(
        min=0.0, max=1.0,
        help="Pre-specified one-sided level of the heterogeneity test on the hold-out; when it "
             "is not passed every patient gets the trial's average effect (1: always serve "
             "individual effects, not recommended).")] = 0.05,
    prognosis_feature: Annotated[bool, typer.Option(
        help="Add the real-world prognosis model's log risk (ici-prognosis@champion) as an "
             "input; the PATH risk learner uses it as its external risk score.")] = False,
    baseline: Annotated[Baseline, typer.Option(
        help="ICI-alone curve under the served benefit: the trial's own ICI arm, or the "
             "real-world prognosis model with the trial's relative effect on top (implies "
             "--prognosis-feature).")] = "trial",
    prognosis_model: Annotated[str | None, typer.Option(
        help="MLflow URI of the prognosis model (default models:/ici-prognosis@champion).")
    ] = None,
    allow_feature: Annotated[list[str] | None, typer.Option(
        help="A feature the outcome-leakage guard may not refuse although it predicts the "
             "outcome very well (repeatable or comma-separated; recorded in the run and the "
             "model card).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
    scheduler: Annotated[str | None, typer.Option(
        help="dask.distributed scheduler address: cross-validation fits and bootstrap members "
             "run as tasks on that cluster (same result as locally).")] = None,
) -> None:
    """Fit, evaluate, log to MLflow, register and maybe promote a benefit model."""
    import json

    from rich.progress import Progress

    from models.heterogeneity import HeterogeneityTest
    from training.job import TrainConfig
    from training.job import train as run_training

    config = TrainConfig(
        cohort=cohort, arm_col=arm_col, time_col=time_col, event_col=event_col, id_col=id_col,
        time_unit=time_unit.value, endpoint=endpoint.value,
        features=[f.strip() for f in features.split(",") if f.strip()] if features else None,
        feature_table=feature_table,
        learner=learner.value, experiment=experiment, model_name=model_name, register=register,
        folds=folds, n_bootstrap=bootstrap, seed=seed, heterogeneity_alpha=heterogeneity_alpha,
        prognosis_feature=prognosis_feature or baseline.value == "real-world",
        baseline=baseline.value, prognosis_uri=prognosis_model,
        allow_features=[f.strip() for v in allow_feature or [] for f in v.split(",") if f.strip()],
    )
    with Progress(console=console, transient=True, disable=json_output) as progress:
        result = run_training(config, progress=progress, scheduler=scheduler)
    ate = result.metrics["average_effect"]
    summary = {
        "average_effect": (
            f"HR {ate['hazard_ratio']:.2f} (95% CI {ate['hazard_ratio_lower']:.2f}-"
            f"{ate['hazard_ratio_upper']:.2f}); 12-month RMST difference "
            f"{ate['rmst_difference']:.2f} months ({ate['rmst_difference_lower']:.2f} to "
            f"{ate['rmst_difference_upper']:.2f})"
        ),
        "baseline": baseline.value,
        "run_id": result.run_id, "model_uri": result.model_uri, "learner": result.learner,
        "selected": result.metrics["selected"],
        "version": result.version, "promoted": result.promoted, "reason": result.reason,
        "holdout_benefit_loss": benefit_loss_text(result.metrics["holdout"].get("benefit_loss")),
        "heterogeneity": HeterogeneityTest.from_dict(result.metrics["heterogeneity"]).summary(),
    }
    served = result.metrics["served"]
    if served["effect"] == "average":
        summary["served"] = (
            f"every patient gets the trial's average effect (all {served['n']} patients): "
            f"12-month RMST gain {served['estimate']:.2f} months ({served['level']:.0%} interval "
            f"{served['lower']:.2f} to {served['upper']:.2f})")
    if json_output:
        typer.echo(json.dumps({**summary, "average_effect": ate, "served": served,
                               "holdout_benefit_loss": result.metrics["holdout"].get(
                                   "benefit_loss"), "holdout_benefit_loss_unit": "months^2",
                               "heterogeneity": result.metrics["heterogeneity"]}))
        return
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")


def benefit_loss_text(loss: float | None) -> str:
    """The criterion with its unit: a mean squared error of the 12-month RMST gain (months)."""
    if loss is None:
        return "n/a"
    return (f"{loss:.1f} months^2 (mean squared error of the predicted 12-month RMST gain "
            "against the held-out pseudo-outcome)")


@app.command("train-prognosis")
@clean_errors
def train_prognosis(
    cohort: Annotated[Path, typer.Option(
        help="Real ICI-treated patients: cohort directory, cohort-format CSV or the LORIS "
             "compilation CSV (e.g. ../shared/data/public_ici/nsclc_ici_cohorts.csv).")],
    time_col: TimeCol = None,
    event_col: EventCol = None,
    id_col: IdCol = None,
    group_col: Annotated[str | None, typer.Option(
        help="Column naming each patient's cohort, for leave-one-cohort-out validation "
             "(default: 'cohort' when present; else 5-fold cross-validation).")] = None,
    time_unit: TimeUnitOpt = TimeUnit.months,
    endpoint: Annotated[Endpoint, typer.Option(
        help="Endpoint that promotion judges (every endpoint present is fitted).")] = Endpoint.pfs,
    learner: Annotated[PrognosisLearner, typer.Option(
        help="auto: the better pooled held-out C of boost and cox, per endpoint.")] = "auto",
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "ici-prognosis",
    register: Annotated[bool, typer.Option(help="Register a model version.")] = True,
    bootstrap: Annotated[int, typer.Option(
        min=20, help="Bootstrap resamples of the validation CIs.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2025,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Validate (leave one cohort out, against LORIS and TMB), fit, log, register and maybe
    promote the ICI-alone prognosis model."""
    import json

    from rich.progress import Progress

    from training.prognosis_job import PrognosisConfig
    from training.prognosis_job import train_prognosis as run

    config = PrognosisConfig(
        cohort=cohort, time_col=time_col, event_col=event_col, id_col=id_col,
        group_col=group_col, time_unit=time_unit.value, endpoint=endpoint.value,
        learner=learner.value, experiment=experiment, model_name=model_name, register=register,
        n_bootstrap=bootstrap, seed=seed)
    with Progress(console=console, transient=True, disable=json_output) as progress:
        result = run(config, progress=progress)
    summary = {"run_id": result.run_id, "model_uri": result.model_uri,
               "learners": result.learners, "version": result.version,
               "promoted": result.promoted, "reason": result.reason}
    if json_output:
        typer.echo(json.dumps({**summary, "validation": result.validation}, default=str))
        return
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")
    for ep, block in result.validation.items():
        typer.echo(f"{ep} held-out Harrell's C (concordance, 0.5 = chance, 1 = perfect; "
                   f"{block['design']}):")
        for row in block["per_cohort"]:
            c = row.get("harrell_c")
            text = "n/a" if c is None else (f"{c:.3f} ({row['harrell_c_lower']:.3f}-"
                                            f"{row['harrell_c_upper']:.3f})")
            typer.echo(f"  {row['held_out']:<16} {row['method']:<10} n={row['n']:<5} {text}")


@app.command()
@clean_errors
def doctor(
    fix: Annotated[bool, typer.Option(help="Delete incomplete versions no alias points to and "
                                           "mark stale RUNNING runs FAILED.")] = False,
    stale_hours: Annotated[float, typer.Option(
        min=0.0, help="A RUNNING run older than this is stale.")] = 6.0,
) -> None:
    """Find what a crash left in the tracking store (incomplete versions, runs RUNNING forever)."""
    from training.doctor import examine
    from training.tracking import configure

    found = examine(configure(), fix=fix, stale_hours=stale_hours)
    for name, version in found.incomplete_versions:
        typer.echo(f"incomplete: {name} version {version} (registration did not complete; "
                   "never loaded)")
    for run_id in found.stale_runs:
        typer.echo(f"stale: run {run_id} {found.why[run_id]}")
    for lock in found.locks:
        typer.echo(f"stale lock: {lock}")
    for line in found.fixed:
        typer.echo(f"fixed: {line}")
    if not (found.incomplete_versions or found.stale_runs or found.locks):
        typer.echo("the tracking store is clean")
    elif not fix:
        typer.echo("run `abscopal doctor --fix` to clean up")


@app.command()
@clean_errors
def predict(
    cohort: Annotated[Path, typer.Option(help="Cohort directory or clinical CSV to score.")],
    out: Annotated[Path, typer.Option(help="CSV to write, one row per patient.")],
    model: ModelUri = None,
    id_col: IdCol = None,
    maps: MapOpt = None,
    ignore_column: IgnoreOpt = None,
) -> None:
    """Score patients offline with a registered model (a warnings column per patient)."""
    from training.scoring import predict_cohort

    with reading(maps, ignore_column):
        table = predict_cohort(model, cohort, out, id_col=id_col)
    console.print(f"wrote {len(table)} predictions to {out}")


@app.command()
@clean_errors
def evaluate(
    cohort: Annotated[Path, typer.Option(help="Randomised cohort with outcomes.")],
    out: Annotated[Path, typer.Option(help="metrics.json to write.")],
    model: ModelUri = None,
    arm_col: ArmCol = None,
    time_col: TimeCol = None,
    event_col: EventCol = None,
    id_col: IdCol = None,
    time_unit: TimeUnitOpt = TimeUnit.months,
    maps: MapOpt = None,
    ignore_column: IgnoreOpt = None,
) -> None:
    """Evaluate a model's predicted benefit on a randomised cohort (metrics.json)."""
    from training.scoring import evaluate_cohort

    with reading(maps, ignore_column):
        evaluate_cohort(model, cohort, out, arm_col=arm_col, time_col=time_col,
                        event_col=event_col, id_col=id_col, time_unit=time_unit.value)
    console.print(f"wrote metrics to {out}")


@app.command()
@clean_errors
def features(
    cohort: Annotated[Path, typer.Option(help="Cohort directory or clinical-only CSV.")],
    out: Annotated[Path, typer.Option(help="Parquet to write; features.json goes beside it.")],
    scheduler: Annotated[
        str | None, typer.Option(help="dask.distributed scheduler address, to scale out.")
    ] = None,
    maps: MapOpt = None,
    ignore_column: IgnoreOpt = None,
) -> None:
    """Build the feature table (clinical, biomarkers, signatures, TCR, ctDNA) of a cohort."""
    from features.pipeline import features_for_cohort

    with reading(maps, ignore_column):
        manifest = features_for_cohort(cohort, out, scheduler=scheduler)
    console.print(
        f"wrote {len(manifest.features)} features for {manifest.n_patients} patients to {out}"
        f"{' (SYNTHETIC data)' if manifest.synthetic else ''}"
    )
    for warning in manifest.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command("example-data")
@clean_errors
def example_data(
    name: Annotated[str, typer.Argument(help="Example trial: actg320.")],
    out: Annotated[Path, typer.Option(help="CSV to write.")],
) -> None:
    """Write a public trial as distributed (actg320: ACTG 320 from scikit-survival, which needs
    the dev extra), for the README's own-trial example."""
    from cohorts.examples import EXAMPLES, write_example

    frame = write_example(name, out)
    console.print(f"wrote {EXAMPLES[name]}: {len(frame)} patients, columns "
                  f"{', '.join(frame.columns)} to {out}")


@app.command()
@clean_errors
def bento(model: ModelUri = None) -> None:
    """Build the deployable Bento: the champion imported from the MLflow registry into the
    BentoML model store, the service code and bentofile.yaml; serve it with `bentoml serve`."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from serving.bento import build_bento

    built = build_bento(model)
    how = "already in" if built.reused_model else "imported into"
    console.print(f"model {built.model_tag} {how} the BentoML model store "
                  f"({built.labels['mlflow_model_name']} version "
                  f"{built.labels['mlflow_model_version']}, run {built.labels['mlflow_run_id']})")
    console.print(f"built Bento {built.bento_tag}; serve it with `bentoml serve "
                  f"{built.bento_tag}` or make an image with `bentoml containerize "
                  f"{built.bento_tag}`")
    typer.echo(built.bento_tag)


@app.command()
@clean_errors
def serve(
    model: ModelUri = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
) -> None:
    """Serve the model over HTTP (BentoML): POST /predict, GET /model, /livez, /readyz, /metrics."""
    import os

    from common.settings import get_settings, project_root
    from training.loading import load_model

    settings = get_settings()
    loaded = load_model(model)  # no model: exits with the command that trains one
    os.environ["ABSCOPAL_MODEL_URI"] = loaded.uri  # the service workers read it at start-up
    import ipaddress

    import bentoml

    console.print(f"serving {loaded.uri} (version {loaded.version}, run {loaded.run_id})"
                  f"{' trained on SYNTHETIC data' if loaded.bundle.synthetic else ''}")
    host = host or settings.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only "localhost" is known to stay on this machine
        loopback = False
    if not loopback and not settings.api_token:
        console.print(f"warning: binding to {host} without an API token: anyone who can reach "
                      "this address can score patients and read /model and /metrics; set "
                      "ABSCOPAL_API_TOKEN (docs/serving.md)", style="bold yellow")
    bentoml.serve("serving.service:BenefitService", host=host,
                  port=port or settings.port, working_dir=str(project_root()), blocking=True)
