#!/usr/bin/env python3
"""Helpers for scripts/bench: turn wrk output, /metrics scrapes and counts into JSON records, and the
records into the ingest section of BENCHMARKS.md.

    bench_report.py record --phase P --run N --events-per-request E --wrk-out FILE
                           [--metrics FILE] [--stored N] [--rss-kb N] [--log FILE]
                           [--cpu W,M,S,C] [--target-rate R]         -> one JSON line on stdout
    bench_report.py half-load RESULTS.jsonl                          -> half the median single-event rate
    bench_report.py check RESULTS.jsonl                              -> warnings for the last record
    bench_report.py render --results R --machine M --fsync F [--profile P] --command C
                           --out BENCHMARKS.md [--quick] [--no-write]

Figures are medians over runs; the phases are interleaved (nginx, single, batch in each round) so the
machine's drift hits both sides of a ratio alike.
"""
import argparse
import json
import os
import re
import statistics
import sys

START = "<!-- bench:ingest:start -->"
END = "<!-- bench:ingest:end -->"
CONNECTIONS = 32
OTHER_LOAD_WARN = 0.25      # cores used by other processes during a run before the report flags it

TARGET_RATIO = 0.25         # single-event durable ingest ≥ 0.25× nginx (issue 15)
TARGET_BATCH_RATIO = 1.5    # batch events/s stored ≥ 1.5× nginx's single-request rate (≈ 150k/s here)
TARGET_IDENTITY_PCT = 10.0  # identity on at most 10 % slower than off
TARGET_HALF_P99_MS = 10.0   # p99 ack ≤ 10 ms at half the max rate
TARGET_RSS_MB = 150.0       # peak RSS
PHASES = ("nginx", "nginx-static", "single", "batch", "single-identity-off", "batch-identity-off",
          "single-warehouse", "batch-warehouse", "half")


# ---------------------------------------------------------------------------------------------- parsing

def parse_wrk(path):
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    raise SystemExit(f"bench_report: no BENCH_RESULT line in {path}:\n{text[-2000:]}")


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(path):
    """The few series the report uses, from Prometheus text. Missing series stay absent."""
    out = {"requests_by_status": {}, "events_by_outcome": {}, "rejected_by_code": {}}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(2) or "")), m.group(3)
        try:
            v = float(value)
        except ValueError:
            continue
        if name == "switchyard_commit_batch_events_sum":
            out["commit_events_sum"] = out.get("commit_events_sum", 0) + v
        elif name == "switchyard_commit_batch_events_count":
            out["commit_count"] = out.get("commit_count", 0) + v
        elif name == "switchyard_commit_duration_seconds_sum":
            out["commit_seconds_sum"] = out.get("commit_seconds_sum", 0) + v
        elif name == "switchyard_commit_duration_seconds_count":
            out["commit_seconds_count"] = out.get("commit_seconds_count", 0) + v
        elif name == "switchyard_ingest_requests_total":
            key = labels.get("status", "?")
            out["requests_by_status"][key] = out["requests_by_status"].get(key, 0) + v
        elif name == "switchyard_ingest_events_total":
            key = labels.get("outcome", "?")
            out["events_by_outcome"][key] = out["events_by_outcome"].get(key, 0) + v
        elif name == "switchyard_ingest_rejected_total":
            key = labels.get("code", "?")
            out["rejected_by_code"][key] = out["rejected_by_code"].get(key, 0) + v
        elif name == "switchyard_ingest_backpressure_total":
            out["backpressure"] = out.get("backpressure", 0) + v
    return out


def subtract_metrics(after, before):
    """after − before, series by series: what one wrk run did, without the start-up probe."""
    if after is None or before is None:
        return after
    out = {}
    for key, value in after.items():
        b = before.get(key)
        if isinstance(value, dict):
            b = b or {}
            out[key] = {k: v - b.get(k, 0) for k, v in value.items() if v - b.get(k, 0)}
        else:
            out[key] = value - (b or 0)
    return out


def count_log_problems(path):
    """Gateway log lines at warning level or above (it runs with --log-level warning, so: all lines)."""
    problems = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    problems.append(line)
    except OSError:
        pass
    return problems


# ---------------------------------------------------------------------------------------------- figures

