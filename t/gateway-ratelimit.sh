#!/bin/bash
# Rate limits at the edge (GCRA): a burst is accepted exactly and the next
# request refused with 429, an exact Retry-After and problem+json, then
# accepted once that time has passed; RateLimit-Policy and RateLimit on
# every response of a limited route; keys per client (through trusted
# proxies only) and per API key; dry run never refuses; a concurrent
# burst never gets more than the limit; unknown policies fail -n.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

mkdir -p "$TMP/rules"
cat >"$TMP/rules/agora.lua" <<'EOF'
route { name = "burst", prefix = "/api/burst", service = "catalog",
    strip = "/api", limits = {"burst5"} }
route { name = "apikey", prefix = "/api/apikey", service = "catalog",
    strip = "/api", limits = {"perkey"} }
route { name = "dry", prefix = "/api/dry", service = "catalog",
    strip = "/api", limits = {"trial"} }
route { name = "crowd", prefix = "/api/crowd", service = "catalog",
    strip = "/api", limits = {"crowd"} }
route { name = "open", prefix = "/api/open", service = "catalog",
    strip = "/api" }
EOF
t_fixture_conf "$TMP/gateway.conf" "	processes 4
	max conns 4"
cat >>"$TMP/gateway.conf" <<'EOF'
ratelimit keys 1000
trusted proxies 127.0.0.1, 10.0.0.0/8
ratelimit burst5 {
	rate 20/m burst 5 ; rate 1000/h
	key ip
}
ratelimit perkey {
	rate 2/m
	key header "X-Api-Key"
}
ratelimit trial {
	rate 1/m
	dry run
}
ratelimit crowd {
	rate 10/h
	key route
}
EOF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"

codes=
for i in 1 2 3 4 5 6; do
	t_http GET "$T_URL/api/burst/x"
	codes="$codes $T_STATUS"
	[ "$i" = 1 ] && first_policy=$(t_header RateLimit-Policy) &&
	    first_limit=$(t_header RateLimit)
done
t_is "burst of 5 accepted exactly, the 6th refused" "$codes" \
    " 200 200 200 200 200 429"
t_is "RateLimit-Policy lists both windows" "$first_policy" \
    '"burst5";q=20;w=60, "burst5-1";q=1000;w=3600'
t_like "RateLimit after the first: 4 left" "$first_limit" '^"burst5";r=4;t=[0-9]+$'
t_problem "6th request" 429
# 20/m: one more every 3 s; the burst took well under that
retry=$(t_header Retry-After)
t_like "429: exact Retry-After (3 s, less what has passed)" "$retry" '^[123]$'
t_like "429: RateLimit says none left" "$(t_header RateLimit)" \
    "^\"burst5\";r=0;t=$retry\$"
t_like "429: detail names the policy" "$(t_json 'j["detail"]')" burst5
sleep "$retry.05"
t_http GET "$T_URL/api/burst/x"
t_is "after Retry-After: accepted again" "$T_STATUS" 200
t_http GET "$T_URL/api/burst/x"
t_is "..and only one" "$T_STATUS" 429

# a trusted proxy's X-Forwarded-For names the client
t_http GET "$T_URL/api/burst/x" -- -H "X-Forwarded-For: 192.0.2.1"
t_is "trusted proxy: another client, its own bucket" "$T_STATUS" 200
t_http GET "$T_URL/api/burst/x" -- -H "Forwarded: for=\"[2001:db8::7]:4711\""
t_is "trusted proxy: Forwarded for= too" "$T_STATUS" 200
# from 127.0.0.2, not trusted: its X-Forwarded-For is ignored
codes=
for i in 1 2 3 4 5 6; do
	t_http GET "$T_URL/api/burst/x" -- --interface 127.0.0.2 \
	    -H "X-Forwarded-For: 198.51.100.$i"
	codes="$codes $T_STATUS"
done
t_is "untrusted peer: X-Forwarded-For ignored, keyed by the peer" \
    "$codes" " 200 200 200 200 200 429"

t_http GET "$T_URL/api/open/x"
t_is "unlimited route: no RateLimit header" "$(t_header RateLimit)" ""

# keyed by an API key header: two clients, two buckets
for k in a a a; do
	t_http GET "$T_URL/api/apikey/x" -- -H "X-Api-Key: $k"
done
t_is "API key a: third refused" "$T_STATUS" 429
t_http GET "$T_URL/api/apikey/x" -- -H "X-Api-Key: b"
t_is "API key b: its own bucket" "$T_STATUS" 200

codes=
for i in 1 2 3 4; do
	t_http GET "$T_URL/api/dry/x"
	codes="$codes $T_STATUS"
done
t_is "dry run never refuses" "$codes" " 200 200 200 200"
t_like "dry run: RateLimit still reports" "$(t_header RateLimit)" \
    '^"trial";r=0;'
t_like "dry run: logged" "$(cat "$T_GATEWAY_LOG")" \
    'ratelimit trial: dry run: would refuse'

# 40 concurrent requests against 10/h on the route: exactly 10 pass
seq 40 | xargs -P 20 -I{} "$CURL" -s -o /dev/null -w '%{http_code}\n' \
    --max-time 10 "$T_URL/api/crowd/{}" >"$TMP/crowd"
t_is "concurrent burst: exactly the limit passes" \
    "$(grep -c '^200$' "$TMP/crowd") $(grep -c '^429$' "$TMP/crowd")" "10 30"

t_ok "gateway stops cleanly" t_gateway_stop

echo 'route { prefix = "/api/x", service = "catalog", limits = {"nosuch"} }' \
    >"$TMP/rules/bad.lua"
sed 's|agora.lua|bad.lua|' "$TMP/gateway.conf" >"$TMP/bad.conf"
out=$("$T_GATEWAY" -n -f "$TMP/bad.conf" -D "rulesdir=$TMP/rules" \
    -D "rundir=$TMP/run" -D http_port=1 -D admin_port=2 -D workers=1 2>&1)
t_like "-n: unknown policy named with file:line" "$out" \
    'bad.lua:1: unknown ratelimit "nosuch"'
t_done
