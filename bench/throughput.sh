#!/usr/bin/env bash
# The throughput model of the upgrade forecast (docs/forecast.md): how fast this machine's
# PostgreSQL does each class of work a Coder migration does, measured on generated tables
# shaped like Coder's big ones (uuid keys, timestamps, text, jsonb, two secondary indexes).
#
# It starts a throwaway PostgreSQL (15 unless PGBIN names another bin folder) in a temporary
# folder on a loopback port, as the postgres user when run as root, with the server's default
# settings (shared_buffers, maintenance_work_mem, fsync on: what an untuned server does), fills
# ROWS rows (default 1,000,000, about 450 MB with indexes), and runs each operation RUNS times
# (default 3) inside BEGIN ... ROLLBACK so every run starts from the same table. It prints one
# line per operation (median, min, max of the rate) and the machine, settings and load it ran
# under; OUT=FILE also writes the results as JSON. The rates in src/core/forecast/rates.rs come
# from this script; re-measure on your own server class and compare.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-1000000}
runs=${RUNS:-3}
out=${OUT:-}

pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "bench/throughput.sh: no PostgreSQL in $pgbin (apt-get install -y postgresql-15, or PGBIN=...)" >&2; exit 1; }
command -v psql >/dev/null || { echo "bench/throughput.sh: psql is missing (apt-get install -y postgresql-client)" >&2; exit 1; }

. bench/pg.sh
start_pg migtag-throughput
export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres

echo "filling $rows rows ..." >&2
psql -X -q -v ON_ERROR_STOP=1 -v rows="$rows" <<'SQL'
CREATE TABLE bench_workspaces (id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO bench_workspaces SELECT gen_random_uuid(), 'ws-' || g FROM generate_series(1, greatest(:rows / 10, 1)) g;
CREATE TYPE bench_transition AS ENUM ('start', 'stop', 'delete');
-- Shaped like workspace_builds joined with a provisioner job: uuid keys, timestamps, short
-- text, a longer text and a jsonb document.
CREATE TABLE bench_builds (
  id uuid PRIMARY KEY,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  workspace_id uuid NOT NULL,
  template_version_id uuid NOT NULL,
  build_number integer NOT NULL,
  transition bench_transition NOT NULL,
  initiator_id uuid NOT NULL,
  job_id uuid NOT NULL,
  deadline timestamptz NOT NULL,
  reason text NOT NULL,
  daily_cost integer NOT NULL,
  output text,
  metadata jsonb NOT NULL
);
WITH ws AS (SELECT array_agg(id) AS ids FROM bench_workspaces)
INSERT INTO bench_builds
SELECT gen_random_uuid(), now() - g * interval '1 minute', now() - g * interval '1 minute',
       ws.ids[1 + g % array_length(ws.ids, 1)], gen_random_uuid(), g, (ARRAY['start','stop','delete']::bench_transition[])[1 + g % 3],
       gen_random_uuid(), gen_random_uuid(), now() + interval '8 hours', 'initiator',
       g % 7, 'Terraform apply complete! Resources: ' || (g % 13) || ' added, 0 changed, 0 destroyed.',
       jsonb_build_object('agent', md5(g::text), 'os', 'linux', 'arch', 'amd64', 'resources', g % 13, 'tags', jsonb_build_array('a', 'b'))
  FROM generate_series(1, :rows) g, ws;
CREATE INDEX bench_builds_workspace_idx ON bench_builds (workspace_id, build_number);
CREATE INDEX bench_builds_job_idx ON bench_builds (job_id);
VACUUM ANALYZE bench_builds;
VACUUM ANALYZE bench_workspaces;
CHECKPOINT;
SQL

# Each operation: class | name | statement. It runs inside BEGIN ... ROLLBACK.
ops=$(cat <<'OPS'
rewrite|ALTER COLUMN TYPE integer -> bigint|ALTER TABLE bench_builds ALTER COLUMN build_number TYPE bigint
rewrite|ADD COLUMN with a volatile default|ALTER TABLE bench_builds ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()
index_build|CREATE INDEX on a timestamptz|CREATE INDEX bench_builds_created_idx ON bench_builds (created_at DESC)
index_build|CREATE INDEX on (uuid, timestamptz)|CREATE INDEX bench_builds_tv_idx ON bench_builds (template_version_id, created_at)
index_build|CREATE UNIQUE INDEX on a uuid|CREATE UNIQUE INDEX bench_builds_initiator_idx ON bench_builds (initiator_id)
scan|SET NOT NULL (validation scan)|ALTER TABLE bench_builds ALTER COLUMN output SET NOT NULL
scan|ADD CONSTRAINT CHECK (validation scan)|ALTER TABLE bench_builds ADD CONSTRAINT bench_cost_ck CHECK (daily_cost >= 0)
scan|ADD FOREIGN KEY (validation scan)|ALTER TABLE bench_builds ADD CONSTRAINT bench_ws_fk FOREIGN KEY (workspace_id) REFERENCES bench_workspaces (id)
update|UPDATE every row (one column)|UPDATE bench_builds SET updated_at = updated_at + interval '1 second'
update|UPDATE every row (jsonb)|UPDATE bench_builds SET metadata = metadata || '{"migrated": true}'
update|DELETE every row|DELETE FROM bench_builds
catalog|ADD COLUMN without default|ALTER TABLE bench_builds ADD COLUMN note text
catalog|ADD COLUMN with a constant default|ALTER TABLE bench_builds ADD COLUMN flag boolean NOT NULL DEFAULT false
catalog|ADD VALUE to an enum|ALTER TYPE bench_transition ADD VALUE 'rebuild'
catalog|CREATE TABLE with indexes and a foreign key|CREATE TABLE bench_new (id uuid PRIMARY KEY, build_id uuid NOT NULL REFERENCES bench_builds (id), created_at timestamptz NOT NULL); CREATE INDEX ON bench_new (created_at)
OPS
)

# Sizes the rates divide by: the whole relation for rewrites (heap, TOAST and every index are
# written again), the heap for index builds, scans and data changes (what is read or written).
read -r total_bytes heap_bytes nrows < <(psql -X -At -F ' ' -c \
  "SELECT pg_total_relation_size('bench_builds'), pg_relation_size('bench_builds') + coalesce(pg_total_relation_size(reltoastrelid), 0), reltuples::bigint FROM pg_class WHERE relname = 'bench_builds'")

settings=$(psql -X -At -F '=' -c "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('shared_buffers','maintenance_work_mem','work_mem','max_wal_size','fsync','synchronous_commit','max_parallel_maintenance_workers','wal_level') ORDER BY name" | tr '\n' ' ')
server=$("$pgbin/postgres" --version)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

results=$(mktemp)
while IFS='|' read -r class name stmt; do
  for run in $(seq 1 "$runs"); do
    # psql prints one "Time:" line per statement; the statements' sum, minus BEGIN/ROLLBACK.
    ms=$(printf '\\timing on\nBEGIN;\n%s;\nROLLBACK;\n' "$stmt" | psql -X -q -v ON_ERROR_STOP=1 2>&1 |
      awk '/^Time:/ {t[++n]=$2} END {s=0; for (i=2; i<n; i++) s+=t[i]; print s}')
    printf '%s|%s|%s|%s\n' "$class" "$name" "$run" "$ms" >> "$results"
    case $class in update) psql -X -q -c 'VACUUM FULL bench_builds' >/dev/null;; esac
  done
