"""`klio`: Klio's command shape on this runtime.

    klio job run [--job NAME] [--direct-runner] [--update] [--batch-input FILE | IDS...] [-O k=v] [-T k=v]
    klio job deploy [--job NAME] [--update [--transform-name-mapping JSON]]
    klio job stop [--job NAME] [--drain]        klio job delete [--job NAME] [--yes]
    klio job verify [--job NAME] [--create-resources]
    klio job config show [--job NAME] [--json-schema]
    klio message publish [--job NAME] [-f] [-p] [-t | -b] [-n] [--payload JSON] ID...
    klio image build [--tag T] [--dry-run]      klio --version

Every command takes -j/--job-dir and -c/--config-file (default: klio-job.yaml in the job dir).
Any error exits non-zero with a one-line reason. Other packages add command groups through the
`jobgraph.cli_plugins` entry point group (e.g. `klio features`, `klio model`).
"""
from __future__ import annotations

import json
import logging
import sys
from importlib.metadata import entry_points

import click

from jobgraph import logs
from jobgraph.cli_common import KlioCommandError, common_options, load_config
from jobgraph.cli_dataflow import image, job_delete, job_stop, stop_graph, timeout_option
from jobgraph.config import ConfigError, GraphConfig
from jobgraph.infra import InfrastructureError


# Exit status of a run that finished with elements failed for infrastructure reasons.
EXIT_INFRA_FAILURES = 3


