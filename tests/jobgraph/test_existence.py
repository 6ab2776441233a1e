"""Batched existence checks in the routing step (jobgraph.existence, RouteMessages in chunks):
the same decisions and counters as one check per element, errors confined to the elements
that asked, windows kept, and O(1) storage requests per chunk on gs:// (gcp-storage-emulator)."""
from __future__ import annotations

import os
import textwrap

import apache_beam as beam
import pytest
import requests
from apache_beam.io.filesystem import BeamIOError, FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from jobgraph import storage
from jobgraph.config import load_graph
from jobgraph.deadletter import DEAD_LETTER
from jobgraph.existence import Existence
from jobgraph.message import job_identity, new_message
from jobgraph.routing import Outcome, route
from jobgraph.steps import INPUT_MISSING, PASS_THRU, RouteMessages

BUCKET = "test-bucket"
JOB_YAML = """
version: 2
job_name: child
pipeline_options: {{project: proj, streaming: false}}
job_config:
  data:
    inputs: [{{type: file, location: {root}/in, file_suffix: .txt}}]
    outputs: [{{type: file, location: {root}/{out}, file_suffix: .json}}]
"""
EXISTING = [f"done{i:02d}" for i in range(30)]        # output exists: skipped
TO_DO = [f"todo{i:02d}" for i in range(20)]           # output missing, input exists: processed
MISSING = [f"lost{i:02d}" for i in range(10)]         # neither: input missing
FORCED = "done00"                                     # output exists, message forced


def job_at(tmp_path, root: str, out: str = "out"):
    path = tmp_path / "klio-job.yaml"
    path.write_text(textwrap.dedent(JOB_YAML.format(root=root, out=out)))
    return load_graph(str(path)).job("child")


def messages(extra=()):
    """The rerun's batch (and `extra` IDs) plus one of each message that needs no existence check."""
    msgs = [new_message(e, top_down=True) for e in EXISTING + TO_DO + MISSING + list(extra)]
    msgs.append(new_message(FORCED, top_down=True, force=True))
    msgs.append(new_message("pinged", top_down=True, ping=True))
    msgs.append(new_message("../bad", top_down=True))
    msgs.append(new_message("other", job=job_identity("other", "proj")))  # for another job only
    return msgs


def populate(write, out: str, inp: str) -> None:
    for e in EXISTING:
        write(f"{out}/{e}.json")
    for e in TO_DO:
        write(f"{inp}/{e}.txt")


TAGS = {Outcome.OUTPUT_EXISTS: PASS_THRU, Outcome.PING: PASS_THRU, Outcome.INPUT_MISSING: INPUT_MISSING,
        Outcome.PROCESS: "process", Outcome.INVALID_ID: DEAD_LETTER}


def per_element_tags(job) -> list[tuple[str, str]]:
    """(tag, element) as one route() per message with storage.exists decides them."""
    pairs = []
    for msg in messages():
        outcome = route(msg, job, storage.exists).outcome
        if outcome in TAGS:
            pairs.append((TAGS[outcome], msg.data.element.decode()))
    return pairs


EXPECTED_COUNTERS = {
    "kmsg-received": 64, "kmsg-drop": 1, "kmsg-drop-not-recipient": 1, "kmsg-skip-ping": 1,
    "kmsg-process-ping": 61, "kmsg-data-found-output": 31, "kmsg-data-not-found-output": 30,
    "kmsg-skip-force": 30, "kmsg-process-force": 1, "kmsg-data-not-found-input": 11,
    "kmsg-data-found-input": 20, "dead-letter": 1, "dead-letter:invalid-id": 1}


_SINK: dict[str, list] = {}  # what a pipeline collected, by test (FnApiRunner runs in this process)


class _Collect(beam.DoFn):
    def __init__(self, key: str):
        self.key = key

    def process(self, x):
        _SINK.setdefault(self.key, []).append(x)


