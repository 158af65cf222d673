"""The `holdout` command line. Sub-commands load lazily from the modules that own them, so
`holdout --help` stays fast and a heavy import (Airflow, MLflow, GX) happens only when needed."""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

# Great Expectations imports PySpark when it is installed (the Spark target), and PySpark warns on every launch that
# it does not fully support this pandas yet; the one path that runs pandas through PySpark, `holdout score --engine
# spark`, is tested with it (tests/test_score_spark.py), so the line is noise on every other command
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

DEBUG_ENV = "HOLDOUT_DEBUG"

# command name -> (module, attribute): each module owns its commands.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("holdout.generate.cli", "generate"),
    "simulate": ("holdout.generate.cli", "simulate"),
    "ingest": ("holdout.ingest_cli", "ingest"),
    "build": ("holdout.build_cli", "build"),
    "dbt": ("holdout.build_cli", "dbt"),
    "segments": ("holdout.build_cli", "segments"),
    "demo": ("holdout.demo", "demo"),
    "train": ("ml.cli", "train"),
    "score": ("ml.cli", "score"),
    "model": ("ml.cli", "model"),
    "campaign": ("holdout.campaigns.cli", "campaign"),
    "policy": ("holdout.policy.cli", "policy"),
    "program": ("holdout.program.report", "program"),
    "airflow": ("holdout.ui", "airflow"),
    "mlflow-ui": ("holdout.ui", "mlflow_ui"),
}

COMMAND_HELP = {
    "generate": "Generate the raw landing zone of a realistic retailer (and its ground truth).",
    "simulate": "Advance the generated world by N days; campaigns' test groups respond.",
    "ingest": "Land a public data set (The Complete Journey) unchanged as a raw source.",
    "build": "Validate the segment library and run dbt build into the DuckDB warehouse.",
    "dbt": "Run a reading dbt command (compile, show, ls, test...) with Holdout's project, vars and paths.",
    "segments": "List and inspect segments.",
    "demo": "Generate, build, train, launch, simulate, close: the whole loop on the default data.",
    "train": "Train models, track them in MLflow, promote a challenger that wins.",
    "score": "Score customers with each model's champion into marts.customer_scores.",
    "model": "Model registry operations (list, rollback).",
    "campaign": "Declarative campaigns: validate, launch, close, report.",
    "policy": "Next-best-campaign policy for priority: auto campaigns: evaluate against the alternatives.",
    "program": "The whole program: global control group, program report.",
    "airflow": "Start a local Airflow (standalone) on the project's DAGs.",
    "mlflow-ui": "Start the MLflow UI on the project's tracking store.",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return None
        module_name, attr = LAZY_COMMANDS[cmd_name]
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        """Run the sub-command; an error nobody handled ends as one short line and exit 1, not a traceback
        (HOLDOUT_DEBUG=1 shows the traceback)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("holdout: interrupted", err=True)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - the last line of defence of every command
            if os.environ.get(DEBUG_ENV):
                raise
            try:  # the handler itself must not fail (a broken DuckDB install is one of the errors it reports)
                from holdout.warehouse import ExportManifestError
            except Exception:  # noqa: BLE001
                ExportManifestError = ()  # noqa: N806
            if isinstance(error, ExportManifestError):  # bad input, named by file and field: no type, exit 2
                click.echo(str(error), err=True)
                sys.exit(2)
            command = " ".join(["holdout", *([ctx.invoked_subcommand] if ctx.invoked_subcommand else [])])
            click.echo(f"{command}: {error_message(error)}", err=True)
            click.echo(f"(set {DEBUG_ENV}=1 to see the traceback)", err=True)
            sys.exit(1)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every sub-package (Airflow, MLflow...): use the static texts.
        rows = [(name, COMMAND_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def error_message(error: BaseException) -> str:
    """One readable line for an unexpected error: the cause DuckDB, dbt or pandas put first, without the
    chained exceptions and stack frames that hide it."""
    text = str(error).strip() or type(error).__name__
    if "Could not set lock on file" in text:
        return (
            "the warehouse is in use by another process (a build, launch or Airflow task); "
            "wait for it to finish and retry"
        )
    lines = text.splitlines()
    # Holdout's own "nothing there yet" errors (no warehouse, no landing zone, no world) say what to run: no type name
    kind = "" if isinstance(error, FileNotFoundError) and error.errno is None else f"{type(error).__name__}: "
    # a heading that ends in a colon introduces the list of problems: keep the list (up to ten), not only the heading
    shown = lines[:11] if lines[0].rstrip().endswith(":") and len(lines) > 1 else lines[:1]
    return kind + "\n".join(shown)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="holdout")
def main() -> None:
    """Holdout: precise segments, measured campaigns.

    State lives under HOLDOUT_HOME (default ./.holdout): raw landing zone, ground truth,
    DuckDB warehouse, MLflow store, Airflow home, outbox and reports.
    """


if __name__ == "__main__":
    main()
