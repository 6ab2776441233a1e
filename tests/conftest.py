"""Test-wide settings: nothing may leave loopback, no downloads, no stalls on missing credentials."""
import contextlib
import os

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Keras would download ImageNet weights into ~/.keras; tests never ask for them.
os.environ.setdefault("KERAS_HOME", os.path.join(os.path.dirname(__file__), "..", ".cache", "keras"))
# Converted classifiers go to the repository's cache, not the user's (entries are keyed by content).
os.environ.setdefault("VIDEO_IAB_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "video-iab"))


def _preseed_beam_credentials() -> None:
    # Without application default credentials Beam retries google.auth.default() for ~23 s.
    from apache_beam.internal.gcp import auth

    auth._Credentials._credentials_init = True
    auth._Credentials._credentials = None


_preseed_beam_credentials()


import pytest  # noqa: E402

from tests import servers  # noqa: E402


@contextlib.contextmanager
def _env(name: str, value: str):
    """Set an environment variable (inherited by subprocesses) for the fixture's lifetime."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield value
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory):
    """Google's Pub/Sub emulator on loopback; PUBSUB_EMULATOR_HOST set for this process and children."""
    log = tmp_path_factory.mktemp("pubsub") / "emulator.log"
    with servers.pubsub_emulator(str(log)) as host, _env("PUBSUB_EMULATOR_HOST", host):
        yield host


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """gcp-storage-emulator on loopback with bucket `test-bucket`; STORAGE_EMULATOR_HOST set."""
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    with servers.storage_emulator(str(log), "test-bucket") as url, _env("STORAGE_EMULATOR_HOST", url):
        yield url
