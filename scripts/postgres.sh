#!/usr/bin/env bash
# Runs "$@" with a private PostgreSQL instance: installs Debian's postgresql if missing, creates
# a cluster in a temporary directory (as an unprivileged user when run as root: initdb and
# pg_ctl refuse root), starts it on a free loopback port (never 5432's cluster, never beyond
# 127.0.0.1), runs the command, then stops the instance by its data directory and removes it.
#
#   bash scripts/postgres.sh cargo test -p airtight-issuer --lib db::
#
# Sets for the command:
#   AIRTIGHT_TEST_POSTGRES     postgres://postgres@127.0.0.1:PORT/postgres (trust auth, loopback)
#   AIRTIGHT_REQUIRE_POSTGRES  1: the PostgreSQL tests fail (not skip) if no server answers
#   AIRTIGHT_TEST_POSTGRES_CTL a script: `stop` (fast), `start`, `restart` this instance (tests
#                              that restart PostgreSQL mid-run use it)
# Env: PG_READY_TIMEOUT (seconds, default 20).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "postgres.sh: PostgreSQL server binaries missing (Debian package postgresql) and not root" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/airtight-pg.XXXXXX")
as=()
if [ "$(id -u)" = 0 ]; then
  chown nobody "$dir"
  as=(runuser -u nobody --)
fi

# A free loopback port (nothing answers on it).
port=""
for _ in $(seq 1 50); do
  p=$(( 20000 + RANDOM % 20000 ))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "postgres.sh: no free loopback port found" >&2; exit 1; }

opts="-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=200"
cat >"$dir/ctl.sh" <<EOF
#!/usr/bin/env bash
# Controls the private PostgreSQL instance of scripts/postgres.sh: stop | start | restart.
set -euo pipefail
case "\${1:-}" in
  stop) ${as[*]} "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
  start) ${as[*]} "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t ${PG_READY_TIMEOUT:-20} -o "$opts" start >/dev/null ;;
  restart) ${as[*]} "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w -t ${PG_READY_TIMEOUT:-20} -o "$opts" restart >/dev/null ;;
  *) echo "usage: \$0 stop|start|restart" >&2; exit 2 ;;
esac
EOF
chmod 755 "$dir/ctl.sh"

cleanup() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

"${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
if ! bash "$dir/ctl.sh" start; then
  echo "postgres.sh: PostgreSQL did not start:" >&2
  cat "$dir/log" >&2 || true
  exit 1
fi
echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $dir/data)" >&2

export AIRTIGHT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
export AIRTIGHT_REQUIRE_POSTGRES=1
export AIRTIGHT_TEST_POSTGRES_CTL="$dir/ctl.sh"
"$@"
