#!/usr/bin/env bash
# Schema verification numbers (issue 10): generation time of `index effects` for all
# migrations, `verify --db` and `check --db` (which now verifies) against `check --db
# --no-schema` on the full v2.36.0 schema, the catalog round trips of one verify, and the
# bundled effects size. Starts its own PostgreSQL 15 in a temporary folder (as the postgres
# user when run as root) and removes it afterwards. Needs ../shared/reference/coder-sql.tar.gz
# (SQL=path overrides) and hyperfine (apt-get install -y hyperfine). RUNS=N changes the run count.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-50}
sql=${SQL:-../shared/reference/coder-sql.tar.gz}
[ -f "$sql" ] || { echo "bench/verify.sh: $sql is missing" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/verify.sh: hyperfine is not installed" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/migtag

pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || { echo "bench/verify.sh: PostgreSQL 15 is not installed" >&2; exit 1; }
dir=$(mktemp -d /tmp/migtag-bench-verify-XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
cleanup() { as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C --no-sync --auth-local=trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
CONF
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w start >/dev/null
admin="postgresql://postgres@/postgres?host=$dir&port=$port"
echo "server: $("$pgbin/postgres" --version), $(nproc) cores"

# 1. Generation: every migration, irregular sets, rehearsals, variants.
hyperfine -N --runs 3 --export-json "$dir/gen.json" \
  -n "index effects (all migrations)" "$bin index effects --sql $sql --scratch-db '$admin' --out $dir/effects.json" >/dev/null
cmp -s "$dir/effects.json" data/coder-effects.json && echo "generated data: identical to data/coder-effects.json" \
  || echo "generated data: DIFFERS from data/coder-effects.json"

# 2. The full v2.36.0 schema: Coder's own dump.sql of v2.36.0 (it compares `match` with the
# replay, see tests), plus the row.
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "CREATE DATABASE coder"
tar -xzOf "$sql" coder-sql/dumps/v2.36.0.dump.sql > "$dir/dump.sql"
{ echo "SET check_function_bodies = false;"; cat "$dir/dump.sql"; \
  echo "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);"; \
  echo "INSERT INTO schema_migrations VALUES (556, false);"; } \
  | psql -X -q -h "$dir" -p "$port" -U postgres -d coder -v ON_ERROR_STOP=1 >/dev/null
db="postgresql://postgres@/coder?host=$dir&port=$port"
"$bin" verify --db "$db" >/dev/null   # exits 0 on this database, or the benchmark is meaningless

# 3. Round trips of one verify: the statements the server logged for application migtag.
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
before=$(grep -c 'statement: ' "$dir/server.log" || true)
"$bin" verify --db "$db" >/dev/null
sleep 0.3
after=$(grep -c 'statement: ' "$dir/server.log" || true)
echo "verify --db: $((after - before)) queries (round trips) logged by the server"
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null

# 4. Wall time.
hyperfine -N --warmup 5 --runs "$runs" --export-json "$dir/live.json" \
  -n "check --db --no-schema" "$bin check --no-schema --db '$db'" \
  -n "check --db (with the schema verdict)" "$bin check --db '$db'" \
  -n "verify --db" "$bin verify --db '$db'" >/dev/null
python3 - "$dir/gen.json" "$dir/live.json" <<'PY'
import json, sys, zlib
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        t = sorted(x * 1000 for x in r["times"])
        print(f"{r['command']:40s} median {r['median']*1000:9.1f} ms  p90 {t[int(len(t)*0.9)]:9.1f} ms  min {t[0]:9.1f} ms")
raw = open("data/coder-effects.json", "rb").read()
c = zlib.compressobj(9, zlib.DEFLATED, -15)
packed = c.compress(raw) + c.flush()
print(f"data/coder-effects.json: {len(raw)} bytes, {len(packed)} bytes deflated")
PY
