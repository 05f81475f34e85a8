#!/bin/bash
# A real fcgiwrap (Debian's) behind agora-gateway, spawned by the gateway's
# supervisor (2 processes on the service socket, passed as fd 0) and run
# with -f, so a CGI script's stderr travels as FCGI_STDERR.  The script is
# t/fixtures/cgi/app.cgi.  Through the gateway: GET with a query, POST
# bodies of 0 B, 1 MiB and 8 MiB and a chunked upload (the script echoes
# the md5 of what it read), a 10 MiB response streamed to a slow client
# while the gateway's RSS stays low, stderr in the gateway's log tagged
# with the service, and a script that exits in the middle of a response.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

FCGIWRAP=$(t__find fcgiwrap) ||
    t_skip_all "fcgiwrap not found (install fcgiwrap)"

mkdir -p "$TMP/cgi" "$TMP/rules" "$TMP/run" "$TMP/log"
# a private copy: fcgiwrap executes it, whatever mode the checkout has
cp "$top_srcdir/t/fixtures/cgi/app.cgi" "$TMP/cgi/app.cgi" ||
    t_bail "no t/fixtures/cgi/app.cgi"
chmod 755 "$TMP/cgi/app.cgi"

cat >"$TMP/rules/agora.lua" <<'CONF'
route { prefix = "/cgi", service = "cgi" }
CONF
cat >"$TMP/gateway.conf" <<CONF
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
max body 16M
service cgi {
	socket "\${rundir}/fcgiwrap.sock"
	program "$FCGIWRAP"
	argument "-f"
	processes 2
	param SCRIPT_FILENAME "$TMP/cgi/app.cgi"
	read timeout 10s
}
CONF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
U=$T_URL/cgi

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$T_GATEWAY_PID/status"; }
fds() { ls "/proc/$T_GATEWAY_PID/fd" | wc -l; }
# field NAME: NAME=value from the script's text answer
field() { sed -n "s/^$1=//p" "$TMP/resp.body"; }

t_ok "fcgiwrap answers through the gateway" t_wait_http "$U/app" 200 10
t_is "the supervisor runs 2 fcgiwrap processes" \
    "$(t_gateway_children | wc -l)" 2

# --- GET with a query
t_http GET "$U/app?a=b%20c&op=echo"
t_is "GET: 200" "$T_STATUS" 200
t_is "GET: QUERY_STRING reaches the script" "$(field query)" 'a=b%20c&op=echo'
t_is "GET: method" "$(field method)" GET

# --- POST bodies: the script echoes the md5 of what it read
head -c 1048576 /dev/urandom >"$TMP/1m"
head -c 8388608 /dev/urandom >"$TMP/8m"
: >"$TMP/0b"
for f in 0b 1m 8m; do
	want=$(md5sum <"$TMP/$f" | cut -d' ' -f1)
	size=$(stat -c %s "$TMP/$f")
	t_http POST "$U/app" "@$TMP/$f" \
	    -H 'Content-Type: application/octet-stream'
	t_is "POST $f: 200" "$T_STATUS" 200
	t_is "POST $f: the script read $size bytes" "$(field len)" "$size"
	t_is "POST $f: md5 matches" "$(field md5)" "$want"
done

# --- a chunked upload
want=$(md5sum <"$TMP/1m" | cut -d' ' -f1)
t_http POST "$U/app" "@$TMP/1m" -H 'Content-Type: application/octet-stream' \
    -H 'Transfer-Encoding: chunked'
t_is "chunked upload: 200" "$T_STATUS" 200
t_is "chunked upload: the script read 1 MiB" "$(field len)" 1048576
t_is "chunked upload: md5 matches" "$(field md5)" "$want"

# --- a 10 MiB response to a client reading 4 MB/s: streamed, not held
rss0=$(rss)
"$CURL" -s --max-time 20 --limit-rate 4M -o "$TMP/big" -w '%{http_code}' \
    "$U/app?op=big&mb=10" >"$TMP/big.status" 2>/dev/null &
cpid=$!
peak=$rss0
while t_alive "$cpid"; do
	r=$(rss)
	[ "$r" -gt "$peak" ] && peak=$r
	sleep 0.1
done
wait "$cpid"
t_is "10 MiB response: 200" "$(cat "$TMP/big.status")" 200
t_is "10 MiB response: every byte arrived" "$(stat -c %s "$TMP/big")" 10485760
t_is "10 MiB response: all of it the script's" \
    "$(tr -d x <"$TMP/big" | wc -c)" 0
t_diag "gateway VmRSS ${rss0} kB before, peak ${peak} kB during the download"
if grep -qa __asan_init "$T_GATEWAY"; then
	# ASan's quarantine keeps freed memory resident: RSS says nothing
	t_pass "10 MiB response: RSS not judged in a sanitizer build"
else
	t_ok "10 MiB response: gateway RSS grew < 4 MiB ($((peak - rss0)) kB)" \
	    test $((peak - rss0)) -lt 4096
fi

# --- the script's stderr arrives as FCGI_STDERR, tagged with the service
t_http GET "$U/app?op=stderr&msg=proof-cgi-stderr-42" -- \
    -H 'X-Request-Id: cgi-stderr-rid'
t_is "stderr: 200" "$T_STATUS" 200
for ((i = 0; i < 20; i++)); do
	grep -q 'proof-cgi-stderr-42' "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "stderr: in the gateway log, tagged cgi[request id]" \
    "$(grep 'proof-cgi-stderr-42' "$T_GATEWAY_LOG" | head -1)" \
    'cgi\[cgi-stderr-rid\]: proof-cgi-stderr-42$'

# --- a script that promises 1 MiB and exits after 64 KiB: the client must
# not take the short body for a whole one
fd0=$(fds)
t0=$SECONDS
out=$("$CURL" -s --max-time 10 -o "$TMP/die" -w '%{http_code}' \
    "$U/app?op=die" 2>/dev/null)
rc=$?
t_diag "script exits early: curl exit $rc, status $out," \
    "$(stat -c %s "$TMP/die") bytes"
t_ok "script exits early: the client sees an error or a truncated body" \
    test "$rc" -ne 0 -o "${out:0:1}" = 5
t_ok "script exits early: no hang" test $((SECONDS - t0)) -lt 8
t_http GET "$U/app?op=echo&after=die"
t_is "script exits early: the next request is served" "$T_STATUS" 200
t_http GET "$U/app?op=echo&after=die2"
t_is "script exits early: and the one after" "$T_STATUS" 200
fd1=$(fds)
t_ok "script exits early: no fd leaked ($fd0 -> $fd1)" \
    test "$fd1" -le $((fd0 + 2))

t_ok "gateway stops cleanly" t_gateway_stop
t_done
