#!/bin/bash
# bench/idle.sh [BUILDDIR]: what an idle keep-alive connection costs each
# proxy in memory.  For agora-gateway, nginx and HAProxy in turn (each in
# front of its own small bench/hello pool), a client opens N connections
# (default 10,000), makes one request on each and leaves them all open and
# idle; the proxy's RSS (VmRSS, summed over its processes) is read before
# and after, and the growth per connection printed.  The issue's target
# for the gateway is <= 3 KB.  Last line:
#     idle gateway=X nginx=Y haproxy=Z bytes/conn
# Everything it starts is stopped by pid on exit.
set -u

case "${1:-}" in
-h|--help)
	cat >&2 <<'EOF'
usage: bench/idle.sh [BUILDDIR]
environment (defaults in brackets):
  BUILDDIR  build directory holding bench/hello, proxy/agora-gateway [.]
  GATEWAY HELLO NGINX HAPROXY SPAWN_FCGI  programs [from BUILDDIR / PATH]
  PROXIES   which to measure ["gateway nginx haproxy"]
  N         idle connections [10000]
  THREADS   workers of every proxy [1]
  KEEP      1 keeps the temporary directory
EOF
	exit 2 ;;
esac

srcdir=$(cd "$(dirname "$0")" && pwd)
BENCH=idle.sh
. "$srcdir/lib.sh"
bench_builddir "${1:-}"
PROXIES=${PROXIES:-gateway nginx haproxy}
N=${N:-10000}
THREADS=${THREADS:-1}
KEEP=${KEEP:-0}
PY=/usr/bin/python3

SPAWN_FCGI=$(findprog "${SPAWN_FCGI:-spawn-fcgi}") ||
	{ echo "idle.sh: spawn-fcgi not found" >&2; exit 2; }
NGINX=$(findprog "${NGINX:-nginx}") || NGINX=
HAPROXY=$(findprog "${HAPROXY:-haproxy}") || HAPROXY=
[ -x "$HELLO" ] || { echo "idle.sh: $HELLO missing: run make" >&2; exit 2; }
[ -x "$PY" ] || { echo "idle.sh: $PY missing" >&2; exit 2; }

# N client sockets plus N proxy sockets, each side in its own process:
# every process gets the hard limit of open files.
want=$((N + 1000))
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt "$want" ]; then
	echo "idle.sh: ulimit -n is $(ulimit -n), $want needed; lower N" >&2
	exit 2
fi

bench_tmp

# The client: N connections, one request each, then idle until killed.
# It writes "ready OK FAILED" to its status file once every answer is in.
cat >"$TMP/client.py" <<'EOF'
import socket, sys, time
port, n, status = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
conns, ok, failed = [], 0, 0

def answer(s):
    # one response of hello: headers plus Content-Length bytes
    buf = b""
    while b"\r\n\r\n" not in buf:
        x = s.recv(4096)
        if not x:
            return False
        buf += x
    head, body = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        x = s.recv(4096)
        if not x:
            return False
        body += x
    return head.startswith(b"HTTP/1.1 200")

batch = []
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        batch.append(s)
    except OSError:
        failed += 1
        continue
    if len(batch) == 200 or i == n - 1:
        for s in batch:
            try:
                if answer(s):
                    ok += 1
                    conns.append(s)
                    continue
            except OSError:
                pass
            failed += 1
            s.close()
        batch = []
with open(status, "w") as f:
    f.write("ready %d %d\n" % (ok, failed))
while True:
    time.sleep(3600)
EOF

start_gateway() {	# dir port -> REPLY = pid
	local dir=$1 port=$2
	[ -x "$GATEWAY" ] || { echo "skip gateway: $GATEWAY not built"; return 1; }
	free_port
	cat >"$dir/gateway.conf" <<EOF
workers $THREADS
listen on 127.0.0.1 port $port
admin listen on 127.0.0.1 port $REPLY
rules "$dir/rules.lua"
access log "/dev/null"
error log "$dir/error.log"
idle timeout 300s
max requests 1000000
max client connections 1000000
service hello {
	socket "$dir/hello.sock"
	max conns 2
	queue 1024
}
EOF
	echo 'route { prefix = "/", service = "hello" }' >"$dir/rules.lua"
	"$GATEWAY" -f "$dir/gateway.conf" >"$dir/stderr.log" 2>&1 &
	REPLY=$!
}

