"""Build and run the Beam pipeline for a job graph (or one job of it).

Batch: one pipeline for the graph. Root jobs read the IDs; each job's event output (outputs plus
pass-throughs) feeds its children in memory, exactly as the topics would in streaming. When one
job is run alone (`--job`), elements whose input is missing go through the parent's stage inside
the same pipeline (bottom-up fill), then back to the job.
Streaming: each job is a Pub/Sub-in, Pub/Sub-out pipeline (the CLI runs the graph as one
supervised process per job). Input missing -> the message is published to the parent's input
topic.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Any, Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from jobgraph import dataflow, eventio, locations, resources, storage
from jobgraph.progress import close_all, expect_totals
from jobgraph.config import ConfigError, GraphConfig, JobConfig
from jobgraph.entrypoint import entry_module
from jobgraph.message import KlioMessage
from jobgraph.steps import (DEAD_LETTER, INFRASTRUCTURE_REASONS, INPUT_MISSING, PASS_THRU,
                            CountDeadLetters, CountProcessed, RequestUpstream, RouteMessages,
                            local_counts)
from jobgraph.summary import run_outcome, summary_document

log = logging.getLogger("jobgraph")

beam.coders.registry.register_coder(KlioMessage, beam.coders.ProtoCoder)

FN_API_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"

# Keys of pipeline_options that are Klio's, not Beam's.
_NON_BEAM_OPTIONS = {"worker_harness_container_image_tag"}


def load_entry_point(job: JobConfig) -> Callable:
    """`run(input_pcol, config)` of a job: `module:function`, the module looked up next to the
    job's klio-job.yaml first (as Klio's run.py), then on sys.path (jobgraph.entrypoint)."""
    module_name, func_name = job.entry_point.split(":")
    module = entry_module(job.entry_point, job.job_dir)
    if module is None:
        local = os.path.join(job.job_dir, *module_name.split(".")) + ".py"
        raise ConfigError(job.source, f"job {job.job_name}: job_config.entry_point",
                          f"an importable module ({local} or {module_name} on sys.path)", job.entry_point)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(job.source, f"job {job.job_name}: job_config.entry_point",
                          f"a function {func_name} in {module.__name__}", job.entry_point)
    return func


def _split_result(result: Any, job: JobConfig):
    """run() may return a PCollection, (outputs, dead_letters) or {"output", "dead_letter"}."""
    if isinstance(result, dict):
        return result["output"], result.get("dead_letter")
    if isinstance(result, tuple):
        return result[0], (result[1] if len(result) > 1 else None)
    if isinstance(result, beam.PCollection):
        return result, None
    raise TypeError(f"job {job.job_name}: run() must return a PCollection, (output, dead_letters) "
                    f"or a dict, got {type(result).__name__}")


@dataclasses.dataclass
class _Builder:
    graph: GraphConfig
    streaming: bool
    run_id: str
    track_receipts: bool = False  # local streaming: acknowledge inputs once their results are published

    def stage(self, job: JobConfig, messages, fill_from_parent: bool, input_dead=None):
        """Wire one job around its run(); returns its event output PCollection."""
        name = job.job_name
        label = f"[{name}] "
        dead = [] if input_dead is None else [input_dead]
        routed = messages | label + "Route KlioMessage" >> beam.ParDo(RouteMessages(job)).with_outputs(
            PASS_THRU, INPUT_MISSING, DEAD_LETTER, main="process")
        dead.append(routed[DEAD_LETTER])
        to_process, pass_thru = [routed.process], [routed[PASS_THRU]]
        parent = self.graph.parent(name)

        if self.streaming:
            request = routed[INPUT_MISSING] | label + "Trigger Upstream" >> beam.ParDo(
                RequestUpstream(job, parent)).with_outputs(DEAD_LETTER, main="request")
            dead.append(request[DEAD_LETTER])
            if parent is not None:
                eventio.publish_to_topic(request.request, self._input_topic(parent, job), label + "Upstream",
                                         name, self.track_receipts)
        elif fill_from_parent and parent is not None:
            request = routed[INPUT_MISSING] | label + "Trigger Upstream" >> beam.ParDo(
                RequestUpstream(job, parent)).with_outputs(DEAD_LETTER, main="request")
            dead.append(request[DEAD_LETTER])
            regenerated = self.stage(parent, request.request, fill_from_parent=True)
            rerouted = regenerated | label + "Route After Upstream" >> beam.ParDo(
                RouteMessages(job)).with_outputs(PASS_THRU, INPUT_MISSING, DEAD_LETTER, main="process")
            dead.append(rerouted[DEAD_LETTER])
            to_process.append(rerouted.process)
            pass_thru.append(rerouted[PASS_THRU])
            still_missing = rerouted[INPUT_MISSING] | label + "Input Still Missing" >> beam.ParDo(
                RequestUpstream(job, None, f"input still missing after the parent job {parent.job_name} ran"
                                )).with_outputs(DEAD_LETTER, main="none")
            dead.append(still_missing[DEAD_LETTER])
        else:
            reason = (f"input missing although the parent job {parent.job_name} ran in this pipeline"
                      if parent is not None else "")
            missing = routed[INPUT_MISSING] | label + "Input Missing" >> beam.ParDo(
                RequestUpstream(job, None, reason)).with_outputs(DEAD_LETTER, main="none")
            dead.append(missing[DEAD_LETTER])

        process = to_process[0] if len(to_process) == 1 else (
            to_process | label + "Flatten to Process" >> beam.Flatten())
        output, user_dead = _split_result(load_entry_point(job)(process, job), job)
        output = output | label + "Count Processed" >> beam.ParDo(CountProcessed(name))
        if user_dead is not None:
            dead.append(user_dead | label + "Count Dead Letters" >> beam.ParDo(CountDeadLetters(name)))
        event_output = [output] + pass_thru | label + "Flatten to Output" >> beam.Flatten()
        eventio.write_events(event_output, job, self.streaming, self.run_id, self.track_receipts)
        letters = dead | label + "Flatten Dead Letters" >> beam.Flatten()
        eventio.write_dead_letters(letters, job, self.streaming, self.run_id, self.track_receipts)
        return event_output

    def _input_topic(self, parent: JobConfig, child: JobConfig) -> str:
        io = parent.event_input(streaming=True)
        if io is None or not io.topic:
            raise ConfigError(parent.source, f"job {parent.job_name}: job_config.events.inputs",
                              f"a pubsub input with a topic, so {child.job_name} can trigger it bottom-up")
        return io.topic


def build(pipeline: beam.Pipeline, graph: GraphConfig, *, job_name: str | None, streaming: bool,
          ids: list[str] | None = None, ids_file: str | None = None, run_id: str | None = None,
          track_receipts: bool = False) -> None:
    """Add the graph (or `job_name` with its bottom-up fill) to `pipeline`.

    track_receipts (streaming on the local runner): acknowledge each Pub/Sub message only once
    its results are published (jobgraph.receipts, jobgraph.local_acks)."""
    builder = _Builder(graph, streaming, run_id or eventio.new_run_id(), track_receipts)
    expect_totals(graph, job_name, ids, ids_file, streaming)  # the progress bars' totals
    if streaming:
        jobs = [graph.job(job_name)] if job_name else list(graph.jobs)
        for job in jobs:
            messages, dead = eventio.read_streaming_events(pipeline, job, track_receipts)
            builder.stage(job, messages, fill_from_parent=False, input_dead=dead)
        return
    if job_name:
        job = graph.job(job_name)
        messages, dead = eventio.read_batch_events(pipeline, job, ids, ids_file)
        builder.stage(job, messages, fill_from_parent=True, input_dead=dead)
        return
    outputs: dict[str, Any] = {}
    for job in graph.topological():
        parent = graph.parent(job.job_name)
        if parent is None:
            messages, dead = eventio.read_batch_events(pipeline, job, ids, ids_file)
            outputs[job.job_name] = builder.stage(job, messages, fill_from_parent=False, input_dead=dead)
        else:
            outputs[job.job_name] = builder.stage(job, outputs[parent.job_name], fill_from_parent=False)


def pipeline_options(graph: GraphConfig, job_name: str | None, streaming: bool, direct_runner: bool,
                     extra: dict | None = None) -> PipelineOptions:
    """Beam options from the (first selected) job's pipeline_options; Klio-only keys dropped."""
    job = graph.job(job_name) if job_name else graph.jobs[0]
    options = {k: v for k, v in job.pipeline_options.items()
               if v is not None and k not in _NON_BEAM_OPTIONS}
    options["streaming"] = streaming
    options["job_name"] = dataflow.beam_job_name(graph, job_name)  # stable: klio job stop finds it
    if direct_runner:
        # The plain DirectRunner first tries to download the Prism runner; name a local one:
        # the in-memory FnApiRunner for batch (it reports every counter), the bundle-based
        # DirectRunner for streaming (it can read Pub/Sub).
        options["runner"] = "BundleBasedDirectRunner" if streaming else "FnApiRunner"
    if options.get("runner") == "FnApiRunner":
        options["runner"] = FN_API_RUNNER
    options.update(extra or {})
    return PipelineOptions(beam_flags(options))