def run_routing(job, chunk_size: int, extra=()):
    """Route messages(extra) through RouteMessages on the FnApiRunner.

    Returns ((tag, element) pairs, dead letters as (element, reason, message), counters)."""
    p = beam.Pipeline(runner=FnApiRunner())
    routed = (p | beam.Create(messages(extra)) | beam.ParDo(RouteMessages(job, chunk_size)).with_outputs(
        PASS_THRU, INPUT_MISSING, DEAD_LETTER, main="process"))
    pairs = [routed[tag] | f"pairs {tag}" >> beam.Map(
        lambda x, t=tag: (t, x.element if t == DEAD_LETTER else x.data.element.decode()))
             for tag in ("process", PASS_THRU, INPUT_MISSING, DEAD_LETTER)]
    key = f"{id(p)}"
    pairs | beam.Flatten() | "collect pairs" >> beam.ParDo(_Collect(key + "pairs"))
    (routed[DEAD_LETTER] | "letters" >> beam.Map(lambda d: (d.element, d.reason, d.message))
     | "collect letters" >> beam.ParDo(_Collect(key + "dead")))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(job.job_name))["counters"]
    return (sorted(_SINK.pop(key + "pairs", [])), sorted(_SINK.pop(key + "dead", [])),
            {c.key.metric.name: c.committed for c in counters})


def touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()


@pytest.mark.parametrize("chunk_size", [1, 7, 10_000])
def test_local_batch_routes_as_one_check_per_element(tmp_path, chunk_size):
    job = job_at(tmp_path, str(tmp_path))
    populate(touch, str(tmp_path / "out"), str(tmp_path / "in"))
    pairs, _, counters = run_routing(job, chunk_size)
    assert pairs == sorted(per_element_tags(job))
    assert ("input_missing", "done00") in pairs and ("pass_thru", "done00") in pairs  # forced + skipped
    assert counters == EXPECTED_COUNTERS


def test_outputs_keep_their_own_window_and_timestamp(tmp_path):
    job = job_at(tmp_path, str(tmp_path))
    populate(touch, str(tmp_path / "out"), str(tmp_path / "in"))
    ids = EXISTING[:5] + TO_DO[:5]
    p = beam.Pipeline(runner=FnApiRunner())
    stamped = (p | beam.Create(list(enumerate(ids)))
               | beam.Map(lambda x: window.TimestampedValue(new_message(x[1], top_down=True), 100 * x[0] + 5))
               | beam.WindowInto(window.FixedWindows(100)))
    routed = stamped | beam.ParDo(RouteMessages(job, chunk_size=4)).with_outputs(PASS_THRU, main="process")
    seen = ((routed.process, routed[PASS_THRU]) | beam.Flatten() | beam.ParDo(_WhenAndWhere()))
    expected = [(e, 100 * i + 5, 100 * i) for i, e in enumerate(ids)]
    assert_that(seen, equal_to(expected))
    p.run().wait_until_finish()


