#!/usr/bin/env python3
"""Hostile-load benchmark (issue 11, "Hostile input"): ingest throughput, memory and /healthz latency
while attackers send the worst requests found, side by side with the same load without them.

Each round runs, every phase with a fresh gateway and database:

  nginx     wrk against nginx `return 200` with the same script: the HTTP ceiling of this machine
  normal    wrk: single-event /v1/track, 32 connections (Benchmarks/ingest.lua, as scripts/bench)
  hostile   the same wrk load while 4 attack clients send the worst requests in a closed loop and
            64 slowloris connections dribble request heads
  attack    the attack clients alone (no wrk): what they cost an otherwise idle gateway

The attack clients run in their own process (so their work never delays the /healthz probe's clock);
each loops over four requests, one at a time, a new connection each:

  context   a gzip body of ~10 KB: 2,500 tiny events plus a 370 KB batch-level `context`, and a wrong
            `writeKey` at the end of the body (no Authorization header); expected 401
  escape    `{"a":"\\u` — a `\\u` escape cut off at the end (8 bytes), with the right key; expected 400
  header    a 100 KB request header; expected 431
  nested    a batch of 2,500 elements, each an array nested 64 deep (~320 KB); expected 400

and a fifth thread keeps 64 connections open that send one byte of a request head per second
(slowloris); the gateway should close them after server.timeouts.head.

During every gateway phase a probe opens a new connection for `GET /healthz` every 100 ms (latency up to
the full answer) and a sampler reads VmRSS from /proc every 100 ms; VmHWM is read at the end. After a
phase with attackers, /healthz and one valid event must still answer 200.

Writes the section between <!-- bench:hostile:start --> and <!-- bench:hostile:end --> of BENCHMARKS.md.
All traffic goes to 127.0.0.1; every loop is bounded in time.

    hostile_bench.py [--quick] [--write|--no-write] [--binary PATH] [--rounds N] [--duration S]
    hostile_bench.py --from-json .build-release/bench-hostile-last.json [--write]   (re-render, no measuring)
    hostile_bench.py attack --port P --seconds S --out FILE      (the attack process; used internally)
"""
import argparse, base64, gzip, json, os, platform, random, re, shutil, socket, statistics, subprocess, sys
import tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pipeline_bench import REPO, Gateway, Nginx, free_port, write_section  # noqa: E402
from bench_report import parse_wrk  # noqa: E402

KEY = "bench-key"
BASIC = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
CONNECTIONS = 32
SLOWLORIS = 64
ATTACK_CLIENTS = 4


