"""The local streaming launcher restarts a job that exits, with backoff, saying which job and
how it ended; or stops the graph naming the job. Real child processes."""
from __future__ import annotations

import sys
import threading
import time

import pytest

from jobgraph import supervise
from jobgraph.supervise import JobExited, Supervisor


def _crasher(starts_file) -> list[str]:
    """A job that records its start and exits with code 3 at once."""
    return [sys.executable, "-c", f"open({str(starts_file)!r}, 'a').write('x'); raise SystemExit(3)"]


def _sleeper() -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(600)"]


def _run_for(supervisor: Supervisor, seconds: float) -> None:
    thread = threading.Thread(target=supervisor.run, kwargs={"poll_s": 0.05}, daemon=True)
    thread.start()
    time.sleep(seconds)
    supervisor._stopping = True
    thread.join(30)


def test_exited_job_is_restarted_with_backoff_and_the_others_keep_running(tmp_path, monkeypatch):
    monkeypatch.setattr(supervise, "FIRST_BACKOFF_S", 0.2)
    monkeypatch.setattr(supervise, "REPORT_EVERY_S", 0.0)
    starts, lines = tmp_path / "starts", []
    supervisor = Supervisor({"flaky": _crasher(starts), "steady": _sleeper()}, say=lines.append)
    _run_for(supervisor, 3.5)
    steady = supervisor.jobs[1].proc
    # backoffs 0.2, 0.4, 0.8, 1.6 s: 4 or 5 starts in 3.5 s, not one per poll
    assert 2 <= len(starts.read_text()) <= 5
    assert all(line.startswith("job flaky exited with code 3; restarting in") for line in lines)
    assert steady.returncode is not None  # stopped with the supervisor, never restarted
    assert len({id(job.proc) for job in supervisor.jobs}) == 2


def test_repeated_restarts_are_reported_once_a_minute(tmp_path, monkeypatch):
    monkeypatch.setattr(supervise, "FIRST_BACKOFF_S", 0.1)
    monkeypatch.setattr(supervise, "MAX_BACKOFF_S", 0.1)
    lines = []
    supervisor = Supervisor({"flaky": _crasher(tmp_path / "starts")}, say=lines.append)
    _run_for(supervisor, 2.0)
    assert len((tmp_path / "starts").read_text()) >= 5
    assert len(lines) == 1  # the first exit is reported; the next minute's are counted


def test_stop_policy_stops_the_graph_naming_the_job(tmp_path):
    supervisor = Supervisor({"steady": _sleeper(), "flaky": _crasher(tmp_path / "starts")}, restart=False)
    with pytest.raises(JobExited, match="job flaky exited with code 3; stopped the graph"):
        supervisor.run(poll_s=0.05)
    assert all(job.proc.poll() is not None for job in supervisor.jobs)  # the other one stopped too


def test_describe_exit_names_signals():
    assert supervise.describe_exit(-9) == "killed by SIGKILL"
    assert supervise.describe_exit(1) == "exited with code 1"


def test_jobs_that_exit_0_are_done_not_restarted(tmp_path):
    """On Dataflow each job's process submits its job and exits 0: the launcher returns."""
    starts = tmp_path / "starts"
    ok = [sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x')"]
    supervisor = Supervisor({"a": ok, "b": ok})
    supervisor.run(poll_s=0.05)
    assert starts.read_text() == "xx" and all(job.finished for job in supervisor.jobs)
