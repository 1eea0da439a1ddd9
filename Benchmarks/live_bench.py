#!/usr/bin/env python3
"""Live view benchmark (issue 13): what a stalled `GET /api/live` subscriber costs ingest and memory.

SPEC §6: a slow or stalled subscriber never slows ingest or delivery, and with no subscriber the live
view costs nothing measurable. Runs the release `switchyard` binary with one webhook destination
(nginx answering 200 on loopback, batches of 100), and in alternating rounds ingests EVENTS events
from 4 client threads (/v1/batch of 100 events of ~500 bytes, one keep-alive connection each):

  none      nobody watches the live view
  stalled   one subscriber connected to /api/live that never reads (a 4 KB receive buffer, so its
            socket fills at once): every event still publishes an ingest, a route and its share of a
            delivery item, which its bounded buffer drops and counts
  control   nobody watches, again: the spread of control/none is what this machine's noise does to two
            identical phases, the yardstick for "within noise" (SPEC §6)

Each phase runs on a fresh gateway and database; a round runs the three in a rotating order. Per phase: ingest events/s (first request to last answer),
the gateway's peak VmRSS (sampled every 100 ms) and VmHWM. After a stalled phase the subscriber reads
its stream until the `gap` item and reports how many items it missed. Medians over rounds.

Writes the section between <!-- bench:live:start --> and <!-- bench:live:end --> of BENCHMARKS.md.
All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""
import argparse, os, platform, re, socket, statistics, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_bench import ADMIN_TOKEN, REPO, Gateway, Nginx, log, write_section  # noqa: E402


def status_kb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of the process so far (all its threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RSSSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            try:
                self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            time.sleep(0.1)


class StalledSubscriber:
    """GET /api/live with the admin token; reads the response head, then nothing until `drain()`."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1024)
            if not chunk:
                raise RuntimeError("the live view closed the connection")
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the live view answered {head[:80]!r}")

    def drain(self, timeout=60):
        """Reads until the first `gap` item; returns its `missed` count (None if none came in time)."""
        deadline = time.time() + timeout
        text = b""
        self.sock.settimeout(2)
        while time.time() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            text = (text + chunk)[-200000:]
            found = re.search(rb"event: gap\ndata: \{\"missed\":(\d+)\}", text)
            if found:
                return int(found.group(1))
        return None

    def close(self):
        self.sock.close()


EVENT = ('{"type":"track","event":"Order Completed","userId":"user-%04d","messageId":"%s-%08d",'
         '"properties":{"order_id":"50314b8e9bcf000000000000","total":27.5,"revenue":25.0,"currency":"USD",'
         '"products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition",'
         '"price":19,"quantity":1}]},"context":{"library":{"name":"analytics-python","version":"2.3.2"},'
         '"ip":"203.0.113.7"}}')
CLIENTS = 4


def ingest(gateway, events, tag):
    """Posts `events` in batches of 100 from CLIENTS threads, each on its own keep-alive connection;
    returns events/s from the first request to the last answer. Bodies are built before the clock starts."""
    bodies = [("{\"batch\":[" + ",".join(EVENT % (n % 10000, tag, n) for n in range(start, start + 100)) + "]}").encode()
              for start in range(0, events, 100)]
    shares = [bodies[i::CLIENTS] for i in range(CLIENTS)]
    failures = []

    def client(share):
        try:
            for body in share:
                gateway.post_batch_body(body)
        except Exception as error:  # reported below; a failed phase must not pass as fast
            failures.append(error)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    elapsed = time.perf_counter() - started
    if failures or any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"ingest failed: {failures[:3]}")
    return events / elapsed


def post(gateway, body):
    """One batch; 429 (back-pressure) means wait and send again, a bounded number of times."""
    for _ in range(200):
        status, answer = gateway.request("POST", "/v1/batch", body)
        if status == 200:
            return
        if status != 429:
            raise RuntimeError(f"ingest answered {status}: {answer[:200]!r}")
        time.sleep(0.02)
    raise RuntimeError("ingest kept answering 429")