def beam_flags(options: dict) -> list[str]:
    """Command-line flags for Beam from option values, shaped by how Beam declares each option:
    a switch (`--streaming`) only when true; an option with a value as `--name=value`, so that
    a YAML `true` for e.g. `dry_run` is not turned into a bare flag missing its value. False,
    None and empty values are left to Beam's defaults; lists repeat the flag."""
    import json

    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in PipelineOptions.__subclasses__():
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own way to list its options
    switches = {action.dest for action in parser._actions if action.nargs == 0}  # noqa: SLF001
    flags: list[str] = []
    for name, value in options.items():
        if value is None or value is False or (isinstance(value, (list, dict, str)) and not value):
            continue
        if name in switches:
            flags.append(f"--{name}")
        elif isinstance(value, list):
            flags += [f"--{name}={item}" for item in value]
        elif isinstance(value, dict):
            flags.append(f"--{name}={json.dumps(value)}")
        else:
            flags.append(f"--{name}={value}")
    return flags


@dataclasses.dataclass
class RunSummary:
    state: str
    counters: dict[str, dict[str, int]]  # job_name -> counter name -> value
    # job_name -> distribution name -> {"min", "max", "mean", "count"} (e.g. worker-peak-rss-mib)
    distributions: dict[str, dict[str, dict[str, float]]] = dataclasses.field(default_factory=dict)
    run_id: str = ""  # names the batch run's event and dead-letter files
    dry_run: bool = False  # translated only (pipeline_options.dry_run), nothing was submitted
    job_id: str = ""  # the Dataflow job's id (remote runs)
    console_url: str = ""  # its page in the Cloud console
    waited: bool = True  # the run waited for the pipeline to finish (not: launched and returned)
    elapsed_s: float = 0.0  # wall time of run(), seconds
    files: dict[str, dict] = dataclasses.field(default_factory=dict)  # jobgraph.summary.run_files

    def infrastructure_failures(self) -> dict[str, int]:
        """job_name -> elements dead-lettered for infrastructure reasons (storage errors)."""
        out = {}
        for job, counters in self.counters.items():
            failed = sum(counters.get(f"dead-letter:{reason}", 0) for reason in INFRASTRUCTURE_REASONS)
            if failed:
                out[job] = failed
        return out

    def get(self, job: str, name: str) -> int:
        return self.counters.get(job, {}).get(name, 0)


