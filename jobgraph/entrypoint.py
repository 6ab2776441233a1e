"""A job's entry point module (klio-job.yaml `entry_point`, `module:function`), found as the
pipeline finds it: next to klio-job.yaml first (as Klio's run.py), then on sys.path."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType


def entry_module(entry_point: str, job_dir: str) -> ModuleType | None:
    """The imported module, or None when there is none to import (building the pipeline
    reports that). A module that fails while importing raises as it would there."""
    module_name = entry_point.split(":")[0]
    local = os.path.join(job_dir, *module_name.split(".")) + ".py"
    if not os.path.isfile(local):
        try:
            return importlib.import_module(module_name)
        except ImportError:
            return None
    spec = importlib.util.find_spec(module_name)
    if spec is not None and spec.origin and os.path.abspath(spec.origin) == os.path.abspath(local):
        return importlib.import_module(module_name)  # installed (the worker image): its real name
    for candidate in list(sys.modules.values()):  # imported already, under a name of its own
        if os.path.abspath(getattr(candidate, "__file__", None) or "") == os.path.abspath(local):
            return candidate
    # The same name jobgraph.pipeline gives it, so that the module is imported once.
    unique = f"_jobgraph_entry_{abs(hash(os.path.abspath(local)))}"
    spec = importlib.util.spec_from_file_location(unique, local)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module
