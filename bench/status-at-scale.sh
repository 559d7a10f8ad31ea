#!/bin/sh
# Times `walletops status --json` (the whole process) against a job_logs of
# 2,000,000 rows, 99 % of them finished, inserted by plain SQL.
#
#   bench/status-at-scale.sh SERVER_URL [RUNS]
#
# SERVER_URL is a postgres:// URL of any database on the server; a database
# named wo_status_bench is (re)created beside it. Build first:
# cargo build --release.
set -eu
server=${1:?usage: $0 SERVER_URL [RUNS]}
runs=${2:-20}
bin=${WALLETOPS_BIN:-target/release/walletops}
# The same server, database wo_status_bench (query string kept: host=, sslmode=).
bench=$(printf '%s' "$server" | sed -E 's#^(postgres(ql)?://[^/]*)/[^?]*#\1/wo_status_bench#')

psql "$server" -qc 'DROP DATABASE IF EXISTS wo_status_bench' -c 'CREATE DATABASE wo_status_bench'
DATABASE_URL=$bench "$bin" migrate >/dev/null
psql "$bench" -qc "
INSERT INTO job_logs (job_type, status, wallet_address, created_at, finished_at, run_at, error_message)
SELECT (ARRAY['sync','consolidation','gas-topup'])[1 + g % 3],
       CASE WHEN g % 100 = 0 THEN (ARRAY['pending','processing','failed'])[1 + (g/100) % 3]
            WHEN g % 50 = 1 THEN 'failed'
            WHEN g % 20 = 3 THEN 'cancelled'
            ELSE 'completed' END,
       'T' || g,
       now() - make_interval(secs => (2000000 - g) * 0.5),
       CASE WHEN g % 100 = 0 THEN NULL ELSE now() - make_interval(secs => (2000000 - g) * 0.5) END,
       now() - make_interval(secs => (2000000 - g) * 0.5),
       CASE WHEN g % 50 = 1 THEN 'boom' END
  FROM generate_series(1, 2000000) g" -c 'ANALYZE job_logs'

DATABASE_URL=$bench BIN=$bin RUNS=$runs python3 - <<'PY'
import os, subprocess, time
ts = []
for _ in range(int(os.environ["RUNS"])):
    t = time.perf_counter()
    subprocess.run([os.environ["BIN"], "status", "--json"], stdout=subprocess.DEVNULL)
    ts.append((time.perf_counter() - t) * 1000)
ts.sort()
print("status --json over %d runs: min %.1f ms, median %.1f ms, max %.1f ms"
      % (len(ts), ts[0], ts[len(ts) // 2], ts[-1]))
PY
