#!/usr/bin/env python3
"""Delivery and identity benchmarks (issues: delivery engine, identity), side by side in one run.

Runs the release `switchyard` binary against real loopback sinks (nginx answering 200, as a webhook
receiver) and the warehouse on the local disk, and measures:

  fan-out     delivered events/s per destination (webhook batch 500 + warehouse) while ingesting
  lag         lag_seconds p50/p99 of both destinations under steady load at half the ingest maximum
  dead        peak RSS with one destination dead (connection refused) and a large backlog
  release     100k held anonymous events of one visitor released by one identify: time to the last
  identify    identifies/s with a merge each, next to plain tracks
  identity    batch ingest events/s with identity resolution on and off

Writes the section between <!-- bench:pipeline:start --> and <!-- bench:pipeline:end --> of
BENCHMARKS.md. All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""
import argparse, base64, http.client, json, os, platform, shutil, signal, statistics, subprocess, sys
import tempfile, threading, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "bench-key"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
ADMIN_TOKEN = "bench-admin-token"


def log(*args):
    print("[pipeline-bench]", *args, file=sys.stderr, flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx answering every POST with 200: the fastest webhook receiver this machine has."""

    def __init__(self, work):
        self.dir = os.path.join(work, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        template = open(os.path.join(REPO, "Benchmarks/nginx.conf.template")).read()
        conf = template.replace("@DIR@", self.dir).replace("@PORT@", str(self.port))
        conf = conf.replace("client_max_body_size 1m;", "client_max_body_size 64m;")
        open(os.path.join(self.dir, "nginx.conf"), "w").write(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-e", os.path.join(self.dir, "error.log"), "-p", self.dir, "-c",
                                      os.path.join(self.dir, "nginx.conf")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_http(self.port, "/", method="POST")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def wait_http(port, path, method="GET", timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request(method, path, body=b"{}" if method == "POST" else None)
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


class Gateway:
    def __init__(self, binary, work, name, destinations, identity="", extra=""):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        config = os.path.join(self.dir, "switchyard.yaml")
        open(config, "w").write(f"""
server:
  listen: 127.0.0.1:{self.port}
  admin_token: {ADMIN_TOKEN}
  max_pending_events: 200000
{extra}
storage:
  sqlite: {self.dir}/switchyard.db
sources:
  - name: bench
    write_key: {KEY}
identity:
  anonymous_ttl: 30d
{identity}
destinations:
{destinations or "  []"}
""")
        self.proc = subprocess.Popen([binary, "serve", "--config", config, "--log-level", "warning"], cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
        wait_http(self.port, "/healthz")
        self.conn = threading.local()

    def request(self, method, path, body=None):
        c = getattr(self.conn, "c", None)
        if c is None:
            c = self.conn.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        # The admin API takes the admin token only; ingest the source's write key.
        auth = f"Bearer {ADMIN_TOKEN}" if path.startswith("/api/") else AUTH
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            self.conn.c = None
            raise

    def post_batch(self, events):
        body = b'{"batch":[' + b",".join(events) + b"]}"
        for _ in range(100):  # 429 (back-pressure) means wait and send again; bounded
            status, answer = self.request("POST", "/v1/batch", body)
            if status == 200:
                return
            if status != 429:
                raise RuntimeError(f"ingest answered {status}: {answer[:200]!r}")
            time.sleep(0.05)
        raise RuntimeError("ingest kept answering 429")

    def destinations(self):
        status, body = self.request("GET", "/api/destinations")
        return {d["name"]: d for d in json.loads(body)["destinations"]}

    def rss(self):
        fields = {}
        for line in open(f"/proc/{self.proc.pid}/status"):
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def events(prefix, count, kind="track", user=True, anonymous="a-{v}", visitors=5000):
    """Events of `visitors` people: visitor v always sends anonymousId a-v and, when `user`, userId u-v,
    so the first event of each visitor merges and the rest resolve to the person (realistic traffic)."""
    out = []
    for i in range(count):
        v = i % visitors
        ids = f'"anonymousId":"{anonymous.format(v=v, i=i)}"' + (f',"userId":"u-{v}"' if user else "")
        if kind == "track":
            out.append(f'{{"type":"track",{ids},"event":"Order Completed","messageId":"{prefix}-{i}",'
                       f'"properties":{{"total":42.5,"currency":"EUR","items":[{{"sku":"A-1","qty":2}}]}},'
                       f'"context":{{"library":{{"name":"analytics.js","version":"2.1"}},"page":{{"path":"/checkout"}}}}}}'.encode())
        elif kind == "page":
            out.append(f'{{"type":"page",{ids},"name":"Docs","messageId":"{prefix}-{i}","properties":{{"path":"/docs/{i % 50}"}}}}'.encode())
        elif kind == "identify":
            out.append(f'{{"type":"identify","anonymousId":"anon-{prefix}-{i}","userId":"user-{prefix}-{i}","messageId":"{prefix}-{i}","traits":{{"plan":"pro"}}}}'.encode())
    return out


def ingest(gateway, items, batch=500, threads=4):
    """Sends items in batches from several threads; returns seconds taken."""
    chunks = [items[i:i + batch] for i in range(0, len(items), batch)]
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        while True:
            with lock:
                if not chunks:
                    return
                chunk = chunks.pop()
            gateway.post_batch(chunk)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.monotonic() - start


def wait_for(gateway, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = gateway.destinations()
        if condition(status):
            return time.monotonic(), status
        time.sleep(0.02)
    raise RuntimeError(f"timed out; last status {status}")


def webhook(name, url, batch=500, extra=""):
    return f"""  - name: {name}
    type: webhook
    url: {url}
    batch: {{ max_events: {batch}, max_wait: 200ms, max_bytes: 8MiB }}
    timeout: 10s
{extra}"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(REPO, ".build-release/release/switchyard"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md even with --quick")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    n_fanout = int(200_000 * scale)
    n_dead = int(1_000_000 * scale)
    n_held = int(100_000 * scale)
    n_identify = int(20_000 * scale)
    n_ingest = int(100_000 * scale)
    lag_seconds = 5 if args.quick else 20
    work = tempfile.mkdtemp(prefix="switchyard-pipeline-", dir=os.environ.get("BENCH_TMPDIR"))
    results = {}
    nginx = Nginx(work)
    sink = f"http://127.0.0.1:{nginx.port}/hook"
    try:
        # 1. Fan-out while ingesting.
        gw = Gateway(args.binary, work, "fanout", webhook("hook", sink) + f"""
  - name: lake
    type: warehouse
    path: {work}/fanout/warehouse
    rotate: {{ max_bytes: 64MiB, max_age: 1s }}
    batch: {{ max_events: 5000, max_wait: 200ms, max_bytes: 16MiB }}
""")
        items = events("f", n_fanout)
        t0 = time.monotonic()
        ingest_time = ingest(gw, items)
        done = {}
        deadline = time.monotonic() + 600
        while len(done) < 2 and time.monotonic() < deadline:
            status = gw.destinations()
            for name in ("hook", "lake"):
                if name not in done and status[name]["delivered"] >= n_fanout:
                    done[name] = time.monotonic() - t0
            time.sleep(0.02)
        results["fanout"] = {"events": n_fanout, "ingest_eps": n_fanout / ingest_time,
                             "hook_eps": n_fanout / done["hook"], "lake_eps": n_fanout / done["lake"],
                             "rss_mb": gw.rss()[1]}
        log("fan-out", results["fanout"])
        ingest_max = n_fanout / ingest_time

        # 1b. Delivery capacity on its own: a backlog stored with no destination, then drained.
        lake_yaml = f"""
  - name: lake
    type: warehouse
    path: {work}/drain/warehouse
    rotate: {{ max_bytes: 64MiB, max_age: 1s }}
    batch: {{ max_events: 5000, max_wait: 200ms, max_bytes: 16MiB }}
"""
        drain = Gateway(args.binary, work, "drain", "")
        ingest(drain, events("b", n_fanout))
        drain.stop()
        drain = Gateway(args.binary, work, "drain", webhook("hook", sink) + lake_yaml)
        t0 = time.monotonic()
        done = {}
        deadline = time.monotonic() + 600
        while len(done) < 2 and time.monotonic() < deadline:
            status = drain.destinations()
            for name in ("hook", "lake"):
                if name not in done and status[name]["delivered"] >= n_fanout:
                    done[name] = time.monotonic() - t0
            time.sleep(0.02)
        results["drain"] = {"events": n_fanout, "hook_eps": n_fanout / done["hook"], "lake_eps": n_fanout / done["lake"],
                            "rss_mb": drain.rss()[1]}
        log("drain", results["drain"])
        drain.stop()

        # 2. Lag under steady load at half the ingest maximum (same gateway, warm).
        rate = ingest_max / 2
        batch = 100
        interval = batch / rate
        samples = {"hook": [], "lake": []}
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                status = gw.destinations()
                for name in samples:
                    samples[name].append(float(status[name]["lag_seconds"]))
                time.sleep(0.1)

        thread = threading.Thread(target=sampler)
        thread.start()
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < lag_seconds:
            gw.post_batch(events(f"lag{sent}", batch))
            sent += batch
            next_at = start + (sent / batch) * interval
            time.sleep(max(0, next_at - time.monotonic()))
        stop.set()
        thread.join()
        results["lag"] = {"rate": sent / (time.monotonic() - start), "seconds": lag_seconds}
        for name, values in samples.items():
            values.sort()
            results["lag"][name] = (statistics.median(values), values[int(len(values) * 0.99) - 1])
        log("lag", results["lag"])
        gw.stop()

        # 3. One destination dead, a large backlog: memory must stay bounded.
        gw = Gateway(args.binary, work, "dead", webhook("dead", "http://127.0.0.1:1/hook", extra="    retry: { max_age: 4h }")
                     + "\n" + webhook("alive", sink))
        ingest(gw, events("d", n_dead))
        _, status = wait_for(gw, lambda s: s["alive"]["delivered"] >= n_dead, 900)
        rss, peak = gw.rss()
        results["dead"] = {"events": n_dead, "rss_mb": rss, "peak_mb": peak, "lag_events": status["dead"]["lag_events"],
                           "db_mb": os.path.getsize(os.path.join(gw.dir, "switchyard.db")) // (1 << 20)}
        log("dead", results["dead"])
        gw.stop()

        # 4. Held events released by one identify.
        gw = Gateway(args.binary, work, "release", webhook("people", sink, extra="    anonymous: hold"))
        ingest(gw, events("h", n_held, kind="page", user=False, anonymous="visitor"))
        wait_for(gw, lambda s: s["people"]["held"] >= n_held, 600)
        t0 = time.monotonic()
        gw.post_batch([b'{"type":"identify","anonymousId":"visitor","userId":"person","messageId":"release"}'])
        t_ack = time.monotonic()
        t_done, _ = wait_for(gw, lambda s: s["people"]["delivered"] >= n_held + 1, 600)
        results["release"] = {"held": n_held, "ack_s": t_ack - t0, "seconds": t_done - t0}
        log("release", results["release"])
        gw.stop()

        # 5. Identify throughput (a merge each) next to plain tracks; 6. identity on and off.
        def rate_of(name, items, identity=""):
            g = Gateway(args.binary, work, name, "", identity=identity)
            seconds = ingest(g, items, batch=100)
            g.stop()
            return len(items) / seconds

        results["identify"] = {"identifies": rate_of("identify", events("i", n_identify, kind="identify")),
                               "tracks": rate_of("tracks", events("t", n_identify))}
        on, off = [], []
        for round in range(1 if args.quick else 3):
            on.append(rate_of(f"on{round}", events(f"on{round}", n_ingest)))
            off.append(rate_of(f"off{round}", events(f"off{round}", n_ingest), identity="  enabled: false"))
        results["identity"] = {"on": statistics.median(on), "off": statistics.median(off), "events": n_ingest}
        log("identify", results["identify"], "identity", results["identity"])
    finally:
        nginx.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(r, args):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    f, lag, dead, rel, idf, idn = r["fanout"], r["lag"], r["dead"], r["release"], r["identify"], r["identity"]
    dr = r["drain"]
    command = "scripts/bench-pipeline" + (" --quick" if args.quick else "")
    text = f"""<!-- bench:pipeline:start -->
## Delivery and identity (issues: delivery engine, identity)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} cores, {cpu}, {int(mem) // 1048576} GiB ·
{platform.platform()} · release build · command: `{command}`. Sinks: nginx answering 200 on loopback
(the webhook receiver), the warehouse writing gzipped NDJSON to the local disk. One run; the machine is
shared and noisy, read ratios and orders of magnitude.

| measure | result | target |
|---|---|---|
| fan-out, {f['events']:,} events: ingest (batches of 500, 4 clients) | {f['ingest_eps']:,.0f} events/s | |
| fan-out: webhook (batch 500) delivered while ingesting | {f['hook_eps']:,.0f} events/s | ≥ 50k/s |
| fan-out: warehouse delivered while ingesting | {f['lake_eps']:,.0f} events/s | ≥ 50k/s |
| delivery alone: a stored backlog of {dr['events']:,} drained to the webhook (batch 500) | {dr['hook_eps']:,.0f} events/s | ≥ 50k/s |
| delivery alone: the same backlog drained to the warehouse, at the same time | {dr['lake_eps']:,.0f} events/s | ≥ 50k/s |
| lag at half load ({lag['rate']:,.0f} events/s for {lag['seconds']} s), webhook p50 / p99 | {lag['hook'][0]:.2f} s / {lag['hook'][1]:.2f} s | p99 ≤ 1 s |
| lag at half load, warehouse p50 / p99 (files rotate every 1 s) | {lag['lake'][0]:.2f} s / {lag['lake'][1]:.2f} s | p99 ≤ 1 s |
| one destination dead, {dead['events']:,}-event backlog: RSS now / peak | {dead['rss_mb']} MB / {dead['peak_mb']} MB (database {dead['db_mb']} MB, lag {dead['lag_events']:,} events) | ≤ 150 MB |
| {rel['held']:,} held events of one visitor released by one identify: last delivered after | {rel['seconds']:.2f} s (identify acknowledged in {rel['ack_s'] * 1000:.0f} ms) | ≤ 2 s |
| identifies with a merge each (batches of 100) / plain tracks | {idf['identifies']:,.0f} / {idf['tracks']:,.0f} per s ({idf['identifies'] / idf['tracks']:.2f}×) | |
| batch ingest, identity on / off ({idn['events']:,} tracks with both ids of 5,000 visitors, median of rounds) | {idn['on']:,.0f} / {idn['off']:,.0f} events/s ({(1 - idn['on'] / idn['off']) * 100:+.0f} % slower with identity) | ≤ 10 % slower |

Where a figure misses its target, see the notes under this table.
<!-- bench:pipeline:end -->"""
    print(text)
    if args.quick and not args.write:
        return
    write_section("pipeline", text)


def write_section(name, text):
    """Replaces this benchmark's section of BENCHMARKS.md (between its markers), or appends it."""
    path = os.path.join(REPO, "BENCHMARKS.md")
    current = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    if start in current and end in current:
        current = current[:current.index(start)] + text + current[current.index(end) + len(end):]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    open(path, "w").write(current)
    log("wrote", path)


if __name__ == "__main__":
    main()
