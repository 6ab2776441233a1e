"""klio-job.yaml as a declarative schema: unknown keys at every level, Klio keys this runtime does
not implement, type errors in the user's terms, job settings declared by the entry point."""
from __future__ import annotations

import textwrap

import pytest

from jobgraph.config import ConfigError, load_graph

DOC = """\
version: 2
job_name: j
pipeline_options: {project: p, streaming: false, num_workers: 3}
job_config:
  events:
    inputs: [{type: file, location: ids.txt}]
    outputs: [{type: file, location: out/events}]
  data:
    inputs: [{type: file, location: in, file_suffix: .txt}]
    outputs: [{type: file, location: out, file_suffix: .json}]
  dead_letter: [{type: file, location: dead}]
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "klio-job.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def error_of(path: str, overrides=()) -> str:
    with pytest.raises(ConfigError) as err:
        load_graph(path, overrides=list(overrides))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message[len(path) + 2:]


@pytest.mark.parametrize("override, message", [
    ("j:vesion=2", "job j: vesion: unknown key (did you mean 'version'?)"),
    ("j:job_config.events.input=[]", "job j: job_config.events.input: unknown key (did you mean 'inputs'?)"),
    ("j:job_config.events.outputz=[]", "job j: job_config.events.outputz: unknown key (did you mean 'outputs'?)"),
    ("j:job_config.events.inputs.0.file_sufix=.txt",
     "job j: job_config.events.inputs.0.file_sufix: unknown key (did you mean 'file_suffix'?)"),
    ("j:job_config.events.outputs.0.locaton=x",
     "job j: job_config.events.outputs.0.locaton: unknown key (did you mean 'location'?)"),
    ("j:job_config.data.input=[]", "job j: job_config.data.input: unknown key (did you mean 'inputs'?)"),
    ("j:job_config.data.inputs.0.file_sufix=.txt",
     "job j: job_config.data.inputs.0.file_sufix: unknown key (did you mean 'file_suffix'?)"),
    ("j:job_config.data.outputs.0.forse=true",
     "job j: job_config.data.outputs.0.forse: unknown key (did you mean 'force'?)"),
    ("j:job_config.dead_letter.0.topc=x", "job j: job_config.dead_letter.0.topc: unknown key (did you mean 'topic'?)"),
    ("j:job_config.dead_leter=[]", "job j: job_config.dead_leter: unknown key (did you mean 'dead_letter'?)"),
])
def test_unknown_keys_are_errors_at_every_level(tmp_path, override, message):
    assert error_of(write(tmp_path, DOC), [override]) == message


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path):
    assert error_of(write(tmp_path, DOC), ["j:job_config.events.zzz=1"]) == (
        "job j: job_config.events.zzz: unknown key (expected one of inputs, outputs)")


def test_misspelt_top_level_key_is_reported_before_the_missing_one(tmp_path):
    path = write(tmp_path, DOC.replace("job_config:", "job_confg:"))
    assert error_of(path) == "job j: job_confg: unknown key (did you mean 'job_config'?)"


def test_pipeline_options_pass_through_to_beam(tmp_path):
    job = load_graph(write(tmp_path, DOC), ["j:pipeline_options.anything_beam_knows=1"]).job("j")
    assert job.pipeline_options["num_workers"] == 3 and job.pipeline_options["anything_beam_knows"] == 1


@pytest.mark.parametrize("override, key", [
    ("j:job_config.number_of_retries=3", "job_config.number_of_retries"),
    ("j:job_config.timeout_threshold=10", "job_config.timeout_threshold"),
    ("j:job_config.thread_pool_processes=4", "job_config.thread_pool_processes"),
    ("j:job_config.metrics={logger: false}", "job_config.metrics"),
    ("j:job_config.wait_for_pipeline_running=true", "job_config.wait_for_pipeline_running"),
    ("j:job_config.events.inputs.0.skip_klio_read=true", "job_config.events.inputs.0.skip_klio_read"),
    ("j:job_config.events.outputs.0.skip_klio_write=true", "job_config.events.outputs.0.skip_klio_write"),
])
def test_klio_keys_this_runtime_lacks_are_named_as_unsupported(tmp_path, override, key):
    assert error_of(write(tmp_path, DOC), [override]) == f"job j: {key}: Klio key not supported by this runtime"


@pytest.mark.parametrize("override, key", [
    ("j:job_config.events.inputs.0.type=bq", "job_config.events.inputs.0.type"),
    ("j:job_config.events.outputs.0.type=avro", "job_config.events.outputs.0.type"),
    ("j:job_config.data.inputs.0.type=custom", "job_config.data.inputs.0.type"),
])
def test_klio_io_types_this_runtime_lacks_are_named(tmp_path, override, key):
    message = error_of(write(tmp_path, DOC), [override])
    assert message.startswith(f"job j: {key}: Klio IO type ") and "not supported by this runtime" in message


def test_implemented_klio_keys_are_accepted(tmp_path):
    job = load_graph(write(tmp_path, DOC), [
        "j:job_config.blocking=true", "j:job_config.allow_non_klio_messages=true",
        "j:job_config.data.inputs.0.ping=true", "j:job_config.data.outputs.0.force=true",
        "j:job_config.data.inputs.0.skip_klio_existence_check=true", "j:job_config.events.inputs.0.name=ids",
    ]).job("j")
    assert job.blocking and job.allow_non_klio_messages and job.data_input.ping and job.data_output.force
    assert job.data_input.skip_klio_existence_check and job.user == {}


@pytest.mark.parametrize("override, message", [
    ("j:pipeline_options.streaming=maybe", "pipeline_options.streaming: expected true or false, got 'maybe'"),
    ("j:pipeline_options.project=7", "pipeline_options.project: expected a GCP project name"),
    ("j:job_config.blocking=1", "job_config.blocking: expected true or false, got 1"),
    ("j:job_config.events={inputs: 3}", "job_config.events.inputs: expected a list, got 3"),
    ("j:job_config.events.inputs=[ids.txt]", "job_config.events.inputs.0: expected a mapping, got 'ids.txt'"),
    ("j:job_config.data.inputs.0.location=''", "job_config.data.inputs.0.location: expected a non-empty location"),
    ("j:job_config.data.inputs.0.force=true", "job_config.data.inputs.0.force: force is only valid on data outputs"),
    ("j:job_config.events.outputs.0.type=listing",
     "job_config.events.outputs.0.type: expected pubsub or file (listing is input only), got 'listing'"),
    ("j:job_config.entry_point=run", "job_config.entry_point: expected module:function, got 'run'"),
])
def test_type_errors_are_said_in_the_users_terms(tmp_path, override, message):
    text = error_of(write(tmp_path, DOC), [override])
    assert text.startswith(f"job j: {message}"), text
    assert "Input should" not in text and "not supported between" not in text


def test_klio_preprocessed_io_mapping_and_data_location_alias(tmp_path):
    path = write(tmp_path, DOC.replace("inputs: [{type: file, location: in,",
                                       "inputs: {videos: {type: file, data_location: in,").replace(
        "file_suffix: .txt}]", "file_suffix: .txt}}"))
    assert load_graph(path).job("j").data_input.location == f"{tmp_path}/in"


def test_jobs_without_declared_settings_keep_free_keys_but_not_klio_typos(tmp_path):
    path = write(tmp_path, DOC)
    assert load_graph(path, ["j:job_config.model_file=m.h5"]).job("j").user == {"model_file": "m.h5"}
    assert error_of(path, ["j:job_config.allow_non_klio_mesages=true"]) == (
        "job j: job_config.allow_non_klio_mesages: unknown key (did you mean 'allow_non_klio_messages'?)")


SETTINGS_RUN = """\
from jobgraph.schema import Section


class Tuning(Section):
    top_k: int = 20
    decode: dict = {}


SETTINGS = {"j": Tuning}


def run(pcol, config):
    return pcol
"""


def test_entry_point_settings_are_checked_at_load_time(tmp_path):
    (tmp_path / "settings_run.py").write_text(SETTINGS_RUN)
    path = write(tmp_path, DOC + "  entry_point: settings_run:run\n  top_k: 5\n")
    assert load_graph(path).job("j").user == {"top_k": 5}
    assert error_of(path, ["j:job_config.topk=3"]) == "job j: job_config.topk: unknown key (did you mean 'top_k'?)"
    assert error_of(path, ["j:job_config.evnts={}"]) == "job j: job_config.evnts: unknown key (did you mean 'events'?)"
    assert error_of(path, ["j:job_config.top_k=ten"]) == "job j: job_config.top_k: expected an integer, got 'ten'"
    assert load_graph(path, ["j:job_config.topk=3"], settings=False).job("j").user == {"top_k": 5, "topk": 3}