def phase(binary, work, nginx, name, stalled, events, tag):
    destinations = f"""  - name: hook
    type: webhook
    url: http://127.0.0.1:{nginx.port}/hook
    batch: {{ max_events: 100, max_wait: 50ms }}"""
    gateway = Gateway(binary, work, name, destinations)
    gateway.post_batch_body = lambda body: post(gateway, body)
    subscriber = StalledSubscriber(gateway.port) if stalled else None
    sampler = RSSSampler(gateway.proc.pid)
    sampler.start()
    try:
        cpu_before = cpu_seconds(gateway.proc.pid)
        rate = ingest(gateway, events, tag)
        cpu_ingest = cpu_seconds(gateway.proc.pid) - cpu_before
        # Delivery of the batch too, so the delivery items are published while the subscriber stalls.
        deadline = time.time() + 120
        while time.time() < deadline and gateway.destinations()["hook"]["delivered"] < events:
            time.sleep(0.1)
        sampler.running = False
        hwm = status_kb(gateway.proc.pid, "VmHWM")
        missed = subscriber.drain() if subscriber else None
        return {"eps": rate, "rss_mib": sampler.peak / 1024, "hwm_mib": hwm / 1024, "missed": missed,
                "cpu_us": cpu_ingest / events * 1e6}
    finally:
        sampler.running = False
        if subscriber:
            subscriber.close()
        gateway.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds; prints, does not write")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="prints, does not write")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    binary = os.environ.get("BENCH_BINARY", os.path.join(REPO, ".build-release/release/switchyard"))
    command = "scripts/bench-live" + "".join(f" {a}" for a in sys.argv[1:])
    work = tempfile.mkdtemp(prefix="switchyard-live-bench-")
    nginx = Nginx(work)
    results = {"none": [], "stalled": [], "control": []}
    orders = [("none", "stalled", "control"), ("stalled", "control", "none"), ("control", "none", "stalled"),
              ("none", "control", "stalled"), ("stalled", "none", "control"), ("control", "stalled", "none")]
    try:
        for round_number in range(rounds):
            for name in orders[round_number % len(orders)]:
                result = phase(binary, work, nginx, f"{name}-{round_number}", name == "stalled", args.events,
                               int(time.time()) + round_number * 3 + ("none", "stalled", "control").index(name))
                log(name, round_number, result)
                results[name].append(result)
    finally:
        nginx.stop()

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    none_eps, stalled_eps = median("none", "eps"), median("stalled", "eps")
    spread = {name: (min(r["eps"] for r in results[name]), max(r["eps"] for r in results[name])) for name in results}
    missed = [r["missed"] for r in results["stalled"]]
    # Each round's phases ran back to back: their ratios are less exposed to the machine's drift.
    def ratios(name):
        return sorted(r["eps"] / n["eps"] for r, n in zip(results[name], results["none"]))

    def band(name):
        values = ratios(name)
        return f"{statistics.median(values):.2f}× ({values[0]:.2f}–{values[-1]:.2f})"

    def cpu_ratio(name):
        return statistics.median(r["cpu_us"] / n["cpu_us"] for r, n in zip(results[name], results["none"]) if n["cpu_us"])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    text = f"""<!-- bench:live:start -->
## Live view: a stalled subscriber (issue 13)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} cores, {cpu} · {platform.platform()} ·
release build · command: `{command}`. {args.events:,} events per phase through `/v1/batch` (100 per request,
{CLIENTS} client threads), one webhook destination (nginx answering 200, batches of 100), a fresh
gateway per phase, {rounds} rounds of three phases in rotating order, medians. *Stalled*: one `GET /api/live` client
that never reads (4 KB receive buffer), so every ingest, route and delivery item is published to it
and dropped by its bounded buffer.

| measure | nobody watching | stalled subscriber | control: nobody watching again |
|---|---|---|---|
| ingest, events/s (median; min–max) | {none_eps:,.0f} ({spread['none'][0]:,.0f}–{spread['none'][1]:,.0f}) | {stalled_eps:,.0f} ({spread['stalled'][0]:,.0f}–{spread['stalled'][1]:,.0f}) | {median('control', 'eps'):,.0f} ({spread['control'][0]:,.0f}–{spread['control'][1]:,.0f}) |
| **÷ nobody watching in the same round** (median; min–max) | | **{band('stalled')}** | **{band('control')}** |
| gateway CPU per event while ingesting (user + system), µs (median) | {median('none', 'cpu_us'):.0f} | {median('stalled', 'cpu_us'):.0f} | {median('control', 'cpu_us'):.0f} |
| CPU per event ÷ nobody watching in the same round (median) | | {cpu_ratio('stalled'):.2f}× | {cpu_ratio('control'):.2f}× |
| gateway peak RSS (VmRSS sampled every 100 ms), MiB | {median('none', 'rss_mib'):.0f} | {median('stalled', 'rss_mib'):.0f} | {median('control', 'rss_mib'):.0f} |
| VmHWM, MiB | {median('none', 'hwm_mib'):.0f} | {median('stalled', 'hwm_mib'):.0f} | {median('control', 'hwm_mib'):.0f} |
| items the stalled subscriber missed (its `gap`, per round) | | {', '.join(f'{m:,}' if m is not None else 'none' for m in missed)} | |

Target (SPEC §6): ingest within noise of nobody watching — the stalled phase's ratio inside the band the
control phase (the same run as nobody watching) shows on this machine — and memory bounded (the subscriber's buffer holds
2,000 items, the replay buffer 2,000; nothing grows with the number of events).
<!-- bench:live:end -->"""
    print(text)
    if args.no_write or (args.quick and not args.write):
        return
    write_section("live", text)


if __name__ == "__main__":
    main()