class _WhenAndWhere(beam.DoFn):
    def process(self, msg, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam):
        yield msg.data.element.decode(), int(ts.micros // 1_000_000), int(w.start.micros // 1_000_000)


def test_local_existence_is_os_path_exists(tmp_path):
    touch(str(tmp_path / "a.json"))
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.json")
    os.makedirs(tmp_path / "dir.json")
    paths = [str(tmp_path / n) for n in ("a.json", "dangling.json", "dir.json", "b.json", "no/c.json")]
    assert Existence().check(paths) == {p: os.path.exists(p) for p in paths}


# --- a storage that fails: a real FileSystem (scheme flaky://) over a local folder -----------

class FlakyFileSystem(LocalFileSystem):
    """flaky://{absolute path}: listings of a folder named `down` fail, and so does every check
    of a path containing `broken`, as an object store's requests can."""

    listings = 0
    entries_read = 0

    @classmethod
    def scheme(cls):
        return "flaky"

    @staticmethod
    def local(path: str) -> str:
        return "/" + path[len("flaky://"):].lstrip("/")

    def exists(self, path):
        if "broken" in path:
            raise OSError(f"503 Service Unavailable: {path}")
        return os.path.exists(self.local(path))

    def _list(self, dir_or_prefix):
        FlakyFileSystem.listings += 1
        if dir_or_prefix.rstrip("/").endswith("/down"):
            raise BeamIOError("List operation failed", {dir_or_prefix: OSError("503")})
        for entry in os.scandir(self.local(dir_or_prefix)):
            FlakyFileSystem.entries_read += 1
            yield FileMetadata(f"{dir_or_prefix.rstrip('/')}/{entry.name}", 0, 0.0)


def _flaky_job(tmp_path, out: str, extra_existing=()):
    """A job on flaky:// whose outputs are in folder `out` ("down": its listing fails)."""
    job = job_at(tmp_path, f"flaky://{tmp_path}", out)
    populate(touch, str(tmp_path / out), str(tmp_path / "in"))
    for e in extra_existing:
        touch(str(tmp_path / out / f"{e}.json"))
    return job


def test_listing_answers_what_per_path_checks_cannot(tmp_path):
    """The listing works: IDs whose own check would fail are answered by it."""
    job = _flaky_job(tmp_path, "out", extra_existing=["broken1", "broken2"])
    paths = [f"{job.data_output.location}/{e}.json" for e in ("broken1", "broken2", "todo00")]
    assert list(Existence(min_listing=2).check(paths).values()) == [True, True, False]


def test_a_listing_reads_no_more_than_its_bound(tmp_path):
    job = _flaky_job(tmp_path, "out", extra_existing=[f"more{i:02d}" for i in range(50)])
    paths = [f"{job.data_output.location}/{e}.json" for e in ("done01", "done02", "nothere")]
    read = FlakyFileSystem.entries_read
    assert list(Existence(min_listing=2, entries_per_path=2).check(paths).values()) == [True, True, False]
    assert FlakyFileSystem.entries_read - read <= 2 * 3 + 2  # (Beam reads one past its limit) of 80


def test_failed_listing_dead_letters_only_the_elements_whose_check_fails(tmp_path):
    job = _flaky_job(tmp_path, "down", extra_existing=["broken1"])
    listings = FlakyFileSystem.listings
    pairs, letters, counters = run_routing(job, 10_000, extra=["broken1", "broken2"])
    assert FlakyFileSystem.listings == listings + 2  # outputs (failed), then inputs
    assert [(e, r) for e, r, _ in letters] == [
        ("../bad", "invalid-id"), ("broken1", "existence-check-failed"), ("broken2", "existence-check-failed")]
    assert "503 Service Unavailable" in letters[1][2]
    assert counters == {**EXPECTED_COUNTERS, "kmsg-received": 66, "dead-letter": 3,
                        "dead-letter:existence-check-failed": 2}
    (tmp_path / "healthy").mkdir()
    healthy = _flaky_job(tmp_path / "healthy", "out")
    assert [x for x in pairs if "broken" not in x[1]] == sorted(per_element_tags(healthy))


# --- gs:// on gcp-storage-emulator ------------------------------------------------------------

@pytest.fixture
def gcs(gcs_emulator, request):
    """(bucket, a fresh gs:// root for this test)."""
    from google.cloud import storage as gcs_storage

    bucket = gcs_storage.Client(project="test-project").bucket(BUCKET)
    return bucket, f"gs://{BUCKET}/{request.node.name.replace('[', '-').rstrip(']')}"


def upload(bucket):
    def write(path: str) -> None:
        bucket.blob(path.split(f"gs://{BUCKET}/", 1)[1]).upload_from_string(b"")
    return write


@pytest.fixture
def http_requests(monkeypatch):
    """The object requests (listings, object reads) this process makes: Beam's GCS client goes
    through requests. Not counted: the bucket-metadata GET that google-cloud-storage makes in a
    background thread for each new client (Beam makes one client per FileSystems call), which
    may land after the call returns."""
    made: list[str] = []
    real = requests.Session.request

    def counted(self, method, url, *args, **kwargs):
        if f"/b/{BUCKET}/o" in url:
            made.append(f"{method} {url}")
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counted)
    return made


@pytest.mark.emulator
def test_gcs_batch_routes_as_one_check_per_element(gcs, tmp_path):
    bucket, root = gcs
    job = job_at(tmp_path, root)
    populate(upload(bucket), f"{root}/out", f"{root}/in")
    pairs, _, counters = run_routing(job, 10_000)
    assert pairs == sorted(per_element_tags(job))
    assert counters == EXPECTED_COUNTERS


