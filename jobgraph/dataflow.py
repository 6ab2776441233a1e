"""A job graph's jobs on Dataflow: their names, the active ones, stopping them.

Names: a run submits each pipeline under `beam_job_name`: the Klio job_name when one job runs
(`--job`, and each job of a streaming graph, which runs one pipeline per job), or
`{first job}-graph` for a batch graph run as one pipeline; `pipeline_options.job_name`
overrides both. `klio job stop|delete|deploy` find a graph's jobs by those names among the
active jobs of the project and region, and ask for Klio's stop: JOB_STATE_CANCELLED, or
JOB_STATE_DRAINED to drain; then they poll each job until its state is terminal or the
timeout passes.

Calls go through the client Beam's DataflowRunner itself submits with (the Dataflow client
library's JobsV1Beta3Client), built as Beam builds it, so `pipeline_options.dataflow_endpoint`
sends the submission and these calls to the same service (in tests, a local stand-in).
Credentials as Beam's: application default credentials, or none with
`pipeline_options.no_auth`. Each call is bounded by CALL_TIMEOUT_S and not retried; a failure
is one line (infra.InfrastructureError).
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from typing import Callable, Iterator

from jobgraph.config import ConfigError, GraphConfig, JobConfig
from jobgraph.infra import InfrastructureError

CALL_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 600.0            # Klio waited this long for a stopped job to end
FIRST_POLL_S, MAX_POLL_S = 1.0, 10.0
CANCEL, DRAIN = "JOB_STATE_CANCELLED", "JOB_STATE_DRAINED"
# Beam's terminal states (PipelineState.is_terminal), as the service names them.
TERMINAL = frozenset({"JOB_STATE_DONE", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_UPDATED",
                      "JOB_STATE_DRAINED"})
# What a job shows while it honours a requested stop.
STOPPING = {CANCEL: "JOB_STATE_CANCELLING", DRAIN: "JOB_STATE_DRAINING"}
# Beam finds the job an update replaces only in these states (and waits forever otherwise).
UPDATABLE = frozenset({"JOB_STATE_RUNNING", "JOB_STATE_DRAINING"})


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a job's Dataflow jobs live, and how to reach the service."""

    project: str
    region: str
    endpoint: str = ""
    no_auth: bool = False

    def __str__(self) -> str:
        return f"{self.project}/{self.region}"


@dataclasses.dataclass(frozen=True)
class DataflowJob:
    """A job on the service, as listed: its id, name and state then."""

    id: str
    name: str
    state: str


def is_dataflow_runner(runner: str) -> bool:
    """Beam's Dataflow runners, by name or import path: the remote runners this runtime knows."""
    return runner.rsplit(".", 1)[-1] in ("DataflowRunner", "TestDataflowRunner")


def target(job: JobConfig) -> Target:
    """The project, region and endpoint of `job`'s pipeline_options; the region is required
    (it is part of every job's address on the service)."""
    options = job.pipeline_options
    if not options.get("region"):
        raise ConfigError(job.source, f"job {job.job_name}: pipeline_options.region",
                          "the job's Dataflow region (e.g. europe-west1)")
    return Target(job.project, str(options["region"]), str(options.get("dataflow_endpoint") or ""),
                  bool(options.get("no_auth")))


def beam_job_name(graph: GraphConfig, job_name: str | None) -> str:
    """The name a run of `job_name` (None: the whole graph) is submitted under."""
    job = graph.job(job_name) if job_name else graph.jobs[0]
    default = job.job_name if job_name else f"{job.job_name}-graph"
    return str(job.pipeline_options.get("job_name") or default)


def graph_job_names(graph: GraphConfig, job_name: str | None) -> list[tuple[Target, str]]:
    """(target, name) of every pipeline a run of `job_name` (None: the graph, streaming or
    batch) may have submitted, without duplicates."""
    runs = [job_name] if job_name else [job.job_name for job in graph.jobs] + [None]
    found: list[tuple[Target, str]] = []
    for run in runs:
        item = (target(graph.job(run) if run else graph.jobs[0]), beam_job_name(graph, run))
        if item not in found:
            found.append(item)
    return found


def console_url(region: str, job_id: str, project: str) -> str:
    return f"https://console.cloud.google.com/dataflow/jobs/{region}/{job_id}?project={project}"


def _credentials(t: Target):
    import google.auth
    from google.auth import credentials as auth_credentials
    from google.auth import exceptions as auth_exceptions

    if t.no_auth:
        return auth_credentials.AnonymousCredentials()
    try:
        return google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])[0]
    except auth_exceptions.DefaultCredentialsError:
        raise InfrastructureError("no credentials for Dataflow: run gcloud auth application-default "
                                  "login (or set pipeline_options.no_auth for an endpoint without "
                                  "authentication)") from None


