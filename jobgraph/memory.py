"""This process's peak memory, for the runtime's per-worker metric and the benchmarks."""
from __future__ import annotations

import resource


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB: VmHWM, the high-water mark of its own
    address space (ru_maxrss would also count what a spawning parent held before exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
