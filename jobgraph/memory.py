"""This process's memory, for the runtime's per-worker metrics and the benchmarks."""
from __future__ import annotations

import resource


def _status_mib(key: str) -> float | None:
    """A `/proc/self/status` field (kB) in MiB; None where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mib() -> float | None:
    """Resident memory of this process now, in MiB (VmRSS); None where /proc is not there."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB: VmHWM, the high-water mark of its own
    address space (ru_maxrss would also count what a spawning parent held before exec)."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def private_rss_mib() -> float:
    """Resident memory of this process that no other process can share, in MiB (RssAnon).

    Peak RSS also counts pages of memory-mapped files, e.g. a converted model's weights that
    OpenVINO maps from the conversion cache: clean pages that the kernel can drop and that
    every worker on the machine mapping the same file shares. Private memory is what each
    additional worker costs. Falls back to peak RSS where /proc is not there.
    """
    private = _status_mib("RssAnon")
    return private if private is not None else peak_rss_mib()
