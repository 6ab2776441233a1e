"""Pipeline options reach Beam as Beam declares them, and a Dataflow dry run translates every
job and succeeds (nothing is submitted: Beam's DataflowRunner stops before its API client, so
this runs offline and is asserted on what klio prints and exits with). A dry run checks a
deployment, so its locations are on gs:// like a real one's (tests/jobgraph/test_remote_locations.py)."""
from __future__ import annotations

from jobgraph.pipeline import beam_flags
from tests.jobgraph import toygraph

GS_ROOT = "gs://my-proj-data/root"  # never read: nothing runs
DATAFLOW = ["-O", "pipeline_options.runner=DataflowRunner", "-O", "pipeline_options.dry_run=True",
            "-O", "pipeline_options.region=europe-west1",
            "-O", "pipeline_options.temp_location=gs://my-proj-tmp/x"]


def test_switches_and_valued_options_become_the_flags_beam_expects():
    flags = beam_flags({"streaming": True, "dry_run": True, "project": "p", "save_main_session": False,
                        "experiments": ["a", "b"], "labels": [], "region": None})
    # streaming is a switch; dry_run takes a value (a bare --dry_run was "expected one argument")
    assert flags == ["--streaming", "--dry_run=True", "--project=p", "--experiments=a", "--experiments=b"]


def _no_pubsub_env() -> dict:
    return {"PUBSUB_EMULATOR_HOST": "", "NO_GCE_CHECK": "true"}


def test_dataflow_dry_run_of_the_streaming_graph_translates_each_job_and_succeeds(tmp_path):
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(GS_ROOT, "my-proj")]
    proc = toygraph.klio("job", "run", *DATAFLOW, "-O", "pipeline_options.streaming=true", *args,
                         env=_no_pubsub_env(), check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = sorted(line for line in proc.stdout.splitlines() if line.startswith("klio job run: dry run"))
    assert lines == ["klio job run: dry run of toy-count: translated, not submitted",
                     "klio job run: dry run of toy-upper: translated, not submitted"]


def test_dataflow_dry_run_of_one_batch_job(tmp_path):
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(GS_ROOT, "my-proj")]
    proc = toygraph.klio("job", "run", "--job", "toy-count", *DATAFLOW, *args, "a1", "a2", env=_no_pubsub_env(),
                         check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["klio job run: dry run of toy-count: translated, not submitted"]
