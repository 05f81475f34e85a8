#!/bin/bash
# A real php-fpm (Debian php8.2-fpm) behind agora-gateway: a pool of 2
# static children on a unix socket that the gateway did not spawn, so it
# asks it FCGI_GET_VALUES (php-fpm gives no FCGI_MAX_CONNS).  Through the
# gateway: GET with a query, POST bodies of 0 B, 1 MiB and 8 MiB and a
# chunked upload (php echoes the md5 of what it read), a 10 MiB response
# streamed to a slow client while the gateway's RSS stays low, error_log()
# output in the gateway's log tagged with the service, php's Status:
# header, and a child killed before it answers (502) or in the middle of
# a response (the client sees it truncated).  The script is
# t/fixtures/php/app.php.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

FPM=$(t__find php-fpm8.2 php-fpm) ||
    t_skip_all "php-fpm not found (install php8.2-fpm)"
# php-fpm refuses a SCRIPT_FILENAME with ".." in it ("Primary script
# unknown"), and a VPATH build (make distcheck) gives top_srcdir ones.
APP=$(realpath "$top_srcdir/t/fixtures/php/app.php")
[ -f "$APP" ] || t_bail "no $APP"

# --- php-fpm, run by hand in $TMP
mkdir -p "$TMP/php" "$TMP/rules" "$TMP/run" "$TMP/log"
SOCK=$TMP/php/fpm.sock
user=
asroot=()
if [ "$(id -u)" -eq 0 ]; then
	user="user = root
group = root"
	asroot=(-R)
fi
cat >"$TMP/php/fpm.conf" <<CONF
[global]
pid = $TMP/php/fpm.pid
error_log = $TMP/php/fpm.log
daemonize = no

[app]
$user
listen = $SOCK
listen.mode = 0666
pm = static
pm.max_children = 2
catch_workers_output = yes
php_admin_value[post_max_size] = 64M
php_admin_value[memory_limit] = 256M
php_admin_value[output_buffering] = 0
php_admin_value[log_errors] = 1
php_admin_value[display_errors] = 0
php_admin_value[zlib.output_compression] = 0
CONF
t_log_add "$TMP/php/fpm.log"
t_spawn php-fpm "$TMP/php/fpm.out" "$FPM" -F -y "$TMP/php/fpm.conf" \
    "${asroot[@]}"
FPM_PID=$T_LAST_PID
for ((i = 0; i < 100; i++)); do
	[ -S "$SOCK" ] && break
	t_alive "$FPM_PID" || break
	sleep 0.1
done
[ -S "$SOCK" ] || t_bail "php-fpm did not create $SOCK"

# --- the gateway: one service, no program and no max conns
cat >"$TMP/rules/agora.lua" <<'CONF'
route { prefix = "/php", service = "php" }
CONF
cat >"$TMP/gateway.conf" <<CONF
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
max body 16M
service php {
	socket "$SOCK"
	param SCRIPT_FILENAME "$APP"
	read timeout 10s
}
CONF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
U=$T_URL/php

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$T_GATEWAY_PID/status"; }
fds() { ls "/proc/$T_GATEWAY_PID/fd" | wc -l; }