class _PluginGroup(click.Group):
    """Adds the `jobgraph.cli_plugins` command groups, imported only when invoked (they pull in
    TensorFlow, which `klio message publish` must not wait for)."""

    def _plugins(self) -> dict:
        return {ep.name: ep for ep in entry_points(group="jobgraph.cli_plugins")}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        ep = self._plugins().get(name)
        if ep is None:
            return None
        try:
            return ep.load()
        except (ImportError, AttributeError) as exc:
            raise KlioCommandError(f"command group {name!r} unavailable: {exc}") from exc

    def format_commands(self, ctx, formatter):
        rows = [(name, (super(_PluginGroup, self).get_command(ctx, name)).get_short_help_str())
                for name in super().list_commands(ctx)]
        rows += [(name, f"Commands from {ep.value.split(':')[0]} (see `klio {name} --help`).")
                 for name, ep in sorted(self._plugins().items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _version_line() -> str:
    """This runtime's distribution (the one that installed `jobgraph`) and Beam, with versions."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    def version_of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "(not installed)"

    ours = (packages_distributions().get("jobgraph") or ["jobgraph"])[0]
    return f"klio: {ours} {version_of(ours)}, Apache Beam {version_of('apache-beam')}"


def _show_version(ctx: click.Context, _param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version_line())
        ctx.exit()


@click.group(cls=_PluginGroup)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Print the versions of this project and of Apache Beam, and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def cli(verbose: bool) -> None:
    """Klio-compatible job-graph runtime on Apache Beam."""
    logs.configure(verbose)
    if not verbose:  # a missing credential is reported as one line of ours (jobgraph.infra)
        logging.getLogger("google.auth._default").setLevel(logging.ERROR)


@cli.group()
def job() -> None:
    """Run, deploy, stop and verify jobs."""


job.add_command(job_stop)
job.add_command(job_delete)
cli.add_command(image)


def run_options(func):
    """The options `klio job run` and `klio job deploy` share (IDS included)."""
    decorators = [
        click.option("--batch-input", type=str, default=None, help="File of IDs, one per line (batch)."),
        click.option("--streaming/--batch", "streaming", default=None,
                     help="Override pipeline_options.streaming."),
        click.option("--summary-json", type=click.Path(dir_okay=False), default=None,
                     help="Also write the run's counters as JSON here ({job} is replaced by the job "
                          "name, or 'graph'); streaming runs rewrite it every 5 s."),
        click.option("--create-resources", is_flag=True,
                     help="Create missing topics and subscriptions (streaming) instead of failing."),
        click.option("--on-job-exit", type=click.Choice(["restart", "stop"]), default="restart",
                     show_default=True, help="Local streaming graph: restart a job that exits (with "
                     "backoff), or stop the whole graph with a non-zero exit."),
        click.option("--update", is_flag=True, help="Dataflow, streaming: replace the running job of "
                     "the same name, carrying its state over (Beam's --update)."),
        click.option("--transform-name-mapping", default=None, metavar="JSON",
                     help='With --update: {"old step name": "new step name"} for renamed steps '
                          "(Beam's --transform_name_mapping)."),
        click.argument("ids", nargs=-1),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@job.command("run")
@common_options
@click.option("--direct-runner", is_flag=True, help="Run locally (FnApiRunner in batch, "
              "BundleBasedDirectRunner streaming) instead of the configured runner.")
@run_options
def job_run(**params) -> None:
    """Run the graph (or one job): batch over IDs, or streaming from Pub/Sub.

    On Dataflow the command returns once the job is launched (its id and console URL printed),
    or with job_config.blocking: true when it has finished.

    Exit status: 0 when the run finished (data problems are dead letters, counted in the
    summary); 1 on a configuration or infrastructure error (one line, before any work);
    3 when the run finished but some elements failed for infrastructure reasons (a rerun
    retries them)."""
    _run(params)


@job.command("deploy")
@common_options
@run_options
@timeout_option
def job_deploy(timeout_s: float, **params) -> None:
    """Deploy on Dataflow: cancel what runs under the job's name and wait for it to end, then
    run it; with --update, submit a replacement that takes over the running job's state
    (renamed steps with --transform-name-mapping). Same options as `klio job run`."""
    graph = load_config(params["job_dir"], params["config_file"], params["overrides"], params["templates"])
    params["direct_runner"] = False
    if not _on_dataflow(graph, params["job_name"], direct_runner=False):
        raise KlioCommandError("klio job deploy runs on Dataflow: set pipeline_options.runner to "
                               "DataflowRunner (e.g. -O pipeline_options.runner=DataflowRunner)")
    selected = [graph.job(params["job_name"])] if params["job_name"] else list(graph.jobs)
    if any(job.pipeline_options.get("dry_run") for job in selected):
        click.echo("klio job deploy: dry run: nothing stopped")
    elif not params["update"] and not _one_process_per_job(graph, params["job_name"], params["streaming"]):
        stop_graph(graph, params["job_name"], drain=False, timeout_s=timeout_s, verb="deploy")
    _run(params, graph)  # a streaming graph: one `klio job deploy --job NAME` per job


def _on_dataflow(graph: GraphConfig, job_name: str | None, direct_runner: bool) -> bool:
    from jobgraph.dataflow import is_dataflow_runner

    job = graph.job(job_name) if job_name else graph.jobs[0]
    return not direct_runner and is_dataflow_runner(str(job.pipeline_options.get("runner", "")))


def _one_process_per_job(graph: GraphConfig, job_name: str | None, streaming: bool | None) -> bool:
    """A streaming graph runs as one process per job (as Klio deploys it)."""
    is_streaming = streaming if streaming is not None else graph.jobs[0].streaming
    return is_streaming and job_name is None and len(graph.jobs) > 1


def _update_options(update: bool, mapping: str | None) -> dict:
    """Beam's update options from --update and --transform-name-mapping (usage errors: exit 2)."""
    if mapping is not None and not update:
        raise click.UsageError("--transform-name-mapping needs --update")
    if not update:
        return {}
    try:
        parsed = json.loads(mapping) if mapping else {}
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"--transform-name-mapping is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise click.UsageError('--transform-name-mapping: expected a JSON object {"old step name": '
                               '"new step name", ...}')
    return {"update": True, **({"transform_name_mapping": parsed} if parsed else {})}


def _require_updatable(graph: GraphConfig, job_name: str | None, direct_runner: bool,
                       streaming: bool | None) -> None:
    """--update replaces a running streaming job on Dataflow; anything else is one line.
    Checked here because Beam looks the job up forever when none of that name runs."""
    from jobgraph import dataflow

    job = graph.job(job_name) if job_name else graph.jobs[0]
    if not _on_dataflow(graph, job_name, direct_runner):
        raise KlioCommandError("--update replaces a job running on Dataflow: set "
                               "pipeline_options.runner to DataflowRunner")
    if not (job.streaming if streaming is None else streaming):
        raise KlioCommandError("--update needs a streaming job (Dataflow updates streaming jobs only)")
    name, where = dataflow.beam_job_name(graph, job_name), dataflow.target(job)
    found = [j for _, j in dataflow.find_active([(where, name)])]
    if not any(j.state in dataflow.UPDATABLE for j in found):
        now = f" (it is {', '.join(j.state for j in found)})" if found else ""
        raise KlioCommandError(f"no running Dataflow job named {name} in {where} to update{now}: "
                               "run without --update")


def _run(params: dict, graph: GraphConfig | None = None) -> None:
    """`klio job run` (and the run of `klio job deploy`) with the command's parameters."""
    job_name, ids, batch_input = params["job_name"], params["ids"], params["batch_input"]
    if batch_input and ids:
        raise click.UsageError("give either --batch-input FILE or IDs, not both")
    extra = _update_options(params["update"], params["transform_name_mapping"])
    if graph is None:  # before Beam: config errors are quick
        graph = load_config(params["job_dir"], params["config_file"], params["overrides"],
                            params["templates"])
    from jobgraph.pipeline import run

    if _one_process_per_job(graph, job_name, params["streaming"]):
        _run_each_job(graph, restart=params["on_job_exit"] == "restart")
        return
    if extra:
        _require_updatable(graph, job_name, params["direct_runner"], params["streaming"])
    summary_json = params["summary_json"]
    counters_path = summary_json.replace("{job}", job_name or "graph") if summary_json else None
    summary = run(graph, job_name=job_name, streaming=params["streaming"],
                  direct_runner=params["direct_runner"], ids=list(ids) if ids else None,
                  ids_file=batch_input, counters_path=counters_path,
                  create_resources=params["create_resources"], extra_options=extra)
    _report(summary, graph, job_name)


def _report(summary, graph: GraphConfig, job_name: str | None) -> None:
    """What a run prints, and its exit status (README, Guarantees)."""
    from jobgraph.summary import print_summary

    what, state = job_name or "the graph", summary.state.rsplit(".", 1)[-1]
    if summary.dry_run:
        click.echo(f"klio job run: dry run of {what}: translated, not submitted")
        return
    if summary.job_id and not summary.waited:
        click.echo(f"klio job run: {what} launched on Dataflow as job {summary.job_id} (state {state}); "
                   "set job_config.blocking: true to wait for it")
        click.echo(f"klio job run: console: {summary.console_url}")
        return
    if not summary.counters and state in ("RUNNING", "PENDING", "STARTING", "UNKNOWN"):
        click.echo(f"klio job run: {what} submitted (state {state}); "
                   "set job_config.blocking: true to wait for it")
        return
    if summary.job_id:
        click.echo(f"klio job run: {what} ran on Dataflow as job {summary.job_id}: {summary.console_url}")
    print_summary(summary, graph, job_name)
    if state != "DONE":
        raise KlioCommandError(f"pipeline ended in state {summary.state}")
    failed = summary.infrastructure_failures()
    if failed:
        counts = ", ".join(f"{job}: {n}" for job, n in sorted(failed.items()))
        raise KlioCommandError(f"elements failed for infrastructure reasons ({counts}); see the "
                               "dead letters, fix the cause and rerun", exit_code=EXIT_INFRA_FAILURES)


def _run_each_job(graph: GraphConfig, restart: bool) -> None:
    """Streaming graph: one pipeline per job, as Klio deploys them (and as Dataflow runs them).

    Locally each runs in its own process (the same command with `--job NAME`: `klio job run`,
    or `klio job deploy`, which then stops and reruns that job), supervised
    (jobgraph.supervise): a job that exits is restarted with backoff, or with
    `--on-job-exit stop` the graph stops with a non-zero exit. On Dataflow each submission
    returns once the job is launched. Ctrl-C/SIGTERM stop them all.
    """
    import signal

    from jobgraph.supervise import JobExited, Supervisor

    commands = {job.job_name: [sys.argv[0], *sys.argv[1:], "--job", job.job_name] for job in graph.jobs}
    supervisor = Supervisor(commands, restart=restart)
    signal.signal(signal.SIGTERM, lambda *a: (supervisor.stop(), sys.exit(143)))
    try:
        supervisor.run()
    except KeyboardInterrupt:
        raise click.exceptions.Abort() from None
    except JobExited as exc:
        raise KlioCommandError(str(exc)) from None


@job.command("verify")
@common_options
@click.option("--create-resources", is_flag=True, help="Create what is missing.")
def job_verify(job_name, job_dir, config_file, overrides, templates, create_resources) -> None:
    """Check (and create) topics, subscriptions, buckets and directories of every job."""
    graph = load_config(job_dir, config_file, overrides, templates)  # the whole config, own keys too
    from jobgraph.resources import graph_resources, verify

    project = (graph.job(job_name) if job_name else graph.jobs[0]).project
    click.echo(f"{'ok':8} {'config':12} {graph.source}")
    results = verify(graph_resources(graph, job_name), create_resources, project)
    for res, state in results:
        click.echo(f"{state:8} {res.kind:12} {res.name}")
    missing = [r for r, s in results if s == "missing"]
    if missing:
        raise KlioCommandError(f"{len(missing)} resource(s) missing; rerun with --create-resources")


@job.group("config")
def job_config_group() -> None:
    """Inspect klio-job.yaml."""


@job_config_group.command("show")
@common_options
@click.option("--json-schema", is_flag=True,
              help="Print the JSON Schema of klio-job.yaml (for editors) instead.")
def job_config_show(job_name, job_dir, config_file, overrides, templates, json_schema) -> None:
    """Print the effective config (YAML): -T/-O applied, defaults filled in."""
    import yaml

    from jobgraph.config_show import effective_documents, graph_settings, json_schema as schema_of

    if json_schema:
        try:  # the jobs' own keys only where the config loads; the Klio part in any case
            settings = graph_settings(load_config(job_dir, config_file, overrides, templates, settings=False))
        except ConfigError as exc:
            click.echo(f"klio: warning: {exc} (schema without the jobs' own keys)", err=True)
            settings = {}
        click.echo(json.dumps(schema_of(settings), indent=2))
        return
    graph = load_config(job_dir, config_file, overrides, templates)
    if job_name is not None:
        graph.job(job_name)  # an unknown job is an error, not an empty document
    docs = effective_documents(graph, overrides, templates, job_name)
    click.echo(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False), nl=False)


