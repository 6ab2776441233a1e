"""The toy graph in batch: `klio job run --batch-input ids.txt`, reruns, bottom-up fill, dead letters."""
from __future__ import annotations

import glob
import json
import os
import re
import time

import pytest

from jobgraph.deadletter import DeadLetter
from tests.jobgraph import toygraph


def run_batch(args, tmp_path, *extra):
    summary = tmp_path / f"summary-{len(list(tmp_path.glob('summary-*')))}.json"
    toygraph.klio("job", "run", "--direct-runner", *args, "--summary-json", str(summary), *extra, timeout=600)
    return json.loads(summary.read_text())["counters"]


def dead_letters(root, job):
    records = []
    for path in glob.glob(f"{root}/dead-letter/{job}/*.jsonl"):
        records += [DeadLetter.from_json(line) for line in open(path) if line.strip()]
    return records


def test_1000_ids_then_rerun_redoes_exactly_the_deleted_outputs(tmp_path):
    ids = [f"id{i:04d}" for i in range(1000)]
    root = toygraph.make_root(tmp_path, ids)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root),
            "--batch-input", str(tmp_path / "ids.txt")]
    first = run_batch(args, tmp_path)
    assert first["toy-upper"]["toy-upper-written"] == 1000
    # every job that processed messages reports its worker's peak and private memory (Beam
    # distributions); private memory is resident memory, so never above the peak
    distributions = json.loads(sorted(tmp_path.glob("summary-*.json"))[0].read_text())["distributions"]
    for job in ("toy-upper", "toy-count"):
        peak = distributions[job]["worker-peak-rss-mib"]
        assert 50 < peak["min"] <= peak["max"] < 24 * 1024 and peak["count"] >= 1
        private = distributions[job]["worker-private-mib"]
        assert 10 < private["min"] <= private["max"] <= peak["max"] and private["count"] == peak["count"]
    assert first["toy-count"]["toy-count-written"] == 1000
    assert len(os.listdir(f"{root}/out")) == 1000

    deleted = ids[::100]
    for element in deleted:
        os.remove(f"{root}/out/{element}.json")
    second = run_batch(args, tmp_path)
    assert second["toy-upper"]["kmsg-skip-force"] == 1000          # all parents' outputs exist
    assert second["toy-upper"].get("toy-upper-written", 0) == 0
    assert second["toy-count"]["kmsg-skip-force"] == 990
    assert second["toy-count"]["toy-count-written"] == 10
    assert second["toy-count"]["kmsg-output"] == 1000               # pass-throughs still go downstream
    assert sorted(os.listdir(f"{root}/out")) == sorted(f"{i}.json" for i in ids)


def test_force_override_reprocesses_everything(tmp_path):
    ids = ["a", "b"]
    root = toygraph.make_root(tmp_path, ids)
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    run_batch(args, tmp_path, *ids)
    counters = run_batch(args, tmp_path, "-O", "toy-count:job_config.data.outputs.0.force=true", *ids)
    assert counters["toy-upper"]["kmsg-skip-force"] == 2
    assert counters["toy-count"]["kmsg-process-force"] == 2
    assert counters["toy-count"]["toy-count-written"] == 2


def test_listing_input_and_bad_elements_end_as_dead_letters(tmp_path):
    root = toygraph.make_root(tmp_path, ["good1", "good2", "boom"])
    with open(f"{root}/in/boom.txt", "w") as fh:
        fh.write("please FAIL\n")
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    counters = run_batch(args, tmp_path)  # no IDs: the listing of {root}/in
    assert counters["toy-upper"]["kmsg-received"] == 3
    assert counters["toy-count"]["toy-count-written"] == 2
    [letter] = dead_letters(root, "toy-upper")
    assert (letter.element, letter.stage, letter.reason, letter.error_class) == (
        "boom", "upper", "toy-failure", "ToyFailure")

    counters = run_batch(args, tmp_path, "../../etc/passwd", "missing1", "good1")
    letters = {(d.element, d.reason) for d in dead_letters(root, "toy-upper")}
    assert ("../../etc/passwd", "invalid-id") in letters
    assert ("missing1", "input-missing") in letters
    assert counters["toy-upper"]["kmsg-skip-force"] == 1
    assert counters["toy-upper"]["dead-letter"] == 2
    # every element ends somewhere: received == passed through + dead-lettered (+ processed)
    upper = counters["toy-upper"]
    assert upper["kmsg-received"] == upper["kmsg-skip-force"] + upper["dead-letter"] + upper.get("kmsg-success", 0)
    assert not os.path.exists(os.path.join(os.path.dirname(root), "etc"))


