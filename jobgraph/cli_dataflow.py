"""`klio job stop`, `klio job delete` and `klio image build`: a graph's life on Dataflow.

    klio job stop [--job NAME] [--drain] [--timeout S]   cancel (or drain) the running job(s)
    klio job delete [--job NAME] [--yes]                 stop, then delete the Pub/Sub the jobs own
    klio image build [--job NAME] [--tag T] [--build-arg K=V] [--dry-run]   the worker image

jobgraph.dataflow finds the jobs by name and talks to the service; jobgraph.teardown deletes
the topics and subscriptions; jobgraph.image builds the image. `klio job deploy` (stop, then
run again, or replace in place with --update) lives next to `klio job run` in jobgraph.cli.
"""
from __future__ import annotations

import shlex

import click

from jobgraph.cli_common import common_options, load_config
from jobgraph.config import GraphConfig


def timeout_option(func):
    """--timeout SECONDS: how long the stop verbs wait for stopped jobs to end."""
    from jobgraph.dataflow import STOP_TIMEOUT_S

    return click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=STOP_TIMEOUT_S,
                        show_default=True, help="Seconds to wait for the stopped job(s) to end.")(func)


def stop_graph(graph: GraphConfig, job_name: str | None, drain: bool, timeout_s: float, verb: str) -> None:
    """Stop the graph's (or the job's) active Dataflow jobs and wait for them; prints one line
    per job as `klio job VERB: ...`, or that none was running."""
    from jobgraph import dataflow

    wanted = dataflow.graph_job_names(graph, job_name)
    stopped = dataflow.stop(wanted, drain=drain, timeout_s=timeout_s,
                            say=lambda line: click.echo(f"klio job {verb}: {line}"))
    for job, state in stopped:
        click.echo(f"klio job {verb}: {job.name} (job {job.id}) ended {state}")
    if not stopped:
        names = ", ".join(sorted({name for _, name in wanted}))
        where = ", ".join(sorted({str(t) for t, _ in wanted}))
        click.echo(f"klio job {verb}: no active Dataflow job named {names} in {where}")


@click.command("stop")
@common_options
@click.option("--drain", is_flag=True, help="Drain (finish in-flight work, then stop) instead of "
              "cancelling.")
@timeout_option
def job_stop(job_name, job_dir, config_file, overrides, templates, drain, timeout_s) -> None:
    """Stop the job(s) running on Dataflow: cancel (Klio's default) or --drain; waits until
    each has ended (exit 1 if one has not within --timeout)."""
    graph = load_config(job_dir, config_file, overrides, templates, settings=False)
    stop_graph(graph, job_name, drain, timeout_s, "stop")


@click.command("delete")
@common_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@timeout_option
def job_delete(job_name, job_dir, config_file, overrides, templates, yes, timeout_s) -> None:
    """Cancel the job(s) on Dataflow, then delete the Pub/Sub subscriptions and topics they
    own (each job's input subscription and output topic). Storage is never touched."""
    from jobgraph import teardown

    graph = load_config(job_dir, config_file, overrides, templates, settings=False)
    owned = teardown.owned_pubsub(graph, job_name)
    if not yes:
        listed = "".join(f"\n  {res.kind} {res.name}" for res in owned) or " (no Pub/Sub resources)"
        click.confirm(f"Cancel {job_name or 'every job of the graph'} on Dataflow and delete:{listed}\n"
                      "Continue?", abort=True, err=True)
    stop_graph(graph, job_name, False, timeout_s, "delete")
    for res, state in teardown.delete(owned):
        click.echo(f"{state:8} {res.kind:12} {res.name}")


@click.group("image")
def image() -> None:
    """Build the worker image."""


@image.command("build")
@common_options
@click.option("--tag", default=None, help="Image tag (default: the git commit's short sha, "
              "'-dirty' appended when the work tree has changes).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
              help="Passed to docker build (e.g. the Dockerfile's EMBEDDER_WEIGHTS).")
@click.option("--dry-run", is_flag=True, help="Print the docker command; run nothing.")
def image_build(job_name, job_dir, config_file, overrides, templates, tag, build_args, dry_run) -> None:
    """docker build of the Dockerfile next to klio-job.yaml, tagged with the image name of
    pipeline_options.sdk_container_image (or worker_harness_container_image)."""
    import os

    from jobgraph import image as images

    graph = load_config(job_dir, config_file, overrides, templates, settings=False)
    directory = os.path.dirname(graph.source)
    command = images.build_command(images.image_names(graph, job_name), tag or images.git_tag(directory),
                                   directory, list(build_args))
    if not dry_run:
        images.require_engine()  # before printing: a missing Docker is the one line said
    click.echo(shlex.join(command))
    if not dry_run:
        images.build(command)