def _metric_results(result, kind: str) -> list:
    """(metric key, value) of every `kind` ("counters" | "distributions") result; committed values
    where the runner has them, else attempted; [] when the runner exposes no metrics."""
    try:
        query = result.metrics().query()
    except Exception:  # some runners do not expose metrics
        return []
    return [(item.key.metric, item.committed if item.committed is not None else item.attempted)
            for item in query.get(kind, [])]


def collect_distributions(result) -> dict[str, dict[str, dict[str, float]]]:
    """namespace -> name -> {"min", "max", "mean", "count"}, merged over the steps reporting it."""
    merged: dict[tuple[str, str], list] = {}
    for metric, value in _metric_results(result, "distributions"):
        if value is None or not value.count:
            continue
        low, high, total, count = merged.get((metric.namespace, metric.name), (value.min, value.max, 0, 0))
        merged[(metric.namespace, metric.name)] = (min(low, value.min), max(high, value.max),
                                                   total + value.sum, count + value.count)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (namespace, name), (low, high, total, count) in merged.items():
        out.setdefault(namespace, {})[name] = {"min": low, "max": high, "mean": round(total / count, 3),
                                               "count": count}
    return out


def collect_counters(result) -> dict[str, dict[str, int]]:
    """namespace -> counter name -> value, summed over the steps reporting it."""
    counters: dict[str, dict[str, int]] = {}
    for metric, value in _metric_results(result, "counters"):
        namespace = counters.setdefault(metric.namespace, {})
        namespace[metric.name] = namespace.get(metric.name, 0) + int(value or 0)
    return counters


