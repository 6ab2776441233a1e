"""What every `klio` command shares: the common options, the config loader, the error type."""
from __future__ import annotations

import os

import click

from jobgraph.config import GraphConfig, load_graph


class KlioCommandError(click.ClickException):
    """A command's failure: one line on stderr, `exit_code` (README, Guarantees)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"klio: error: {self.format_message()}", err=True)


def common_options(func):
    """-j/--job-dir, -c/--config-file, -O, -T and --job."""
    func = click.option("-T", "--template", "templates", multiple=True, metavar="KEY=VALUE",
                        help="Template value for ${KEY} in the config.")(func)
    func = click.option("-O", "--override", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override a config key (dotted path, value parsed as YAML); "
                             "prefix with JOB: to target one job.")(func)
    func = click.option("-c", "--config-file", default=None,
                        help="Path to klio-job.yaml (default: JOB_DIR/klio-job.yaml).")(func)
    func = click.option("-j", "--job-dir", default=".", show_default=True,
                        help="Directory of the job graph.")(func)
    func = click.option("--job", "job_name", default=None, help="Job of the graph (default: all).")(func)
    return func


def load_config(job_dir: str, config_file: str | None, overrides, templates,
                settings: bool = True) -> GraphConfig:
    """The graph of `config_file` (default JOB_DIR/klio-job.yaml) with -O/-T applied;
    settings: also check each job's own keys (imports its entry point module)."""
    path = config_file or os.path.join(job_dir, "klio-job.yaml")
    return load_graph(path, overrides=list(overrides), templates=list(templates), settings=settings)
