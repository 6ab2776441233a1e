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