def log(*args):
    print(f"[hostile-bench {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ attack requests

def raw_request(path, body=b"", headers=()):
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def attack_requests():
    """The four worst requests, built once: name -> raw HTTP bytes."""
    tiny = b'{"type":"track","event":"e","userId":"u"}'
    # 370 KB of padding with one random hex digit in 48, so the gzip body is about 10 KB, as in the issue.
    rng = random.Random(11)
    pad = "".join("x" * 47 + rng.choice("0123456789abcdef") for _ in range(370_000 // 48)).encode()
    context_body = (b'{"context":{"pad":"' + pad + b'"},"batch":[' + b",".join([tiny] * 2500) +
                    b'],"writeKey":"not-a-key"}')
    context_gzip = gzip.compress(context_body, 9)
    nested = b"[" * 64 + b"]" * 64
    nested_body = b'{"batch":[' + b",".join([nested] * 2500) + b"]}"
    return {
        "context": raw_request("/v1/batch", context_gzip,
                               [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]),
        "escape": raw_request("/v1/track", b'{"a":"\\u', [("Content-Type", "application/json"),
                                                          ("Authorization", BASIC)]),
        "header": raw_request("/v1/track", b'{"userId":"u","event":"e"}',
                              [("Content-Type", "application/json"), ("Authorization", BASIC),
                               ("X-Padding", "a" * 100_000)]),
        "nested": raw_request("/v1/batch", nested_body, [("Content-Type", "application/json"),
                                                         ("Authorization", BASIC)]),
    }, {"context_plain_bytes": len(context_body), "context_gzip_bytes": len(context_gzip),
        "nested_bytes": len(nested_body)}


def send_raw(port, data, timeout=10.0):
    """Sends one request on a new connection; returns (status or an error word, seconds)."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            try:
                s.sendall(data)
            except OSError:
                pass  # the gateway may answer (431, 413) and close before taking the whole request
            answer = b""
            while b"\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
            # Read to the end (Connection: close), bounded by the socket timeout.
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
        line = answer.split(b"\r\n", 1)[0].split()
        status = line[1].decode() if len(line) >= 2 else "closed"
    except socket.timeout:
        status = "timeout"
    except OSError:
        status = "reset"
    return status, time.monotonic() - start


def attack(args):
    """The attack process: ATTACK_CLIENTS closed-loop clients and the slowloris holder, for args.seconds."""
    requests, sizes = attack_requests()
    names = list(requests)
    deadline = time.monotonic() + args.seconds
    counts = {name: {} for name in names}
    lock = threading.Lock()

    def client(offset):
        i = offset
        while time.monotonic() < deadline:
            name = names[i % len(names)]
            i += 1
            status, _ = send_raw(args.port, requests[name])
            with lock:
                counts[name][status] = counts[name].get(status, 0) + 1

    slow = {"opened": 0, "closed_by_gateway": 0, "close_after_s": [], "status": {}}

    def slowloris():
        head = b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        conns = []  # [socket, opened_at, bytes_sent]

        def open_one():
            try:
                s = socket.create_connection(("127.0.0.1", args.port), timeout=2)
                s.sendall(head[:1])
                s.setblocking(False)
                conns.append([s, time.monotonic(), 1])
                slow["opened"] += 1
            except OSError:
                pass

        while time.monotonic() < deadline:
            while len(conns) < SLOWLORIS and time.monotonic() < deadline:
                open_one()
            tick = time.monotonic()
            for entry in list(conns):
                s, opened, sent = entry
                closed = False
                try:
                    data = s.recv(4096)
                    if data == b"":
                        closed = True
                    else:
                        line = data.split(b"\r\n", 1)[0].split()
                        code = line[1].decode() if len(line) >= 2 else "?"
                        slow["status"][code] = slow["status"].get(code, 0) + 1
                        closed = True
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                if not closed:
                    try:
                        s.send(head[sent:sent + 1] if sent < len(head) else b"a")
                        entry[2] = sent + 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                if closed:
                    slow["closed_by_gateway"] += 1
                    slow["close_after_s"].append(time.monotonic() - opened)
                    s.close()
                    conns.remove(entry)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        for s, _, _ in conns:
            s.close()

    started = time.monotonic()
    cpu0 = os.times()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(ATTACK_CLIENTS)]
    threads.append(threading.Thread(target=slowloris))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu1 = os.times()
    wall = time.monotonic() - started
    close_after = sorted(slow.pop("close_after_s"))
    json.dump({
        "seconds": wall, "sizes": sizes, "requests": counts,
        "slowloris": dict(slow, close_after_p50_s=close_after[len(close_after) // 2] if close_after else None),
        "cpu_cores": ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall,
    }, open(args.out, "w"))


# ------------------------------------------------------------------------------------------ probes

class Probe:
    """/healthz on a new connection every 100 ms, and VmRSS every 100 ms, until stopped."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.stop_flag = threading.Event()
        self.latencies = []
        self.failures = 0
        self.rss_kb = []
        self.threads = [threading.Thread(target=self.health), threading.Thread(target=self.memory)]
        for t in self.threads:
            t.start()

    def health(self):
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        while not self.stop_flag.is_set():
            tick = time.monotonic()
            status, seconds = send_raw(self.gateway.port, request, timeout=10.0)
            if status == "200":
                self.latencies.append(seconds)
            else:
                self.failures += 1
            self.stop_flag.wait(max(0.0, 0.1 - (time.monotonic() - tick)))

    def memory(self):
        while not self.stop_flag.is_set():
            kb = status_kb(self.gateway.proc.pid, "VmRSS")
            if kb:
                self.rss_kb.append(kb)
            self.stop_flag.wait(0.1)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        lat = sorted(self.latencies)

        def pct(p):
            return lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else None

        return {"health_p50_ms": pct(0.50), "health_p99_ms": pct(0.99), "health_max_ms": lat[-1] * 1000 if lat else None,
                "health_probes": len(lat), "health_failures": self.failures,
                "rss_max_mib": max(self.rss_kb) / 1024 if self.rss_kb else None,
                "hwm_mib": (status_kb(self.gateway.proc.pid, "VmHWM") or 0) / 1024}


def status_kb(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ------------------------------------------------------------------------------------------ phases

def machine_busy_seconds():
    """CPU seconds all cores spent busy (user, nice, system, irq, softirq, steal) since boot."""
    fields = open("/proc/stat").readline().split()[1:]
    ticks = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7))
    return ticks / os.sysconf("SC_CLK_TCK")


QUIET_WAIT = [60]


def wait_quiet():
    """Before a phase (when nothing of ours runs): waits up to QUIET_WAIT s for other processes to use less
    than 0.25 cores, sampled over 1 s; returns the cores they used last, which the report shows."""
    deadline = time.monotonic() + QUIET_WAIT[0]
    while True:
        b0 = machine_busy_seconds()
        time.sleep(1)
        busy = machine_busy_seconds() - b0
        if busy < 0.25 or time.monotonic() >= deadline:
            if busy >= 0.25:
                log(f"  the machine is busy ({busy:.2f} cores used by others); measuring anyway, the report says so")
            return busy
        time.sleep(4)


RUN_TAG = [int(time.time()) % 1_000_000 * 100]


def run_wrk(port, seconds, out):
    RUN_TAG[0] += 1
    max_requests = seconds * 400_000
    cmd = ["timeout", "--kill-after=5", str(seconds + 60), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
           "--timeout", "10s", "--latency", "-s", os.path.join(HERE, "ingest.lua"), f"http://127.0.0.1:{port}",
           "--", "/v1/track", "1", "0", str(RUN_TAG[0]), str(max_requests)]
    with open(out, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    w = parse_wrk(out)
    s = w["duration_us"] / 1e6
    return {"rps": w["requests"] / s, "ok_per_s": (w["requests"] - w["errors_status"]) / s,
            "non_2xx": w["errors_status"], "socket_errors": w["errors_connect"] + w["errors_read"] + w["errors_write"]
            + w["errors_timeout"], "p50_ms": w["lat_p50_us"] / 1000, "p99_ms": w["lat_p99_us"] / 1000}


def start_attack(port, seconds, work, name):
    out = os.path.join(work, f"attack-{name}.json")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "attack", "--port", str(port), "--seconds",
                             str(seconds), "--out", out])
    return proc, out


def finish_attack(proc, out, seconds):
    try:
        proc.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError("the attack process did not finish")
    if proc.returncode != 0:
        raise RuntimeError(f"the attack process failed (exit {proc.returncode})")
    return json.load(open(out))


def still_serves(gateway):
    """/healthz and one valid event answer 200 after the attack."""
    health, _ = send_raw(gateway.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    body = b'{"userId":"after-attack","event":"Still Here","messageId":"after-attack-%d"}' % RUN_TAG[0]
    event, _ = send_raw(gateway.port, raw_request("/v1/track", body, [("Content-Type", "application/json"),
                                                                       ("Authorization", BASIC)]))
    return health == "200" and event == "200", f"/healthz {health}, valid event {event}"


def gateway_phase(binary, work, name, seconds, load, attackers):
    others = wait_quiet()
    gateway = Gateway(binary, work, name, destinations="")
    try:
        result = {"phase": name, "others_cores": others}
        attack_proc = None
        if attackers:
            attack_proc, attack_out = start_attack(gateway.port, seconds + 2, work, name)
            time.sleep(1)  # the attack is under way before anything is measured
        probe = Probe(gateway)
        if load:
            result["wrk"] = run_wrk(gateway.port, seconds, os.path.join(work, f"wrk-{name}.txt"))
        else:
            time.sleep(seconds)
        result.update(probe.stop())
        if attack_proc:
            result["attack"] = finish_attack(attack_proc, attack_out, seconds + 2)
            ok, detail = still_serves(gateway)
            result["survived"] = ok
            result["survived_detail"] = detail
        if gateway.proc.poll() is not None:
            result["survived"] = False
            result["survived_detail"] = f"the gateway exited with {gateway.proc.returncode}"
        return result
    finally:
        gateway.stop()


def nginx_phase(work, name, seconds):
    others = wait_quiet()
    nginx = Nginx(work)
    try:
        return {"phase": name, "others_cores": others,
                "wrk": run_wrk(nginx.port, seconds, os.path.join(work, f"wrk-{name}.txt"))}
    finally:
        nginx.stop()


# ------------------------------------------------------------------------------------------ report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec=",.0f", unit=""):
    return "—" if value is None else f"{value:{spec}}{unit}"


def report(runs, args, binary, command):
    by = {name: [r for r in runs if r["phase"].startswith(name)] for name in ("nginx", "normal", "hostile", "attack")}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.split("\n")[0] \
        if shutil.which("swift") else "?"
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split(" [")[0]
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "Sources", "Package.swift"],
                           capture_output=True, text=True).stdout.strip() != ""
    build = ("release build" if "/release/" in binary else "debug build" if "/debug/" in binary
             else f"the binary `{binary}`")

    def col(phase, key, sub="wrk"):
        return med([(r.get(sub) or {}).get(key) if sub else r.get(key) for r in by[phase]])

    normal_eps, hostile_eps = col("normal", "ok_per_s"), col("hostile", "ok_per_s")
    nginx_rps = col("nginx", "rps")
    ingest_ratio, ingest_date = ingest_section_ratio()
    drop = (1 - hostile_eps / normal_eps) * 100 if normal_eps and hostile_eps else None
    # Per round, normal and attacked phases measured back to back; a negative drop is a gain (noise).
    per_round = ", ".join(f"{(1 - h['wrk']['ok_per_s'] / n['wrk']['ok_per_s']) * 100:.1f} %"
                          for n, h in zip(by["normal"], by["hostile"]))
    attacks = [r["attack"] for r in by["hostile"] + by["attack"] if "attack" in r]
    sizes = attacks[0]["sizes"] if attacks else {}
    kinds = ["context", "escape", "header", "nested"]
    expected = {"context": "401", "escape": "400", "header": "431", "nested": "400"}
    answered = {}
    for kind in kinds:
        statuses = {}
        for a in attacks:
            for status, count in a["requests"][kind].items():
                statuses[status] = statuses.get(status, 0) + count
        answered[kind] = statuses
    total_seconds = sum(a["seconds"] for a in attacks) or 1
    slow_closed = sum(a["slowloris"]["closed_by_gateway"] for a in attacks)
    slow_opened = sum(a["slowloris"]["opened"] for a in attacks)
    slow_after = med([a["slowloris"]["close_after_p50_s"] for a in attacks])
    slow_status = {}
    for a in attacks:
        for code, count in a["slowloris"]["status"].items():
            slow_status[code] = slow_status.get(code, 0) + count
    slow_answers = ", ".join(f"{code} × {count:,}" for code, count in sorted(slow_status.items())) or "none"
    survived = all(r.get("survived", True) for r in runs)
    failures = {p: sum(r.get("health_failures", 0) for r in by[p]) for p in ("normal", "hostile", "attack")}

    def slowest(phase):
        values = [r.get("health_max_ms") for r in by[phase] if r.get("health_max_ms") is not None]
        return max(values) if values else None

    def statuses_text(kind):
        s = answered[kind]
        return ", ".join(f"{k} × {v:,}" for k, v in sorted(s.items(), key=lambda kv: -kv[1])) or "none"

    text = f"""<!-- bench:hostile:start -->
## Hostile load (issue: Hostile input)

_Written by `scripts/bench-hostile`; re-running it replaces this section only._

- **Date**: {args.measured_at}
- **Machine**: {os.cpu_count()} cores ({cpu}), {int(mem) / 1048576:.1f} GiB RAM, {platform.platform()}
- **Source**: commit `{commit}`{" with uncommitted changes under Sources/" if dirty else ""}, {build}, {swift}
- **Command**: `{command}`{"" if build == "release build" else chr(10) + "- **Not a release build**: throughput and latency are far below what a release build does and do not compare with the other sections; memory, the answers to the attack and survival do."}
- **Load**: {wrk_version}, 1 thread, {CONNECTIONS} connections, single-event `/v1/track` (Benchmarks/ingest.lua,
  as `scripts/bench`), {args.duration} s per phase, {args.rounds} round(s), median reported; a fresh gateway
  (SQLite, `synchronous: full`, `max_pending_events: 200000` as in `scripts/bench`, default limits and
  timeouts, no destinations) per phase; nginx `return 200` with the same script as the ceiling. Load,
  attackers and gateway share the cores; loopback only.
- **Attack**: {ATTACK_CLIENTS} clients in their own process, each sending in a closed loop, one request per
  new connection: **context** — {sizes.get('context_gzip_bytes', 0):,} bytes of gzip ({sizes.get('context_plain_bytes', 0):,} decompressed:
  2,500 tiny events and a 370 KB batch `context`) with a wrong `writeKey` at the end; **escape** —
  `{{"a":"\\u` (8 bytes); **header** — a 100 KB header; **nested** — a batch of 2,500 arrays nested 64
  deep ({sizes.get('nested_bytes', 0):,} bytes); plus {SLOWLORIS} slowloris connections sending one byte of a request
  head per second.
- **Other work on the machine**: before each phase the script waits (up to {args.quiet_wait} s) for other processes
  to use less than 0.25 cores; the most they used at a phase start: {max((r.get("others_cores") or 0) for r in runs):.2f} cores{" — **the figures are disturbed**" if max((r.get("others_cores") or 0) for r in runs) >= 0.25 else ""}.
- **Probes**: `GET /healthz` on a new connection every 100 ms (latency to the full answer); VmRSS from
  `/proc` every 100 ms, VmHWM at the end of the phase.

| Measure | normal load | normal load + attack | attack alone |
|---|---:|---:|---:|
| `/v1/track` events/s acknowledged (nginx ceiling: {fmt(nginx_rps)} req/s) | {fmt(normal_eps)} | {fmt(hostile_eps)} | |
| ratio to nginx (the Ingest section's single-event ratio{f", {ingest_date}" if ingest_date else ""}: {fmt(ingest_ratio, '.3f', '×')}) | {fmt(normal_eps / nginx_rps if normal_eps and nginx_rps else None, '.3f', '×')} | {fmt(hostile_eps / nginx_rps if hostile_eps and nginx_rps else None, '.3f', '×')} | |
| throughput drop under attack (per round) | | **{fmt(drop, '.1f', ' %')}** ({per_round}) | |
| ingest p50 / p99 | {fmt(col('normal', 'p50_ms'), '.2f')} / {fmt(col('normal', 'p99_ms'), '.2f')} ms | {fmt(col('hostile', 'p50_ms'), '.2f')} / {fmt(col('hostile', 'p99_ms'), '.2f')} ms | |
| non-2xx answers to the load / socket errors | {fmt(col('normal', 'non_2xx'))} / {fmt(col('normal', 'socket_errors'))} | {fmt(col('hostile', 'non_2xx'))} / {fmt(col('hostile', 'socket_errors'))} | |
| `/healthz` p50 / p99 | {fmt(col('normal', 'health_p50_ms', None), '.1f')} / {fmt(col('normal', 'health_p99_ms', None), '.1f')} ms | {fmt(col('hostile', 'health_p50_ms', None), '.1f')} / {fmt(col('hostile', 'health_p99_ms', None), '.1f')} ms | {fmt(col('attack', 'health_p50_ms', None), '.1f')} / {fmt(col('attack', 'health_p99_ms', None), '.1f')} ms |
| `/healthz` slowest / failed probes (all rounds) | {fmt(slowest('normal'), '.1f')} ms / {failures['normal']} | {fmt(slowest('hostile'), '.1f')} ms / {failures['hostile']} | {fmt(slowest('attack'), '.1f')} ms / {failures['attack']} |
| gateway RSS: highest VmRSS sample / VmHWM | {fmt(col('normal', 'rss_max_mib', None))} / {fmt(col('normal', 'hwm_mib', None))} MiB | {fmt(col('hostile', 'rss_max_mib', None))} / {fmt(col('hostile', 'hwm_mib', None))} MiB | {fmt(col('attack', 'rss_max_mib', None))} / {fmt(col('attack', 'hwm_mib', None))} MiB |

Attack requests answered (all phases with attackers, {total_seconds:,.0f} s in all; attack clients used
{fmt(med([a['cpu_cores'] for a in attacks]), '.2f')} cores):

| request | expected | answers | per second |
|---|---|---|---:|
""" + "".join(
        f"| {kind} | {expected[kind]} | {statuses_text(kind)} | {sum(answered[kind].values()) / total_seconds:,.1f} |\n"
        for kind in kinds) + f"""| slowloris | closed after `server.timeouts.head` | {slow_closed:,} of {slow_opened:,} connections closed by the gateway (answers: {slow_answers}), median after {fmt(slow_after, '.1f', ' s')} (one byte a second) | |

After every phase with attackers, `/healthz` and a valid event answered 200: **{"yes" if survived else "NO — " + "; ".join(r.get("survived_detail", "") for r in runs if not r.get("survived", True))}**.
<!-- bench:hostile:end -->"""
    return text


