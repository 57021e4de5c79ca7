#!/bin/bash
# ROLE=primary: initialises PGDATA on first start (database and owner of the app, a replication
# user, WAL archiving into /var/lib/postgresql/wal-archive), then runs postgres.
# ROLE=replica: on first start clones the primary with pg_basebackup (-R writes
# primary_conninfo + standby.signal, -X stream carries the WAL of the copy), then runs postgres
# as a hot standby streaming from it.
# Passwords come from files (Compose secrets): POSTGRES_PASSWORD_FILE, REPLICATION_PASSWORD_FILE.
set -euo pipefail
: "${ROLE:=primary}" "${POSTGRES_DB:=blu}" "${POSTGRES_USER:=blu}" "${PRIMARY_HOST:=db}"
read_secret() { tr -d '\r\n' <"$1"; }
password="$(read_secret "${POSTGRES_PASSWORD_FILE:?}")"
replication_password="$(read_secret "${REPLICATION_PASSWORD_FILE:?}")"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ "$ROLE" = primary ]; then
    pwfile="$(mktemp)"; printf '%s' "$password" >"$pwfile"
    initdb -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
wal_keep_size = 512MB
hot_standby = on
archive_mode = on
archive_command = 'test ! -f /var/lib/postgresql/wal-archive/%f && cp %p /var/lib/postgresql/wal-archive/%f'
password_encryption = 'scram-sha-256'
CONF
    cat >>"$PGDATA/pg_hba.conf" <<HBA
host all all 0.0.0.0/0 scram-sha-256
host replication replicator 0.0.0.0/0 scram-sha-256
HBA
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    psql -v ON_ERROR_STOP=1 -q -U postgres -d postgres \
      -v user="$POSTGRES_USER" -v db="$POSTGRES_DB" -v pw="$password" -v rpw="$replication_password" <<'SQL'
CREATE ROLE :"user" LOGIN CREATEROLE PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'rpw';
SQL
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "primary initialised: database $POSTGRES_DB owned by $POSTGRES_USER"
  else
    export PGPASSWORD="$replication_password"
    until pg_isready -h "$PRIMARY_HOST" -q; do echo "waiting for the primary"; sleep 1; done
    rm -rf "${PGDATA:?}"/*
    pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -c fast
    unset PGPASSWORD
    # primary_conninfo written by -R carries the password; keep PGDATA private.
    chmod 700 "$PGDATA"
    echo "replica cloned from $PRIMARY_HOST"
  fi
fi
exec postgres -D "$PGDATA"
