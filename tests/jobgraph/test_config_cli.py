"""The config through the `klio` CLI: a misspelt key fails `klio job verify` and `klio job run` in
under 5 s with one line naming file, job, key path and the nearest valid key; `klio job config
show` prints the effective config and the JSON Schema."""
from __future__ import annotations

import json
import os
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from jobgraph.cli import cli, main
from jobgraph.config import load_graph
from tests.jobgraph import toygraph

CONFIG = os.path.join(toygraph.REPO, "klio-job.yaml")
LIMIT_S = 5.0


def _fails_in_one_line(*args: str) -> str:
    """`klio ARGS` as a user runs it: exit 1 within LIMIT_S, one line on stderr; returns it."""
    start = time.monotonic()
    proc = toygraph.klio(*args, check=False, timeout=60)
    elapsed = time.monotonic() - start
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("klio: error: "), proc.stderr[-2000:]
    assert elapsed < LIMIT_S, f"took {elapsed:.1f} s"
    return lines[0]


def _copy_with(tmp_path, old: str, new: str) -> str:
    """The repository's klio-job.yaml with one edit (its run.py is found on sys.path)."""
    text = open(CONFIG, encoding="utf-8").read()
    assert old in text
    path = tmp_path / "klio-job.yaml"
    path.write_text(text.replace(old, new, 1))
    return str(path)


def test_misspelt_setting_fails_verify_fast(tmp_path):
    path = _copy_with(tmp_path, "  top_k: 5", "  topk: 5")
    line = _fails_in_one_line("job", "verify", "-c", path)
    assert line == f"klio: error: {path}: job video-iab: job_config.topk: unknown key (did you mean 'top_k'?)"


def test_misspelt_events_inputs_fails_run_fast(tmp_path):
    path = _copy_with(tmp_path, "  events:\n    inputs:", "  events:\n    input:")
    line = _fails_in_one_line("job", "run", "--direct-runner", "-c", path)
    assert line == (f"klio: error: {path}: job video-features: job_config.events.input: "
                    "unknown key (did you mean 'inputs'?)")


def test_misspelt_data_io_key_fails_run_fast_on_the_toy_graph(tmp_path):
    args = ["-c", toygraph.TOY_CONFIG, *toygraph.template_args(str(tmp_path / "root")),
            "-O", "toy-count:job_config.data.inputs.0.file_sufix=.txt"]
    line = _fails_in_one_line("job", "run", "--direct-runner", *args, "a")
    assert line.endswith("job toy-count: job_config.data.inputs.0.file_sufix: unknown key "
                         "(did you mean 'file_suffix'?)")


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`klio ARGS` in this process, through main(): (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["klio", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("command", [["verify"], ["run", "--direct-runner"]])
@pytest.mark.parametrize("override, message", [
    ("video-iab:job_config.topk=3", "job video-iab: job_config.topk: unknown key (did you mean 'top_k'?)"),
    ("video-iab:job_config.metadata_locaton=m",
     "job video-iab: job_config.metadata_locaton: unknown key (did you mean 'metadata_location'?)"),
    ("video-features:job_config.pcaa=p.npz", "job video-features: job_config.pcaa: unknown key (did you mean 'pca'?)"),
    ("video-features:job_config.decode.max_frame=9",
     "job video-features: job_config.decode.max_frame: unknown key (did you mean 'max_frames'?)"),
    ("video-features:job_config.embedder.bakend=keras-fp32",
     "job video-features: job_config.embedder.bakend: unknown key (did you mean 'backend'?)"),
    ("video-iab:job_config.data.input=[]", "job video-iab: job_config.data.input: unknown key (did you mean 'inputs'?)"),
    ("video-iab:job_config.top_k=ten", "job video-iab: job_config.top_k: expected a positive integer, got 'ten'"),
    ("video-iab:job_config.number_of_retries=3",
     "job video-iab: job_config.number_of_retries: Klio key not supported by this runtime"),
    ("video-features:job_config.embedder.seed=null",
     "job video-features: job_config.embedder.seed: expected an integer seed with weights: seeded"),
])
def test_video_job_settings_errors_through_the_cli(monkeypatch, capsys, command, override, message):
    status, err = _main(monkeypatch, capsys, "job", *command, "-c", CONFIG, "-O", override)
    assert status == 1 and err == f"klio: error: {CONFIG}: {message}\n"


def _show(*args: str) -> str:
    result = CliRunner().invoke(cli, ["job", "config", "show", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_config_show_prints_overrides_and_defaults():
    docs = list(yaml.safe_load_all(_show("-c", CONFIG, "-O", "video-iab:job_config.top_k=7")))
    assert [d["job_name"] for d in docs] == ["video-features", "video-iab"]
    features, iab = docs
    assert iab["job_config"]["top_k"] == 7 and iab["job_config"]["model_dir"] == "demo/model"
    assert features["job_config"]["decode"]["max_frames"] == 300  # as written
    assert features["job_config"]["decode"]["size"] == 299  # a default
    assert features["job_config"]["blocking"] is False and "metrics" not in features["job_config"]
    only = list(yaml.safe_load_all(_show("-c", CONFIG, "--job", "video-iab")))
    assert [d["job_name"] for d in only] == ["video-iab"]


def test_config_show_round_trips_the_toy_graph(tmp_path):
    args = ["-c", toygraph.TOY_CONFIG, *toygraph.template_args(str(tmp_path / "root"), "p")]
    shown = tmp_path / "shown" / "klio-job.yaml"
    shown.parent.mkdir()
    shown.write_text(_show(*args))
    original = load_graph(toygraph.TOY_CONFIG, templates=[f"root={tmp_path / 'root'}", "project=p"])
    again = load_graph(str(shown))
    for before, after in zip(original.jobs, again.jobs, strict=True):
        keep = ("source", "job_dir")
        assert {k: v for k, v in vars(before).items() if k not in keep} == \
               {k: v for k, v in vars(after).items() if k not in keep}
    assert again.parents == original.parents


def test_json_schema_lists_klio_keys_and_each_jobs_own_keys():
    schema = json.loads(_show("-c", CONFIG, "--json-schema"))
    job_config = schema["$defs"]["JobConfigDoc"]
    assert {"events", "data", "dead_letter", "blocking", "id_pattern"} <= set(job_config["properties"])
    assert job_config["properties"]["number_of_retries"]["not"] == {}  # flagged in editors
    assert schema["$defs"]["EventsDoc"]["additionalProperties"] is False
    branches = {b["if"]["properties"]["job_name"]["const"]: b["then"]["properties"]["job_config"]
                for b in schema["allOf"]}
    assert set(branches) == {"video-features", "video-iab"}
    assert branches["video-iab"]["properties"]["top_k"]["minimum"] == 1
    assert branches["video-iab"]["additionalProperties"] is False and "events" in branches["video-iab"]["properties"]
    toy = json.loads(_show("-c", toygraph.TOY_CONFIG, "-T", "root=/r", "-T", "project=p", "--json-schema"))
    assert "allOf" not in toy
