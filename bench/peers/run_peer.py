#!/usr/bin/env python3
"""Run the ClickBench queries on a peer engine (DuckDB or ClickHouse through chDB).

Called by `strata-bench clickbench`; one process per engine. It loads the `hits` table from the
Parquet file into the engine's native storage (DuckDB: an in-memory native table; chDB: a MergeTree
table ordered by ClickBench's primary key, in a temporary directory), runs every query `--runs`
times and prints JSON lines on stdout:

    {"load": {"seconds": 12.3, "rows": 1000000}}
    {"query": 1, "times_s": [0.01, 0.002, 0.002], "rows": 1}
    {"query": 2, "error": "..."}

Times are wall seconds around execute-and-fetch (DuckDB) or query-and-format (chDB JSONCompact).
DuckDB's query lines also carry the result's `first_row` (for answers checked by value).
Diagnostics go to stderr.

`--dataset tpch` takes a directory as `--parquet` and loads the eight TPC-H tables from its
`<table>.parquet` files into native DuckDB tables (for `strata-bench tpch`); each query line then
also carries every result row (`result`: dates as `YYYY-MM-DD`, decimals as numbers) so that the
answers can be compared by value.

`--dataset events` loads the narrow `events` table of `strata-bench gen events` instead (DuckDB:
a native table; chDB: a MergeTree table ordered by time) for `strata-bench dashboard`.

`--mode ingest --engine chdb --ndjson FILE --batch-rows N` is `strata-bench ingest`'s peer: it
splits the NDJSON file into the same chunks of N lines that Strata receives, sends each as
`INSERT INTO events FORMAT JSONEachRow` into a MergeTree table (timed, one at a time), then loads
the whole file again through `file(..., JSONEachRow)`, and prints one line per method:

    {"ingest": {"format": "NDJSON", "rows": 1000000, "seconds": 3.2, "bytes": ..., ...}}
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time


def split_queries(text):
    """Split a SQL file into statements on `;` outside single quotes."""
    out, cur, quoted = [], [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == ";" and not quoted:
            stmt = "".join(cur).strip()
            if stmt:
                out.append(stmt)
            cur = []
        else:
            cur.append(ch)
    stmt = "".join(cur).strip()
    if stmt:
        out.append(stmt)
    return out


TPCH_TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders",
               "lineitem"]


def json_value(v):
    """A result value as JSON: numbers and strings as they are, decimals as numbers, dates and
    anything else as text."""
    import decimal

    if isinstance(v, (bool, int, float, str, type(None))):
        return v
    if isinstance(v, decimal.Decimal):
        return float(v)
    return str(v)


def emit(obj):
    print(json.dumps(obj), flush=True)


class DuckDb:
    """DuckDB with a native table; EventTime stays Unix seconds (queries-duckdb.sql's toDateTime)."""

    def __init__(self, parquet, threads, dataset="hits"):
        import duckdb

        self.dataset = dataset

        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("CREATE MACRO toDateTime(t) AS epoch_ms(t * 1000)")
        self.parquet = parquet
        self.version = duckdb.__version__

    def load(self):
        if self.dataset == "events":
            self.con.execute(
                f"CREATE TABLE events AS SELECT * FROM read_parquet('{self.parquet}')"
            )
            return self.con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        if self.dataset == "tpch":
            rows = 0
            for table in TPCH_TABLES:
                path = os.path.join(self.parquet, f"{table}.parquet")
                self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')")
                rows += self.con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            return rows
        self.con.execute(
            "CREATE TABLE hits AS SELECT * REPLACE (DATE '1970-01-01' + CAST(EventDate AS INTEGER)"
            f" AS EventDate) FROM read_parquet('{self.parquet}', binary_as_string = true)"
        )
        return self.con.execute("SELECT COUNT(*) FROM hits").fetchone()[0]

    def run(self, sql):
        rows = self.con.execute(sql).fetchall()
        self.first_row = [v if isinstance(v, (int, float, str, type(None))) else str(v)
                          for v in rows[0]] if rows else None
        if self.dataset == "tpch":
            self.result = [[json_value(v) for v in row] for row in rows]
        return len(rows)

    def close(self):
        self.con.close()


class ChDb:
    """ClickHouse through chDB: a MergeTree table with create.sql's columns and primary key."""

    def __init__(self, parquet, create_sql, dataset="hits"):
        import chdb
        from chdb import session

        self.dataset = dataset

        self.dir = tempfile.mkdtemp(prefix="strata-bench-chdb-")
        self.sess = session.Session(self.dir)
        self.parquet = parquet
        self.create_sql = create_sql
        self.version = getattr(chdb, "__version__", "?")

    def load(self):
        if self.dataset == "events":
            self.sess.query(
                "CREATE TABLE events (time DateTime64(3, 'UTC'), country String, device String, "
                "url String, user_id String, bytes Int64, amount Float64, latency_ms Float64, "
                "status Int32) ENGINE = MergeTree ORDER BY time"
            )
            self.sess.query(f"INSERT INTO events SELECT * FROM file('{self.parquet}', Parquet)")
            self.sess.query("OPTIMIZE TABLE events FINAL")
            res = self.sess.query("SELECT COUNT(*) FROM events", "JSONCompact")
            return int(json.loads(res.bytes())["data"][0][0])
        # create.sql is ClickBench's ClickHouse DDL; its SETTINGS name server options chDB may
        # not know, so everything after the engine is dropped. The PRIMARY KEY in the column list
        # is the sort key: (CounterID, EventDate, UserID, EventTime, WatchID).
        ddl = self.create_sql
        ddl = re.sub(r"CREATE\s+OR\s+REPLACE\s+TABLE", "CREATE TABLE", ddl, flags=re.I)
        engine = re.search(r"ENGINE\s*=\s*MergeTree", ddl, flags=re.I)
        if engine is None:
            raise RuntimeError("create.sql has no ENGINE = MergeTree")
        ddl = ddl[: engine.end()]
        self.sess.query(ddl)
        self.sess.query(f"INSERT INTO hits SELECT * FROM file('{self.parquet}', Parquet)")
        self.sess.query("OPTIMIZE TABLE hits FINAL")
        res = self.sess.query("SELECT COUNT(*) FROM hits", "JSONCompact")
        return int(json.loads(res.bytes())["data"][0][0])

    def run(self, sql):
        res = self.sess.query(sql, "JSONCompact")
        return int(json.loads(res.bytes())["rows"])

    def close(self):
        try:
            self.sess.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


EVENTS_CLICKHOUSE = (
    "time Int64, country String, device String, url String, user_id String, bytes Int64, "
    "amount Float64, latency_ms Float64, status Int32"
)


def percentiles(samples):
    """Nearest-rank p50/p95/p99/max/mean in milliseconds (as strata-bench computes them)."""
    s = sorted(samples)
    n = len(s)

    def at(q):
        rank = min(max(int(-(-q * n // 1)), 1), n)
        return s[rank - 1] * 1000.0

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99),
            "max_ms": s[-1] * 1000.0, "mean_ms": sum(s) / n * 1000.0}


def chdb_ingest(ndjson, batch_rows):
    """chDB's side of `strata-bench ingest` (see the module docstring)."""
    import chdb
    from chdb import session

    version = getattr(chdb, "__version__", "?")
    with open(ndjson, "rb") as f:
        data = f.read()
    lines = data.splitlines(keepends=True)
    inserts = [
        "INSERT INTO events FORMAT JSONEachRow\n" + b"".join(lines[i:i + batch_rows]).decode()
        for i in range(0, len(lines), batch_rows)
    ]
    del lines
    # `time` is epoch milliseconds; ClickHouse reads a JSON integer into DateTime64(3) as
    # seconds, so the column is Int64 (the same 8 bytes per row, parsed the same way).
    ddl = f"CREATE TABLE events ({EVENTS_CLICKHOUSE}) ENGINE = MergeTree ORDER BY time"
    directory = tempfile.mkdtemp(prefix="strata-bench-chdb-ingest-")
    sess = session.Session(directory)

    def count():
        res = sess.query("SELECT COUNT(*) FROM events", "JSONCompact")
        return int(json.loads(res.bytes())["data"][0][0])

    try:
        sess.query(ddl)
        latencies = []
        started = time.perf_counter()
        for q in inserts:
            t0 = time.perf_counter()
            sess.query(q)
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
        line = {"format": "NDJSON", "rows": count(), "seconds": seconds, "bytes": len(data),
                "requests": len(inserts),
                "note": "INSERT INTO events FORMAT JSONEachRow, one statement per chunk, "
                        "MergeTree ORDER BY time"}
        line.update(percentiles(latencies))
        emit({"ingest": line, "version": version})
        del inserts
        sess.query("DROP TABLE events")
        sess.query(ddl)
        started = time.perf_counter()
        sess.query(f"INSERT INTO events SELECT * FROM file('{ndjson}', JSONEachRow, "
                   f"'{EVENTS_CLICKHOUSE}')")
        seconds = time.perf_counter() - started
        emit({"ingest": {"format": "NDJSON file()", "rows": count(), "seconds": seconds,
                         "bytes": len(data), "requests": 1,
                         "note": "INSERT INTO events SELECT * FROM file(..., JSONEachRow): "
                                 "one statement, ClickHouse's parallel parsing"},
              "version": version})
    finally:
        sess.close()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=["duckdb", "chdb"], required=True)
    p.add_argument("--mode", choices=["queries", "ingest"], default="queries")
    p.add_argument("--dataset", choices=["hits", "events", "tpch"], default="hits")
    p.add_argument("--ndjson", help="ingest: the NDJSON file")
    p.add_argument("--batch-rows", type=int, default=10000, help="ingest: lines per INSERT")
    p.add_argument("--parquet")
    p.add_argument("--queries", help="SQL file, one statement per `;`")
    p.add_argument("--create", help="chDB: ClickBench create.sql")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its default)")
    a = p.parse_args()
    if a.mode == "ingest":
        if a.engine != "chdb" or not a.ndjson:
            p.error("--mode ingest takes --engine chdb and --ndjson")
        chdb_ingest(a.ndjson, a.batch_rows)
        return 0
    if not a.parquet or not a.queries:
        p.error("--mode queries takes --parquet and --queries")

    with open(a.queries, encoding="utf-8") as f:
        queries = split_queries(f.read())
    if a.engine == "duckdb":
        engine = DuckDb(a.parquet, a.threads, a.dataset)
    elif a.dataset in ("events", "tpch"):
        if a.dataset == "tpch":
            p.error("--dataset tpch runs on --engine duckdb only")
        engine = ChDb(a.parquet, "", a.dataset)
    else:
        with open(a.create, encoding="utf-8") as f:
            engine = ChDb(a.parquet, f.read())
    try:
        started = time.perf_counter()
        rows = engine.load()
        emit({"load": {"seconds": time.perf_counter() - started, "rows": rows,
                       "version": engine.version}})
        for number, sql in enumerate(queries, start=1):
            times, count = [], None
            try:
                for _ in range(a.runs):
                    t0 = time.perf_counter()
                    count = engine.run(sql)
                    times.append(time.perf_counter() - t0)
                line = {"query": number, "times_s": times, "rows": count}
                if getattr(engine, "first_row", None) is not None:
                    line["first_row"] = engine.first_row
                if getattr(engine, "result", None) is not None:
                    line["result"] = engine.result
                emit(line)
            except Exception as e:  # a failed query is recorded, not fatal
                emit({"query": number, "times_s": times, "error": str(e).strip()[:500]})
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
