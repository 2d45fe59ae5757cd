#!/usr/bin/env python3
"""Rewrite tpchgen-cli's TPC-H Parquet files with every DECIMAL column as DOUBLE.

Called by `strata-bench tpch` (unless `--keep-decimal`): Strata has no DECIMAL type yet, so both
engines are given the same DOUBLE columns. Drop this step once Strata reads Parquet Decimal128.

    tpch_decimal_to_double.py SRC_DIR DST_DIR

Reads SRC_DIR/<table>.parquet for the eight tables and writes DST_DIR/<table>.parquet through
DuckDB (ZSTD, DuckDB's default row groups); every other column keeps its type. Prints one JSON
line per table on stdout: {"table": "lineitem", "rows": 6001215, "converted": ["l_quantity", ...]}.
"""

import json
import os
import sys

TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    import duckdb

    os.makedirs(dst, exist_ok=True)
    con = duckdb.connect(":memory:")
    for table in TABLES:
        path = os.path.join(src, f"{table}.parquet")
        columns = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        converted = [name for name, typ, *_ in columns if typ.upper().startswith("DECIMAL")]
        select = ", ".join(
            f'CAST("{name}" AS DOUBLE) AS "{name}"' if name in converted else f'"{name}"'
            for name, *_ in columns
        )
        out = os.path.join(dst, f"{table}.parquet")
        con.execute(
            f"COPY (SELECT {select} FROM read_parquet('{path}')) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
        print(json.dumps({"table": table, "rows": rows, "converted": converted}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
