# shellcheck shell=bash disable=SC2317  # cleanup runs from the EXIT trap
# shellcheck disable=SC2154  # $pgbin is set by the script that sources this
# Sourced by the benchmark scripts: start_pg PREFIX starts a throwaway PostgreSQL from $pgbin
# (default settings, autovacuum off so statistics change only when the script says) in a new
# folder under /tmp, on a free loopback port, as the postgres user when run as root, and stops
# and removes it on exit. Sets $dir (also the socket folder) and $port.
start_pg() {
  dir=$(mktemp -d "/tmp/$1-XXXXXX")
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  cleanup() { as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
  trap cleanup EXIT
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C --auth-local=trust >/dev/null 2>&1
  cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
autovacuum = off
CONF
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w start >/dev/null
}
