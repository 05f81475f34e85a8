#!/bin/bash
# agora-users behind agora-gateway, with agora-auth: the gateway spawns
# both, users reaches auth on the socket in the gateway's rundir, and a
# registration made through /api/users logs in through /api/auth/token.
# The identity params cannot be forged with client headers, so /users/me
# without a verified token is 401.  The shipped config does not route
# /api/users yet, so the test writes its own config and rules.
. "$top_srcdir/t/lib.sh"

t_mariadb_start
t_master_key "$T_SECRETS"
AGORA_DB_SOCKET=$T_DBSOCK AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password \
    AGORA_MASTER_KEY_FILE=$T_SECRETS/master-key AGORA_AUTH_SCRYPT_N=16384 \
    "$top_builddir/backends/auth/agora-auth" -B >"$TMP/bootstrap.env" \
    2>"$TMP/bootstrap.err" || t_bail "agora-auth -B failed"

cat >"$TMP/rules.lua" <<'EOF2'
route { prefix = "/api/users", service = "users", strip = "/api" }
route { prefix = "/api/auth", service = "auth", strip = "/api" }
EOF2
cat >"$TMP/gateway.conf" <<EOF2
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "$TMP/rules.lua"
service auth {
	socket "\${rundir}/auth.sock"
	program "\${sbindir}/agora-auth"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
	env AGORA_MASTER_KEY_FILE "\${secrets}/master-key"
	env AGORA_AUTH_SCRYPT_N "16384"
	read timeout 30s
}
service users {
	socket "\${rundir}/users.sock"
	program "\${sbindir}/agora-users"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
	env AGORA_MASTER_KEY_FILE "\${secrets}/master-key"
	env AGORA_AUTH_SOCKET "\${rundir}/auth.sock"
	read timeout 30s
}
EOF2
t_gateway_start "$TMP/gateway.conf"
U=$T_URL/api/users

t_http POST "$U" '{"email":"gw@example.com","password":"gatewaypass","name":"Gina Way"}'
t_is "register through the gateway: 201" "$T_STATUS" 201
t_is "register: Location" "$(t_header Location)" /api/users/me
SUB=$(t_json 'j["id"]')
t_like "register: an id" "$SUB" '^[1-9][0-9]*$'
t_like "register: X-Request-Id" "$(t_header X-Request-Id)" '.'

t_http POST "$T_URL/api/auth/token" \
    'grant_type=password&client_id=web&username=gw%40example.com&password=gatewaypass' \
    -H 'Content-Type: application/x-www-form-urlencoded'
t_is "login through the gateway: 200" "$T_STATUS" 200
t_like "login: an access token" "$(t_json 'j["access_token"]')" '^ey'

t_http POST "$U" '{"email":"gw@example.com","password":"gatewaypass","name":"Gina"}'
t_problem "register again: 409" 409
t_http POST "$U" '{"email":"nope"}'
t_problem "bad input through the gateway: 422" 422

t_http GET "$U/me"
t_problem "me without identity: 401" 401
t_http GET "$U/me" -- -H "Remote-User: $SUB" -H 'Auth-Roles: customer' \
    -H 'Auth-Type: Bearer'
t_problem "identity headers from the client are not identity" 401
t_http DELETE "$U/me" -- -H "Remote-User: $SUB"
t_problem "erase with forged headers: 401" 401
t_is "nothing erased" \
    "$(t_sql "SELECT state FROM users WHERE subject = '$SUB'" users)" active

t_done
