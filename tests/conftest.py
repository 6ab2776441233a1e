"""Test-wide settings: nothing may leave loopback, no downloads, no stalls on missing credentials."""
import os

os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Keras would download ImageNet weights into ~/.keras; tests never ask for them.
os.environ.setdefault("KERAS_HOME", os.path.join(os.path.dirname(__file__), "..", ".cache", "keras"))


def _preseed_beam_credentials() -> None:
    # Without application default credentials Beam retries google.auth.default() for ~23 s.
    from apache_beam.internal.gcp import auth

    auth._Credentials._credentials_init = True
    auth._Credentials._credentials = None


_preseed_beam_credentials()


import pytest  # noqa: E402

from tests import servers  # noqa: E402


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory):
    """Google's Pub/Sub emulator on loopback; PUBSUB_EMULATOR_HOST set for this process and children."""
    log = tmp_path_factory.mktemp("pubsub") / "emulator.log"
    with servers.pubsub_emulator(str(log)) as host:
        old = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        try:
            yield host
        finally:
            if old is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = old


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """gcp-storage-emulator on loopback with bucket `test-bucket`; STORAGE_EMULATOR_HOST set."""
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    with servers.storage_emulator(str(log), "test-bucket") as url:
        old = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = url
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = old
