#!/usr/bin/env bash
# Calibration of the upgrade forecast on real Coder upgrade paths (docs/forecast.md,
# bench/calibration/README.md): starts a throwaway PostgreSQL 15 (default settings, loopback,
# temporary folder, as the postgres user when run as root), then examples/calibrate.rs builds
# Coder's schema at each FROM tag from the real migration SQL, fills the tables with
# foreign-key-consistent rows, asks `migtag gate --db` for the forecast, and measures TO's
# pending migrations statement by statement, run as Coder runs them (one transaction under
# pg_advisory_xact_lock), rolled back after each run. Needs
# ../shared/reference/coder-sql.tar.gz (CAL_SQL).
#   bench/calibrate.sh [FROM:TO ...]   (default: the three paths of the README)
# Volumes: CAL_BIG_ROWS (default 200000) for Coder's big tables; CAL_ROWS="api_keys=2000000,
# workspace_builds=1000000" per table; CAL_SMALL_ROWS (default 0: keep the fixture rows) for
# the other tables the path touches; CAL_LABEL names the volume in the file names.
# Runs: CAL_RUNS (default 2) on one fill; CAL_BUSY=N CPU-bound processes during the batch of
# the last CAL_BUSY_RUNS runs (default all); CAL_COMMIT=1 commits (one run).
# CAL_KEEP=1 leaves the server and the filled database running and prints how to reach them;
# CAL_PGHOST + CAL_PGPORT use a server that is already running (one CAL_KEEP left) instead of
# starting one, and CAL_REUSE=1 measures its filled database again.
# Raw numbers: CAL_OUT (default bench/calibration/raw), one TSV per run and the forecast JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- v2.26.0:v2.27.0 v2.29.0:v2.34.0 v2.18.0:v2.22.0
export CAL_SQL=${CAL_SQL:-$PWD/../shared/reference/coder-sql.tar.gz}
[ -f "$CAL_SQL" ] || { echo "bench/calibrate.sh: $CAL_SQL is missing (set CAL_SQL)" >&2; exit 1; }
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "bench/calibrate.sh: no PostgreSQL in $pgbin (apt-get install -y postgresql-15, or PGBIN=...)" >&2; exit 1; }
command -v sha256sum >/dev/null || { echo "bench/calibrate.sh: sha256sum is missing (CAL_BUSY needs it)" >&2; exit 1; }
cargo build --quiet --bin migtag --example calibrate
export MIGTAG_BIN=$PWD/target/debug/migtag

if [ -n "${CAL_PGPORT:-}" ]; then
  [ -n "${CAL_PGHOST:-}" ] || { echo "bench/calibrate.sh: CAL_PGPORT needs CAL_PGHOST (the socket folder)" >&2; exit 1; }
else
  . bench/pg.sh
  start_pg migtag-calibrate
  if [ "${CAL_KEEP:-0}" = 1 ]; then
    trap - EXIT
    echo "CAL_KEEP: server left running: CAL_PGHOST=$dir CAL_PGPORT=$port (psql -h $dir -p $port -U postgres);"
    echo "  stop it with: $([ "$(id -u)" = 0 ] && echo "runuser -u postgres -- ")$pgbin/pg_ctl -D $dir/data -m fast stop && rm -rf $dir"
  fi
  export CAL_PGHOST=$dir CAL_PGPORT=$port
fi
echo "server: $("$pgbin/postgres" --version); $(nproc) cores; $(free -g | awk '/^Mem:/ {print $2}') GB RAM; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
./target/debug/examples/calibrate "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
