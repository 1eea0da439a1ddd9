#!/usr/bin/env python3
"""Disk sync latency for scripts/bench: write 4 KB and fdatasync, ITERATIONS times, in DIR.

Appends to a fresh file (as SQLite's WAL does), so each sync also carries the file-size update.
Prints one JSON object: iterations, p50/p90/p99/max/mean in milliseconds, the filesystem type.

    python3 Benchmarks/fsync_latency.py DIR [ITERATIONS] [MAX_SECONDS]
"""
import json
import math
import os
import statistics
import sys
import time


def percentile(sorted_values, p):
    # Nearest-rank percentile, the same definition for every figure in the report.
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def main():
    directory = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    path = os.path.join(directory, "fsync-probe.bin")
    block = os.urandom(4096)
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        deadline = time.monotonic() + max_seconds  # bounded in time as well as in count
        for _ in range(iterations):
            start = time.perf_counter_ns()
            os.write(fd, block)
            os.fdatasync(fd)
            samples.append((time.perf_counter_ns() - start) / 1e6)
            if time.monotonic() > deadline:
                break
    finally:
        os.close(fd)
        os.unlink(path)
    samples.sort()
    fstype = "unknown"
    try:
        # The mount holding DIR: the longest mount point that prefixes its real path.
        real = os.path.realpath(directory)
        best = ""
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                mount_point, kind = fields[1], fields[2]
                if (real == mount_point or real.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
                    best, fstype = mount_point, kind
    except OSError:
        pass
    print(json.dumps({
        "iterations": len(samples),
        "p50_ms": round(percentile(samples, 50), 3),
        "p90_ms": round(percentile(samples, 90), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(samples[-1], 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "filesystem": fstype,
    }))


if __name__ == "__main__":
    main()
