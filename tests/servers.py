"""Real servers on loopback for tests: Google's Pub/Sub emulator and gcp-storage-emulator.

Each start picks a free port, waits until the server answers, and stops it by its own PID.
A missing server binary fails loudly (no skip).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def pubsub_emulator_command(port: int) -> list[str]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise RuntimeError("the Pub/Sub emulator needs the Google Cloud CLI (gcloud) and its "
                           "pubsub-emulator component; install google-cloud-cli-pubsub-emulator")
    sdk_root = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"],
                              capture_output=True, text=True, check=True).stdout.strip()
    script = os.path.join(sdk_root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
    if not os.path.exists(script):
        raise RuntimeError(f"Pub/Sub emulator not installed under {sdk_root}: install the "
                           "google-cloud-cli-pubsub-emulator package")
    return [script, "--host=127.0.0.1", f"--port={port}"]


def _start_on_free_port(command, log_path: str, what: str, attempts: int = 3):
    """(process, port) of a server listening on a free port. The port is free when chosen but
    another process may take it before the server binds it: then the server exits, and it is
    started again on another port."""
    for attempt in range(attempts):
        port = free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(command(port), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            _wait_for_port(port, proc, what)
            return proc, port
        except RuntimeError:
            stop(proc)
            if attempt == attempts - 1:
                raise


@contextlib.contextmanager
def pubsub_emulator(log_path: str):
    proc, port = _start_on_free_port(pubsub_emulator_command, log_path, "Pub/Sub emulator")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


@contextlib.contextmanager
def storage_emulator(log_path: str, bucket: str):
    exe = os.path.join(os.path.dirname(sys.executable), "gcp-storage-emulator")
    command = lambda port: [exe, "start", "--host", "127.0.0.1", "--port", str(port),  # noqa: E731
                            "--in-memory", "--default-bucket", bucket]
    proc, port = _start_on_free_port(command, log_path, "gcp-storage-emulator")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process group started with start_new_session=True (the emulator forks a JVM)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(timeout=timeout)
