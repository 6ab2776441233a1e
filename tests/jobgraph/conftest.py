import textwrap

import pytest

from jobgraph.config import load_graph

JOB_YAML = """
version: 2
job_name: child
pipeline_options: {{project: proj, streaming: false}}
job_config:
  events:
    inputs: [{{type: pubsub, topic: projects/proj/topics/child-in, subscription: projects/proj/subscriptions/child-in}}]
    outputs: [{{type: pubsub, topic: projects/proj/topics/child-out}}]
  data:
    inputs: [{{type: file, location: {root}/in, file_suffix: .txt, ping: {in_ping}}}]
    outputs: [{{type: file, location: {root}/out, file_suffix: .json, force: {out_force}}}]
"""


@pytest.fixture
def make_job(tmp_path):
    """Build a one-job JobConfig named `child` (project `proj`) with data under tmp_path."""
    def make(in_ping=False, out_force=False):
        path = tmp_path / "klio-job.yaml"
        path.write_text(textwrap.dedent(JOB_YAML.format(root=tmp_path, in_ping=str(in_ping).lower(),
                                                        out_force=str(out_force).lower())))
        return load_graph(str(path)).job("child")
    return make
