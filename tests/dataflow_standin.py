"""A local stand-in for the Dataflow REST API (v1b3), for tests.

It is a stand-in, not an emulator: the real Dataflow service cannot exist on a test machine and
Google ships no emulator for it. It answers on loopback the calls the `klio` job verbs and
Beam's DataflowRunner make, projects.locations.jobs create / list / get / update plus the
messages and metrics reads of a blocking run, with the service's JSON shapes, and records
every request it receives (method, path, query, JSON body) so that tests can assert what each
command sends. Behaviour modelled on the service, as far as the tests rely on it:

- create: a new job in JOB_STATE_PENDING (`clientRequestId` echoed), JOB_STATE_RUNNING from
  its first GET on, and JOB_STATE_DONE after `finish_after` GETs when that is set (a batch job
  that finishes). With `replaceJobId` the
  replaced job becomes JOB_STATE_UPDATED. Without it, an active job of the same name is
  returned instead of a new one (the service refuses a second active job of one name; Beam
  sees the foreign clientRequestId and raises).
- update with `requestedState`: CANCELLED -> JOB_STATE_CANCELLING, DRAINED -> JOB_STATE_DRAINING;
  the job reaches the requested state after `settle_after` further GETs of it (0: at once).
  `stuck=True` keeps it in the intermediate state (to test timeouts).
- list: `filter` ACTIVE (3) lists only jobs in a non-terminal state; ALL lists everything.

Enums arrive as numbers (the client sends `$alt=json;enum-encoding=int`) or names; the
stand-in stores names and answers with names, which the client also accepts.

Use: `with DataflowStandIn() as df:` then `-O pipeline_options.dataflow_endpoint=` + df.url.
The URL names `localhost` because Beam's client picks its REST transport only for endpoints
containing "localhost" (it would speak gRPC to any other).
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STATES = ["JOB_STATE_UNKNOWN", "JOB_STATE_STOPPED", "JOB_STATE_RUNNING", "JOB_STATE_DONE",
          "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_UPDATED", "JOB_STATE_DRAINING",
          "JOB_STATE_DRAINED", "JOB_STATE_PENDING", "JOB_STATE_CANCELLING", "JOB_STATE_QUEUED",
          "JOB_STATE_RESOURCE_CLEANING_UP", "JOB_STATE_PAUSING", "JOB_STATE_PAUSED"]
TERMINAL = {"JOB_STATE_DONE", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_UPDATED",
            "JOB_STATE_DRAINED"}  # as Beam's PipelineState.is_terminal
LIST_FILTERS = ["UNKNOWN", "ALL", "TERMINATED", "ACTIVE"]
JOB_TYPES = ["JOB_TYPE_UNKNOWN", "JOB_TYPE_BATCH", "JOB_TYPE_STREAMING"]
_INTERMEDIATE = {"JOB_STATE_CANCELLED": "JOB_STATE_CANCELLING", "JOB_STATE_DRAINED": "JOB_STATE_DRAINING"}
_JOBS = re.compile(r"^/v1b3/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs"
                   r"(?:/(?P<job_id>[^/:]+))?(?:/(?P<sub>messages|metrics))?$")


def state_name(value) -> str:
    """A JobState as its name, from a name or the number the client sends."""
    return STATES[value] if isinstance(value, int) else str(value)


class DataflowStandIn:
    """The stand-in server; see the module doc. `requests` lists every request received."""

    def __init__(self, settle_after: int = 0, stuck: bool = False, finish_after: int | None = None):
        self.settle_after, self.stuck, self.finish_after = settle_after, stuck, finish_after
        self.jobs: dict[str, dict] = {}
        self.requests: list[dict] = []
        self._gets_left: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> "DataflowStandIn":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="dataflow-standin").start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://localhost:{self._server.server_address[1]}"

    # -- test helpers ----------------------------------------------------------------------
    def add_job(self, name: str, state: str = "JOB_STATE_RUNNING", project: str = "my-proj",
                location: str = "europe-west1", job_type: str = "JOB_TYPE_STREAMING") -> str:
        """A job already on the service (as if submitted earlier); returns its id."""
        with self._lock:
            job = {"name": name, "type": job_type, "clientRequestId": "an-earlier-submission"}
            return self._new_job(job, project, location, state)["id"]

    def calls(self, method: str | None = None, sub: str = "") -> list[dict]:
        """Recorded requests, optionally only those with `method`, and whose path ends in `sub`."""
        return [r for r in self.requests if (method is None or r["method"] == method)
                and r["path"].endswith(sub)]

    # -- the API ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict]:
        """(HTTP status, JSON answer) of one request, recorded with its time.monotonic()."""
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body,
                                  "at": time.monotonic()})
            match = _JOBS.match(path)
            if match is None:
                return 404, _error(404, f"no such resource: {path}")
            project, location, job_id, sub = match.group("project", "location", "job_id", "sub")
            if job_id is None:
                if method == "POST":
                    return self._create(project, location, body or {})
                if method == "GET":
                    return self._list(project, location, query)
            elif job_id not in self.jobs:
                return 404, _error(404, f"job {job_id} not found")
            elif sub == "messages" and method == "GET":
                return 200, {"jobMessages": []}
            elif sub == "metrics" and method == "GET":
                return 200, {"metrics": []}
            elif method == "GET" and sub is None:
                return 200, self._get(job_id)
            elif method == "PUT" and sub is None:
                return self._update(job_id, body or {})
            return 405, _error(405, f"{method} {path} is not served by the stand-in")

    def _new_job(self, body: dict, project: str, location: str, state: str) -> dict:
        job_id = f"2026-01-01_00_00_00-{next(self._ids)}"
        job = {**body, "id": job_id, "projectId": project, "location": location, "currentState": state}
        job.pop("steps", None)  # not echoed: nothing reads them back
        self.jobs[job_id] = job
        return job

    def _create(self, project: str, location: str, body: dict) -> tuple[int, dict]:
        replaced = body.get("replaceJobId")
        if replaced:
            if replaced not in self.jobs or self.jobs[replaced]["currentState"] in TERMINAL:
                return 400, _error(400, f"job {replaced} to replace is not running")
            self.jobs[replaced]["currentState"] = "JOB_STATE_UPDATED"
        else:
            active = [j for j in self.jobs.values()
                      if j["name"] == body.get("name") and j["currentState"] not in TERMINAL]
            if active:
                return 200, active[0]  # the service's answer: the existing job, not a new one
        kind = body.get("type", 0)
        body = {**body, "type": JOB_TYPES[kind] if isinstance(kind, int) else kind}
        return 200, self._new_job(body, project, location, "JOB_STATE_PENDING")

    def _list(self, project: str, location: str, query: dict) -> tuple[int, dict]:
        raw = query.get("filter", ["ALL"])[0]
        wanted = LIST_FILTERS[int(raw)] if raw.isdigit() else raw
        jobs = [j for j in self.jobs.values() if (j["projectId"], j["location"]) == (project, location)]
        if wanted == "ACTIVE":
            jobs = [j for j in jobs if j["currentState"] not in TERMINAL]
        elif wanted == "TERMINATED":
            jobs = [j for j in jobs if j["currentState"] in TERMINAL]
        return 200, {"jobs": [_summary(j) for j in jobs]}

    def _get(self, job_id: str) -> dict:
        job = self.jobs[job_id]
        requested = job.get("requestedState")
        if requested and job["currentState"] not in TERMINAL and not self.stuck:
            if self._count_down(job_id):
                job["currentState"] = requested
        elif job["currentState"] == "JOB_STATE_PENDING":
            job["currentState"] = "JOB_STATE_RUNNING"
            self._gets_left[job_id] = self.finish_after
        elif job["currentState"] == "JOB_STATE_RUNNING" and self._gets_left.get(job_id) is not None:
            if self._count_down(job_id):
                job["currentState"] = "JOB_STATE_DONE"
        return job

    def _count_down(self, job_id: str) -> bool:
        """One more GET of a job in transition; True when its transition is complete."""
        left = self._gets_left.get(job_id) or 0
        self._gets_left[job_id] = left - 1
        return left <= 0

    def _update(self, job_id: str, body: dict) -> tuple[int, dict]:
        job = self.jobs[job_id]
        requested = state_name(body.get("requestedState", 0))
        if requested not in _INTERMEDIATE:
            return 400, _error(400, f"requestedState {requested} cannot be requested")
        if job["currentState"] in TERMINAL:
            return 400, _error(400, f"job {job_id} is already in {job['currentState']}")
        job["requestedState"] = requested
        job["currentState"] = _INTERMEDIATE[requested]
        self._gets_left[job_id] = self.settle_after
        return 200, job


def _summary(job: dict) -> dict:
    return {k: job[k] for k in ("id", "projectId", "location", "name", "type", "currentState")}


def _error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": "FAILED_PRECONDITION"
                      if code == 400 else "NOT_FOUND" if code == 404 else "UNIMPLEMENTED"}}


def _handler(standin: DataflowStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            code, answer = standin.handle(self.command, url.path, parse_qs(url.query), body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args) -> None:  # requests are recorded, not printed
            pass

    return Handler
