"""The `klio` command (placeholder while the runtime is written)."""
import sys
from importlib.metadata import entry_points

import click


@click.group()
def cli() -> None:
    """Klio-compatible job-graph runtime."""


def _add_plugins(group: click.Group) -> None:
    for ep in entry_points(group="jobgraph.cli_plugins"):
        try:
            group.add_command(ep.load(), ep.name)
        except (ImportError, AttributeError) as exc:  # a plugin not written yet must not break `klio`
            print(f"klio: command group {ep.name!r} unavailable: {exc}", file=sys.stderr)


def main() -> None:
    _add_plugins(cli)
    cli()