def test_one_job_with_missing_input_is_filled_by_its_parent_in_the_same_pipeline(tmp_path):
    root = toygraph.make_root(tmp_path, ["x1", "x2"])
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    counters = run_batch(args, tmp_path, "--job", "toy-count", "x1", "x2", "nothere")
    assert counters["toy-count"]["kmsg-trigger-upstream"] == 3
    assert counters["toy-upper"]["toy-upper-written"] == 2
    assert counters["toy-count"]["toy-count-written"] == 2
    assert sorted(os.listdir(f"{root}/out")) == ["x1.json", "x2.json"]
    [letter] = dead_letters(root, "toy-upper")
    assert letter.element == "nothere" and letter.reason == "input-missing"


@pytest.mark.parametrize("argv,needle", [
    (["job", "run", "--batch-input", "f.txt", "a"], "either --batch-input"),
    (["message", "publish", "-t", "-b", "x"], "mutually exclusive"),
    (["message", "publish", "-n", "-f", "x"], "--non-klio cannot"),
    (["job", "run", "-c", "/nonexistent/klio-job.yaml"], "readable klio-job.yaml"),
])
def test_cli_errors_are_one_line_and_non_zero(tmp_path, argv, needle):
    proc = toygraph.klio(*argv, *toygraph.template_args(str(tmp_path)), "-c", toygraph.TOY_CONFIG,
                         check=False) if "-c" not in argv else toygraph.klio(*argv, check=False)
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("klio: error")]) == 1 or \
        "Usage" in proc.stderr


def _final_bars(stderr: str) -> dict[str, str]:
    """job -> the last state its tqdm bar drew: "done/total" (or "done" without a total) and
    the postfix, e.g. {"toy-upper": "4/4 1 dead-lettered"}."""
    final = {}
    for part in stderr.replace("\r", "\n").splitlines():
        match = re.match(r"(toy-upper|toy-count):.*?(\d+(?:/\d+)?)(?: elements)? \[[^,\]]*(?:,[^,\]]*)?(?:, (.*))?\]", part)
        if match:
            final[match.group(1)] = " ".join(x for x in (match.group(2), match.group(3)) if x)
    return final


def test_batch_run_shows_a_progress_bar_per_job(tmp_path):
    root = toygraph.make_root(tmp_path, ["p1", "p2", "p3"])
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    proc = toygraph.klio("job", "run", "--direct-runner", *args, "p1", "p2", "p3", env={"KLIO_PROGRESS": "1"})
    assert _final_bars(proc.stderr) == {"toy-upper": "3/3", "toy-count": "3/3"}, proc.stderr[-2000:]


def test_progress_totals_count_the_id_file_and_dead_letters_finish_the_bar(tmp_path):
    """An ID file is countable: each bar has a total (blank lines are no elements), and an
    element dead-lettered upstream leaves the totals after it, so every bar ends full."""
    root = toygraph.make_root(tmp_path, ["q1", "q2", "boom"])
    with open(f"{root}/in/boom.txt", "w") as fh:
        fh.write("please FAIL\n")
    (tmp_path / "ids.txt").write_bytes(b"\xef\xbb\xbfq1\n\nq2\n  \nboom\nq1\n")  # BOM, blanks, a repeat
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    proc = toygraph.klio("job", "run", "--direct-runner", *args, "--batch-input", str(tmp_path / "ids.txt"),
                         env={"KLIO_PROGRESS": "1"})
    assert _final_bars(proc.stderr) == {"toy-upper": "4/4 1 dead-lettered", "toy-count": "3/3"}, \
        proc.stderr[-2000:]


