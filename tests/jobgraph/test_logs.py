"""Quiet start-up: every log line once, and none of Beam's lines that only look like problems
(jobgraph/logs.py, model/inference_base.py)."""
from __future__ import annotations

import logging
import subprocess
import sys

from tests.jobgraph.toygraph import REPO


def test_tensorflow_imported_before_the_cli_configures_logging_prints_each_line_once():
    """`klio features` imports TensorFlow while click resolves the command, before the group's
    callback: TensorFlow's logger then had a handler of its own and every line came twice."""
    script = ("import tensorflow as tf\n"
              "from jobgraph import logs\n"
              "logs.configure()\n"
              "tf.get_logger().warning('probe from tensorflow')\n"
              "logs.configure(verbose=True)\n"  # the group's callback runs it again
              "tf.get_logger().info('probe at info')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("probe from tensorflow") == 1, proc.stderr
    assert proc.stderr.count("probe at info") == 1, proc.stderr


def test_an_empty_dead_letter_sink_is_not_a_warning(caplog):
    from jobgraph import logs

    logs.configure()
    sink = logging.getLogger("apache_beam.io.filebasedsink")
    with caplog.at_level(logging.WARNING):
        sink.warning("No shards found to finalize. num_shards: 0, skipped: 0")
        sink.warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]


def test_beam_can_measure_model_memory_once_a_handler_is_imported(caplog):
    """Beam 2.77 loses the `resource` module when torch is missing and warns at every model
    load; the handlers' base module puts it back."""
    from apache_beam.ml.inference import base

    import model.classifier.handler  # noqa: F401 - the import is the point

    with caplog.at_level(logging.WARNING):
        used = base._get_current_process_memory_in_bytes()  # noqa: SLF001 - what a model load calls
    assert used > 0
    assert not [r for r in caplog.records if "Resource module" in r.getMessage()]
