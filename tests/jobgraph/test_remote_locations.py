"""With a remote runner (Dataflow) every location a run uses must be gs://, dry runs included:
a local or relative one is one line naming the file, the job and the key, before anything is
built or submitted. The runtime's own locations are checked for the mode that runs; a job's
own settings are checked where its settings model types them `jobgraph.locations.Location`."""
from __future__ import annotations

import os
import shutil
import textwrap

import pytest

from jobgraph.locations import Location, LocationMarker, location, marked_fields
from jobgraph.schema import Section
from tests.jobgraph import toygraph
from tests.jobgraph.inprocess import klio_main, offline

DRY_DATAFLOW = ["-O", "pipeline_options.runner=DataflowRunner", "-O", "pipeline_options.dry_run=true",
                "-O", "pipeline_options.region=europe-west1", "-O", "pipeline_options.temp_location=gs://tmp-b/x"]
GS_ROOT = "gs://toy-bucket/root"


def _klio(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    offline(monkeypatch)
    return klio_main(monkeypatch, capsys, *args)


def _toy(tmp_path, root: str = GS_ROOT) -> list[str]:
    return ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root, "my-proj")]


class Nested(Section):
    weights: location("imagenet", "seeded") = "imagenet"
    size: int = 3


class Declared(Section):
    model_dir: Location
    sidecars: Location | None = None
    shards: list[Location] = []
    nested: Nested = Nested()
    name: str = "not a location"


def test_marked_fields_finds_locations_in_optional_lists_and_nested_sections():
    found = dict(marked_fields(Declared))
    assert list(found) == [("model_dir",), ("sidecars",), ("shards",), ("nested", "weights")]
    assert found[("nested", "weights")] == LocationMarker(("imagenet", "seeded"))


def test_a_local_location_of_the_runtime_fails_the_dry_run_naming_file_job_and_key(tmp_path, monkeypatch, capsys):
    args = _toy(tmp_path)
    code, out, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", *DRY_DATAFLOW, *args,
                           "-O", "toy-count:job_config.data.outputs.0.location=out", "a1")
    assert code == 1 and out == ""
    assert err == (f"klio: error: {tmp_path}/klio-job.yaml: job toy-count: job_config.data.outputs.0.location: "
                   f"a gs:// location is needed with DataflowRunner, got '{tmp_path}/out'\n")


@pytest.mark.parametrize("override, key", [
    ("toy-upper:job_config.events.outputs.1.location=ev", "job toy-upper: job_config.events.outputs.1.location"),
    ("toy-upper:job_config.dead_letter.1.location=/var/dl", "job toy-upper: job_config.dead_letter.1.location"),
    ("toy-upper:job_config.data.inputs.0.location=in", "job toy-upper: job_config.data.inputs.0.location"),
])
def test_a_batch_run_checks_the_parent_it_may_fill_from_too(override, key, tmp_path, monkeypatch, capsys):
    code, _, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", *DRY_DATAFLOW, *_toy(tmp_path),
                         "-O", override, "a1")
    assert code == 1 and f": {key}: a gs:// location is needed with DataflowRunner, got '" in err


def test_the_default_dead_letter_folder_is_local_and_named(tmp_path, monkeypatch, capsys):
    code, _, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", *DRY_DATAFLOW, *_toy(tmp_path),
                         "-O", "toy-count:job_config.dead_letter=[{type: pubsub, topic: projects/p/topics/d}]", "a1")
    assert code == 1
    assert (f"job toy-count: job_config.dead_letter (default file location): a gs:// location is needed "
            f"with DataflowRunner, got '{tmp_path}/dead-letter/toy-count'") in err


def test_streaming_checks_only_what_streaming_uses(tmp_path, monkeypatch, capsys):
    """The file event output is the batch one: a local one does not stop a streaming run."""
    code, out, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", "--streaming",
                           *DRY_DATAFLOW, *_toy(tmp_path), "-O", "toy-count:job_config.events.outputs.1.location=ev")
    assert code == 0, err
    assert out.strip() == "klio job run: dry run of toy-count: translated, not submitted"


def test_a_local_batch_input_file_fails(tmp_path, monkeypatch, capsys):
    code, _, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", *DRY_DATAFLOW, *_toy(tmp_path),
                         "--batch-input", "ids.txt")
    assert (code, err.strip()) == (1, f"klio: error: {tmp_path}/klio-job.yaml: --batch-input: a gs:// location "
                                      "is needed with DataflowRunner, got 'ids.txt'")


def test_local_runs_take_local_locations(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "root")
    toygraph.make_root(tmp_path, ["a1"], root)
    code, _, err = _klio(monkeypatch, capsys, "job", "run", "--direct-runner", "--job", "toy-upper",
                         *_toy(tmp_path, root), "a1")
    assert code == 0, err


SETTINGS_MODULE = """
from jobgraph.locations import Location, location
from jobgraph.schema import Section


class Lookup(Section):
    table: location("none") = "none"


class CountSettings(Section):
    lookup_dir: Location | None = None
    lookup: Lookup = Lookup()


SETTINGS = {"toy-count": CountSettings}
"""


@pytest.mark.parametrize("setting, key, value", [
    ("lookup_dir=demo/model", "job_config.lookup_dir", "demo/model"),
    ("lookup={table: /data/t.csv}", "job_config.lookup.table", "/data/t.csv"),
])
def test_settings_typed_location_are_checked_as_written(setting, key, value, tmp_path, monkeypatch, capsys):
    args = _toy(tmp_path)
    shutil.copy(os.path.join(tmp_path, "toy.py"), tmp_path / "toyset.py")
    with open(tmp_path / "toyset.py", "a") as fh:
        fh.write(textwrap.dedent(SETTINGS_MODULE))
    base = [*args, "-O", "toy-count:job_config.entry_point=toyset:run"]
    code, out, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", *DRY_DATAFLOW, *base,
                           "-O", "toy-count:job_config.lookup={table: none}", "a1")
    assert code == 0, err  # a keyword is no location; an unset optional one is not checked
    code, _, err = _klio(monkeypatch, capsys, "job", "run", "--job", "toy-count", *DRY_DATAFLOW, *base,
                         "-O", f"toy-count:job_config.{setting}", "a1")
    assert err == (f"klio: error: {tmp_path}/klio-job.yaml: job toy-count: {key}: a gs:// location is needed "
                   f"with DataflowRunner, got {value!r}\n") and code == 1


VIDEO_LOCATIONS = [("model_dir",), ("metadata_location",), ("textual_location",)]


def test_the_video_jobs_declare_their_path_settings_as_locations():
    from transforms import job_settings

    assert [path for path, _ in marked_fields(job_settings.ClassifySettings)] == VIDEO_LOCATIONS
    assert ("pca",) in [path for path, _ in marked_fields(job_settings.FeaturesSettings)]
