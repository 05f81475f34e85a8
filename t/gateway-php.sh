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
. "$top_srcdir/t/lib-realfcgi.sh"

FPM=$(t__find php-fpm8.2 php-fpm) ||
    t_skip_all "php-fpm not found (install php8.2-fpm)"
# php-fpm refuses a SCRIPT_FILENAME with ".." in it ("Primary script
# unknown"), and a VPATH build (make distcheck) gives top_srcdir ones.
APP=$(realpath "$top_srcdir/t/fixtures/php/app.php")
[ -f "$APP" ] || t_bail "no $APP"

# --- php-fpm, run by hand in $TMP
mkdir -p "$TMP/php"
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
rf_gateway_start php <<CONF
	socket "$SOCK"
	param SCRIPT_FILENAME "$APP"
	read timeout 10s
CONF
RF_WHO=php RF_ANSWER=json
U=$RF_URL

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
rf_get
t_is "GET: php decoded the query" "$(rf_field a)" 'b c'

# --- POST bodies and a chunked upload (php echoes the md5 of what it
# read), a 10 MiB response to a slow client, error_log() as FCGI_STDERR
rf_bodies
rf_big
rf_stderr '.*'

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
rf_die "killed child"

t_ok "gateway stops cleanly" t_gateway_stop
t_done
