"""pydantic's ValidationError, said in the terms of the person who wrote klio-job.yaml.

`explain` picks one problem (an unknown key first: a misspelt key also makes the real one look
missing) and returns its dotted key path and a one-line message: "unknown key (did you mean
'top_k'?)", "expected a positive integer, got 'ten'", "Klio key not supported by this runtime".
jobgraph.config wraps it into a ConfigError with the file and the job.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, get_args

from pydantic import BaseModel, ValidationError

from jobgraph.schema import INVALID, NOT_SUPPORTED, supported_keys

# What pydantic's error types expect, in words; {name} is filled from the error's context.
_EXPECTED = {
    "bool_type": "true or false", "bool_parsing": "true or false",
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "string_type": "a string", "string_too_short": "a non-empty string",
    "string_pattern_mismatch": "a string matching {pattern}",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "dict_type": "a mapping",
    "list_type": "a list", "literal_error": "{expected}",
    "greater_than": "a number > {gt}", "greater_than_equal": "a number >= {ge}",
    "less_than": "a number < {lt}", "less_than_equal": "a number <= {le}",
}
_FIRST = ("extra_forbidden", NOT_SUPPORTED)  # reported before the problems they may cause


def did_you_mean(key: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_key(key: str, known: Iterable[str]) -> str:
    known = sorted(set(known))
    guess = did_you_mean(key, known)
    if guess:
        return f"unknown key (did you mean {guess!r}?)"
    return f"unknown key (expected one of {', '.join(known)})" if known else "unknown key"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model inside list[...] / X | None / Annotated[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field(model: type[BaseModel] | None, key: Any):
    if model is None or not isinstance(key, str):
        return None
    for name, field in model.model_fields.items():
        if key == name or key in (getattr(field.validation_alias, "choices", None) or ()):
            return field
    return None


def section_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The section model that `loc` (a pydantic error location) points into."""
    node: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):  # a list item: the list's field already named its model
            continue
        field = _field(node, part)
        node = _model_in(field.annotation) if field is not None else None
        if node is None:
            return None
    return node


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def explain(exc: ValidationError, model: type[BaseModel],
            extra_keys: Iterable[str] = ()) -> tuple[str, str]:
    """(dotted key path, one-line message) of the first problem. `extra_keys`: more keys the
    top-level section accepts (the Klio keys, for a job's settings model)."""
    errors = exc.errors()
    error = next((e for kind in _FIRST for e in errors if e["type"] == kind), errors[0])
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    path = ".".join(str(part) for part in loc)
    if kind == "extra_forbidden":
        known = supported_keys(section_at(model, loc[:-1]) or model)
        return path, unknown_key(str(loc[-1]), known + (list(extra_keys) if len(loc) == 1 else []))
    if kind in (INVALID, NOT_SUPPORTED):
        key = ctx.get("key")
        return (f"{path}.{key}" if path else key) if key else path, error["msg"]
    field = _field(section_at(model, loc[:-1]), loc[-1]) if loc else None
    described = field.description if field is not None else None
    if kind == "missing":
        return path, f"required key, expected {described}" if described else "required key"
    expected = described or _EXPECTED.get(kind, "").format(**ctx) or error["msg"].lower()
    return path, f"expected {expected}, got {_got(error['input'])}"
