#!/bin/bash
# 1 vs 2 query threads on 4M events rows (persisted): best of 5 server-side elapsed_ms per query.
set -e
cd "$(dirname "$0")/../.."
B=target/release
[ -f /tmp/ev4m.parquet ] || $B/strata-bench gen events --rows 4000000 --seed 1 --out /tmp/ev4m.parquet >/dev/null
Q=(
"SELECT COUNT(*) FROM events WHERE status = 500"
"SELECT country, COUNT(*), AVG(latency_ms) FROM events GROUP BY country ORDER BY 2 DESC LIMIT 10"
"SELECT device, SUM(bytes) FROM events WHERE latency_ms > 100 GROUP BY device"
"SELECT COUNT(DISTINCT user_id) FROM events"
"SELECT url, COUNT(*) FROM events WHERE country = 'DE' GROUP BY url ORDER BY 2 DESC LIMIT 10"
"SELECT user_id, COUNT(*) FROM events GROUP BY user_id ORDER BY 2 DESC LIMIT 10"
"SELECT approx_percentile(latency_ms, 0.95), approx_count_distinct(user_id) FROM events"
)
for round in 1 2; do
for t in 1 2; do
  rm -rf /tmp/thr-data; port=$((18180+t))
  $B/strata serve --data-dir /tmp/thr-data --http-addr 127.0.0.1:$port --query-threads $t >/tmp/thr-$t.log 2>&1 &
  pid=$!; sleep 2
  $B/strata ingest events /tmp/ev4m.parquet --url http://127.0.0.1:$port >/dev/null 2>&1
  curl -s -XPOST http://127.0.0.1:$port/v1/sql -H 'content-type: text/plain' -d 'FLUSH TABLE events' >/dev/null
  for q in "${Q[@]}"; do
    best=999999
    for i in 1 2 3 4 5; do
      ms=$(curl -s -XPOST http://127.0.0.1:$port/v1/sql -H 'content-type: text/plain' --data-binary "$q" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["stats"]["elapsed_ms"])')
      best=$(python3 -c "print(min($best, $ms))")
    done
    echo "round=$round threads=$t best_ms=$best q=$q"
  done
  kill $pid; wait $pid 2>/dev/null || true
done
done
