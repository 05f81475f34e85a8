#!/bin/bash
# The harness itself: a private MariaDB boots, the schemas load, and the
# service user can log in with the password from the secrets dir.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_plan 7

t_like "mariadbd answers as root" "$(t_sql 'SELECT VERSION()')" 'MariaDB'
t_is "no TCP listener" "$(t_sql 'SELECT @@skip_networking')" 1
t_is "utf8mb4 by default" "$(t_sql 'SELECT @@character_set_server')" utf8mb4
t_is "password file is private" \
    "$(stat -c %a "$T_SECRETS/db-password")" 600
t_is "agora logs in with the secret" \
    "$(T_DBPASS=$(cat "$T_SECRETS/db-password") t_sql_as_agora \
    'SELECT CURRENT_USER()')" "agora@localhost"

# Every sql/<service>.sql creates the database of that name, and agora may
# use it.
missing=
for f in "$top_srcdir"/sql/*.sql; do
	[ -f "$f" ] || continue
	name=${f##*/}
	name=${name%.sql}
	got=$(t_sql_as_agora "SELECT COUNT(*) FROM information_schema.tables
	    WHERE table_schema = '$name'")
	[ "${got:-0}" -gt 0 ] || missing="$missing $name"
done
t_is "each sql/*.sql database has tables agora can see" "$missing" ""
t_like "catalog records its schema version" \
    "$(t_sql_as_agora 'SELECT MAX(version) FROM schema_version' catalog)" \
    '^[1-9][0-9]*$'
t_done
