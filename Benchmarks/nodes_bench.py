#!/usr/bin/env python3
"""Multi-node benchmark (issue: PostgreSQL back end and multi-node), side by side in one run.

Measures batch ingest and fan-out with the release `switchyard` binary on

  sqlite-1    one node on SQLite (the embedded default)
  postgres-1  one node on a local PostgreSQL
  postgres-2  two nodes on that PostgreSQL, clients spread over both
  postgres-3  three nodes, clients spread over all three

Each scenario starts from an empty store, ingests the same events (batches of 100 from 6 client threads,
spread round-robin over the nodes) into three destinations — two webhooks (batch 500, nginx answering
200) and a warehouse on the local disk — and reports ingest events/s and the time until every destination
delivered everything (fan-out events/s). The PostgreSQL cluster is started here (initdb + pg_ctl, as the
`postgres` user under root) with durable settings: fsync on, synchronous_commit on.

For the model of N machines (README, "Scaling out") it also records, per scenario, the events per commit
(the nodes' `switchyard_commit_batch_events` histogram), the CPU the nodes and PostgreSQL spent per event,
and, once, how many durable commits per second PostgreSQL sustains here (pgbench: one-row INSERT
transactions from 1, 4 and 16 clients).

Writes the section between <!-- bench:nodes:start --> and <!-- bench:nodes:end --> of BENCHMARKS.md.
"""
import argparse, os, platform, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_bench import ADMIN_TOKEN, KEY, Gateway, Nginx, events, free_port, log, wait_http, write_section  # noqa: E402
import http.client  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_SETTINGS = ["fsync=on", "synchronous_commit=on", "shared_buffers=256MB", "max_connections=200",
               "wal_buffers=16MB", "checkpoint_timeout=15min", "max_wal_size=4GB"]


def pg_bin():
    root = "/usr/lib/postgresql"
    for version in sorted(os.listdir(root), key=lambda v: -int(v) if v.isdigit() else 0):
        if os.path.exists(f"{root}/{version}/bin/initdb"):
            return f"{root}/{version}/bin"
    raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql-15)")


