#!/usr/bin/env python3
"""Fills in the expected results of the SQL test files from DuckDB.

    python3 query/tests/slt/generate.py [file.slt ...]

Runs every statement and query of each `query/tests/slt/*.slt` file (or of the files named)
in a fresh in-memory DuckDB, in file order, and rewrites each `query` record's column types
and result rows with DuckDB's answer. Expected results therefore always come from DuckDB,
never from Strata. The first run creates a virtual environment with DuckDB next to this
script (`.venv`, git-ignored) and re-executes itself inside it.

Formatting (the same rule as the runner, query/tests/slt.rs):
  I  integers, in decimal
  R  REAL, DOUBLE and DECIMAL, with exactly 6 decimals (`2.500000`), never `-0.000000`
  T  everything else: text as is with the empty string as `(empty)`, booleans as
     `true`/`false`, dates as `2024-01-01`, timestamps as `2024-01-01 06:00:00[.123]`,
     intervals as PostgreSQL prints them (IntervalStyle `postgres`: `1 day 02:00:00`,
     `-00:00:01`, `1 year 2 mons`, `-1 days +02:00:00`). DuckDB's Python API gives an
     interval as a `timedelta`, which loses the months and the day/time split, so a query
     with INTERVAL columns is re-run with each such column taken apart into its months, days
     and microseconds (DuckDB's `datepart`), formatted here as PostgreSQL does.
  NULL as `NULL`.

Where DuckDB's SQL differs from the PostgreSQL semantics Strata follows, the script
translates:
  * `SET integer_division = true`: `/` on integers truncates, as in PostgreSQL;
  * `SET default_null_order = 'nulls_last_on_asc_first_on_desc'`: PostgreSQL's NULL order;
  * `CREATE TABLE ... WITH (time_column = ...)`: the Strata table options are dropped;
  * `octet_length(text)` is DuckDB's `strlen(text)` (DuckDB's octet_length takes a BLOB);
  * `btrim(s, chars)` is DuckDB's `trim(s, chars)`;
  * `date_bin(interval, ts, origin)` (PostgreSQL) is DuckDB's `time_bucket(interval, ts, origin)`;
  * `FLUSH TABLE t` (persist the live rows as a segment: no change to any result) is skipped;
  * `regexp_like(s, p)` (PostgreSQL 15) is DuckDB's `regexp_matches(s, p)`;
  * `regexp_match(s, p)` (PostgreSQL's array of groups; Strata returns its first element) is a
    DuckDB macro over `regexp_extract(s, p, 1)`: the tests use patterns with a group;
  * `approx_percentile(x, p)` is DuckDB's `approx_quantile(x, p)`;
  * `SET TIME ZONE 'zone'` (the session time zone, PostgreSQL's spelling) is DuckDB's
    `SET TimeZone = 'zone'` (the ICU extension the duckdb wheel bundles). A Strata TIMESTAMP is
    an instant (PostgreSQL's timestamptz), so in a file that sets a time zone every `TIMESTAMP`
    type name is DuckDB's `TIMESTAMPTZ`. Text without an offset, and a DATE promoted to a
    timestamp, is local time in the zone set (UTC before the first `SET TIME ZONE`), in Strata
    as in DuckDB; write an offset (`'2024-03-31 12:00:00+00'`) to mean an instant.

A query preceded by a comment line starting with `# strata:` keeps the results written in
the file; the comment must say why they differ from DuckDB (the script prints DuckDB's
answer next to it). `statement error` / `query error` records keep their expected message
(Strata's); the script warns when DuckDB accepts such a statement, which is expected only
where a `# strata:` comment explains it.
"""

import datetime
import decimal
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")

FLOAT_DECIMALS = 6

INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}
FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
SORT_MODES = {"rowsort", "valuesort", "nosort"}


def ensure_duckdb():
    """Re-executes this script inside the venv (creating it first) unless duckdb imports."""
    try:
        import duckdb  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.abspath(sys.executable) == os.path.abspath(VENV_PYTHON):
        sys.exit("duckdb is not installed in " + VENV + "; remove it and run again")
    if not os.path.exists(VENV_PYTHON):
        print("creating", VENV, "with duckdb", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([VENV_PYTHON, "-m", "pip", "install", "--quiet", "duckdb"])
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])


def column_type(duck_type):
    name = str(duck_type).upper()
    if name.endswith("[]"):
        return "T"
    if name in INTEGER_TYPES:
        return "I"
    if name in FLOAT_TYPES or name.startswith("DECIMAL"):
        return "R"
    return "T"


