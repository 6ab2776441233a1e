"""klio-job.yaml parsing: Klio v2 keys, graph links, -O overrides as YAML, -T templates, errors."""
from __future__ import annotations

import textwrap

import pytest

from jobgraph.config import ConfigError, load_graph
from tests.jobgraph import toygraph


def write(tmp_path, text, name="klio-job.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def toy(tmp_path, overrides=(), extra_templates=()):
    return load_graph(toygraph.TOY_CONFIG, overrides=list(overrides),
                      templates=[f"root={tmp_path}", "project=proj", *extra_templates])


def test_toy_graph_loads_with_links_and_io(tmp_path):
    graph = toy(tmp_path)
    assert [j.job_name for j in graph.jobs] == ["toy-upper", "toy-count"]
    assert graph.parent("toy-count").job_name == "toy-upper"
    assert graph.parent("toy-upper") is None
    assert [j.job_name for j in graph.children("toy-upper")] == ["toy-count"]
    upper = graph.job("toy-upper")
    assert upper.identity.job_name == "toy-upper" and upper.identity.gcp_project == "proj"
    assert upper.event_input(streaming=True).subscription == "projects/proj/subscriptions/toy-upper-in"
    assert upper.event_input(streaming=False).type == "listing"
    assert upper.data_input.location == f"{tmp_path}/in" and upper.data_input.file_suffix == ".txt"
    assert upper.dead_letter(streaming=False).location == f"{tmp_path}/dead-letter/toy-upper"
    assert upper.streaming is False


def test_overrides_are_parsed_as_yaml_and_can_target_one_job(tmp_path):
    graph = toy(tmp_path, ["pipeline_options.streaming=true", "toy-count:job_config.data.outputs.0.force=true",
                           "job_config.model_file=/m.h5", "job_config.threshold=0.25"])
    assert graph.job("toy-upper").streaming is True  # a bool, not the string "true"
    assert graph.job("toy-count").data_output.force is True
    assert graph.job("toy-upper").data_output.force is False
    assert graph.job("toy-upper").user == {"model_file": "/m.h5", "threshold": 0.25}


def test_override_with_unknown_job_prefix(tmp_path):
    with pytest.raises(ConfigError, match="job_name of this file"):
        toy(tmp_path, ["nope:pipeline_options.streaming=true"])


def test_missing_template_value_names_the_placeholder(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_graph(toygraph.TOY_CONFIG, templates=["root=/x"])
    assert "${project}" in str(err.value) and "klio-job.yaml" in str(err.value)


def test_dollar_in_values_left_alone_unless_templated(tmp_path):
    path = write(tmp_path, r"""
        job_name: j
        pipeline_options: {project: $proj, streaming: false}
        job_config:
          id_pattern: "^[a-z]+$"
        """)
    job = load_graph(path, templates=["proj=p1"]).job("j")
    assert job.project == "p1" and job.id_pattern == "^[a-z]+$"


BASE = """
job_name: j
pipeline_options: {project: p, streaming: false}
job_config:
  events:
    inputs: [{type: file, location: ids.txt}]
"""


@pytest.mark.parametrize("text,key,expected", [
    ("job_name: j\njob_config: {}\n", "pipeline_options.project", "GCP project"),
    ("job_name: Bad_Name\npipeline_options: {project: p}\njob_config: {}\n", "job_name", "lower-case"),
    ("job_name: j\npipeline_options: {project: p}\njob_config: {}\nextra: 1\n", "extra", "unknown key (expected one of"),
    ("job_name: j\nversion: 1\npipeline_options: {project: p}\njob_config: {}\n", "version", "2"),
    ("job_name: j\npipeline_options: {project: p, streaming: maybe}\njob_config: {}\n",
     "pipeline_options.streaming", "true or false"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  events: {inputs: [{type: bq}]}\n",
     "job_config.events.inputs.0.type", "pubsub, file or listing"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  events: {inputs: [{type: pubsub, topic: t}]}\n",
     "job_config.events.inputs.0.topic", "projects/PROJECT/topics/NAME"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  data: {inputs: [{type: gcs}]}\n",
     "job_config.data.inputs.0.location", "non-empty location"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  data: {inputs: [{type: gcs, location: a}, {type: gcs, location: b}]}\n",
     "job_config.data.inputs", "at most one data input"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  data: {inputs: [{type: gcs, location: a, skip_klio_existence_checks: true}]}\n",
     "job_config.data.inputs.0.skip_klio_existence_checks",
     "unknown key (did you mean 'skip_klio_existence_check'?)"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  data: {outputs: [{type: gcs, location: a, force: 'yes'}]}\n",
     "job_config.data.outputs.0.force", "true or false"),
    ("job_name: j\npipeline_options: {project: p}\njob_config:\n  id_pattern: '('\n", "job_config.id_pattern", "regular expression"),
    ("job_name: j\npipeline_options: {project: p}\n", "job_config", "a mapping"),
    ("job_name: [unclosed\n", "(yaml)", "valid YAML"),
])
def test_config_errors_name_file_key_and_expectation(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_graph(path)
    message = str(err.value)
    assert message.startswith(path), message
    assert key in message and expected in message, message


def test_duplicate_job_names_and_cycles_rejected(tmp_path):
    doc = ("job_name: {n}\npipeline_options: {{project: p}}\njob_config:\n"
           "  data: {{inputs: [{{type: file, location: {i}}}], outputs: [{{type: file, location: {o}}}]}}\n")
    with pytest.raises(ConfigError, match="unique job names"):
        load_graph(write(tmp_path, doc.format(n="a", i="x", o="y") + "---\n" + doc.format(n="a", i="y", o="z")))
    with pytest.raises(ConfigError, match="acyclic"):
        load_graph(write(tmp_path, doc.format(n="a", i="x", o="y") + "---\n" + doc.format(n="b", i="y", o="x")))


def test_relative_locations_resolve_next_to_the_config(tmp_path):
    graph = load_graph(write(tmp_path, BASE))
    assert graph.job("j").event_input(streaming=False).location == f"{tmp_path}/ids.txt"


def test_klio_defaults_streaming_true_and_dataflow(tmp_path):
    job = load_graph(write(tmp_path, "job_name: j\npipeline_options: {project: p}\njob_config: {}\n")).job("j")
    assert job.streaming is True and job.pipeline_options["runner"] == "DataflowRunner"