start_nginx() {
	local dir=$1 port=$2 user=
	[ -n "$NGINX" ] || { echo "skip nginx: not installed"; return 1; }
	[ "$(id -u)" = 0 ] && user="user root;"
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
$user
daemon off;
master_process on;
worker_processes $THREADS;
worker_rlimit_nofile $want;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $want; }
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	fastcgi_temp_path $dir/tmp/fastcgi;
	proxy_temp_path $dir/tmp/proxy;
	scgi_temp_path $dir/tmp/scgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	keepalive_timeout 300s;
	keepalive_requests 1000000;
	# no upstream keepalive: with it nginx parks more connections than
	# the 2 hello processes serve, and the rest stall (bench/README.md)
	upstream hello { server unix:$dir/hello.sock; }
	server {
		listen 127.0.0.1:$port;
		location / {
			fastcgi_param REQUEST_METHOD \$request_method;
			fastcgi_param QUERY_STRING \$query_string;
			fastcgi_param SCRIPT_NAME "";
			fastcgi_param PATH_INFO \$uri;
			fastcgi_pass hello;
		}
	}
}
EOF
	"$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
	    >"$dir/stderr.log" 2>&1 &
	REPLY=$!
}

start_haproxy() {
	local dir=$1 port=$2
	[ -n "$HAPROXY" ] || { echo "skip haproxy: not installed"; return 1; }
	cat >"$dir/haproxy.cfg" <<EOF
global
	nbthread $THREADS
	maxconn $want
	# maxconn asks for 2 fds a connection, but only 2 go to the server:
	# run with the limit there is (a warning, not a refusal)
	no strict-limits
defaults
	mode http
	timeout connect 5s
	timeout queue 30s
	timeout client 300s
	timeout http-keep-alive 300s
	timeout server 30s
frontend idle
	bind 127.0.0.1:$port
	maxconn $want
	default_backend hello
fcgi-app hello
	docroot /
	option keep-conn
backend hello
	use-fcgi-app hello
	http-reuse always
	server hello $dir/hello.sock proto fcgi maxconn 2
EOF
	"$HAPROXY" -db -f "$dir/haproxy.cfg" >"$dir/stderr.log" 2>&1 &
	REPLY=$!
}

echo "# agora idle-connection memory:" \
    "$(date -u '+%Y-%m-%d %H:%M:%S') UTC, N=$N THREADS=$THREADS"
printf '%-8s %10s %10s %8s %8s %12s\n' proxy rss0_kB rss1_kB open failed \
    bytes/conn
summary="idle"
for name in $PROXIES; do
	dir=$TMP/$name
	mkdir -p "$dir"
	if ! "$SPAWN_FCGI" -s "$dir/hello.sock" -M 0666 -F 2 \
	    -P "$dir/hello.pid" -- "$HELLO" >"$dir/spawn.log" 2>&1; then
		echo "skip $name: spawn-fcgi failed"
		continue
	fi
	PIDS+=($(cat "$dir/hello.pid"))
	free_port
	port=$REPLY
	case $name in
	gateway) start_gateway "$dir" "$port" || continue ;;
	nginx) start_nginx "$dir" "$port" || continue ;;
	haproxy) start_haproxy "$dir" "$port" || continue ;;
	*) echo "idle.sh: unknown proxy $name" >&2; exit 2 ;;
	esac
	pid=$REPLY
	PIDS+=("$pid")
	if ! wait_ready "$port" "$pid"; then
		echo "skip $name: no 200 on port $port within 5 s"
		tail -n 5 "$dir"/*.log 2>/dev/null | sed 's/^/    /'
		continue
	fi
	# warm: a few hundred requests so that steady buffers exist
	for ((i = 0; i < 20; i++)); do
		curl -s -o /dev/null "http://127.0.0.1:$port/"
	done
	sleep 0.5
	rss0=$(rss_kb "$pid")
	"$PY" "$TMP/client.py" "$port" "$N" "$dir/client.status" \
	    >"$dir/client.log" 2>&1 &
	cpid=$!
	PIDS+=("$cpid")
	for ((i = 0; i < 1200; i++)); do
		[ -s "$dir/client.status" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	if ! [ -s "$dir/client.status" ]; then
		echo "skip $name: the client did not finish"
		sed 's/^/    /' "$dir/client.log"
		kill -TERM "$cpid" "$pid" 2>/dev/null
		continue
	fi
	sleep 1
	rss1=$(rss_kb "$pid")
	read -r _ ok failed <"$dir/client.status"
	per=n/a
	[ "$ok" -gt 0 ] &&
	    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$ok" \
	    'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
	printf '%-8s %10s %10s %8s %8s %12s\n' "$name" "$rss0" "$rss1" "$ok" \
	    "$failed" "$per"
	summary+=" $name=$per"
	# free the client's sockets before the next proxy
	kill -TERM "$cpid" 2>/dev/null
	wait "$cpid" 2>/dev/null
	kill -TERM "$pid" 2>/dev/null
done
echo "$summary bytes/conn"