def format_float(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    text = f"{v:.{FLOAT_DECIMALS}f}"
    if text.startswith("-") and set(text[1:]) <= {"0", "."}:
        text = text[1:]
    return text


def format_fraction(microsecond):
    """The fraction of a second as chrono's `%.f` prints it: 0, 3, 6 or 9 digits."""
    if microsecond == 0:
        return ""
    if microsecond % 1000 == 0:
        return f".{microsecond // 1000:03d}"
    return f".{microsecond:06d}"


def format_element(v):
    """One element of a list in PostgreSQL's array text (quoted when it must be)."""
    if v is None:
        return "NULL"
    if isinstance(v, str):
        text = v
    else:
        text = format_value(v, "T")
    if text == "" or text.lower() == "null" or any(c in '{},"\\' or c.isspace() for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_value(v, kind):
    if v is None:
        return "NULL"
    if isinstance(v, list):
        return "{" + ",".join(format_element(e) for e in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if kind == "R" or isinstance(v, (float, decimal.Decimal)):
        return format_float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S") + format_fraction(v.microsecond)
    if isinstance(v, datetime.date):
        return v.isoformat()
    text = str(v)
    return "(empty)" if text == "" else text


ZONED = False  # whether the file being processed sets a session time zone


def to_duckdb(sql):
    """Translates Strata's SQL into DuckDB's where they differ (see the module doc)."""
    m = re.match(r"\s*SET\s+TIME\s+ZONE\s+(.*?);?\s*$", sql, flags=re.I | re.S)
    if m:
        return f"SET TimeZone = {m.group(1)}"
    if ZONED:
        sql = re.sub(r"\bTIMESTAMP\b(?!\s+WITH)", "TIMESTAMPTZ", sql, flags=re.I)
    sql = re.sub(r"\)\s*WITH\s*\((?:[^()]|'[^']*')*\)\s*;?\s*$", ")", sql.strip(), flags=re.I | re.S)
    sql = re.sub(r"\boctet_length\(", "strlen(", sql, flags=re.I)
    sql = re.sub(r"\bbtrim\(", "trim(", sql, flags=re.I)
    sql = re.sub(r"\bdate_bin\(", "time_bucket(", sql, flags=re.I)
    sql = re.sub(r"\bregexp_like\(", "regexp_matches(", sql, flags=re.I)
    sql = re.sub(r"\bregexp_match\(", "strata_regexp_match(", sql, flags=re.I)
    sql = re.sub(r"\bapprox_percentile\(", "approx_quantile(", sql, flags=re.I)
    return sql


def connect():
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET integer_division = true")
    con.execute("SET default_null_order = 'nulls_last_on_asc_first_on_desc'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE MACRO strata_regexp_match(s, p) AS "
        "CASE WHEN regexp_matches(s, p) THEN regexp_extract(s, p, 1) END"
    )
    return con


def interval_text(months, days, micros):
    """PostgreSQL's `postgres` IntervalStyle (EncodeInterval), as Strata prints intervals."""
    parts = []
    is_zero, is_before = True, False
    years, mons = int(months / 12), months - int(months / 12) * 12
    for value, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        if value == 0:
            continue
        sign = "+" if (not is_zero and is_before and value > 0) else ""
        parts.append(f"{sign}{value} {unit}{'' if value == 1 else 's'}")
        is_before, is_zero = value < 0, False
    if micros != 0 or is_zero:
        minus = micros < 0
        a = abs(micros)
        hours, rest = divmod(a, 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        seconds, fraction = divmod(rest, 1_000_000)
        sign = "-" if minus else ("+" if is_before else "")
        clock = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
        if fraction:
            clock += "." + f"{fraction:06d}".rstrip("0")
        parts.append(clock)
    return " ".join(parts)


def run(con, sql):
    """(types, rows) of a query, or raises."""
    rel = con.sql(to_duckdb(sql))
    if rel is None:
        return None, None
    kinds = [column_type(t) for t in rel.types]
    intervals = [str(t).upper() == "INTERVAL" for t in rel.types]
    if not any(intervals):
        rows = [[format_value(v, k) for v, k in zip(row, kinds)] for row in rel.fetchall()]
        return "".join(kinds), rows
    # Take each INTERVAL column apart (months, days, microseconds) to print it exactly.
    names = [f"c{i}" for i in range(len(kinds))]
    select = []
    for name, is_interval in zip(names, intervals):
        if is_interval:
            select.append(
                f"[datepart('year', {name}) * 12 + datepart('month', {name}), "
                f"datepart('day', {name}), "
                f"datepart('hour', {name}) * 3600000000 + datepart('minute', {name}) * 60000000 "
                f"+ datepart('microseconds', {name})]"
            )
        else:
            select.append(name)
    query = f"SELECT {', '.join(select)} FROM ({to_duckdb(sql).rstrip().rstrip(';')}) AS t({', '.join(names)})"
    rows = []
    for row in con.sql(query).fetchall():
        cells = []
        for v, k, is_interval in zip(row, kinds, intervals):
            if is_interval and v is not None and v[0] is not None:
                cells.append(interval_text(int(v[0]), int(v[1]), int(v[2])))
            else:
                cells.append(format_value(None if is_interval else v, k))
        rows.append(cells)
    return "".join(kinds), rows


def take_sql(lines, i):
    """The SQL lines from `i` up to a blank line, `----` or the end; returns (sql, next i)."""
    sql = []
    while i < len(lines) and lines[i].strip() != "" and lines[i].strip() != "----":
        sql.append(lines[i])
        i += 1
    return sql, i


def process(path):
    global ZONED
    with open(path) as f:
        text = f.read()
    ZONED = re.search(r"^SET\s+TIME\s+ZONE\b", text, flags=re.I | re.M) is not None
    lines = text.split("\n")
    con = connect()
    out = []
    i = 0
    override = None
    queries = warnings = 0
    name = os.path.relpath(path)
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("#"):
            if stripped.startswith("# strata:"):
                override = stripped
            out.append(line)
            i += 1
            continue
        if stripped == "":
            out.append(line)
            i += 1
            continue
        tokens = stripped.split()
        header_line = i + 1
        if tokens[0] == "statement":
            out.append(line)
            sql, i = take_sql(lines, i + 1)
            out.extend(sql)
            text = "\n".join(sql)
            if re.match(r"\s*FLUSH\b", text, flags=re.I):
                override = None
                continue
            try:
                con.execute(to_duckdb(text))
                if tokens[1] == "error" and override is None:
                    warnings += 1
                    print(f"warning: {name}:{header_line}: DuckDB accepts: {text}", file=sys.stderr)
            except Exception as e:  # noqa: BLE001 (DuckDB raises many exception types)
                if tokens[1] == "ok":
                    sys.exit(f"{name}:{header_line}: DuckDB fails: {e}\n{text}")
            override = None
            continue
        if tokens[0] == "query" and len(tokens) > 1 and tokens[1] == "error":
            out.append(line)
            sql, i = take_sql(lines, i + 1)
            out.extend(sql)
            text = "\n".join(sql)
            queries += 1
            try:
                run(con, text)
                if override is None:
                    warnings += 1
                    print(f"warning: {name}:{header_line}: DuckDB accepts: {text}", file=sys.stderr)
            except Exception:  # noqa: BLE001
                pass
            override = None
            continue
        if tokens[0] == "query":
            extra = [t for t in tokens[1:] if not re.fullmatch(r"[ITR?]+", t)]
            sql, i = take_sql(lines, i + 1)
            old = []
            if i < len(lines) and lines[i].strip() == "----":
                i += 1
                while i < len(lines) and lines[i].strip() != "":
                    old.append(lines[i])
                    i += 1
            text = "\n".join(sql)
            queries += 1
            try:
                types, rows = run(con, text)
            except Exception as e:  # noqa: BLE001
                if override is None:
                    sys.exit(f"{name}:{header_line}: DuckDB fails: {e}\n{text}")
                types, rows = "", [[f"DuckDB error: {e}"]]
            # The runner sorts the actual rows (or values) of a rowsort (valuesort) query and
            # compares them with the expected ones as written: write them sorted the same way.
            if "rowsort" in extra:
                rows = sorted(rows)
            if "valuesort" in extra:
                rows = [[v] for v in sorted(v for r in rows for v in r)]
            new = [" ".join(r) for r in rows]
            if override is not None:
                old_types = [t for t in tokens[1:] if re.fullmatch(r"[ITR?]+", t)]
                types = old_types[0] if old_types else types
                if old != new:
                    print(f"note: {name}:{header_line}: kept Strata-specific result ({override}); DuckDB says {new}", file=sys.stderr)
                new = old
            out.append(" ".join(["query", types] + extra))
            out.extend(sql)
            out.append("----")
            out.extend(new)
            override = None
            continue
        # Anything else (halt, hash-threshold, ...) passes through.
        out.append(line)
        i += 1
    with open(path, "w") as f:
        f.write("\n".join(out))
    print(f"{name}: {queries} queries, {warnings} warnings", file=sys.stderr)
    return queries


def main():
    ensure_duckdb()
    paths = sys.argv[1:] or sorted(
        os.path.join(HERE, p) for p in os.listdir(HERE) if p.endswith(".slt")
    )
    total = sum(process(p) for p in paths)
    print(f"{total} queries in {len(paths)} files", file=sys.stderr)


if __name__ == "__main__":
    main()
