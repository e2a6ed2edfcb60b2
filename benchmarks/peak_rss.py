"""Peak resident memory of this process (Linux), for benchmarks that measure one call per fresh process.

torch's allocations are invisible to tracemalloc, so memory is read from /proc: reset the high-water mark
(`clear_refs` 5), note VmRSS, make the call, and read VmHWM.
"""

from __future__ import annotations


def proc_status(field: str) -> int:
    """A `VmXXX:  123 kB` field of /proc/self/status, in bytes."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it (then the peak may under-count)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False