def route_one_bundle(job, ids) -> list:
    """RouteMessages over `ids` as one bundle (the DoFn's lifecycle, as a runner calls it)."""
    fn = RouteMessages(job)
    fn.setup()
    fn.start_bundle()
    out = []
    for e in ids:
        out.extend(fn.process(new_message(e, top_down=True), window.GlobalWindow(), 0, None))
    return out + list(fn.finish_bundle())


@pytest.mark.emulator
def test_gcs_requests_per_bundle_do_not_grow_with_elements(gcs, tmp_path, http_requests):
    bucket, root = gcs
    job = job_at(tmp_path, root)
    done = [f"v{i:03d}" for i in range(120)]
    for e in done:
        upload(bucket)(f"{root}/out/{e}.json")
    counts = {}
    for n in (30, 120):
        del http_requests[:]
        outputs = route_one_bundle(job, done[:n])
        assert [o.tag for o in outputs] == [PASS_THRU] * n
        counts[n] = len(http_requests)
    assert counts == {30: 1, 120: 1}, http_requests  # one listing of gs://.../out/v*
    del http_requests[:]
    assert all(route(new_message(e, top_down=True), job, storage.exists).outcome is Outcome.OUTPUT_EXISTS
               for e in done[:30])
    assert len(http_requests) == 30  # one check per element, as before


@pytest.mark.emulator
def test_gcs_listing_too_large_falls_back_to_per_path_and_is_remembered(gcs, http_requests):
    bucket, root = gcs
    for i in range(12):
        upload(bucket)(f"{root}/out/v{i:02d}.json")
    paths = [f"{root}/out/v{i:02d}.json" for i in (0, 1, 99)]
    existence = Existence(min_listing=2, entries_per_path=3)  # at most 9 objects for 3 paths
    del http_requests[:]
    assert list(existence.check(paths).values()) == [True, True, False]
    assert len(http_requests) == 1 + 3  # the listing stopped at its bound, then one per path
    existence.forget()  # a new bundle
    del http_requests[:]
    assert list(existence.check(paths).values()) == [True, True, False]
    assert len(http_requests) == 3  # known too large: not listed again
    del http_requests[:]
    assert list(Existence(min_listing=2, entries_per_path=4).check(paths).values()) == [True, True, False]
    assert len(http_requests) == 1  # 12 objects <= 4 x 3: one listing


@pytest.mark.emulator
def test_gcs_within_a_bundle_exists_is_reused_and_missing_is_asked_again(gcs, tmp_path, http_requests):
    bucket, root = gcs
    job = job_at(tmp_path, root)
    done = [f"v{i:03d}" for i in range(40)]
    for e in done:
        upload(bucket)(f"{root}/out/{e}.json")
    fn = RouteMessages(job, chunk_size=20)
    fn.setup()
    fn.start_bundle()

    def chunk(ids):
        del http_requests[:]
        out = [o for e in ids for o in fn.process(new_message(e, top_down=True), window.GlobalWindow(), 0, None)]
        return [(o.tag, o.value.value.data.element.decode()) for o in out], len(http_requests)

    first = chunk(["late"] + done[:19])
    assert first == ([(INPUT_MISSING, "late")] + [(PASS_THRU, e) for e in done[:19]], 2)  # out listing, late's input
    assert chunk(done[19:39]) == ([(PASS_THRU, e) for e in done[19:39]], 0)  # known to exist in this bundle
    upload(bucket)(f"{root}/out/late.json")  # written while the bundle runs
    assert chunk(["late"] + done[:19]) == ([(PASS_THRU, e) for e in ["late"] + done[:19]], 1)
    assert [o.value.value.data.element for o in fn.finish_bundle()] == []
    fn.start_bundle()
    assert chunk(done[:20])[1] == 1  # a new bundle lists again
    fn.start_bundle()  # the last bundle failed (no finish_bundle): its answers go with it
    assert chunk(done[:20])[1] == 1
