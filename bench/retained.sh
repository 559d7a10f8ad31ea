#!/bin/sh
# Does the queue keep its rate when the table holds a million finished jobs?
# Runs `walletops bench` in pairs: once on an empty job_logs, once on one
# holding RETAINED completed, failed and cancelled jobs (inside the retention
# age, so maintenance keeps them), alternating so that both see the same
# machine. Prints both JSON lines of every pair, then the median drains.
#
#   bench/retained.sh SERVER_URL [PAIRS] [RETAINED] [JOBS]
#
# SERVER_URL is a postgres:// URL of any database on the server; databases
# wo_bench_empty and wo_bench_retained are (re)created beside it. Build
# first: cargo build --release.
set -eu
server=${1:?usage: $0 SERVER_URL [PAIRS] [RETAINED] [JOBS]}
pairs=${2:-3}
retained=${3:-1000000}
jobs=${4:-20000}
bin=${WALLETOPS_BIN:-target/release/walletops}
db_url() { printf '%s' "$server" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$1#"; }

for db in wo_bench_empty wo_bench_retained; do
    psql "$server" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    DATABASE_URL=$(db_url $db) "$bin" migrate >/dev/null
done
# Finished jobs of the last six days, shaped like real ones: a wallet, a
# worker that ran them, data, one in fifty failed, one in twenty cancelled.
psql "$(db_url wo_bench_retained)" -qc "
INSERT INTO job_logs (job_type, status, wallet_address, data, attempt, locked_by,
                      created_at, started_at, finished_at, run_at, error_message)
SELECT (ARRAY['sync','consolidation','gas-topup'])[1 + g % 3],
       CASE WHEN g % 50 = 1 THEN 'failed' WHEN g % 20 = 3 THEN 'cancelled' ELSE 'completed' END,
       'T' || (g % 5000),
       jsonb_build_object('scheduled', true),
       1,
       '00000000-0000-4000-8000-000000000001',
       now() - make_interval(secs => ($retained - g) * 0.5),
       now() - make_interval(secs => ($retained - g) * 0.5),
       now() - make_interval(secs => ($retained - g) * 0.5 - 1),
       now() - make_interval(secs => ($retained - g) * 0.5),
       CASE WHEN g % 50 = 1 THEN 'boom' END
  FROM generate_series(1, $retained) g" -c 'VACUUM ANALYZE job_logs' -c 'CHECKPOINT'

out=$(mktemp)
for _ in $(seq "$pairs"); do
    for db in wo_bench_empty wo_bench_retained; do
        psql "$server" -qc CHECKPOINT
        line=$(DATABASE_URL=$(db_url $db) "$bin" bench --jobs "$jobs" --concurrency 16)
        echo "$db $line" | tee -a "$out"
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
drains = {}
for row in open(sys.argv[1]):
    db, line = row.split(" ", 1)
    drains.setdefault(db, []).append(json.loads(line)["drain_jobs_per_s"])
empty, kept = (statistics.median(drains[k]) for k in ("wo_bench_empty", "wo_bench_retained"))
print("median drain: empty %.0f, retained %.0f jobs/s (%.1f %%)" % (empty, kept, 100 * (kept / empty - 1)))
PY
rm -f "$out"
