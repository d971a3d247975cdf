# shellcheck shell=bash
# Private PostgreSQL for scripts/run, scripts/test and scripts/bench. Source it, then:
#   pg_start DIR [test]   start (initialising if needed) a cluster under DIR and set
#                         PG_URL        the superuser kagi (tests: pgtestdb creates databases)
#                         PG_OWNER_URL  kagi_owner, which owns database kagi and runs migrations
#                         PG_SERVE_URL  kagi_serve, which owns no table: kagi serve and the
#                                       commands run as it, granted by kagi migrate --grant-to
#                         and keep PG_SERVE_URL (test mode: PG_URL) in DIR/url while the cluster
#                         runs (kagi --dev reads .kagi/pg/url)
#   pg_stop DIR           stop it
#   pg_remove DIR         stop it and delete it
# Installs Debian's postgresql package when the server binaries are missing, and runs the
# server as an unprivileged user when invoked as root.

PG_USER_OS=kagipg

pg_bindir() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "PostgreSQL server binaries are missing; install Debian's postgresql package (as root: apt-get install --no-install-recommends postgresql)" >&2
      return 1
    fi
    echo "scripts: installing PostgreSQL (apt-get install --no-install-recommends postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends postgresql >&2 || return 1
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] || { echo "scripts: postgresql installed but initdb not found" >&2; return 1; }
  fi
  dirname "$initdb"
}

# as_pg runs a command as the cluster's owner: ourselves, or an unprivileged user when root
# (from /, since the checkout may lie where that user cannot enter).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$PG_USER_OS" -- "$@")
  else
    "$@"
  fi
}

pg_free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

# pg_root prints the cluster's folder: DIR/cluster, which is a link to a private temporary
# folder when the unprivileged user cannot reach DIR (a checkout under root's home).
pg_root() {
  readlink -f "$1/cluster"
}

pg_start() {
  local dir=$1 mode=${2:-run} bindir port root
  bindir=$(pg_bindir) || return 1
  mkdir -p "$dir"
  # A link into a temporary folder that is gone (the machine restarted): start afresh.
  if [ -L "$dir/cluster" ] && [ ! -e "$dir/cluster" ]; then
    rm -f "$dir/cluster"
  fi
  if [ ! -e "$dir/cluster" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      id "$PG_USER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER_OS"
      mkdir -p "$dir/cluster"
      chown "$PG_USER_OS" "$dir/cluster"
      if ! as_pg test -w "$(readlink -f "$dir/cluster")"; then
        rmdir "$dir/cluster"
        local tmp
        tmp=$(mktemp -d /tmp/kagi-pg.XXXXXX)
        chown "$PG_USER_OS" "$tmp"
        ln -s "$tmp" "$dir/cluster"
      fi
    else
      mkdir -p "$dir/cluster"
    fi
  fi
  root=$(pg_root "$dir")
  # Password authentication even on loopback: another local user must not reach the cluster.
  # The generated passwords stay beside it, readable by us alone.
  local f
  for f in password owner-password serve-password; do
    if [ ! -s "$dir/$f" ]; then
      (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/$f")
    fi
  done
  local password
  password=$(cat "$dir/password")
  if [ ! -s "$root/data/PG_VERSION" ]; then
    local pwfile="$root/initdb-password"
    (umask 077 && printf '%s\n' "$password" >"$pwfile")
    [ "$(id -u)" -ne 0 ] || chown "$PG_USER_OS" "$pwfile"
    as_pg "$bindir/initdb" -D "$root/data" -U kagi --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 --no-locale \
      >"$dir/initdb.log" 2>&1 || { rm -f "$pwfile"; cat "$dir/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
  fi
  # A port found free can be taken before the server binds it (another cluster starting at the
  # same moment): then the next free one is tried.
  local tries=0 from=${KAGI_PG_PORT:-54329}
  while :; do
    port=$(pg_free_port "$from")
    local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories= -c max_connections=300"
    if [ "$mode" = test ]; then
      opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB"
    fi
    if as_pg "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -o "$opts" -w -t 60 start >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ] || ! grep -q "could not bind" "$root/server.log"; then
      tail -n 20 "$root/server.log" >&2
      return 1
    fi
    from=$((port + 1))
  done
  PG_URL="postgres://kagi:$password@127.0.0.1:$port/kagi?sslmode=disable"
  local admin="postgres://kagi:$password@127.0.0.1:$port/postgres?sslmode=disable"
  # Two roles besides the superuser, neither a superuser: the owner of the schema, which
  # migrates, and the role kagi serves as, which owns no table (SPEC §6: the trail is
  # append-only for real). Their passwords follow the files on every start.
  local role pw
  for role in owner serve; do
    pw=$(cat "$dir/$role-password")
    "$bindir/psql" -q -v ON_ERROR_STOP=1 "$admin" >/dev/null <<SQL || return 1
SELECT 'CREATE ROLE kagi_$role' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kagi_$role') \\gexec
ALTER ROLE kagi_$role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$pw';
SQL
  done
  # A database an earlier version of these scripts made belongs to the superuser, and so do its
  # tables: it is set aside (not deleted) and a fresh one made for the owner.
  local dbowner
  dbowner=$("$bindir/psql" -q "$admin" -tAc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'kagi'")
  if [ "$dbowner" = kagi ]; then
    local aside="kagi_before_roles_$(date +%Y%m%d%H%M%S)"
    echo "scripts: database kagi belongs to the superuser (made before the serving role): kept as $aside, a fresh one made" >&2
    "$bindir/psql" -q -v ON_ERROR_STOP=1 "$admin" -c "ALTER DATABASE kagi RENAME TO $aside" >/dev/null || return 1
    dbowner=
  fi
  [ -n "$dbowner" ] || "$bindir/psql" -q -v ON_ERROR_STOP=1 "$admin" -c "CREATE DATABASE kagi OWNER kagi_owner" >/dev/null || return 1
  PG_OWNER_URL="postgres://kagi_owner:$(cat "$dir/owner-password")@127.0.0.1:$port/kagi?sslmode=disable"
  PG_SERVE_URL="postgres://kagi_serve:$(cat "$dir/serve-password")@127.0.0.1:$port/kagi?sslmode=disable"
  if [ "$mode" = test ]; then
    (umask 077 && printf '%s\n' "$PG_URL" >"$dir/url")
  else
    (umask 077 && printf '%s\n' "$PG_SERVE_URL" >"$dir/url")
  fi
  export PG_URL PG_OWNER_URL PG_SERVE_URL
}

pg_stop() {
  local dir=$1 bindir root
  rm -f "$dir/url"
  [ -e "$dir/cluster" ] || return 0
  bindir=$(pg_bindir) || return 1
  root=$(pg_root "$dir")
  [ -f "$root/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$root/data" -m fast -w stop >/dev/null 2>&1
  return 0
}

pg_remove() {
  local dir=$1
  pg_stop "$dir" || true
  [ -e "$dir/cluster" ] && rm -rf "$(pg_root "$dir")"
  rm -rf "$dir"
}