class Postgres:
    def __init__(self, work):
        self.bin = pg_bin()
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        self.user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(work, "postgres")
        self.port = free_port()
        data = os.path.join(self.dir, "data")
        subprocess.run(self.user + [f"{self.bin}/initdb", "-D", data, "-U", "switchyard", "--auth=trust", "--locale=C",
                                    "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL)
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 " + " ".join(f"-c {s}" for s in PG_SETTINGS)
        subprocess.run(self.user + [f"{self.bin}/pg_ctl", "-D", data, "-o", options, "-l", f"{self.dir}/log", "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.data = data
        self.version = subprocess.run([f"{self.bin}/postgres", "--version"], capture_output=True, text=True).stdout.strip()

    def new_database(self, name):
        subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "switchyard", "-d", "postgres",
                        "-qc", f"CREATE DATABASE {name}"], check=True)
        return f"postgres://switchyard@127.0.0.1:{self.port}/{name}?sslmode=disable"

    def stop(self):
        subprocess.run(self.user + [f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_node(binary, work, name, destinations, storage):
    """Writes the config with `storage` and starts `switchyard serve`."""
    directory = os.path.join(work, name)
    os.makedirs(directory, exist_ok=True)
    node = Gateway.__new__(Gateway)
    node.dir = directory
    node.port = free_port()
    config = os.path.join(directory, "switchyard.yaml")
    open(config, "w").write(f"""
server:
  listen: 127.0.0.1:{node.port}
  admin_token: {ADMIN_TOKEN}
  max_pending_events: 200000
storage:
{storage}
sources:
  - name: bench
    write_key: {KEY}
destinations:
{destinations}
""")
    node.proc = subprocess.Popen([binary, "serve", "--config", config, "--log-level", "warning"], cwd=directory,
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(directory, "log"), "w"))
    wait_http(node.port, "/healthz", timeout=60)
    node.conn = threading.local()
    return node


def destinations_yaml(sink, warehouse):
    hooks = "".join(f"""  - name: hook-{n}
    type: webhook
    url: {sink}
    batch: {{ max_events: 500, max_wait: 200ms, max_bytes: 8MiB }}
""" for n in ("a", "b"))
    return hooks + f"""  - name: lake
    type: warehouse
    path: {warehouse}
    rotate: {{ max_bytes: 64MiB, max_age: 1s }}
    batch: {{ max_events: 5000, max_wait: 200ms, max_bytes: 16MiB }}
"""


def cpu_seconds(pids):
    """User + system CPU of these processes so far (children not included)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass  # a process that ended meanwhile
    return total


def postgres_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if open(f"/proc/{entry}/comm").read().strip() == "postgres":
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def commit_metrics(node):
    """(commits, events) from the node's switchyard_commit_batch_events histogram."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    text = conn.getresponse().read().decode()
    count = total = 0.0
    for line in text.splitlines():
        if line.startswith("switchyard_commit_batch_events_count"):
            count += float(line.split()[-1])
        elif line.startswith("switchyard_commit_batch_events_sum"):
            total += float(line.split()[-1])
    return count, total


def pg_commit_rate(pg, database_url_name, seconds=5):
    """Durable one-row commits per second from 1, 4 and 16 pgbench clients."""
    name = pg.new_database(database_url_name).rsplit("/", 1)[1].split("?")[0]
    psql = [f"{pg.bin}/psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "switchyard", "-d", name, "-qc"]
    subprocess.run(psql + ["CREATE TABLE t (id bigserial PRIMARY KEY, body text)"], check=True)
    script = os.path.join(pg.dir, "commit.sql")
    open(script, "w").write("INSERT INTO t (body) VALUES (repeat('x', 600));\n")
    rates = {}
    for clients in (1, 4, 16):
        out = subprocess.run([f"{pg.bin}/pgbench", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "switchyard", "-n", "-f",
                              script, "-c", str(clients), "-j", "2", "-T", str(seconds), name],
                             capture_output=True, text=True, check=True).stdout
        rates[clients] = next(float(l.split("=")[1].split()[0]) for l in out.splitlines() if l.startswith("tps"))
    log({"pg_commits_per_s": rates})
    return rates


def run_scenario(binary, work, label, nodes, storage, sink, items):
    warehouse = os.path.join(work, label, "warehouse")
    gateways = [start_node(binary, work, f"{label}-{n}", destinations_yaml(sink, warehouse), storage) for n in range(nodes)]
    time.sleep(1.5 if nodes > 1 else 0.2)  # let the nodes spread the destinations
    chunks = [items[i:i + 100] for i in range(0, len(items), 100)]
    lock = threading.Lock()
    counter = [0]
    node_pids = [g.proc.pid for g in gateways]
    pg_pids = postgres_pids() if storage.strip().startswith("postgres") else []
    cpu_start = cpu_seconds(node_pids), cpu_seconds(pg_pids)
    start = time.monotonic()

    def client():
        while True:
            with lock:
                if not chunks:
                    return
                chunk = chunks.pop()
                counter[0] += 1
                gateway = gateways[counter[0] % len(gateways)]
            gateway.post_batch(chunk)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ingest_s = time.monotonic() - start
    commits, committed = map(sum, zip(*(commit_metrics(g) for g in gateways)))
    # Until every destination delivered everything, or nothing moved for a minute (a shortfall is reported).
    last_progress, last_total, short = time.monotonic(), -1, {}
    while True:
        status = gateways[0].destinations()
        if all(d["delivered"] >= len(items) for d in status.values()):
            break
        total = sum(d["delivered"] for d in status.values())
        if total != last_total:
            last_progress, last_total = time.monotonic(), total
        elif time.monotonic() - last_progress > 60:
            short = {n: d["delivered"] for n, d in status.items() if d["delivered"] < len(items)}
            log({"label": label, "shortfall": short, "status": status})
            break
        time.sleep(0.05)
    fanout_s = time.monotonic() - start
    cpu_nodes = cpu_seconds(node_pids) - cpu_start[0]
    cpu_pg = cpu_seconds(postgres_pids()) - cpu_start[1] if pg_pids else 0.0
    holders = sorted({d.get("delivered_by") or "-" for d in status.values()})
    rss = [g.rss()[1] for g in gateways]
    for g in gateways:
        g.stop()
    result = {"label": label, "nodes": nodes, "events": len(items), "ingest_eps": len(items) / ingest_s,
              "fanout_eps": len(items) / fanout_s, "senders": len(holders), "peak_rss_mb": max(rss), "short": short,
              "events_per_commit": committed / commits if commits else 0, "commits_per_s": commits / ingest_s,
              "node_cpu_us_per_event": cpu_nodes / len(items) * 1e6, "pg_cpu_us_per_event": cpu_pg / len(items) * 1e6}
    log(result)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(REPO, ".build-release/release/switchyard"))
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="switchyard-nodes-")
    os.chmod(work, 0o755)
    nginx = Nginx(work)
    pg = Postgres(work)
    sink = f"http://127.0.0.1:{nginx.port}/hook"
    results = {}
    commit_rate = {}
    try:
        commit_rate = pg_commit_rate(pg, "commit_rate")
        for round_ in range(args.rounds):
            items = events(f"r{round_}", args.events)
            scenarios = [("sqlite-1", 1, None), ("postgres-1", 1, "pg"), ("postgres-2", 2, "pg"), ("postgres-3", 3, "pg")]
            for label, nodes, kind in scenarios:
                if kind == "pg":
                    database = "b_" + label.replace("-", "_") + f"_{round_}"
                    storage = f"  postgres: {pg.new_database(database)}"
                else:
                    storage = f"  sqlite: {work}/{label}-{round_}.db"
                results.setdefault(label, []).append(
                    run_scenario(args.binary, work, f"{label}-r{round_}", nodes, storage, sink, items))
    finally:
        nginx.stop()
        pg.stop()
    report(results, args, pg.version, commit_rate)
    shutil.rmtree(work, ignore_errors=True)


def median(rows, key):
    values = sorted(r[key] for r in rows)
    return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2


def report(results, args, pg_version, commit_rate):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    base_ingest = median(results["sqlite-1"], "ingest_eps")
    base_fanout = median(results["sqlite-1"], "fanout_eps")
    pg_ingest = median(results["postgres-1"], "ingest_eps")
    pg_fanout = median(results["postgres-1"], "fanout_eps")
    rows = []
    model = []
    for label, runs in results.items():
        ingest, fanout = median(runs, "ingest_eps"), median(runs, "fanout_eps")
        versus = f"{ingest / pg_ingest:.2f}×" if label.startswith("postgres") else "–"
        fan_versus = f"{fanout / pg_fanout:.2f}×" if label.startswith("postgres") else "–"
        rows.append(f"| {label} | {runs[0]['nodes']} | {ingest:,.0f} ({ingest / base_ingest:.2f}×) | {versus} | "
                    f"{fanout:,.0f} ({fanout / base_fanout:.2f}×) | {fan_versus} | {runs[-1]['senders']} | "
                    f"{max(r['peak_rss_mb'] for r in runs)} MB |")
        model.append(f"| {label} | {median(runs, 'events_per_commit'):,.0f} | {median(runs, 'commits_per_s'):,.0f} | "
                     f"{median(runs, 'node_cpu_us_per_event'):,.0f} µs | "
                     + (f"{median(runs, 'pg_cpu_us_per_event'):,.0f} µs |" if label.startswith("postgres") else "– |"))
    shortfalls = [f"{label} round {i + 1}: " + ", ".join(f"{n} delivered {v:,} of {r['events']:,}" for n, v in r["short"].items())
                  for label, runs in results.items() for i, r in enumerate(runs) if r.get("short")]
    short_text = ("\n\n**Not delivered** (fan-out stopped short; the figure above counts until it stopped): "
                  + "; ".join(shortfalls) + ".") if shortfalls else ""
    rates = ", ".join(f"{c} client{'s' if c > 1 else ''}: {r:,.0f}" for c, r in commit_rate.items())
    text = f"""<!-- bench:nodes:start -->
## PostgreSQL and multi-node (issues: PostgreSQL back end and multi-node; 14, nodes append concurrently)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} cores, {cpu} · {platform.platform()} · release
build · command: `scripts/bench-nodes` · {pg_version} on the same machine, settings: `{' '.join(PG_SETTINGS)}`
(durable: every acknowledged commit is fsynced). Each scenario: {args.events:,} track events (5,000 visitors with
both ids, so identity — on, the default — resolves every event), batches of 100 from 6 client threads spread
round-robin over the nodes, three destinations (two webhooks with batches of 500 into nginx answering 200, and
the warehouse). Median of {args.rounds} rounds; ratios against one SQLite node and against one PostgreSQL node in
the same run. Everything — clients, nodes, PostgreSQL, nginx — shares the same 2 cores, so more nodes cannot
add CPU here: read the shape.

| scenario | nodes | ingest, events/s (vs SQLite) | vs 1 PostgreSQL node | ingest + fan-out to all 3 destinations, events/s (vs SQLite) | vs 1 PostgreSQL node | nodes that delivered | peak RSS per node |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}{short_text}

For the model of N machines (README, "Scaling out"), per scenario (medians): events per commit (all nodes'
`switchyard_commit_batch_events`), commits per second during ingest, and CPU per event from ingest start to the
end of fan-out — the nodes' (HTTP, parsing, identity, commit, delivery to 3 destinations) and PostgreSQL's.

| scenario | events per commit | commits/s | node CPU per event | PostgreSQL CPU per event |
|---|---|---|---|---|
{chr(10).join(model)}

Durable commits PostgreSQL sustains here (pgbench, one 600-byte row per transaction, 5 s each): {rates} per second.

Notes: nodes commit at the same time (no cluster-wide lock): each append locks only the identities it touches,
and readers follow the log up to the oldest append still running. On one machine more nodes mostly add
processes competing for the same 2 cores; on separate machines each node brings its own CPU, and the
limit is PostgreSQL's commit rate (README, "A model for N machines"). Fan-out is spread by destination: with
three destinations and three nodes each node delivers one.
<!-- bench:nodes:end -->"""
    print(text)
    if args.no_write:
        return
    write_section("nodes", text)

if __name__ == "__main__":
    main()
