#!/usr/bin/env bash
# The numbers of "facts once, decide once" (issue 16), whole process, release build:
#   1. gate --version 401 --target v2.34.0 against check --version 401 (target: within 2x);
#   2. on Coder's full v2.36.0 schema (its own dump.sql, row 556): verify --db against
#      check --db --no-schema (target: within 2x), and check --db (row, schema identity and
#      decision) against psql -Atc 'select version, dirty from schema_migrations' (target: at
#      or below psql's wall time);
#   3. the server's count of sessions that one gate --db opens (target: one).
# Starts its own PostgreSQL 15 (bench/pg.sh). Needs hyperfine (apt-get install -y hyperfine)
# and ../shared/reference/coder-sql.tar.gz (SQL=path overrides). RUNS=N changes the run count.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-100}
sql=${SQL:-../shared/reference/coder-sql.tar.gz}
[ -f "$sql" ] || { echo "bench/decide.sh: $sql is missing" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/decide.sh: hyperfine is not installed" >&2; exit 1; }
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || { echo "bench/decide.sh: PostgreSQL 15 is not installed" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/migtag
# shellcheck source=bench/pg.sh
. bench/pg.sh
start_pg migtag-bench-decide
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); server: $("$pgbin/postgres" --version)"

psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "CREATE DATABASE coder"
{ echo "SET check_function_bodies = false;"; tar -xzOf "$sql" coder-sql/dumps/v2.36.0.dump.sql; \
  echo "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);"; \
  echo "INSERT INTO schema_migrations VALUES (556, false);"; } \
  | psql -X -q -h "$dir" -p "$port" -U postgres -d coder -v ON_ERROR_STOP=1 >/dev/null
db="postgresql://postgres@/coder?host=$dir&port=$port"
"$bin" verify --db "$db" >/dev/null   # exits 0 here, or the comparison is meaningless

hyperfine -N --warmup 10 --runs "$runs" --export-json "$dir/offline.json" \
  -n "check --version 401" "$bin check --version 401" \
  -n "gate --version 401 --target v2.34.0" "$bin gate --version 401 --target v2.34.0" >/dev/null
hyperfine -N --warmup 5 --runs "$runs" --export-json "$dir/live.json" \
  -n "psql -Atc 'select version, dirty ...'" "psql -X -Atc 'select version, dirty from schema_migrations' -h $dir -p $port -U postgres -d coder" \
  -n "check --db --no-schema" "$bin check --no-schema --db '$db'" \
  -n "check --db (row, identity, decision)" "$bin check --db '$db'" \
  -n "verify --db" "$bin verify --db '$db'" \
  -n "gate --db --target v2.36.0" "$bin gate --target v2.36.0 --db '$db'" >/dev/null

# Sessions one gate opens: the server logs every connection.
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "ALTER SYSTEM SET log_connections = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
before=$(grep -c 'connection authorized' "$dir/server.log" || true)
"$bin" gate --target v2.36.0 --db "$db" >/dev/null
sleep 0.3
after=$(grep -c 'connection authorized' "$dir/server.log" || true)
echo "gate --db: $((after - before)) session(s) opened"

python3 - "$dir/offline.json" "$dir/live.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    rs = json.load(open(f))["results"]
    base = rs[0]["median"]
    for r in rs:
        t = sorted(x * 1000 for x in r["times"])
        print(f"{r['command']:42s} median {r['median']*1000:7.2f} ms  p90 {t[int(len(t)*0.9)]:7.2f} ms  {r['median']/base:5.2f}x of the first")
PY