def derive(rec):
    """Per-run figures from a record."""
    w = rec["wrk"]
    seconds = w["duration_us"] / 1e6
    per = rec["events_per_request"]
    ok = w["requests"] - w["errors_status"]
    d = {
        "seconds": seconds,
        "rps": w["requests"] / seconds,
        "ok_requests": ok,
        "acked_eps": ok * per / seconds,
        "p50_ms": w["lat_p50_us"] / 1000,
        "p90_ms": w["lat_p90_us"] / 1000,
        "p99_ms": w["lat_p99_us"] / 1000,
        "max_ms": w["lat_max_us"] / 1000,
        "non_2xx": w["errors_status"],
        "socket_errors": w["errors_connect"] + w["errors_read"] + w["errors_write"] + w["errors_timeout"],
    }
    cpu = rec.get("cpu")
    if cpu and cpu["wall_s"] > 0:
        d["server_cores"] = cpu["server_s"] / cpu["wall_s"]
        d["wrk_cores"] = cpu["wrk_s"] / cpu["wall_s"]
        # Everything else the machine did meanwhile (other builds, tests): noise in the figures.
        d["other_cores"] = max(0.0, (cpu["machine_s"] - cpu["server_s"] - cpu["wrk_s"]) / cpu["wall_s"])
    if rec.get("stored") is not None:
        d["stored"] = rec["stored"]
        d["stored_eps"] = rec["stored"] / seconds
    return d


def warnings_for(rec):
    """Human-readable problems with one run: non-200s, socket errors, stored counts that do not add up."""
    out = []
    d = derive(rec)
    tag = f'{rec["phase"]} run {rec["run"]}'
    per = rec["events_per_request"]
    w = rec["wrk"]
    if rec.get("max_requests") and w["requests"] >= rec["max_requests"] - CONNECTIONS:
        out.append(f"{tag}: INVALID — wrk hit the request-count bound ({rec['max_requests']:,}) before the time "
                   "bound, so its rate (requests / full duration) is too low; raise MAX_*_REQUESTS in scripts/bench")
    if d.get("other_cores", 0) > OTHER_LOAD_WARN:
        out.append(f"{tag}: the machine was not quiet — other processes used {d['other_cores']:.2f} cores "
                   "during the run (figures of this run are pessimistic)")
    if d["non_2xx"]:
        out.append(f"{tag}: {d['non_2xx']} responses with status ≥ 400 (wrk)")
    if d["socket_errors"]:
        out.append(f"{tag}: socket errors connect {w['errors_connect']} read {w['errors_read']} "
                   f"write {w['errors_write']} timeout {w['errors_timeout']}")
    if rec["phase"].startswith("nginx"):
        return out
    if rec.get("target_rate") and d["acked_eps"] < 0.9 * rec["target_rate"]:
        out.append(f"{tag}: achieved {d['acked_eps']:,.0f} events/s, under the {rec['target_rate']:,.0f} offered "
                   "(all connections busy: the gateway could not keep up at this rate)")
    m = rec.get("metrics") or {}
    statuses = {k: int(v) for k, v in m.get("requests_by_status", {}).items() if k != "200"}
    if statuses:
        out.append(f"{tag}: gateway answered non-200 statuses {statuses}")
    if m.get("events_by_outcome", {}).get("duplicate"):
        out.append(f"{tag}: {int(m['events_by_outcome']['duplicate'])} events acknowledged as duplicates "
                   "(messageIds should all be unique)")
    if m.get("rejected_by_code"):
        out.append(f"{tag}: rejected events {dict((k, int(v)) for k, v in m['rejected_by_code'].items())}")
    stored = rec.get("stored")
    if stored is None:
        out.append(f"{tag}: stored count unavailable")
        return out
    expected = d["ok_requests"] * per
    # wrk stops the clock with up to CONNECTIONS requests in flight: the gateway may store and answer them
    # after wrk stopped counting. More than that, or fewer stored than acknowledged, is a real mismatch.
    if stored < expected:
        out.append(f"{tag}: MISMATCH stored {stored} < acknowledged {expected} "
                   f"({d['ok_requests']} × 200 × {per} events) — acknowledged events missing")
    elif stored > expected + CONNECTIONS * per:
        out.append(f"{tag}: MISMATCH stored {stored} > acknowledged {expected} + {CONNECTIONS * per} in flight")
    gw200 = m.get("requests_by_status", {}).get("200")
    if gw200 is not None and int(gw200) * per != stored:
        out.append(f"{tag}: MISMATCH stored {stored} ≠ gateway's own 200 count {int(gw200)} × {per}")
    return out


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------- commands

def cmd_record(a):
    rec = {
        "phase": a.phase,
        "run": a.run,
        "events_per_request": a.events_per_request,
        "wrk": parse_wrk(a.wrk_out),
    }
    if a.metrics:
        rec["metrics"] = parse_metrics(a.metrics)
        if a.metrics_before:
            rec["metrics"] = subtract_metrics(rec["metrics"], parse_metrics(a.metrics_before))
    if a.stored is not None and a.stored != "":
        rec["stored"] = int(a.stored)
    if a.rss_kb:
        rec["rss_kb"] = int(a.rss_kb)
    if a.cpu:
        wall, busy, server, wrk = (float(x) for x in a.cpu.split(","))
        rec["cpu"] = {"wall_s": wall, "machine_s": busy, "server_s": server, "wrk_s": wrk}
    if a.max_requests:
        rec["max_requests"] = int(a.max_requests)
    if a.target_rate:
        rec["target_rate"] = float(a.target_rate)
    if a.warehouse_rows:
        rec["warehouse_rows"] = int(a.warehouse_rows)
    if a.log:
        problems = count_log_problems(a.log)
        rec["log_lines"] = len(problems)
        rec["log_sample"] = problems[:5]
    print(json.dumps(rec))


