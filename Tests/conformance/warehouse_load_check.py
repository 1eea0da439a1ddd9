"""Runs the warehouse README's load statements over a warehouse folder and compares every value.

Usage: python3 warehouse_load_check.py <README.md> <warehouse root>

Run by `WarehouseDuckDBTests` (Swift), which writes the files through the real destination first.
Not a pytest module (no `test_` prefix): it needs those files.

For each `-- <table>` statement of the README's DuckDB block (`'data/warehouse/` replaced by the
root) it reads the same files again with Python's gzip and json, independently of DuckDB, and checks
that DuckDB returned every line once and that each column equals the line's value: strings as they
are, timestamps as instants, JSON columns and `message` as parsed JSON (so `12.5` and `1.25e1` are
equal, big integers exact). When chDB is installed it does the same for the README's ClickHouse
statement. Prints one JSON object: per table the row count, file count and the first mismatches,
plus a few aggregates the Swift test asserts.
"""

from __future__ import annotations

import datetime
import glob
import gzip
import json
import os
import re
import sys

import duckdb

STATEMENT_TABLE = re.compile(r"'data/warehouse/\*/([a-z_]+)/\*\*/\*\.ndjson\.gz'")


def sql_blocks(readme: str) -> list[str]:
    return re.findall(r"^```sql\n(.*?)^```$", readme, flags=re.M | re.S)


def statements(block: str) -> list[str]:
    return [part.strip() for part in block.split(";\n") if part.strip().rstrip(";").strip()]


def lines_on_disk(root: str, table: str) -> dict[str, tuple[str, dict]]:
    """messageId → (source folder, parsed line), read without DuckDB."""
    found: dict[str, tuple[str, dict]] = {}
    for path in glob.glob(os.path.join(root, "*", table, "dt=*", "*.ndjson.gz")):
        source = path[len(root) + 1 :].split("/")[0]
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                key = row["messageId"]
                if key in found:
                    raise SystemExit(f"{table}: messageId {key} written twice; the test expects unique ones")
                found[key] = (source, row)
    return found


def instant(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def compare(table: str, columns: list[str], types: list[str], rows: list[tuple], expected: dict) -> dict:
    mismatches: list[str] = []
    seen: set[str] = set()
    for values in rows:
        row = dict(zip(columns, values))
        key = row["messageId"]
        if key in seen:
            mismatches.append(f"{key}: returned twice")
            continue
        seen.add(key)
        if key not in expected:
            mismatches.append(f"{key}: not in the files")
            continue
        source, line = expected[key]
        for column, kind in zip(columns, types):
            value = row[column]
            if column == "source":
                ok = value == source
                want = source
            elif column == "message":
                want = line
                ok = value is not None and json.loads(value) == line
            elif kind == "JSON":
                want = line.get(column)
                ok = (value is None and want is None) or (value is not None and json.loads(value) == want)
            elif kind.startswith("TIMESTAMP"):
                want = line.get(column)
                ok = (value is None and want is None) or (want is not None and value == instant(want))
            else:
                want = line.get(column)
                ok = value == want
            if not ok:
                mismatches.append(f"{key}.{column}: got {value!r}, the file has {want!r}")
    missing = sorted(set(expected) - seen)
    mismatches += [f"{key}: in the files, not returned" for key in missing[:5]]
    return {"rows": len(rows), "lines": len(expected), "mismatches": mismatches[:10]}


def main() -> None:
    readme_path, root = sys.argv[1], sys.argv[2].rstrip("/")
    with open(readme_path, encoding="utf-8") as handle:
        blocks = sql_blocks(handle.read())
    duck = next(block for block in blocks if "read_ndjson_objects" in block)
    report: dict = {"tables": {}}
    connection = duckdb.connect()
    for statement in statements(duck):
        match = STATEMENT_TABLE.search(statement)
        if not match:
            raise SystemExit(f"a DuckDB statement without a table glob: {statement[:80]}")
        table = match.group(1)
        sql = statement.replace("'data/warehouse/", "'" + root + "/")
        relation = connection.sql(sql)
        columns, types = relation.columns, [str(kind) for kind in relation.types]
        rows = relation.fetchall()
        expected = lines_on_disk(root, table)
        result = compare(table, columns, types, rows, expected)
        result["files"] = len(glob.glob(os.path.join(root, "*", table, "dt=*", "*.ndjson.gz")))
        result["columns"] = columns
        report["tables"][table] = result
        connection.sql(f"create or replace temp view {table} as {sql}")

    def one(sql: str):
        return connection.sql(sql).fetchall()

    report["tracks"] = {
        "resolvedUserId": one("select count(resolvedUserId) from tracks")[0][0],
        "userId": one("select count(userId) from tracks")[0][0],
        "lateKey": one("select count(properties->>'$.lateKey') from tracks")[0][0],
        "experiment": one("select count(message->'$.experiment') from tracks")[0][0],
        "priceTypes": dict(one("select coalesce(json_type(properties->'$.price'), 'absent'), count(*) from tracks group by 1")),
        "detailTypes": dict(one("select coalesce(json_type(properties->'$.detail'), 'absent'), count(*) from tracks group by 1")),
        "sources": dict(one("select source, count(*) from tracks group by 1")),
    }
    report["identifies"] = {
        "ageTypes": dict(one("select coalesce(json_type(traits->'$.age'), 'absent'), count(*) from identifies group by 1")),
        "plan": one("select count(traits->>'$.plan') from identifies")[0][0],
    }
    report["identity_merges"] = {
        "distinctMessageIds": one("select count(distinct messageId) from identity_merges")[0][0],
    }

    try:
        import chdb  # optional: ClickHouse in-process
    except ImportError:
        report["clickhouse"] = "skipped: chdb not installed"
    else:
        statement = next(block for block in blocks if "JSONEachRow" in block).strip().rstrip(";")
        sql = statement.replace("'data/warehouse/", "'" + root + "/")
        text = str(chdb.query(sql, "JSONCompactColumns"))
        raw = json.loads(text) if text.strip() else []
        # Column names are the first word of each `name Type` pair of the structure.
        structure = re.search(r"'JSONEachRow', '(.*?)'\)\s*settings", statement, flags=re.S)
        if structure is None:
            raise SystemExit("ClickHouse statement: no structure found")
        columns = [part.strip().split(" ")[0] for part in re.split(r",\s(?=[A-Za-z_]+ )", structure.group(1).replace("\\'", "'"))]
        rows = list(zip(*raw)) if raw else []
        expected = lines_on_disk(root, "tracks")
        mismatches: list[str] = []
        for values in rows:
            row = dict(zip(columns, values))
            source_line = expected.get(row.get("messageId"))
            if source_line is None:
                mismatches.append(f"{row.get('messageId')}: not in the files")
                continue
            line = source_line[1]
            for column in columns:
                value, want = row[column], line.get(column)
                if column in ("properties", "context", "integrations"):
                    ok = (value is None and want is None) or (value is not None and json.loads(value) == want)
                elif column in ("originalTimestamp", "sentAt", "timestamp", "receivedAt"):
                    ok = (value is None and want is None) or (want is not None and value == want.replace("T", " ").rstrip("Z"))
                else:
                    ok = value == want
                if not ok:
                    mismatches.append(f"{row['messageId']}.{column}: got {value!r}, the file has {want!r}")
        report["clickhouse"] = {"rows": len(rows), "lines": len(expected), "mismatches": mismatches[:10]}

    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
