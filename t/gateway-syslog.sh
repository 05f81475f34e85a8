#!/bin/bash
# "log syslog": the error log goes to syslog(3) with the configured
# facility and levels, tagged with the program and its pid.  glibc's
# syslog writes to /dev/log, so the gateway runs in a mount namespace of
# its own whose /dev/log is this test's datagram socket; nothing of the
# machine's logging is touched.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

# a mount namespace: as root, or through a user namespace where
# unprivileged ones are allowed
if unshare -m true 2>/dev/null; then
	NS_FLAGS=-m
elif unshare -r -m true 2>/dev/null; then
	NS_FLAGS="-r -m"
else
	t_skip_all "no mount namespaces here (unshare -m, unshare -r -m)"
fi

mkdir -p "$TMP/log"
# a syslog daemon of our own: every datagram, one per line
t_spawn syslogd "$TMP/log/syslogd.log" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
' "$TMP/syslog.sock" "$TMP/log/syslog"
for ((i = 0; i < 50; i++)); do
	[ -S "$TMP/syslog.sock" ] && break
	sleep 0.1
done

# agora-gateway in a mount namespace whose /dev holds the real nodes it
# needs and a /dev/log that is our socket
mkdir -p "$TMP/hostdev"
cat >"$TMP/gateway-ns" <<NS
#!/bin/bash
exec unshare $NS_FLAGS --propagation private bash -c '
mount --rbind /dev "$TMP/hostdev" &&
mount -t tmpfs -o mode=755 agora-test-dev /dev &&
for n in null zero random urandom; do
	touch /dev/\$n && mount --bind "$TMP/hostdev/\$n" /dev/\$n || exit 1
done &&
ln -s "$TMP/syslog.sock" /dev/log &&
exec "\$0" "\$@"' "$T_GATEWAY" "\$@"
NS
chmod +x "$TMP/gateway-ns"
T_GATEWAY_REAL=$T_GATEWAY
T_GATEWAY=$TMP/gateway-ns

t_fixture_conf "$TMP/gateway.conf" '	processes 1'
echo 'log syslog facility local3' >>"$TMP/gateway.conf"
t_gateway_start "$TMP/gateway.conf"
t_plan 7

t_http GET "$T_URL/api/products/1"
t_is "a request through the gateway logging to syslog" "$T_STATUS" 200
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 100; i++)); do
	grep -q 'reloaded' "$TMP/log/syslog" 2>/dev/null && break
	sleep 0.1
done
# local3 = 19: info <158>, warning <156>
t_like "startup at info, facility local3, tagged with the pid" \
    "$(grep -a 'started:' "$TMP/log/syslog")" \
    "^<158>.*agora-gateway\\[$T_GATEWAY_PID\\]: .*started: "
t_like "SIGHUP logged at info" "$(grep -a 'SIGHUP' "$TMP/log/syslog")" \
    '^<158>'
# a broken config on reload: a warning, and the old one keeps serving
cp "$TMP/gateway.conf" "$TMP/gateway.conf.good"
echo 'this is not a directive' >>"$TMP/gateway.conf"
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 100; i++)); do
	grep -q 'keeping the running' "$TMP/log/syslog" 2>/dev/null && break
	sleep 0.1
done
t_like "a refused reload is a warning" \
    "$(grep -a 'keeping the running' "$TMP/log/syslog")" '^<156>'
t_http GET "$T_URL/api/products/2"
t_is "still serving after the refused reload" "$T_STATUS" 200
t_is "nothing of it went to stderr" \
    "$(grep -c 'SIGHUP\|keeping the running' "$T_GATEWAY_LOG")" 0
cp "$TMP/gateway.conf.good" "$TMP/gateway.conf"
t_ok "stops cleanly" t_gateway_stop
t_done
