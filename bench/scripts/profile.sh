#!/bin/bash
cd "$(dirname "$0")/../.."
# Usage: bench/scripts/profile.sh DATA_DIR N [N ...] -- perf profiles of ClickBench queries N
# against a `strata serve` on DATA_DIR (a data directory loaded by strata-bench clickbench).
DATA=$1; shift
SHARED=${STRATA_SHARED_DIR:-../shared}
B=target/release
$B/strata serve --data-dir "$DATA" --http-addr 127.0.0.1:18190 > /tmp/prof-serve.log 2>&1 &
pid=$!
sleep 5
for n in "$@"; do
  q=$(python3 -c "
import sys
t=open('$SHARED/benchmarks/clickbench/queries.sql').read()
qs=[s.strip() for s in t.split(';') if s.strip()]
print(qs[$n-1])")
  curl -s -XPOST http://127.0.0.1:18190/v1/sql -H 'content-type: text/plain' --data-binary "$q" > /dev/null
  ( for i in $(seq 1 6); do curl -s -XPOST http://127.0.0.1:18190/v1/sql -H 'content-type: text/plain' --data-binary "$q" -o /dev/null; done ) &
  lp=$!
  perf record -F 499 -g -p $pid -o /tmp/perf-Q$n.data 2>/dev/null &
  rp=$!
  wait $lp
  kill -INT $rp; wait $rp 2>/dev/null
  echo "== Q$n: $q"
  perf report -i /tmp/perf-Q$n.data --no-children --percent-limit 2.5 --stdio -g none 2>/dev/null | grep -v "^#" | grep -v "^$" | head -14
done
kill $pid