def run(graph: GraphConfig, *, job_name: str | None = None, streaming: bool | None = None,
        direct_runner: bool = False, ids: list[str] | None = None, ids_file: str | None = None,
        extra_options: dict | None = None, blocking: bool | None = None, counters_path: str | None = None,
        counters_every_s: float = 5.0, create_resources: bool = False) -> RunSummary:
    """Build and run; blocks until the pipeline finishes (batch) or is cancelled (streaming).

    blocking: wait for the pipeline to finish. Default: always on the local runners (they run
    in this process); on a remote runner (Dataflow) only with `job_config.blocking`, as Klio:
    otherwise the run returns once the job is submitted (a streaming job never finishes).
    counters_path: write the counters there as JSON at the end, and every `counters_every_s`
    seconds while a streaming pipeline runs.
    create_resources: create missing topics and subscriptions instead of failing.
    Raises infra.InfrastructureError before building anything when a bucket, topic,
    subscription or credential the run needs is missing or unreachable.
    """
    started = time.monotonic()
    job = graph.job(job_name) if job_name else graph.jobs[0]
    streaming = job.streaming if streaming is None else streaming
    if streaming and (ids is not None or ids_file is not None):
        raise ConfigError(graph.source, "pipeline_options.streaming",
                          "false when IDs or --batch-input are given (streaming reads Pub/Sub)")
    options = pipeline_options(graph, job_name, streaming, direct_runner, extra_options)
    dry_run = bool(options.get_all_options().get("dry_run"))
    if blocking is None:
        blocking = _is_local_runner(options) or job.blocking
    if dataflow.is_dataflow_runner(_runner_name(options)):  # dry runs too: they check a deployment
        locations.require_remote(graph, jobs_in_run(graph, job_name, streaming), streaming,
                                 _runner_name(options), ids_file)
    if not dry_run:  # a dry run only translates the pipeline: no service is touched
        resources.preflight([job] if streaming and job_name else graph.jobs, streaming, create_resources)
    sweep_leftovers(graph)
    pipeline = beam.Pipeline(options=options)
    run_id = eventio.new_run_id()
    track_receipts = streaming and _is_local_streaming_runner(options)
    if track_receipts:
        from jobgraph import local_acks

        local_acks.install()
    build(pipeline, graph, job_name=job_name, streaming=streaming, ids=ids, ids_file=ids_file,
          run_id=run_id, track_receipts=track_receipts)
    result = pipeline.run()
    reporter = None
    if streaming and counters_path:
        reporter = _LiveCounters(counters_path, every_s=counters_every_s)
        reporter.start()
    try:
        # a dry run's result "finishes" with None: its state is the result's own (DONE)
        state = (result.wait_until_finish() if blocking else None) or result.state
    finally:
        close_all()
        if reporter is not None:
            reporter.stop()
    summary = RunSummary(state=str(state), counters=collect_counters(result) if blocking else {},
                         distributions=collect_distributions(result) if blocking else {},
                         run_id=run_id, dry_run=dry_run, waited=blocking, **_remote_job(result, options),
                         **run_outcome(jobs_in_run(graph, job_name, streaming), run_id, started,
                                       listed=blocking and not streaming and not dry_run))
    if counters_path:
        write_counters(counters_path, summary)
    return summary


