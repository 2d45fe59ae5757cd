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
Diagnostics go to stderr.
"""

import argparse
import json
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


def emit(obj):
    print(json.dumps(obj), flush=True)


class DuckDb:
    """DuckDB with a native table; EventTime stays Unix seconds (queries-duckdb.sql's toDateTime)."""

    def __init__(self, parquet, threads):
        import duckdb

        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("CREATE MACRO toDateTime(t) AS epoch_ms(t * 1000)")
        self.parquet = parquet
        self.version = duckdb.__version__

    def load(self):
        self.con.execute(
            "CREATE TABLE hits AS SELECT * REPLACE (DATE '1970-01-01' + CAST(EventDate AS INTEGER)"
            f" AS EventDate) FROM read_parquet('{self.parquet}', binary_as_string = true)"
        )
        return self.con.execute("SELECT COUNT(*) FROM hits").fetchone()[0]

    def run(self, sql):
        return len(self.con.execute(sql).fetchall())

    def close(self):
        self.con.close()


class ChDb:
    """ClickHouse through chDB: a MergeTree table with create.sql's columns and primary key."""

    def __init__(self, parquet, create_sql):
        import chdb
        from chdb import session

        self.dir = tempfile.mkdtemp(prefix="strata-bench-chdb-")
        self.sess = session.Session(self.dir)
        self.parquet = parquet
        self.create_sql = create_sql
        self.version = getattr(chdb, "__version__", "?")

    def load(self):
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=["duckdb", "chdb"], required=True)
    p.add_argument("--parquet", required=True)
    p.add_argument("--queries", required=True, help="SQL file, one statement per `;`")
    p.add_argument("--create", help="chDB: ClickBench create.sql")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its default)")
    a = p.parse_args()

    with open(a.queries, encoding="utf-8") as f:
        queries = split_queries(f.read())
    if a.engine == "duckdb":
        engine = DuckDb(a.parquet, a.threads)
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
                emit({"query": number, "times_s": times, "rows": count})
            except Exception as e:  # a failed query is recorded, not fatal
                emit({"query": number, "times_s": times, "error": str(e).strip()[:500]})
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
