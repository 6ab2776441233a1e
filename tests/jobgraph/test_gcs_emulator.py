"""Existence checks and writes on gs:// paths through Beam FileSystems, against gcp-storage-emulator."""
from __future__ import annotations

import json

import pytest
from google.cloud import storage

from jobgraph import storage as jstorage
from jobgraph.config import load_graph
from jobgraph.pipeline import run
from tests.jobgraph import toygraph

pytestmark = pytest.mark.emulator
BUCKET = "test-bucket"


@pytest.fixture
def bucket(gcs_emulator):
    client = storage.Client(project="test-project")
    b = client.bucket(BUCKET)
    for blob in list(client.list_blobs(BUCKET)):
        blob.delete()
    return b


def test_exists_write_atomically_and_listing_on_gs(bucket):
    path = f"gs://{BUCKET}/data/abc.txt"
    assert not jstorage.exists(path)
    jstorage.write_atomically(path, b"first")
    assert jstorage.exists(path) and jstorage.read_bytes(path) == b"first"
    jstorage.write_atomically(path, b"second")  # overwrite (force)
    assert bucket.blob("data/abc.txt").download_as_bytes() == b"second"
    assert [b.name for b in bucket.client.list_blobs(BUCKET)] == ["data/abc.txt"]  # no temp left


def test_toy_graph_batch_on_gs_paths(bucket, tmp_path):
    root = f"gs://{BUCKET}/toy"
    for element in ("g1", "g2"):
        bucket.blob(f"toy/in/{element}.txt").upload_from_string(f"hello {element}\n")
    graph = load_graph(toygraph.TOY_CONFIG, templates=[f"root={root}", "project=test-project"])
    summary = run(graph, direct_runner=True, ids=["g1", "g2", "g3"])
    assert summary.counters["toy-count"]["toy-count-written"] == 2
    assert json.loads(bucket.blob("toy/out/g1.json").download_as_bytes()) == {"id": "g1", "chars": 9, "words": 2}
    assert bucket.blob("toy/mid/g2.txt").download_as_bytes() == b"HELLO G2\n"
    letters = [b for b in bucket.client.list_blobs(BUCKET, prefix="toy/dead-letter/toy-upper/")]
    records = [json.loads(line) for b in letters for line in b.download_as_text().splitlines() if line]
    assert [(r["element"], r["reason"]) for r in records] == [("g3", "input-missing")]
    # second run: outputs exist on gs:// -> passed through, nothing rewritten
    again = run(graph, direct_runner=True, ids=["g1", "g2"])
    assert again.counters["toy-upper"]["kmsg-skip-force"] == 2
    assert again.counters["toy-count"]["kmsg-skip-force"] == 2


def test_verify_creates_a_missing_bucket(gcs_emulator, tmp_path):
    config = tmp_path / "klio-job.yaml"
    config.write_text(open(toygraph.TOY_CONFIG).read().replace("${root}", "gs://verify-bucket/toy"))
    args = ["-c", str(config), "-T", "project=test-project", "-O", "job_config.dead_letter=[]",
            "-O", "job_config.events.inputs=[]", "-O", "job_config.events.outputs=[]"]
    first = toygraph.klio("job", "verify", *args, check=False)
    assert first.returncode != 0 and "missing  bucket       verify-bucket" in first.stdout
    created = toygraph.klio("job", "verify", "--create-resources", *args)
    assert "created  bucket       verify-bucket" in created.stdout
    assert storage.Client(project="test-project").lookup_bucket("verify-bucket") is not None
