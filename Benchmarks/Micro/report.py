#!/usr/bin/env python3
"""Turns the histogramPercentiles files of one `benchmark run` into the bench:micro section of BENCHMARKS.md.

    python3 Benchmarks/Micro/report.py EXPORT_DIR BENCHMARKS.md

Each benchmark's name ends with the events one iteration handles (`x100`); every figure is divided by it, so
the table reads per event. Only the text between the bench:micro markers is replaced; the first run appends
the section at the end of the file.
"""
import datetime
import os
import platform
import re
import subprocess
import sys

START = "<!-- bench:micro:start -->"
END = "<!-- bench:micro:end -->"
SUFFIX = ".histogram.percentiles.tsv"

# What each benchmark measures, in table order.
ROWS = [
    ("empty x1", "nothing: the harness's own cost per iteration, the floor under the x1 rows"),
    ("scan track x1", "`/v1/track` body (575 B): `IngestParser.scan` (JSONScanner over the body, write key)"),
    ("parse track x1", "`/v1/track` body: scan + normalise into a `NewEvent`"),
    ("scan batch x100", "`/v1/batch` of 100 events (53.6 KB): scan"),
    ("parse batch x100", "`/v1/batch` of 100 events: scan + normalise"),
    ("identity decide x100", "`IdentityEngine.decide`, 100 events of 50 people, each owning its one anonymous id"),
    ("identity request+decide x100", "the same, with `factsRequest(for:)` first"),
    ("commit append x1", "`SQLiteEventStore.append`, FULL sync, identity on, 1 event per commit"),
    ("commit append x100", "the same, 100 events per commit"),
    ("commit append x1000", "the same, 1000 events per commit"),
]
TIME_UNITS = {"ns": 1, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
COUNT_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9}


def read(directory):
    """{benchmark name: {metric: {percentile: value in ns or count}}}"""
    out = {}
    for file in sorted(os.listdir(directory)):
        if not file.endswith(SUFFIX):
            continue
        parts = file[: -len(SUFFIX)].split(".")
        name, metric = ".".join(parts[2:-1]).replace("_", " "), parts[-1]
        with open(os.path.join(directory, file)) as f:
            header, *lines = f.read().splitlines()
        units = re.findall(r"\(([^)]*)\)", header)
        factor = 1.0
        if units and units[-1] in TIME_UNITS and "time" in header.lower():
            factor = TIME_UNITS[units[-1]]
        elif units and units[-1] in COUNT_UNITS:
            factor = COUNT_UNITS[units[-1]]
        values = {}
        for line in lines:
            p, v = line.split("\t")
            values[int(p)] = float(v) * factor
        out.setdefault(name, {})[metric] = values
    return out


def per_event(name):
    m = re.search(r"x(\d+)$", name)
    return int(m.group(1)) if m else 1


def duration(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:,.2f} µs"
    return f"{ns:,.0f} ns"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l.split()[1] for l in f if l.startswith("MemTotal")))
        memory = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration):
        memory = "? RAM"
    tmp = os.environ.get("TMPDIR", "/tmp")
    fs = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", tmp], capture_output=True, text=True).stdout.strip() or "?"
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {memory}, kernel {platform.release()}; databases in {tmp} ({fs})",
            swift[0] if swift else "?", commit or "?")


def section(results):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    box, swift, commit = machine()
    lines = [
        START,
        "## Micro-benchmarks: the ingest hot paths (issue 15)",
        "",
        "_Written by `scripts/bench-micro`; re-running it replaces this section only._",
        "",
        f"- **Date**: {now}",
        f"- **Machine**: {box}",
        f"- **Source**: commit `{commit}`, release build of `Benchmarks/Micro` (ordo-one benchmark 1.38.1), {swift}",
        "- **Command**: `scripts/bench-micro`",
        "- **Events**: analytics.js-style `identify`/`track`/`page` of 500–560 bytes, each with the `userId` and the "
        "one `anonymousId` of its person; see `Benchmarks/Micro/README.md`",
        "",
        "Per event: each iteration's figure divided by the events it handles; p50 and p90 over the iterations. "
        "Mallocs count every allocation (the malloc interposer). The commit's figures include its fsync and "
        "depend on the disk: compare them within a run.",
        "",
        "| Benchmark | What one iteration does | Wall p50 / event | Wall p90 / event | Mallocs / event "
        "| Events/s at p50 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    known = [name for name, _ in ROWS]
    rows = ROWS + [(name, "") for name in sorted(results) if name not in known]
    for name, what in rows:
        metrics = results.get(name)
        if not metrics or "wallClock" not in metrics:
            continue
        n = per_event(name)
        wall = metrics["wallClock"]
        mallocs = metrics.get("mallocCountTotal", {}).get(50)
        lines.append(
            f"| {name} | {what} | {duration(wall[50] / n)} | {duration(wall[90] / n)} | "
            + (f"{mallocs / n:,.1f}" if mallocs is not None else "–") + " | "
            + (f"{n * 1e9 / wall[50]:,.0f}" if wall[50] > 0 else "–") + " |")
    lines.append(END)
    return "\n".join(lines)


def main():
    directory, target = sys.argv[1], sys.argv[2]
    results = read(directory)
    if not results:
        raise SystemExit(f"report.py: no *{SUFFIX} files in {directory}")
    text = section(results)
    with open(target) as f:
        current = f.read()
    if START in current and END in current:
        before, rest = current.split(START, 1)
        after = rest.split(END, 1)[1]
        updated = before + text + after
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    with open(target, "w") as f:
        f.write(updated)
    print(text)


if __name__ == "__main__":
    main()
