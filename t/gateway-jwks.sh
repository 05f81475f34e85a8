#!/bin/bash
# The gateway fetches agora-auth's keys with "jwks url" through its own
# listener, so the fetch shares the pool to agora-auth.  A libfcgi
# process serves one connection at a time: with "processes 1" and a warm
# pool (which keeps its connection), a fetch over a new connection to
# the socket would wait in the listen backlog and time out.  Here the
# pool is warmed first, and a reload makes the new generation fetch
# again while the pool still holds the only connection.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
# the shipped config, with one agora-auth process
awk '/^service auth \{/ { a = 1 }
    a && /^[ \t]*processes / { sub(/processes [0-9]+/, "processes 1") }
    /^\}/ { a = 0 }
    { print }' "$top_srcdir/etc/gateway.conf" >"$TMP/gateway.conf"
t_like "config: auth runs one process" \
    "$(sed -n '/^service auth {/,/^}/p' "$TMP/gateway.conf")" \
    'processes 1'
t_like "config: jwks url on our listener" "$(cat "$TMP/gateway.conf")" \
    'jwks url "http://127\.0\.0\.1:\$\{http_port\}/'
t_gateway_start "$TMP/gateway.conf"

# warm the pool to agora-auth
for ((i = 0; i < 3; i++)); do
	t_http GET "$T_URL/.well-known/openid-configuration"
	t_is "warm-up $i: openid-configuration" "$T_STATUS" 200
done
t_http GET "$T_URL/.well-known/jwks.json"
t_is "the JWKS through the gateway" "$T_STATUS" 200

# the admin token verifies: the keys were fetched
t_admin_token
t_pass "a token verifies with one auth process"
t_like "keys fetched from the url" "$(cat "$T_GATEWAY_LOG")" \
    "jwks: [0-9]+ keys? from http://127\.0\.0\.1:$T_HTTP_PORT/\.well-known/jwks\.json"

# a reload: the new generation has no keys until it fetches them, with
# the pool (shared across generations) warm
fetches()
{
	grep -c -E 'jwks: [0-9]+ keys? from http' "$T_GATEWAY_LOG"
}
n=$(fetches)
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 100; i++)); do
	[ "$(fetches)" -gt "$n" ] && break
	sleep 0.1
done
t_ok "reload: the new generation fetched the keys" [ "$(fetches)" -gt "$n" ]
for ((i = 0; i < 50; i++)); do
	T_TOKEN=$T_ADMIN_TOKEN t_http GET "$T_URL/api/users/me"
	[ "$T_STATUS" != 401 ] && break
	sleep 0.2
done
t_ok "reload: the token still verifies (status $T_STATUS)" \
    [ "$T_STATUS" != 401 ]
t_is "no fetch timed out" \
    "$(grep -c 'jwks from .*timed out' "$T_GATEWAY_LOG")" 0
t_done