def jobs_client(t: Target):
    """The Dataflow jobs client for `t`, configured as Beam's DataflowApplicationClient."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import dataflow

    client_options, transport = None, None
    endpoint = t.endpoint.strip()
    if endpoint:
        # Beam's rule: REST for local and sandbox endpoints (scheme kept), else gRPC (no scheme).
        if "localhost" in endpoint or "sandbox" in endpoint:
            transport = "rest"
        else:
            endpoint = re.sub("^https?://", "", endpoint)
        client_options = ClientOptions(api_endpoint=endpoint.rstrip("/"))
    return dataflow.JobsV1Beta3Client(credentials=_credentials(t), client_options=client_options,
                                      transport=transport)


class DataflowJobs:
    """The jobs of one project and region. `client`: a JobsV1Beta3Client (default: built for
    the target)."""

    def __init__(self, t: Target, client=None):
        self.target = t
        self._client = client if client is not None else jobs_client(t)

    @contextlib.contextmanager
    def _call(self, what: str) -> Iterator[None]:
        """A failed call as one line naming the call and the likely fix."""
        from google.api_core import exceptions as gexc

        try:
            yield
        except InfrastructureError:
            raise
        except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
            raise InfrastructureError(f"Dataflow refused {what} in {self.target}: {exc.message}") from None
        except gexc.GoogleAPICallError as exc:
            raise InfrastructureError(f"Dataflow failed {what} in {self.target}: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - a connection failure is one line, not a trace
            where = self.target.endpoint or "dataflow.googleapis.com"
            raise InfrastructureError(f"Dataflow unreachable at {where} ({type(exc).__name__} on {what}): "
                                      "check pipeline_options.dataflow_endpoint and the network") from None

    def active(self, names: list[str]) -> list[DataflowJob]:
        """The active (not terminated) jobs named one of `names`."""
        from google.cloud import dataflow

        request = dataflow.ListJobsRequest(project_id=self.target.project, location=self.target.region,
                                           filter=dataflow.ListJobsRequest.Filter.ACTIVE)
        with self._call("listing the active jobs"):
            jobs = list(self._client.list_jobs(request=request, timeout=CALL_TIMEOUT_S, retry=None))
        return [DataflowJob(j.id, j.name, j.current_state.name) for j in jobs if j.name in names]

    def state(self, job_id: str) -> str:
        from google.cloud import dataflow

        request = dataflow.GetJobRequest(project_id=self.target.project, location=self.target.region,
                                         job_id=job_id)
        with self._call(f"getting job {job_id}"):
            job = self._client.get_job(request=request, timeout=CALL_TIMEOUT_S, retry=None)
        return job.current_state.name

    def request_state(self, job_id: str, state: str) -> None:
        """Ask for `state` (CANCEL or DRAIN): Klio's stop. A job that ended meanwhile is fine."""
        from google.api_core import exceptions as gexc
        from google.cloud import dataflow

        request = dataflow.UpdateJobRequest(project_id=self.target.project, location=self.target.region,
                                            job_id=job_id,
                                            job=dataflow.Job(requested_state=dataflow.JobState[state]))
        try:
            with self._call(f"requesting {state} for job {job_id}"):
                self._client.update_job(request=request, timeout=CALL_TIMEOUT_S, retry=None)
        except InfrastructureError:
            # The service refuses a request for a job that has just ended; anything else stands.
            with contextlib.suppress(gexc.GoogleAPICallError, InfrastructureError):
                if self.state(job_id) in TERMINAL:
                    return
            raise

    def wait_terminal(self, job_id: str, deadline: float, clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep) -> str:
        """Poll the job's state (1 s, then doubling up to 10 s) until it is terminal or
        `deadline` (a `clock` time) passes; returns the last state seen."""
        delay = FIRST_POLL_S
        while True:
            state = self.state(job_id)
            if state in TERMINAL or clock() >= deadline:
                return state
            sleep(max(0.0, min(delay, deadline - clock())))
            delay = min(delay * 2, MAX_POLL_S)


def _by_target(wanted: list[tuple[Target, str]]) -> dict[Target, list[str]]:
    grouped: dict[Target, list[str]] = {}
    for t, name in wanted:
        grouped.setdefault(t, []).append(name)
    return grouped


def find_active(wanted: list[tuple[Target, str]]) -> list[tuple[DataflowJobs, DataflowJob]]:
    """The active jobs among `wanted` (target, name), each with the client of its target."""
    found = []
    for t, names in _by_target(wanted).items():
        api = DataflowJobs(t)
        found += [(api, job) for job in api.active(names)]
    return found


def stop(wanted: list[tuple[Target, str]], drain: bool = False, timeout_s: float = STOP_TIMEOUT_S,
         say: Callable[[str], None] = print) -> list[tuple[DataflowJob, str]]:
    """Stop every active job among `wanted`: request JOB_STATE_CANCELLED (or DRAINED), then
    wait until each ends. Returns (job, final state); raises InfrastructureError naming the
    first job still not ended after `timeout_s`."""
    requested = DRAIN if drain else CANCEL
    found = find_active(wanted)
    for api, job in found:
        if job.state != STOPPING[requested]:  # already honouring the same request: just wait
            api.request_state(job.id, requested)
        say(f"{'draining' if drain else 'cancelling'} {job.name} (job {job.id}, was {job.state})")
    deadline = time.monotonic() + timeout_s
    ended = [(api, job, api.wait_terminal(job.id, deadline)) for api, job in found]
    for api, job, state in ended:
        if state not in TERMINAL:
            raise InfrastructureError(
                f"Dataflow job {job.name} ({job.id}) still {state} after {timeout_s:.0f} s: see "
                f"{console_url(api.target.region, job.id, api.target.project)}")
    return [(job, state) for _, job, state in ended]