def cmd_cpu_per_request(a):
    """Median gateway CPU per request of a phase, in µs (server CPU seconds / requests of each run)."""
    recs = [r for r in load(a.results) if r["phase"] == a.phase and r.get("cpu")]
    values = [r["cpu"]["server_s"] / r["wrk"]["requests"] * 1e6 for r in recs if r["wrk"]["requests"]]
    if values:
        print(f"{statistics.median(values):.1f}")


def cmd_half_load(a):
    recs = [r for r in load(a.results) if r["phase"] == "single"]
    rate = med([derive(r)["acked_eps"] for r in recs])
    if not rate:
        raise SystemExit("bench_report: no single-event runs to take half of")
    print(f"{rate / 2:.0f}")


# Frames that only carry other work (threads, executors, queues, GRDB's write plumbing, thunks): folded
# away so the inclusive view shows what the gateway does, not how it is scheduled.
PERF_SKIP = re.compile(
    r"^(clone3|start_thread|_dispatch|swift_job_run|swift::runJob|dispatch_|_pthread|thunk for|"
    r"0x[0-9a-f]+$|DispatchQueueActor|SerializedDatabase|DatabaseWriter\.|Database\.inTransaction|withBindings|"
    r"Array\.withUnsafe|MultiThreadedEventLoopGroup|ThreadOpsPosix|SelectableEventLoop|NIOThread|"
    r"entry_SYSCALL|do_syscall|__x64_sys|swift::|_swift_|swift_task|partial apply forwarder|"
    r"reabstraction thunk|merged |outlined |Sequence\.map|Task\.init|__libc_start|main$|_start$|"
    r"withAutoReleasePool|Selector\.whenReady|protocol witness|ChannelPipeline|ChannelHandlerContext|"
    r"ByteToMessageHandler\.withNextBuffer|NIOAsyncChannelHandlerWriterDelegate|BaseSocketChannel\.readable)")


def fold_symbol(name):
    name = name.strip()
    name = re.sub(r"\s+\(inlined\)$", "", name)
    while True:
        new = re.sub(r"^(partial apply for |closure #\d+ in |specialized |implicit closure #\d+ in |static |"
                     r"generic specialization <[^>]*> of |function signature specialization <[^>]*> of )", "", name)
        if new == name:
            break
        name = new
    return name


def cmd_perf_children(a):
    """Top inclusive entries of `perf report --children -g none` output, folded and deduplicated."""
    line_re = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(.*?)\s*$")
    best = {}
    order = []
    with open(a.file, errors="replace") as f:
        for line in f:
            m = line_re.match(line)
            if not m:
                continue
            children, self_pct, kind = float(m.group(1)), float(m.group(2)), m.group(3)
            symbol = re.split(r"\s{2,}", m.group(4))[0]  # perf pads, and may add columns after the symbol
            name = fold_symbol(symbol)
            if kind == "k":
                name = "[kernel] " + name
                continue  # kernel frames: reported in the by-library split
            if PERF_SKIP.search(name):
                continue
            if name not in best:
                order.append(name)
                best[name] = (children, self_pct)
            elif children > best[name][0]:
                best[name] = (children, max(self_pct, best[name][1]))
    rows = sorted(order, key=lambda n: -best[n][0])[: a.limit]
    print(f"{'incl.':>7} {'self':>6}  function")
    for name in rows:
        children, self_pct = best[name]
        print(f"{children:6.1f}% {self_pct:5.1f}%  {name[:130]}")


