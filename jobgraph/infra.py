"""Infrastructure failures as one line naming the cause and the fix: missing credentials, an
unreachable service. Raised before a run starts (`jobgraph.resources.preflight`) so that it
fails within seconds instead of dead-lettering every element as if the data were bad.

Failure classes (README, Guarantees): data problems are dead letters and the run succeeds;
infrastructure problems raise `InfrastructureError` (exit 1).
"""
from __future__ import annotations

import os

# Each remote call of a check gets this long; no retries (a check is a yes/no question).
CHECK_TIMEOUT_S = 8.0


class InfrastructureError(RuntimeError):
    """A service or credential the run needs is not there; the message says how to fix it."""


def _pubsub_fix() -> str:
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if host:
        return (f"PUBSUB_EMULATOR_HOST={host}: is the emulator running there? Start it, or unset "
                "PUBSUB_EMULATOR_HOST to use Google Cloud Pub/Sub")
    return ("check the network and credentials, or set PUBSUB_EMULATOR_HOST for the emulator "
            "(gcloud auth application-default login for Google Cloud)")


def no_credentials(service: str, emulator_variable: str) -> InfrastructureError:
    return InfrastructureError(
        f"no credentials for {service}: set {emulator_variable} for the emulator or run "
        "gcloud auth application-default login")


def require_credentials(service: str, emulator_variable: str) -> None:
    """Application default credentials must exist unless the service's emulator is configured."""
    if os.environ.get(emulator_variable):
        return
    import google.auth
    from google.auth import exceptions as auth_exceptions

    try:
        google.auth.default()
    except auth_exceptions.DefaultCredentialsError as exc:
        raise no_credentials(service, emulator_variable) from exc


def pubsub_error(exc: BaseException, what: str) -> InfrastructureError:
    """One line for a failed Pub/Sub call on `what` (a topic or subscription)."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exceptions

    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return no_credentials("Pub/Sub", "PUBSUB_EMULATOR_HOST")
    if isinstance(exc, (gexc.PermissionDenied, gexc.Unauthenticated)):
        return InfrastructureError(f"Pub/Sub refused access to {what}: {exc.message}")
    return InfrastructureError(f"Pub/Sub unreachable ({type(exc).__name__} on {what}): {_pubsub_fix()}")
