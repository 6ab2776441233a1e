"""A job's own job_config keys, typed by the job's code.

The runtime knows Klio's keys only. A job graph's entry point module (klio-job.yaml
`entry_point`, default `run:run`, looked up next to klio-job.yaml first) may declare

    SETTINGS = {"my-job": MySettings}     # job_name -> pydantic model (jobgraph.schema.Section)

and then every key of that job's job_config that is not a Klio key is validated against the
model when the config is loaded (`klio job verify`, `klio job run`, ...), with the same one-line
errors as the rest of klio-job.yaml; unknown keys are errors. A job without a declared model
accepts any own key, except near-misses of Klio's keys (`evnets:` is a typo, not a setting).
The job's code gets the typed values from jobgraph.config.validate_settings(job, MySettings).

Pure helpers: jobgraph.config turns the problems found here into ConfigErrors.
"""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from jobgraph.entrypoint import entry_module
from jobgraph.schema import JobConfigDoc, supported_keys
from jobgraph.schema_errors import did_you_mean, explain, unknown_key

SETTINGS_ATTRIBUTE = "SETTINGS"
KLIO_KEYS = supported_keys(JobConfigDoc)
Problem = tuple[str, str]  # (key path under job_config, one-line message)


def declared_model(entry_point: str, job_dir: str, job_name: str) -> type[BaseModel] | None:
    """The model the entry point module declares for the job's own keys, or None.
    TypeError when the declaration itself is malformed."""
    declared = getattr(entry_module(entry_point, job_dir), SETTINGS_ATTRIBUTE, None) or {}
    if not isinstance(declared, Mapping):
        raise TypeError(f"expected {SETTINGS_ATTRIBUTE} in the entry point module to be a mapping "
                        f"job_name -> pydantic model, got {type(declared).__name__}")
    model = declared.get(job_name)
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"expected {SETTINGS_ATTRIBUTE}[{job_name!r}] to be a pydantic model, got {model!r}")
    return model


def validate(user: Mapping[str, Any], model: type[BaseModel]) -> tuple[BaseModel | None, Problem | None]:
    """(the job's own keys as `model`, None), or (None, the first problem)."""
    accepted = supported_keys(model)
    for key in user:  # unknown keys are errors even if the model would ignore them
        if key not in accepted:
            return None, (key, unknown_key(key, accepted + KLIO_KEYS))
    try:
        return model.model_validate(dict(user)), None
    except ValidationError as exc:
        return None, explain(exc, model, extra_keys=KLIO_KEYS)


def klio_typo(user: Mapping[str, Any]) -> Problem | None:
    """An own key of a job without a declared model that is surely a misspelt Klio key."""
    for key in user:
        guess = did_you_mean(key, KLIO_KEYS, cutoff=0.8)
        if guess:
            return key, f"unknown key (did you mean {guess!r}?)"
    return None