def test_summary_has_the_time_the_rate_and_this_runs_files(tmp_path):
    """stdout and --summary-json: wall time, elements per hour per job, the run ID, and the
    paths of this run's outputs, event files and dead-letter files (named after the run ID)."""
    root = toygraph.make_root(tmp_path, ["s1", "s2", "boom"])
    with open(f"{root}/in/boom.txt", "w") as fh:
        fh.write("please FAIL\n")
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    summary_path = tmp_path / "summary.json"
    started = time.monotonic()
    proc = toygraph.klio("job", "run", "--direct-runner", *args, "--summary-json", str(summary_path))
    wall = time.monotonic() - started
    doc = json.loads(summary_path.read_text())
    run_id = doc["run_id"]
    assert 0 < doc["elapsed_s"] < wall
    assert doc["elements_per_hour"]["toy-upper"] == pytest.approx(2 * 3600 / doc["elapsed_s"], rel=0.01)
    assert doc["elements_per_hour"]["toy-count"] == pytest.approx(2 * 3600 / doc["elapsed_s"], rel=0.01)
    files = doc["files"]
    assert files["toy-upper"]["outputs"] == f"{root}/mid/*.txt"
    assert files["toy-count"]["outputs"] == f"{root}/out/*.json"
    for job in ("toy-upper", "toy-count"):
        [events] = files[job]["events"]
        assert events.startswith(f"{root}/events/{job}/{run_id}-") and os.path.exists(events)
    [letters] = files["toy-upper"]["dead_letters"]
    assert letters.startswith(f"{root}/dead-letter/toy-upper/{run_id}-") and letters.endswith(".jsonl")
    assert [d.element for d in dead_letters(root, "toy-upper")] == ["boom"]
    assert files["toy-count"]["dead_letters"] == []

    out = proc.stdout
    assert re.search(r"processed per hour\s*│\s*[\d,]+\s*│\s*[\d,]+\s*│", out), out
    assert re.search(rf"run {re.escape(run_id)}: \d+m \d\ds wall time", out), out
    assert f"toy-upper: outputs {root}/mid/*.txt; events {root}/events/toy-upper/{run_id}-" in out.replace("\n", "")
    assert "No shards found" not in proc.stderr  # no dead letters for toy-count is a clean run


def test_two_consecutive_runs_each_keep_their_own_event_files(tmp_path):
    """A second run (here one job alone) adds its event files beside the first run's: no run
    overwrites or empties another's, and a run without dead letters writes no dead-letter file."""
    root = toygraph.make_root(tmp_path, ["e1", "e2"])
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root)]
    run_batch(args, tmp_path)
    first = {job: sorted(glob.glob(f"{root}/events/{job}/*")) for job in ("toy-upper", "toy-count")}
    contents = {path: open(path).read() for paths in first.values() for path in paths}
    assert all(len(paths) == 1 for paths in first.values()) and all(contents.values()), first
    run_batch([*args, "--job", "toy-count", "-O", "toy-count:job_config.data.outputs.0.force=true"],
              tmp_path, "e1", "e2")
    second = sorted(glob.glob(f"{root}/events/toy-count/*"))
    assert len(second) == 2 and first["toy-count"][0] in second
    assert set(first["toy-upper"]) <= set(glob.glob(f"{root}/events/toy-upper/*"))
    assert {path: open(path).read() for paths in first.values() for path in paths} == contents
    new = [path for path in second if path not in first["toy-count"]][0]
    assert sorted(open(new).read().split()) == ["e1", "e2"]
    assert not glob.glob(f"{root}/dead-letter/*/*.jsonl")