# --- FCGI_GET_VALUES: the gateway asks (the service has no max conns);
# php-fpm 8.2 answers only FCGI_MPXS_CONNS, never FCGI_MAX_CONNS, so the
# gateway keeps its default of 1 connection and logs no discovery.
gv=$("$PY" - "$SOCK" <<'PYEOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
body = b"".join(bytes([len(k), 0]) + k for k in
                (b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"))
pad = -len(body) % 8
s.sendall(struct.pack("!BBHHBx", 1, 9, 0, len(body), pad) + body + b"\0" * pad)
s.settimeout(5)
h = s.recv(8)
_, typ, _, clen, _ = struct.unpack("!BBHHBx", h)
d = b""
while len(d) < clen:
    d += s.recv(clen - len(d))
print(typ, d.decode("latin-1").replace("\0", " "))
PYEOF
)
t_like "php-fpm answers FCGI_GET_VALUES (type 10), without FCGI_MAX_CONNS" \
    "$gv" '^10 [^A-Z]*FCGI_MPXS_CONNS0$'
t_http GET "$U/app?op=echo&first=1"
t_is "after the gateway's own GET_VALUES probe: served" "$T_STATUS" 200
t_is "no FCGI_MAX_CONNS discovered from php-fpm" \
    "$(grep -c 'FCGI_MAX_CONNS' "$T_GATEWAY_LOG")" 0

# --- GET with a query
t_http GET "$U/app?a=b%20c&op=echo"
t_is "GET: 200" "$T_STATUS" 200
t_is "GET: QUERY_STRING reaches php" "$(t_json 'j["query"]')" 'a=b%20c&op=echo'
t_is "GET: php decoded the query" "$(t_json 'j["a"]')" 'b c'
t_is "GET: method" "$(t_json 'j["method"]')" GET

# --- POST bodies: php echoes the md5 of what it read
head -c 1048576 /dev/urandom >"$TMP/1m"
head -c 8388608 /dev/urandom >"$TMP/8m"
: >"$TMP/0b"
for f in 0b 1m 8m; do
	want=$(md5sum <"$TMP/$f" | cut -d' ' -f1)
	size=$(stat -c %s "$TMP/$f")
	t_http POST "$U/app" "@$TMP/$f" \
	    -H 'Content-Type: application/octet-stream'
	t_is "POST $f: 200" "$T_STATUS" 200
	t_is "POST $f: php read $size bytes" "$(t_json 'j["len"]')" "$size"
	t_is "POST $f: md5 matches" "$(t_json 'j["md5"]')" "$want"
done

# --- a chunked upload (php-fpm reads a body only with CONTENT_LENGTH)
want=$(md5sum <"$TMP/1m" | cut -d' ' -f1)
t_http POST "$U/app" "@$TMP/1m" -H 'Content-Type: application/octet-stream' \
    -H 'Transfer-Encoding: chunked'
t_is "chunked upload: 200" "$T_STATUS" 200
t_is "chunked upload: php read 1 MiB" "$(t_json 'j["len"]')" 1048576
t_is "chunked upload: md5 matches" "$(t_json 'j["md5"]')" "$want"

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
t_is "10 MiB response: all of it php's" "$(tr -d x <"$TMP/big" | wc -c)" 0
t_diag "gateway VmRSS ${rss0} kB before, peak ${peak} kB during the download"
if grep -qa __asan_init "$T_GATEWAY"; then
	# ASan's quarantine keeps freed memory resident: RSS says nothing
	t_pass "10 MiB response: RSS not judged in a sanitizer build"
else
	t_ok "10 MiB response: gateway RSS grew < 4 MiB ($((peak - rss0)) kB)" \
	    test $((peak - rss0)) -lt 4096
fi

# --- error_log() arrives as FCGI_STDERR, logged tagged with the service
t_http GET "$U/app?op=stderr&msg=proof-php-stderr-42" -- \
    -H 'X-Request-Id: php-stderr-rid'
t_is "stderr: 200" "$T_STATUS" 200
for ((i = 0; i < 20; i++)); do
	grep -q 'proof-php-stderr-42' "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "stderr: in the gateway log, tagged php[request id]" \
    "$(grep 'proof-php-stderr-42' "$T_GATEWAY_LOG" | head -1)" \
    'php\[php-stderr-rid\]: .*proof-php-stderr-42'

# --- Status: from php
for code in 201 404 418; do
	t_http GET "$U/app?op=status&code=$code"
	t_is "php Status: $code reaches the client" "$T_STATUS" "$code"
done

# --- a child killed before it answers anything
t0=$SECONDS
t_http POST "$U/app?op=crash" 'x' -H 'Content-Type: text/plain'
t_is "child killed before answering: 502" "$T_STATUS" 502
t_ok "child killed before answering: no hang" test $((SECONDS - t0)) -lt 8

# --- a child killed in the middle of a response
fd0=$(fds)
t0=$SECONDS
out=$("$CURL" -s --max-time 10 -o "$TMP/die" -w '%{http_code}' \
    "$U/app?op=die" 2>/dev/null)
rc=$?
t_diag "killed child: curl exit $rc, status $out," \
    "$(stat -c %s "$TMP/die") bytes"
t_ok "killed child: the client sees an error or a truncated body" \
    test "$rc" -ne 0 -o "${out:0:1}" = 5
t_ok "killed child: no hang" test $((SECONDS - t0)) -lt 8
t_http GET "$U/app?op=echo&after=die"
t_is "killed child: the next request is served" "$T_STATUS" 200
t_http GET "$U/app?op=echo&after=die2"
t_is "killed child: and the one after" "$T_STATUS" 200
fd1=$(fds)
t_ok "killed child: no fd leaked ($fd0 -> $fd1)" test "$fd1" -le $((fd0 + 2))

t_ok "gateway stops cleanly" t_gateway_stop
t_done