def ingest_section_ratio():
    """scripts/bench's single-event ratio to nginx and its date, from BENCHMARKS.md: the same wrk script and
    settings, so comparing ratios (not absolute rates) across runs shows what the input checks cost."""
    try:
        text = open(os.path.join(REPO, "BENCHMARKS.md")).read()
    except OSError:
        return None, None
    section = text.split("<!-- bench:ingest:start -->", 1)[-1].split("<!-- bench:ingest:end -->", 1)[0]
    ratio = re.search(r"\| Single-event ratio to nginx \| ([0-9.]+)×", section)
    date = re.search(r"\*\*Date\*\*: ([^\n]+)", section)
    return (float(ratio.group(1)) if ratio else None), (date.group(1).strip() if date else None)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "attack":
        p = argparse.ArgumentParser()
        p.add_argument("attack")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--seconds", type=float, required=True)
        p.add_argument("--out", required=True)
        attack(p.parse_args())
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s phases, 1 round; prints, BENCHMARKS.md untouched")
    p.add_argument("--write", action="store_true", help="write BENCHMARKS.md even with --quick")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--binary", default=os.environ.get("BENCH_BINARY") or os.path.join(REPO, ".build-release/release/switchyard"))
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", type=int)
    p.add_argument("--command", default="scripts/bench-hostile")
    p.add_argument("--quiet-wait", type=int, default=int(os.environ.get("BENCH_QUIET_WAIT", "60")),
                   help="seconds to wait before each phase for other processes to go quiet (BENCH_QUIET_WAIT)")
    p.add_argument("--from-json", help="render the section from the raw figures of an earlier run, measuring nothing")
    args = p.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3 if args.quick else 10)
    QUIET_WAIT[0] = args.quiet_wait
    if args.from_json:
        saved = json.load(open(args.from_json))
        args.rounds, args.duration = saved["rounds"], saved["duration"]
        args.measured_at = saved.get("measured_at", "?")
        text = report(saved["runs"], args, saved["binary"], saved["command"])
        print(text)
        if args.write:
            write_section("hostile", text)
        return
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(f"no gateway binary at {args.binary}; build it (scripts/bench-hostile does) or pass --binary")
    # A real disk for the databases (fsync figures mean nothing on tmpfs); BENCH_TMPDIR overrides.
    work = tempfile.mkdtemp(prefix="switchyard-hostile.", dir=os.environ.get("BENCH_TMPDIR"))
    runs = []
    args.measured_at = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    try:
        for n in range(1, args.rounds + 1):
            log(f"round {n}: nginx ceiling, {args.duration}s")
            runs.append(nginx_phase(work, f"nginx-{n}", args.duration))
            log(f"  {runs[-1]['wrk']['rps']:,.0f} req/s")
            log(f"round {n}: normal load, {args.duration}s")
            runs.append(gateway_phase(args.binary, work, f"normal-{n}", args.duration, load=True, attackers=False))
            r = runs[-1]
            log(f"  {r['wrk']['ok_per_s']:,.0f} events/s, /healthz p99 {fmt(r['health_p99_ms'], '.1f')} ms, "
                f"VmHWM {r['hwm_mib']:.0f} MiB")
            log(f"round {n}: normal load + attack, {args.duration}s")
            runs.append(gateway_phase(args.binary, work, f"hostile-{n}", args.duration, load=True, attackers=True))
            r = runs[-1]
            log(f"  {r['wrk']['ok_per_s']:,.0f} events/s, /healthz p99 {fmt(r['health_p99_ms'], '.1f')} ms, "
                f"VmHWM {r['hwm_mib']:.0f} MiB, attack: { {k: v for k, v in r['attack']['requests'].items()} }, "
                f"after: {r['survived_detail']}")
            log(f"round {n}: attack alone, {args.duration}s")
            runs.append(gateway_phase(args.binary, work, f"attack-{n}", args.duration, load=False, attackers=True))
            r = runs[-1]
            log(f"  /healthz p99 {fmt(r['health_p99_ms'], '.1f')} ms, VmHWM {r['hwm_mib']:.0f} MiB, "
                f"after: {r['survived_detail']}")
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            log("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report(runs, args, args.binary, args.command)
    print(text)
    os.makedirs(os.path.join(REPO, ".build-release"), exist_ok=True)
    json.dump({"runs": runs, "rounds": args.rounds, "duration": args.duration, "binary": args.binary,
               "command": args.command, "measured_at": args.measured_at}, open(os.path.join(REPO, ".build-release", "bench-hostile-last.json"), "w"),
              indent=1)
    if args.no_write or (args.quick and not args.write):
        log("BENCHMARKS.md not changed (--write to change it)")
        return
    write_section("hostile", text)


if __name__ == "__main__":
    main()