done <<< "$ops"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$results" "$total_bytes" "$heap_bytes" "$nrows" "$server" "$settings" "$load_before" "$load_after" "$out" "$(nproc)" "$(free -g | awk '/^Mem:/ {print $2}')" <<'PY'
import json, statistics, sys
path, total, heap, nrows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
server, settings, load_before, load_after, out, cores, mem = sys.argv[5:12]
runs = {}
for line in open(path):
    cls, name, _, ms = line.rstrip("\n").split("|")
    runs.setdefault((cls, name), []).append(float(ms) / 1000.0)
MB = 1024 * 1024
print(f"server: {server}; {cores} cores, {mem} GB; settings: {settings}")
print(f"table: {nrows} rows, {total / MB:.0f} MB with TOAST and indexes, heap {heap / MB:.0f} MB")
print(f"load average (1, 5, 15 min) before: {load_before}; after: {load_after}")
print(f"{'class':12s} {'operation':44s} {'median':>12s} {'min':>12s} {'max':>12s} unit")
report = {"server": server, "cores": int(cores), "memory_gb": int(mem), "settings": settings.strip(),
          "load_before": load_before, "load_after": load_after, "rows": nrows,
          "total_bytes": total, "heap_bytes": heap, "operations": []}
for (cls, name), secs in runs.items():
    if cls == "rewrite":
        rates, unit = [total / MB / s for s in secs], "MB/s (whole relation)"
    elif cls in ("index_build", "scan"):
        rates, unit = [heap / MB / s for s in secs], "MB/s (heap)"
    elif cls == "update":
        rows_s = statistics.median([nrows / s for s in secs])
        rates, unit = [heap / MB / s for s in secs], f"MB/s (heap); median {rows_s:.0f} rows/s"
    else:
        rates, unit = [s * 1000 for s in secs], "ms per statement"
    med = statistics.median(rates)
    print(f"{cls:12s} {name:44s} {med:12.1f} {min(rates):12.1f} {max(rates):12.1f} {unit}")
    report["operations"].append({"class": cls, "operation": name, "seconds": secs, "median": med,
                                 "min": min(rates), "max": max(rates), "unit": unit})
if out:
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
PY
rm -f "$results"
