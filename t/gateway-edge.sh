#!/bin/bash
# The request path on configuration generations: rules_lookup's 405 with
# Allow, captures routed, and retries of idempotent methods on another
# server when one of a pool's servers cannot be reached.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

mkdir -p "$TMP/rules"
cat >"$TMP/rules/agora.lua" <<'EOF2'
route { name = "item", methods = {"GET", "HEAD"},
    path = "/api/items/{id}", service = "catalog", strip = "/api" }
route { name = "items-post", methods = {"POST"}, path = "/api/items",
    service = "catalog", strip = "/api" }
route { name = "noretry", prefix = "/api/noretry", service = "catalog",
    strip = "/api", retries = 0 }
route { name = "quick", prefix = "/api/quick", service = "catalog",
    strip = "/api", timeout = "300ms" }
EOF2
# the fixture, plus a second server nobody listens on
t_fixture_conf "$TMP/gateway.conf" "	server \"$TMP/nobody.sock\"
	balance roundrobin
	passive health fails 1000 within 10s down 1s
	processes 1"
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"

t_http GET "$T_URL/api/items/7"
t_is "GET on a path pattern: 200" "$T_STATUS" 200
t_is "GET: PATH_INFO after strip" "$(t_json 'j["path"]')" /items/7

# The rules and PATH_INFO see the decoded path with dot-segments resolved
# (RFC 3875 4.1.5, as nginx); REQUEST_URI stays as sent.  Escapes that
# would change the path's shape are refused.
# target | status | PATH_INFO (200) or detail (400)
while IFS='|' read -r target want what; do
	t_http GET "$T_URL$target" -- --path-as-is
	if [ "$want" = 200 ]; then
		t_is "$target: PATH_INFO $what, REQUEST_URI as sent" \
		    "$T_STATUS $(t_json '(j["path"].encode("latin-1").decode()
 + " " + j["params"]["REQUEST_URI"])')" "200 $what $target"
	else
		t_is "$target: $want $what" \
		    "$T_STATUS $(t_json 'j["detail"]')" "$want $what"
	fi
done <<'CASES'
/api/%69tems/7|200|/items/7
/api/items/caf%C3%A9|200|/items/café
/api/items/a%20b|200|/items/a b
/api//items/./8|200|/items/8
/api/other/../items/9|200|/items/9
/api/items%2F7|400|encoded slash in the path
/api/items/a%00b|400|encoded NUL byte in the path
/api/items/%zz|400|malformed percent-encoding in the path
/api/../../etc/passwd|400|path goes above the root
CASES

# a route's timeout replaces the service's read timeout (30 s here)
t0=$(date +%s%N)
t_http GET "$T_URL/api/quick?sleep=3"
t1=$(date +%s%N)
t_problem "route timeout 300ms on a 3 s answer" 504
t_ok "route timeout: answered before the backend (took $(( (t1 - t0) /
    1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2500
t_http GET "$T_URL/api/items/5?sleep=0.5"
t_is "a route without timeout waits for a 0.5 s answer" "$T_STATUS" 200

t_http DELETE "$T_URL/api/items/7"
t_problem "DELETE where only GET, HEAD are declared" 405
t_is "405 carries Allow" "$(t_header Allow)" "GET, HEAD"
t_like "405 detail names the method" "$(t_json 'j["detail"]')" DELETE

t_http GET "$T_URL/api/nothing"
t_problem "no route" 404

# round-robin over a live and a dead server: GET retries elsewhere
bad=0
for i in $(seq 10); do
	t_http GET "$T_URL/api/items/$i"
	[ "$T_STATUS" = 200 ] || bad=$((bad + 1))
done
t_is "GET with a dead server in the pool: every one retried to 200" \
    "$bad" 0
t_like "the connect failures were seen" "$(cat "$T_GATEWAY_LOG")" \
    'nobody.sock'

# POST is not idempotent: no retry, the dead server's turn is a 502
codes=
for i in $(seq 6); do
	t_http POST "$T_URL/api/items" '{}'
	codes="$codes $T_STATUS"
done
t_like "POST is never retried: some 502" "$codes" 502
t_like "POST: the live server answers the others" "$codes" 200

# a route with retries = 0 overrides the service's
codes=
for i in $(seq 6); do
	t_http GET "$T_URL/api/noretry/x"
	codes="$codes $T_STATUS"
done
t_like "retries = 0 on the route: some 502" "$codes" 502

t_ok "gateway stops cleanly" t_gateway_stop
t_done
