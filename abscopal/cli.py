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

import abscopal

app = typer.Typer(
    name="abscopal",
    help="Predict the benefit of adding stereotactic radiation to immunotherapy (research use).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def clean_errors(func: Callable) -> Callable:
    """Turn user mistakes (bad files, bad flags) into one red message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from cohorts.errors import CohortFormatError

        try:
            return func(*args, **kwargs)
        except (CohortFormatError, FileExistsError, FileNotFoundError, ValueError) as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(code=2) from None

    return wrapper


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(abscopal.__version__)
        raise typer.Exit()


class Scenario(str, Enum):
    published = "published"
    null = "null"
    strong = "strong"


@app.command()
@clean_errors
def simulate(
    out: Annotated[Path, typer.Option(help="Cohort directory to write.")],
    patients: Annotated[int, typer.Option(min=2, help="Number of randomised patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; equal seeds give equal files.")] = 2025,
    scenario: Annotated[Scenario, typer.Option(help="Size of the RT effect.")] = Scenario.published,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Simulate a virtual PEMBRO-RT trial (SYNTHETIC data) in the cohort format."""
    from cohorts.simulate import write_trial

    write_trial(out, n_patients=patients, seed=seed, scenario=scenario.value, overwrite=force)
    console.print(f"wrote synthetic cohort of {patients} patients to {out}")
