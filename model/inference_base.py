"""Beam's RunInference base module, as both RunInference handlers import it.

Beam 2.77 imports the standard `resource` module in the same `try` as its torch-only
ModelManager; without torch (these workers have none) it sets `resource = None`, and every
model load then logs "Resource module is not available for current platform, memory usage
cannot be fetched" twice, which is false on Linux and hides Beam's model-memory metric. The
module is put back here, once per process, before any handler loads a model.
"""
from __future__ import annotations

from apache_beam.ml.inference import base
from apache_beam.ml.inference.base import ModelHandler

try:
    import resource
except ImportError:  # not on this platform: Beam's own warning is then true
    resource = None

if getattr(base, "resource", None) is None and resource is not None:
    base.resource = resource

__all__ = ["ModelHandler"]
