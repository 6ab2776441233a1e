"""`klio ARGS` in the test's own process, through jobgraph.cli.main as a shell runs it (one-line
errors, exit statuses), without starting an interpreter per call; and the offline setting."""
from __future__ import annotations

import sys

from jobgraph.cli import main


def klio_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `klio ARGS`."""
    monkeypatch.setattr(sys, "argv", ["klio", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def offline(monkeypatch) -> None:
    """Anything not on loopback goes to a dead proxy and fails (nothing may leave the machine)."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "localhost,127.0.0.1")