# Where a sample's CPU went: walking its call chain from the innermost frame out, the first frame that
# belongs to one of these parts (by module or name, in `swift demangle` output without --simplified)
# decides. So a malloc or swift_retain counts for the part that called it, and the event loop or the task
# at the root of every chain only takes what nothing closer claimed. Within one frame the first match in
# this order wins (specific names before their module).
BREAKDOWN = [
    ("commit: group committer, store append, identity, SQLite", r"GroupCommitter|SwitchyardStore\.|GRDB\.|sqlite3"),
    ("delivery: destination workers", r"SwitchyardDelivery\.|SwitchyardDestinations\."),
    ("parse + normalise: JSONScanner, IngestParser", r"SwitchyardCore\."),
    ("metrics: Prometheus handles, histograms", r"Prometheus\.|CoreMetrics\.|GatewayMetrics"),
    ("connection limits: RequestDeadlineHandler", r"RequestDeadlineHandler|RequestBytesObserver|OpenConnections"),
    ("ingest handler, rest: auth, body, response", r"SwitchyardServer\."),
    ("Hummingbird: router, middleware, request/response", r"Hummingbird\.|HummingbirdCore\.|HTTPTypes\.|NIOHTTPTypes"),
    ("HTTP/1 codec: llhttp, encoder", r"llhttp|NIOHTTP1\."),
    ("async channel bridge: NIOAsyncChannel in/out", r"NIOAsync|AsyncChannel"),
    ("socket read/write: NIO channel, kernel TCP", r"BaseSocketChannel|BaseStreamSocketChannel|PendingStreamWrites|Socket\.|tcp_|sock_|__sys_sendmsg|__sys_recvmsg|ksys_read|ksys_write|do_writev|vfs_read|vfs_write"),
    ("kernel: thread wake-ups, sleeps, switches", r"epoll_wait|futex|__schedule|schedule_hrtimeout|finish_task_switch|eventfd|try_to_wake_up|pthread_cond|nanosleep"),
    ("Swift concurrency runtime: jobs, executors, continuations", r"swift_task|swift_job|swift::(AsyncTask|runJob|Task|StackAllocator|runtime::SwiftTLS|Job)|withStatusRecordLock|swift_continuation|_Concurrency\."),
    ("NIO event loop: tasks, timers, selector", r"NIOPosix\.|NIOCore\."),
]


def cmd_perf_breakdown(a):
    """% of samples per part (BREAKDOWN) from demangled `perf script` text, and µs per request when given."""
    cats = [(name, re.compile(pat)) for name, pat in BREAKDOWN]
    counts = {name: 0 for name, _ in cats}
    counts["other"] = 0
    total = 0
    frames = []

    def classify():
        for frame in frames:  # innermost first, as perf script prints them
            for name, rx in cats:
                if rx.search(frame):
                    return name
        return "other"

    def flush():
        nonlocal total
        if frames:
            total += 1
            counts[classify()] += 1
            frames.clear()

    with open(a.file, errors="replace") as f:
        for line in f:
            if not line.strip():
                flush()
            elif line.startswith((" ", "\t")):
                frames.append(line.strip())
            else:
                flush()
    flush()
    if not total:
        print("no samples")
        return
    per = a.cpu_us_per_request
    print(f"{'share':>6}  {'µs/req':>7}  part" if per else f"{'share':>6}  part")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        share = n / total
        if per:
            print(f"{share * 100:5.1f}%  {share * per:7.1f}  {name}")
        else:
            print(f"{share * 100:5.1f}%  {name}")
    print(f"({total} samples" + (f"; {per:.0f} µs of gateway CPU per request in all)" if per else ")"))


def cmd_check(a):
    recs = load(a.results)
    for w in warnings_for(recs[-1]):
        print(w)


