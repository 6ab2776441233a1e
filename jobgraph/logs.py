"""Logging of the `klio` command: one handler, set up before anything imports TensorFlow, and
none of Beam's lines that only look like problems.

Duplicated lines: TensorFlow's Python logger gives itself a handler of its own when it is first
used while the root logger has none; a root handler added later (logging.basicConfig) then
prints each of its lines twice ("WARNING:tensorflow:..." and "WARNING tensorflow: ...").
`klio features` imports TensorFlow while click resolves the command, before the group's
callback runs, so `configure` runs first thing in `main()`. TensorFlow's C++ start-up lines
(absl: "All log messages before absl::InitializeLog()...", the CPU-instructions banner) stay
below TF_CPP_MIN_LOG_LEVEL=2; a user's own setting wins.
Beam's "Resource module is not available" warnings are mended where they arise
(model/inference_base.py).
"""
from __future__ import annotations

import logging
import os

FORMAT = "%(levelname)s %(name)s: %(message)s"


class _NoEmptySinkWarning(logging.Filter):
    """Beam warns "No shards found to finalize" when a sink with skip_if_empty got nothing:
    for the dead-letter files (jobgraph.eventio), that is a clean run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No shards found to finalize")


def configure(verbose: bool = False) -> None:
    """Root logger at WARNING (INFO with `verbose`) with one stderr handler; idempotent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=FORMAT)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    tensorflow = logging.getLogger("tensorflow")
    for handler in list(tensorflow.handlers):  # added before ours existed: it would print twice
        tensorflow.removeHandler(handler)
    sink = logging.getLogger("apache_beam.io.filebasedsink")
    if not any(isinstance(f, _NoEmptySinkWarning) for f in sink.filters):
        sink.addFilter(_NoEmptySinkWarning())
