#!/usr/bin/env bash
# Wall time of `migtag check --db` (release build) against `psql -Atc 'select version, dirty
# from schema_migrations'` on the same local PostgreSQL, which this script starts in a
# temporary folder (as the postgres user when run as root) and removes afterwards.
# migtag does more per run: it loads the release index, reads pg_locks and pg_stat_activity,
# then the table, and decides. Target (issue 3): migtag's median at or below psql's.
# Uses hyperfine when installed, else a timed loop. RUNS=N changes the run count.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-200}
cargo build --release --quiet
bin=$PWD/target/release/migtag

pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "bench/db.sh: PostgreSQL is not installed (apt-get install -y postgresql)" >&2; exit 1; }

dir=$(mktemp -d /tmp/migtag-bench-XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
cleanup() { as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C --no-sync \
  --auth-local=trust --auth-host=scram-sha-256 >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
CONF
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w start >/dev/null
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE coder LOGIN PASSWORD 'bench-password';
CREATE DATABASE coder OWNER coder;
\c coder
CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
ALTER TABLE schema_migrations OWNER TO coder;
INSERT INTO schema_migrations VALUES (168, false);
SQL

tcp="postgres://coder:bench-password@127.0.0.1:$port/coder?sslmode=disable"
sock="host=$dir port=$port user=coder password=bench-password dbname=coder"
query='select version, dirty from schema_migrations'
"$bin" check --db "$tcp" >/dev/null   # exits 0 on this database, or the benchmark is meaningless
echo "server: $("$pgbin/postgres" --version), $(nproc) cores; $runs runs each"

if command -v hyperfine >/dev/null; then
  out=$(mktemp)
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$out" \
    -n "migtag check --db (tcp)"  "$bin check --db '$tcp'" \
    -n "psql -Atc (tcp)"          "psql -X -Atc '$query' '$tcp'" \
    -n "migtag check --db (unix socket)" "$bin check --db '$sock'" \
    -n "psql -Atc (unix socket)"  "psql -X -Atc '$query' '$sock'" >/dev/null
  python3 - "$out" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(x * 1000 for x in r["times"])
    print(f"{r['command']:34s} median {r['median']*1000:6.2f} ms  p90 {t[int(len(t)*0.9)]:6.2f} ms  min {t[0]:6.2f} ms")
PY
  rm -f "$out"
else
  python3 - "$bin" "$runs" "$tcp" "$sock" "$query" <<'PY'
import subprocess, sys, time, statistics
binary, runs, tcp, sock, query = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
cases = [
    ("migtag check --db (tcp)", [binary, "check", "--db", tcp]),
    ("psql -Atc (tcp)", ["psql", "-X", "-Atc", query, tcp]),
    ("migtag check --db (unix socket)", [binary, "check", "--db", sock]),
    ("psql -Atc (unix socket)", ["psql", "-X", "-Atc", query, sock]),
]
for name, cmd in cases:
    times = []
    for _ in range(runs):
        t = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL); times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"{name:34s} median {statistics.median(times):6.2f} ms  p90 {times[int(runs*0.9)]:6.2f} ms  min {times[0]:6.2f} ms")
PY
fi