def fmt_int(v):
    return "n/a" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    return "n/a" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def cmd_render(a):
    recs = load(a.results)
    machine = json.load(open(a.machine))
    fsync = json.load(open(a.fsync))
    by = {p: [r for r in recs if r["phase"] == p] for p in PHASES}
    D = {p: [derive(r) for r in rs] for p, rs in by.items()}

    nginx_rps = med([d["rps"] for d in D["nginx"]])
    static_rps = med([d["rps"] for d in D["nginx-static"]])
    single_eps = med([d["acked_eps"] for d in D["single"]])
    single_stored = med([d.get("stored_eps") for d in D["single"]])
    single_p50 = med([d["p50_ms"] for d in D["single"]])
    single_p99 = med([d["p99_ms"] for d in D["single"]])
    batch_rps = med([d["rps"] for d in D["batch"]])
    batch_acked = med([d["acked_eps"] for d in D["batch"]])
    batch_stored = med([d.get("stored_eps") for d in D["batch"]])
    batch_p50 = med([d["p50_ms"] for d in D["batch"]])
    batch_p99 = med([d["p99_ms"] for d in D["batch"]])
    half_p50 = med([d["p50_ms"] for d in D["half"]])
    half_p99 = med([d["p99_ms"] for d in D["half"]])
    half_rate = med([d["acked_eps"] for d in D["half"]])
    half_target = med([r.get("target_rate") for r in by["half"]])
    ratio = single_eps / nginx_rps if single_eps and nginx_rps else None
    ratio_static = single_eps / static_rps if single_eps and static_rps else None
    # Paired ratios: round i's single run against round i's nginx run.
    nginx_by_run = {r["run"]: derive(r)["rps"] for r in by["nginx"]}
    paired = [derive(r)["acked_eps"] / nginx_by_run[r["run"]] for r in by["single"] if nginx_by_run.get(r["run"])]
    rss = [r.get("rss_kb") for r in recs if r.get("rss_kb")]
    peak_rss_mb = max(rss) / 1024 if rss else None

    def per_commit(phase):
        s = sum((r.get("metrics") or {}).get("commit_events_sum", 0) for r in by[phase])
        c = sum((r.get("metrics") or {}).get("commit_count", 0) for r in by[phase])
        t = sum((r.get("metrics") or {}).get("commit_seconds_sum", 0) for r in by[phase])
        if not c:
            return None, None, None
        return s / c, c, t / c * 1000

    commit = {p: per_commit(p) for p in ("single", "batch", "half")}

    def stored_eps(phase):
        return med([d.get("stored_eps") for d in D[phase]])

    batch_ratio = batch_stored / nginx_rps if batch_stored and nginx_rps else None
    # Identity on against off, same load: how much slower with identity (positive = slower).
    identity_cost = {}
    for kind in ("single", "batch"):
        on, off = stored_eps(kind), stored_eps(kind + "-identity-off")
        if on and off:
            identity_cost[kind] = (on, off, (1 - on / off) * 100)

    ok_ratio = None if ratio is None else ratio >= TARGET_RATIO
    ok_batch = None if batch_ratio is None else batch_ratio >= TARGET_BATCH_RATIO
    ok_half = None if half_p99 is None else half_p99 <= TARGET_HALF_P99_MS
    ok_identity = None if not identity_cost else all(c[2] <= TARGET_IDENTITY_PCT for c in identity_cost.values())
    ok_rss = None if peak_rss_mb is None else peak_rss_mb <= TARGET_RSS_MB

    warnings = []
    noisy = []
    for r in recs:
        for w in warnings_for(r):
            (noisy if "was not quiet" in w else warnings).append(w)
        if r.get("log_lines"):
            warnings.append(f'{r["phase"]} run {r["run"]}: gateway logged {r["log_lines"]} lines at warning or '
                            f'above, first: {r["log_sample"][0][:300]}')

    runs = len(by["nginx"]) or len(by["single"])
    others = [derive(r).get("other_cores") for r in recs]
    others = [o for o in others if o is not None]
    other_median = med(others)
    unreliable = other_median is not None and other_median > OTHER_LOAD_WARN

    def verdict_of(ok):
        v = verdict(ok)
        return v + " (unreliable: machine busy)" if unreliable and ok is not None else v
    L = []
    L.append(START)
    L.append("## Ingest (issues: Foundation; 15, ingest at the machine's ceiling)")
    L.append("")
    L.append("_Written by `scripts/bench`; re-running it replaces this section only._")
    if a.quick:
        L.append("")
        L.append(f"> **Quick smoke run** ({machine['duration']} s phases, {runs} run(s) each): not representative; "
                 "run `scripts/bench` for figures.")
    L.append("")
    L.append(f"- **Date**: {machine['date']}")
    L.append(f"- **Machine**: {machine['nproc']} cores ({machine['cpu']}), {machine['memory']} RAM, "
             f"kernel {machine['kernel']}, {machine['os']}; data dir on {fsync.get('filesystem', '?')}")
    measured = machine.get("measured", "worktree")
    if measured == "head":
        source = (f"commit `{machine['commit']}` “{machine.get('commit_subject', '')}” (HEAD, exported to `.build-release/head-src`"
                  f"{'; the uncommitted changes in the working tree are not measured' if machine.get('dirty') else ''}), "
                  "release build (`swift build -c release`)")
    elif measured == "binary":
        source = f"a given binary (`BENCH_BINARY`), working tree at commit `{machine['commit']}`"
    else:
        source = (f"commit `{machine['commit']}`{' + uncommitted changes (working tree)' if machine.get('dirty') else ''}, "
                  "release build (`swift build -c release --scratch-path .build-release`)")
    L.append(f"- **Source**: {source}, {machine['swift']}")
    L.append(f"- **Load**: {machine['wrk']}, 1 thread, {CONNECTIONS} connections, "
             f"{machine['duration']} s per run, {runs} run(s) per phase, median reported; {machine['nginx']} "
             "(1 worker, `return 200`, access log off) as the ceiling; load generator and server share the cores; "
             "traffic on 127.0.0.1 only")
    event_bytes = med([r["wrk"].get("body_bytes") for r in by["single"]]) or 0
    batch_bytes = med([r["wrk"].get("body_bytes") for r in by["batch"]]) or 0
    L.append(f"- **Event**: a {event_bytes:.0f}-byte Segment `track` (analytics-python style), unique `messageId` "
             f"per event, 10,000 people each keeping one anonymous id (every event carries `userId` and that "
             f"person's `anonymousId`); batch requests carry {machine['batch_size']} of them ({batch_bytes:,.0f} bytes)")
    L.append(f"- **Gateway config**: SQLite (WAL, `synchronous: full` — a 200 means fsynced), "
             "`max_pending_events: 200000`, `--log-level warning`, a fresh database per run; identity on "
             "(the default) and no destination unless the line says otherwise: *identity off* is "
             "`identity.enabled: false`, *warehouse* adds the default config's warehouse destination "
             "(`config/switchyard.yaml`: gzipped NDJSON files, `rotate: { max_bytes: 64MiB, max_age: 5m }`) "
             "delivering while ingesting")
    if machine.get("phases"):
        L.append(f"- **Phases**: nginx, nginx-static, {machine['phases'].replace(',', ', ')}")
    L.append(f"- **Command**: `{a.command}`")
    L.append("")
    if unreliable:
        L.append("> **Unreliable run**: other processes on the machine used a median "
                 f"{other_median:.2f} cores (max {max(others):.2f}) of {machine['nproc']} during the measured runs "
                 f"({len(noisy)} of {len(recs)} runs over {OTHER_LOAD_WARN} cores). Rates are low and latency tails "
                 "long for reasons outside the gateway; re-run `scripts/bench` on a quiet machine.")
        L.append("")
    L.append("| Measure | Result | Target (issue) | |")
    L.append("|---|---:|---|---|")
    L.append(f"| nginx static 200 (the ceiling; same wrk script: a new body and messageId per request) "
             f"| {fmt_int(nginx_rps)} req/s | | |")
    if static_rps:
        L.append(f"| nginx static 200, wrk's fast path (one request built once; the client costs nothing) "
                 f"| {fmt_int(static_rps)} req/s | | |")
    L.append(f"| Single-event `/v1/track`, acknowledged | {fmt_int(single_eps)} events/s | | |")
    L.append(f"| Single-event, stored (count in SQLite / duration) | {fmt_int(single_stored)} events/s | | |")
    L.append(f"| Single-event p50 / p99 | {fmt_ms(single_p50)} / {fmt_ms(single_p99)} ms | | |")
    L.append(f"| **Single-event ratio to nginx** | {'n/a' if ratio is None else f'{ratio:.3f}×'}"
             f"{'' if not paired else ' (per round: ' + ', '.join(f'{p:.3f}' for p in paired) + ')'} "
             f"| ≥ {TARGET_RATIO}× | {verdict_of(ok_ratio)} |")
    if ratio_static:
        L.append(f"| Single-event ratio to nginx on wrk's fast path | {ratio_static:.3f}× | | |")
    L.append(f"| **Batch `/v1/batch` × {machine['batch_size']}, stored** | {fmt_int(batch_stored)} events/s "
             f"({fmt_int(batch_rps)} req/s) = {'n/a' if batch_ratio is None else f'{batch_ratio:.2f}×'} nginx's "
             f"single-request rate | ≥ {TARGET_BATCH_RATIO}× (≈ {fmt_int(nginx_rps * TARGET_BATCH_RATIO if nginx_rps else None)} events/s) "
             f"| {verdict_of(ok_batch)} |")
    L.append(f"| Batch p50 / p99 | {fmt_ms(batch_p50)} / {fmt_ms(batch_p99)} ms | | |")
    for kind, label in (("single", "single-event"), ("batch", "batch")):
        if kind in identity_cost:
            on, off, pct = identity_cost[kind]
            L.append(f"| **Identity on vs off**, {label}, stored | {fmt_int(on)} vs {fmt_int(off)} events/s: "
                     f"{pct:+.0f} % {'slower' if pct >= 0 else '(faster)'} with identity | ≤ {TARGET_IDENTITY_PCT:g} % slower "
                     f"| {verdict_of(None if pct is None else pct <= TARGET_IDENTITY_PCT)} |")
    for kind, label in (("single", "single-event"), ("batch", "batch")):
        wh = stored_eps(kind + "-warehouse")
        if wh:
            rows = med([r.get("warehouse_rows") for r in by[kind + "-warehouse"]])
            stored = med([r.get("stored") for r in by[kind + "-warehouse"]])
            ref = ("" if not nginx_rps else
                   f" = {wh / nginx_rps:.3f}× nginx" if kind == "single" else f" = {wh / nginx_rps:.2f}× nginx's single-request rate")
            wrote = ("" if rows is None or stored is None else
                     f"; the warehouse wrote {fmt_int(rows)} `tracks` rows for {fmt_int(stored)} stored (median run)")
            p99 = med([d["p99_ms"] for d in D[kind + "-warehouse"]])
            L.append(f"| With the warehouse delivering (default config), {label}, stored | {fmt_int(wh)} events/s{ref}, "
                     f"p99 {fmt_ms(p99)} ms{wrote} | | |")
    L.append(f"| Half load (paced): offered {fmt_int(half_target)}, achieved {fmt_int(half_rate)} events/s — p50 / p99 "
             f"| {fmt_ms(half_p50)} / {fmt_ms(half_p99)} ms | p99 ≤ {TARGET_HALF_P99_MS:g} ms | {verdict_of(ok_half)} |")
    L.append(f"| Disk: 4 KB write + `fdatasync`, p50 / p99 ({fsync['iterations']} iterations) "
             f"| {fmt_ms(fsync['p50_ms'])} / {fmt_ms(fsync['p99_ms'])} ms (max {fmt_ms(fsync['max_ms'])}) | | |")
    L.append(f"| Gateway peak RSS (VmHWM, max over runs) | {'n/a' if peak_rss_mb is None else f'{peak_rss_mb:.0f} MiB'} "
             f"| ≤ {TARGET_RSS_MB:g} MB | {verdict_of(ok_rss)} |")
    mean_parts = []
    cap_parts = []
    for p, label in (("single", "single-event"), ("half", "half load"), ("batch", "batch")):
        mean, count, ms = commit[p]
        if mean is not None:
            mean_parts.append(f"{label} {mean:.1f}")
            if ms and p == "half":  # not saturated: commits are not back to back, so no ceiling to derive
                cap_parts.append(f"{label} {ms:.2f} ms = {ms * 1000 / mean:.0f} µs/event")
            elif ms:
                cap_parts.append(f"{label} {ms:.2f} ms = {ms * 1000 / mean:.0f} µs/event → ≤ {mean / ms * 1000:,.0f} events/s")
    cpu_parts = []
    for p, label in (("nginx", "nginx"), ("single", "single-event"), ("batch", "batch"),
                     ("single-warehouse", "single-event + warehouse"), ("batch-warehouse", "batch + warehouse"),
                     ("half", "half load")):
        srv = med([d.get("server_cores") for d in D[p]])
        wrk = med([d.get("wrk_cores") for d in D[p]])
        if srv is not None:
            cpu_parts.append(f"{label} {srv:.2f} + wrk {wrk:.2f}")
    if cpu_parts:
        L.append(f"| CPU used, server + load generator (cores of {machine['nproc']}, median) "
                 f"| {'; '.join(cpu_parts)} | | |")
    L.append(f"| Mean events per commit (`switchyard_commit_batch_events` sum/count) "
             f"| {'; '.join(mean_parts) if mean_parts else 'n/a'} | | |")
    if cap_parts:
        L.append(f"| Mean commit duration (`switchyard_commit_duration_seconds`), per event, and under full load "
                 f"the rate that commits one at a time allow | {'; '.join(cap_parts)} | | |")
    L.append("")

    L.append("<details><summary>Every run</summary>")
    L.append("")
    L.append("| phase | run | req/s | events/s acked | events/s stored | p50 ms | p99 ms | max ms | non-2xx | socket errors | stored check | RSS MiB | CPU cores: server / wrk / other |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in recs:
        d = derive(r)
        check = "—"
        if not r["phase"].startswith("nginx"):
            w = [x for x in warnings_for(r) if "MISMATCH" in x]
            check = "ok" if not w and r.get("stored") is not None else ("MISMATCH" if w else "n/a")
            if r.get("warehouse_rows") is not None:
                check += f"; warehouse {r['warehouse_rows']:,} tracks rows"
        L.append(f"| {r['phase']} | {r['run']} | {fmt_int(d['rps'])} | "
                 f"{fmt_int(d['acked_eps']) if not r['phase'].startswith('nginx') else ''} | "
                 f"{fmt_int(d.get('stored_eps')) if not r['phase'].startswith('nginx') else ''} | "
                 f"{fmt_ms(d['p50_ms'])} | {fmt_ms(d['p99_ms'])} | {fmt_ms(d['max_ms'])} | {d['non_2xx']} | "
                 f"{d['socket_errors']} | {check} | "
                 f"{'' if not r.get('rss_kb') else format(r['rss_kb'] / 1024, '.0f')} | "
                 f"{'' if d.get('server_cores') is None else format(d['server_cores'], '.2f') + ' / ' + format(d['wrk_cores'], '.2f') + ' / ' + format(d['other_cores'], '.2f')} |")
    L.append("")
    L.append("Stored check: the rows in `events` equal the gateway's own count of `200` responses × events per "
             f"request, and lie between wrk's count of `200`s × events and that plus {CONNECTIONS} requests "
             "(wrk stops its clock with up to one request per connection in flight).")
    L.append("")
    L.append("</details>")
    L.append("")

    L.append("### Against the targets")
    L.append("")
    if ok_ratio is not None:
        L.append(f"- Single-event durable ingest: {ratio:.3f}× nginx, target ≥ {TARGET_RATIO}× — "
                 f"{'met' if ok_ratio else 'missed'}.")
    if ok_batch is not None:
        L.append(f"- Batch: {fmt_int(batch_stored)} events/s stored = {batch_ratio:.2f}× nginx's single-request rate, "
                 f"target ≥ {TARGET_BATCH_RATIO}× — "
                 f"{'met' if ok_batch else f'missed ({batch_ratio / TARGET_BATCH_RATIO:.0%} of the target)'}.")
    if ok_identity is not None:
        L.append("- Identity on vs off: " + "; ".join(f"{k} {c[2]:+.0f} %" for k, c in identity_cost.items())
                 + f", target ≤ {TARGET_IDENTITY_PCT:g} % slower — {'met' if ok_identity else 'missed'}.")
    if ok_half is not None:
        L.append(f"- p99 acknowledgement at half load: {fmt_ms(half_p99)} ms, target ≤ {TARGET_HALF_P99_MS:g} ms — "
                 f"{'met' if ok_half else 'missed'}.")
    if ok_rss is not None:
        L.append(f"- Peak RSS: {peak_rss_mb:.0f} MiB, target ≤ {TARGET_RSS_MB:g} MB — {'met' if ok_rss else 'missed'}.")
    if unreliable:
        L.append("- These verdicts come from a run on a busy machine (see above) and do not count.")
    if noisy:
        L.append(f"- Machine not quiet (other processes over {OTHER_LOAD_WARN} cores) during: "
                 + ", ".join(w.split(":")[0] for w in noisy) + " — see the last column of *Every run*.")
    if warnings:
        L.append("")
        L.append("**Anomalies during the run:**")
        L.append("")
        for w in warnings:
            L.append(f"- {w}")
    else:
        L.append("- No errors: every response was a 200, no socket errors, stored counts match acknowledgements.")
    L.append("")

    if a.profile and os.path.exists(a.profile) and os.path.getsize(a.profile) > 0:
        L.append("### Where the time goes")
        L.append("")
        with open(a.profile) as f:
            L.append(f.read().rstrip())
        L.append("")
    L.append(END)
    section = "\n".join(L) + "\n"

    if a.no_write:
        sys.stdout.write(section)
        return
    header = ("# Benchmarks\n\n"
              "Measured figures, one section per benchmark script, each written by its script between "
              "`<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` markers; a script replaces only its "
              "own section. Performance targets live here, not in timed unit tests. The machine is noisy: "
              "compare ratios and medians taken side by side in one run, not absolute figures across runs.\n\n")
    text = open(a.out).read() if os.path.exists(a.out) else header
    if START in text and END in text and text.index(START) < text.index(END):
        before = text[:text.index(START)]
        after = text[text.index(END) + len(END):]
        text = before + section.rstrip("\n") + after
        if not text.endswith("\n"):
            text += "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)
    sys.stdout.write(section)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--phase", required=True)
    r.add_argument("--run", type=int, required=True)
    r.add_argument("--events-per-request", type=int, required=True)
    r.add_argument("--wrk-out", required=True)
    r.add_argument("--metrics")
    r.add_argument("--metrics-before")
    r.add_argument("--stored")
    r.add_argument("--rss-kb")
    r.add_argument("--cpu", help="WALL,MACHINE_BUSY,SERVER,WRK seconds over the wrk run")
    r.add_argument("--log")
    r.add_argument("--max-requests")
    r.add_argument("--target-rate")
    r.add_argument("--warehouse-rows")
    h = sub.add_parser("half-load")
    h.add_argument("results")
    pc = sub.add_parser("perf-children")
    pc.add_argument("file")
    pc.add_argument("limit", type=int, nargs="?", default=20)
    cp = sub.add_parser("cpu-per-request")
    cp.add_argument("results")
    cp.add_argument("phase")
    pb = sub.add_parser("perf-breakdown")
    pb.add_argument("file")
    pb.add_argument("--cpu-us-per-request", type=float)
    c = sub.add_parser("check")
    c.add_argument("results")
    d = sub.add_parser("render")
    d.add_argument("--results", required=True)
    d.add_argument("--machine", required=True)
    d.add_argument("--fsync", required=True)
    d.add_argument("--profile")
    d.add_argument("--command", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--quick", action="store_true")
    d.add_argument("--no-write", action="store_true")
    a = p.parse_args()
    {"record": cmd_record, "half-load": cmd_half_load, "check": cmd_check, "render": cmd_render,
     "perf-children": cmd_perf_children, "perf-breakdown": cmd_perf_breakdown,
     "cpu-per-request": cmd_cpu_per_request}[a.cmd](a)


if __name__ == "__main__":
    main()