def jobs_in_run(graph: GraphConfig, job_name: str | None, streaming: bool) -> list[JobConfig]:
    """The jobs whose stages a run builds: all, or the job, with its ancestors in batch (the
    bottom-up fill runs them in the same pipeline)."""
    if job_name is None:
        return list(graph.jobs)
    jobs = [graph.job(job_name)]
    while not streaming and graph.parent(jobs[-1].job_name) is not None:
        jobs.append(graph.parent(jobs[-1].job_name))
    return jobs


def _remote_job(result, options: PipelineOptions) -> dict:
    """{"job_id", "console_url"} of a pipeline submitted to Dataflow, else {}."""
    if not getattr(result, "has_job", False):  # local runners and dry runs have no remote job
        return {}
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    cloud = options.view_as(GoogleCloudOptions)
    job_id = result.job_id()
    return {"job_id": job_id, "console_url": dataflow.console_url(cloud.region, job_id, cloud.project)}


def _runner_name(options: PipelineOptions) -> str:
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    return (runner if isinstance(runner, str) else type(runner).__name__).rsplit(".", 1)[-1]


def _is_local_streaming_runner(options: PipelineOptions) -> bool:
    """Beam's DirectRunners acknowledge Pub/Sub messages on pull; ours is then made to wait."""
    return _runner_name(options) in ("DirectRunner", "BundleBasedDirectRunner")


def _is_local_runner(options: PipelineOptions) -> bool:
    return _runner_name(options) in ("DirectRunner", "BundleBasedDirectRunner", "FnApiRunner",
                                     "SwitchingDirectRunner", "PrismRunner")


def sweep_leftovers(graph: GraphConfig) -> None:
    """Remove what killed runs left in the graph's local output folders (their temporary files
    and `beam-temp-*` folders; never a live run's). Every job's folders: a run of one job may
    write its parent's outputs (bottom-up fill)."""
    for job in graph.jobs:
        for folder in eventio.local_output_folders(job):
            for path in storage.sweep_dead_writers(folder):
                log.info("removed %s, left by a run that died", path)


def write_counters(path: str, summary: "RunSummary") -> None:
    """The counters as JSON, replaced atomically (a reader never sees half a file)."""
    import json

    doc = summary_document(summary)  # the printed summary's fields
    storage.write_atomically(path, json.dumps(doc, indent=2, sort_keys=True).encode("utf-8"), output=False)


class _LiveCounters(threading.Thread):
    """A streaming run never finishes: write the runtime's counters every few seconds. They are
    the process-local counts (jobgraph.steps.local_counts), exact on the local runners, which
    run the pipeline in this process; on Dataflow, read the job's metrics instead."""

    def __init__(self, path: str, every_s: float):
        super().__init__(daemon=True, name="klio-counters")
        self.path, self.every_s = path, every_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            try:
                write_counters(self.path, RunSummary("RUNNING", local_counts()))
            except OSError:  # reporting must never take the pipeline down
                log.warning("could not write counters to %s", self.path, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
