"""`klio job config show`: the effective klio-job.yaml, and its JSON Schema for editors."""
from __future__ import annotations

import copy
from typing import Mapping

from pydantic import BaseModel

from jobgraph.config import GraphConfig, parse_document, read_documents, settings_model, validate_settings
from jobgraph.schema import JobConfigDoc, KlioJobDoc


def effective_documents(graph: GraphConfig, overrides=(), templates=(),
                        job_name: str | None = None) -> list[dict]:
    """Each job's document after -T/-O and with every default filled in (own keys too, where
    the entry point declares their model); locations as written, not resolved."""
    _, docs = read_documents(graph.source, overrides, templates)
    shown = []
    for index, doc in enumerate(docs):
        parsed = parse_document(doc, index, graph.source)
        if job_name is not None and parsed.job_name != job_name:
            continue
        job = graph.job(parsed.job_name)
        out = parsed.model_dump(mode="json")
        own = set(parsed.job_config.model_extra or {})
        klio = {k: v for k, v in out["job_config"].items() if k not in own}
        model = settings_model(job)
        user = validate_settings(job, model).model_dump(mode="json") if model else dict(job.user)
        out["job_config"] = {**klio, **user}
        shown.append(out)
    return shown


def json_schema(settings: Mapping[str, type[BaseModel]] | None = None) -> dict:
    """JSON Schema (2020-12) of one klio-job.yaml document. With `settings` (job_name -> model),
    the job_config of those jobs also lists their own keys and allows no others."""
    schema = KlioJobDoc.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "klio-job.yaml (one document per job)"
    defs = schema.setdefault("$defs", {})
    klio = defs[JobConfigDoc.__name__]
    branches = []
    for job_name, model in sorted((settings or {}).items()):
        own = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(own.pop("$defs", {}))
        job_config = copy.deepcopy(klio)
        job_config["properties"].update(own.get("properties", {}))
        required = sorted(set(job_config.get("required", [])) | set(own.get("required", [])))
        if required:
            job_config["required"] = required
        job_config["additionalProperties"] = False
        branches.append({"if": {"properties": {"job_name": {"const": job_name}}, "required": ["job_name"]},
                         "then": {"properties": {"job_config": job_config}}})
    if branches:
        schema["allOf"] = branches
    return schema


def graph_settings(graph: GraphConfig) -> dict[str, type[BaseModel]]:
    """job_name -> the settings model its entry point declares, for the jobs that have one."""
    models = {job.job_name: settings_model(job) for job in graph.jobs}
    return {name: model for name, model in models.items() if model is not None}
