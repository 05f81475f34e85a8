#!/bin/bash
# agora-users calls agora-auth (registration, export, erasure) while the
# gateway's pool holds a kept connection to every process of the routed
# "auth" service.  A FastCGI process serves one connection at a time, so
# a call on auth's routed socket would wait behind the pool until it
# timed out (503); the shipped gateway.conf gives users its own auth
# process on a socket no route uses (service auth-internal).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
# shellcheck source=t/users-lib.sh
. "$top_srcdir/t/users-lib.sh"

t_mariadb_start
t_auth_bootstrap
t_gateway_start
t_admin_token

# Warm the pool: concurrent password grants (scrypt keeps each process
# busy a while) make the gateway open, then keep, a connection to every
# auth process.
user=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_ADMIN_USER")
pass=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_ADMIN_PASSWORD")
form=$(gw_form grant_type password client_id web username "$user" \
    password "$pass")
warm()
{
	local i pids=()
	for i in 1 2 3 4 5 6; do
		t_curl_bg "$TMP/warm.$i" "$T_URL/api/auth/token" -d "$form"
		pids+=("$T_LAST_PID")
	done
	wait "${pids[@]}"
	cat "$TMP"/warm.* | cut -d' ' -f1 | sort | uniq -c | tr -s ' '
}
t_like "warm: six grants at once" "$(warm)" '^ ?6 200$'
kept=$(curl -s "$T_ADMIN_URL/status.json" |
    "$PY" -c 'import json, sys
j = json.load(sys.stdin)
for s in j.get("services", []):
    if s.get("name") == "auth":
        print(s.get("idle", s.get("pool", {}).get("idle", "?")))' 2>/dev/null)
t_diag "auth pool idle connections: ${kept:-unknown}"

# Registration, export and erasure all reach auth while the pool is warm.
T_HTTP_TIMEOUT=20 gw_register pool@example.com 'pool-secret-1' 'Pool Person'
t_is "register with a warm pool: 201" "$T_STATUS" 201
warm >/dev/null
gw_login pool@example.com 'pool-secret-1'
t_is "the new account logs in" "$T_STATUS" 200
warm >/dev/null
T_TOKEN=$AT T_HTTP_TIMEOUT=20 t_http GET "$T_URL/api/users/me/export"
t_is "export with a warm pool: 200 with auth's part" \
    "$T_STATUS $(t_json 'j["auth"]["username"]')" "200 pool@example.com"
warm >/dev/null
T_TOKEN=$AT T_HTTP_TIMEOUT=20 t_http DELETE "$T_URL/api/users/me"
t_is "erase with a warm pool: identity deleted at once" \
    "$T_STATUS $(t_json 'j["identity_deleted"]')" "202 true"

# A burst of registrations: each one's auth call waits its turn at the
# internal process, none times out.
pids=()
for i in 1 2 3 4; do
	t_curl_bg "$TMP/reg.$i" "$T_URL/api/users" -H 'Content-Type: application/json' \
	    -d "{\"email\": \"burst$i@example.com\", \"password\": \"burst-secret-$i\", \"name\": \"Burst $i\"}"
	pids+=("$T_LAST_PID")
done
t_curl_bg "$TMP/reg.warm" "$T_URL/api/auth/token" -d "$form"
wait "${pids[@]}" "$T_LAST_PID"
t_is "four registrations at once, beside a login: all 201" \
    "$(cat "$TMP"/reg.[0-9] | cut -d' ' -f1 | tr '\n' ' ')" "201 201 201 201 "

t_done