@cli.group()
def message() -> None:
    """Publish KlioMessages to a job's input topic."""


@message.command("publish")
@common_options
@click.option("-f", "--force", is_flag=True, help="Reprocess even if the output exists.")
@click.option("-p", "--ping", is_flag=True, help="Trace through the graph without doing work.")
@click.option("-t", "--top-down", is_flag=True, help="Address anyone: the job and its descendants.")
@click.option("-b", "--bottom-up", is_flag=True, help="Address only this job (the default).")
@click.option("-n", "--non-klio", is_flag=True, help="Publish raw ID bytes, not a KlioMessage.")
@click.option("--payload", default=None, help="JSON (e.g. upload metadata) put in data.payload.")
@click.argument("ids", nargs=-1, required=True)
def message_publish(job_name, job_dir, config_file, overrides, templates, force, ping, top_down,
                    bottom_up, non_klio, payload, ids) -> None:
    """Publish one message per ID to the job's Pub/Sub input topic."""
    from jobgraph.message import new_message
    from jobgraph.resources import publish

    if top_down and bottom_up:
        raise click.UsageError("--top-down and --bottom-up are mutually exclusive")
    if non_klio and (force or ping or bottom_up or payload):
        raise click.UsageError("--non-klio cannot be combined with --force, --ping, --bottom-up or --payload")
    graph = load_config(job_dir, config_file, overrides, templates)
    if job_name is None and len(graph.jobs) > 1:
        roots = graph.roots()
        job_cfg = roots[0]
    else:
        job_cfg = graph.job(job_name) if job_name else graph.jobs[0]
    io = job_cfg.event_input(streaming=True)
    if io is None or not io.topic:
        raise ConfigError(graph.source, f"job {job_cfg.job_name}: job_config.events.inputs",
                          "a pubsub input with a topic to publish to")
    if non_klio and not job_cfg.allow_non_klio_messages:
        raise ConfigError(graph.source, f"job {job_cfg.job_name}: job_config.allow_non_klio_messages",
                          "true to publish non-Klio messages")
    if payload is not None:
        try:
            json.loads(payload)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--payload is not JSON: {exc}") from exc
    if non_klio:
        data = [i.encode("utf-8") for i in ids]
    else:
        data = [new_message(i, job=job_cfg.identity, top_down=top_down, ping=ping, force=force,
                            payload=(payload or "").encode("utf-8")).SerializeToString() for i in ids]
    publish(io.topic, data)
    mode = "non-klio" if non_klio else ("top-down" if top_down else "bottom-up")
    click.echo(f"published {len(data)} {mode} message(s) to {io.topic}"
               f"{' (force)' if force else ''}{' (ping)' if ping else ''}")


def main() -> None:
    # Before click resolves a command group that imports TensorFlow (jobgraph/logs.py says why).
    logs.configure()
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("klio: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ConfigError, InfrastructureError, ValueError, OSError) as exc:
        click.echo(f"klio: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # one line, not a trace; -v logging shows details
        logging.getLogger("jobgraph").debug("failed", exc_info=True)
        click.echo(f"klio: error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", err=True)
        sys.exit(1)
