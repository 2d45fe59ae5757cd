#!/usr/bin/env python3
"""DuckDB's answers to a list of SQL queries over one Parquet file, for the end-to-end comparison.

Called by `tests/e2e/clickbench.rs` with the interpreter of `bench/.venv` (DuckDB from PyPI):

    duckdb_answers.py --parquet hits.parquet --table hits --queries queries.json

`queries.json` is a JSON list of SQL strings. The Parquet file is loaded into a native DuckDB table
named `--table` as it is (its TIMESTAMP and DATE columns are already typed). Prints one JSON
document on stdout: a list, per query, of `{"columns": [...], "rows": [[...], ...]}` or
`{"error": "..."}`. Values are rendered the way Strata's JSON output renders them, so that the test
can compare them: timestamps `YYYY-MM-DDTHH:MM:SS.mmmZ`, dates `YYYY-MM-DD`, decimals and floats as
JSON numbers (NaN/Infinity as the strings PostgreSQL prints), integers exactly.
"""

import argparse
import datetime
import decimal
import json
import math
import sys


def render(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    return str(value)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parquet", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--queries", required=True)
    a = p.parse_args()

    import duckdb

    with open(a.queries, encoding="utf-8") as f:
        queries = json.load(f)
    con = duckdb.connect(":memory:")
    con.execute(
        f'CREATE TABLE "{a.table}" AS SELECT * FROM read_parquet(?, binary_as_string = true)',
        [a.parquet],
    )
    out = []
    for sql in queries:
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description]
            rows = [[render(v) for v in row] for row in cur.fetchall()]
            out.append({"columns": columns, "rows": rows})
        except Exception as e:  # a failed query is reported, not fatal
            out.append({"error": str(e).strip()[:1000]})
    json.dump({"duckdb_version": duckdb.__version__, "results": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
