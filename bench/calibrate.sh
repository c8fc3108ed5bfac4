#!/usr/bin/env bash
# Calibration of the upgrade forecast on real Coder upgrade paths (docs/forecast.md): starts a
# throwaway PostgreSQL 15 (default settings, loopback, temporary folder, as the postgres user
# when run as root), then examples/calibrate.rs builds Coder's schema at each FROM tag from
# the real migration SQL, fills the tables the path touches, asks `migtag gate --db` for the
# forecast, runs the pending migrations in one transaction as Coder does, and prints measured
# against forecast as a Markdown table. Needs ../shared/reference/coder-sql.tar.gz (CAL_SQL).
#   bench/calibrate.sh [FROM:TO ...]   (default: the three paths of the README)
# CAL_BIG_ROWS (default 200000) sets the fill of Coder's big tables; CAL_SMALL_ROWS (default 0:
# keep the fixture rows) that of the other tables the path touches.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- v2.26.0:v2.27.0 v2.29.0:v2.34.0 v2.18.0:v2.22.0
export CAL_SQL=${CAL_SQL:-$PWD/../shared/reference/coder-sql.tar.gz}
[ -f "$CAL_SQL" ] || { echo "bench/calibrate.sh: $CAL_SQL is missing (set CAL_SQL)" >&2; exit 1; }
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "bench/calibrate.sh: no PostgreSQL in $pgbin (apt-get install -y postgresql-15, or PGBIN=...)" >&2; exit 1; }
cargo build --quiet --bin migtag --example calibrate
export MIGTAG_BIN=$PWD/target/debug/migtag

. bench/pg.sh
start_pg migtag-calibrate
echo "server: $("$pgbin/postgres" --version); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
CAL_PGHOST=$dir CAL_PGPORT=$port ./target/debug/examples/calibrate "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
