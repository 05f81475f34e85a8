#!/bin/bash
# Rate limits at the edge (GCRA): a burst is accepted exactly and the next
# request refused with 429, an exact Retry-After and problem+json, then
# accepted once that time has passed; RateLimit-Policy and RateLimit on
# every response of a limited route; keys per client (through trusted
# proxies only) and per API key; dry run never refuses; a concurrent
# burst never gets more than the limit, and 50 concurrent clients get
# exactly the limit with every header value right; SIGHUP keeps the
# state of an unchanged policy (still 429, same Retry-After) and drops a
# changed one, and reloads under load never let a client past the limit;
# unknown policies fail -n.
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
route { name = "fifty", prefix = "/api/fifty", service = "catalog",
    strip = "/api", limits = {"fifty"} }
route { name = "hupload", prefix = "/api/hupload", service = "catalog",
    strip = "/api", limits = {"hupload"} }
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
ratelimit fifty {
	rate 25/h
	key route
}
ratelimit hupload {
	rate 12/h
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

# 50 concurrent clients, 100 requests against 25/h on the route: exactly
# 25 pass, each sees its own "r" (24 down to 0, once each: the check and
# the charge are one step), and every 429 says r=0 with an exact
# Retry-After equal to its "t" (25/h: one more every 144 s).
seq 100 | xargs -P 50 -I{} "$CURL" -s -o /dev/null --max-time 10 \
    -w '%{http_code}|%header{ratelimit-policy}|%header{ratelimit}|%header{retry-after}\n' \
    "$T_URL/api/fifty/{}" >"$TMP/fifty"
t_is "50 clients: exactly the limit passes" \
    "$(grep -c '^200|' "$TMP/fifty") $(grep -c '^429|' "$TMP/fifty")" "25 75"
t_is "50 clients: RateLimit-Policy on every answer" \
    "$(cut -d'|' -f2 "$TMP/fifty" | sort | uniq -c | awk '{$1=$1; print}')" \
    '100 "fifty";q=25;w=3600'
t_is "50 clients: the 200s saw r=24..0, each once" \
    "$(grep '^200|' "$TMP/fifty" | cut -d'|' -f3 | sed -E 's/^"fifty";r=([0-9]+);t=[0-9]+$/\1/' |
    sort -n | tr '\n' ' ')" "$(seq 0 24 | tr '\n' ' ')"
t_is "50 clients: the 200s' t is at most one interval" \
    "$(grep '^200|' "$TMP/fifty" | cut -d'|' -f3 | awk -F't=' '$2 > 144' | wc -l)" 0
t_is "50 clients: every 429 says r=0 with t = Retry-After in 140..144" \
    "$(grep '^429|' "$TMP/fifty" | awk -F'|' '{
	ok = $3 ~ /^"fifty";r=0;t=[0-9]+$/ && $4 >= 140 && $4 <= 144
	split($3, a, "t="); if (a[2] != $4) ok = 0
	print ok ? "ok" : "bad: " $0 }' | sort | uniq -c | awk '{$1=$1; print}')" \
    "75 ok"


# --- a reload keeps the state of unchanged policies
t_http GET "$T_URL/api/crowd/x"
t_is "crowd exhausted before the reload" "$T_STATUS" 429
before=$(t_header Retry-After)
t_ok "reload (nothing changed)" t_gateway_reload
t_http GET "$T_URL/api/crowd/x"
t_is "after the reload: still 429" "$T_STATUS" 429
after=$(t_header Retry-After)
t_ok "after the reload: the same Retry-After ($before, then $after)" \
    test "$after" -le "$before" -a "$after" -ge $((before - 2))
t_like "after the reload: RateLimit agrees" "$(t_header RateLimit)" \
    "^\"crowd\";r=0;t=$after\$"
for k in a a; do
	t_http GET "$T_URL/api/apikey/x" -- -H "X-Api-Key: $k"
done
t_is "after the reload: API key a still refused" "$T_STATUS" 429

# a changed policy (same name, other rate) starts afresh
sed -i 's|rate 10/h|rate 11/h|' "$TMP/gateway.conf"
t_ok "reload (crowd changed to 11/h)" t_gateway_reload
t_http GET "$T_URL/api/crowd/x"
t_is "changed policy: a fresh start" "$T_STATUS" 200
t_like "changed policy: its new quota" "$(t_header RateLimit)" \
    '^"crowd";r=10;'
# perkey is 2/m: b spent one before both reloads, so one more, then 429
codes=
for i in 1 2; do
	t_http GET "$T_URL/api/apikey/x" -- -H "X-Api-Key: b"
	codes="$codes $T_STATUS"
done
t_is "unchanged beside it: API key b has one left, then 429" "$codes" \
    " 200 429"

# --- reloads under load: 4 clients in loops for 4 s, a SIGHUP every
# 0.5 s; 12/h on the route: exactly 12 pass, whatever generation served
loop()
{
	local end=$((SECONDS + 4))
	while [ "$SECONDS" -lt "$end" ]; do
		"$CURL" -s -o /dev/null --max-time 5 -w '%{http_code}\n' \
		    "$T_URL/api/hupload/x"
	done >"$1"
}
loops=()
for n in 1 2 3 4; do
	loop "$TMP/hl$n" &
	loops+=($!)
done
nhup=0
for n in 1 2 3 4 5 6; do
	sleep 0.5
	t_gateway_reload && nhup=$((nhup + 1))
done
wait "${loops[@]}"
t_is "reloads under load: all 6 reloads applied" "$nhup" 6
t_is "reloads under load: exactly 12 passed, the rest 429" \
    "$(cat "$TMP"/hl? | grep -c '^200$') $(cat "$TMP"/hl? | grep -vc '^429$')" \
    "12 12"

t_ok "gateway stops cleanly" t_gateway_stop

echo 'route { prefix = "/api/x", service = "catalog", limits = {"nosuch"} }' \
    >"$TMP/rules/bad.lua"
sed 's|agora.lua|bad.lua|' "$TMP/gateway.conf" >"$TMP/bad.conf"
out=$("$T_GATEWAY" -n -f "$TMP/bad.conf" -D "rulesdir=$TMP/rules" \
    -D "rundir=$TMP/run" -D http_port=1 -D admin_port=2 -D workers=1 2>&1)
t_like "-n: unknown policy named with file:line" "$out" \
    'bad.lua:1: unknown ratelimit "nosuch"'
t_done
