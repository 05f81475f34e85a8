#!/bin/bash
# TLS termination on the gateway's listeners: a throwaway CA, two SNI
# certificates and client certificates made with openssl(1) in $TMP, then
# curl, openssl s_client and a few raw sockets against four listeners:
#
#	main	tls, default cert a.test, "shop.test" by SNI
#	opt	tls, client ca ... optional
#	req	tls, client ca ... required
#	redir	plain, redirect "https://localhost:<main>"
#	redir2	plain, redirect "https://" (the request's Host)
#
# The FastCGI fixture echoes its params (HTTPS, SSL_*) and, here, the MD5
# of the body it got.  The plain-HTTP suite (gateway-http.sh) proves the
# plain path did not change.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

command -v openssl >/dev/null || t_skip_all "no openssl"
t_plan 75

PKI=$TMP/pki
mkdir -p "$PKI" "$TMP/log"
# pki_cert NAME SUBJ SAN [CA]: an EC key and a cert signed by CA (ca).
pki_cert()
{
	local name=$1 subj=$2 san=$3 ca=${4:-ca}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$PKI/$name.key" -out "$PKI/$name.csr" \
	    -subj "$subj" ${san:+-addext "subjectAltName=$san"} \
	    2>>"$PKI/openssl.log" &&
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.pem" \
	    -CAkey "$PKI/$ca.key" -CAcreateserial -days 2 -copy_extensions \
	    copy -out "$PKI/$name.pem" 2>>"$PKI/openssl.log"
}
for ca in ca evil; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$PKI/$ca.key" -out "$PKI/$ca.pem" -days 2 \
	    -subj "/O=Agora Test/CN=$ca CA" 2>>"$PKI/openssl.log" ||
	    t_bail "openssl: cannot make a CA"
done
pki_cert a "/O=Agora Test/CN=a.test" "DNS:a.test,DNS:localhost,IP:127.0.0.1" &&
pki_cert shop "/O=Agora Test/CN=shop.test" "DNS:shop.test" &&
pki_cert client "/O=Agora Test/OU=Shop, Inc./CN=client one" "" &&
pki_cert stranger "/O=Evil/CN=stranger" "" evil ||
	t_bail "openssl: cannot make the certificates"

MAIN=$(t_free_port)
OPT=$(t_free_port)
REQ=$(t_free_port)
REDIR=$(t_free_port)
REDIR2=$(t_free_port)
ONLY13=$(t_free_port)
t_fixture_conf "$TMP/gateway.conf" '
	processes 2
	read timeout 5s'
# the fixture also says what body it got
sed -i 's/"stdin": len(stdin),/"stdin": len(stdin), "md5": __import__("hashlib").md5(stdin).hexdigest(),/' \
    "$TMP/fcgi-fixture.py"
grep -q '"md5"' "$TMP/fcgi-fixture.py" || t_bail "fixture: no md5"
# ?big=N: N bytes of "x" in 32 KB records, for large responses
"$PY" - "$TMP/fcgi-fixture.py" <<'PYEOF' || t_bail "fixture: no ?big"
import sys
p = sys.argv[1]
s = open(p).read()
old = '            if "close" in q:\n'
new = '''            if "big" in q:
                n = int(q["big"][0])
                send(c, STDOUT, rid, b"Content-Type: text/plain\\r\\n\\r\\n")
                while n > 0:
                    send(c, STDOUT, rid, b"x" * min(n, 32768))
                    n -= 32768
                send(c, STDOUT, rid)
                send(c, END, rid, struct.pack("!IB3x", 0, 0))
                if not r["keep"]:
                    return
                continue
'''
assert s.count(old) == 1
open(p, "w").write(s.replace(old, new + old))
PYEOF
cat >>"$TMP/gateway.conf" <<CONF
header timeout 2s
max body 2M
access log "$TMP/log/access.log"
listen on 127.0.0.1 port $MAIN tls {
	certificate "$PKI/a.pem" key "$PKI/a.key"
	certificate "$PKI/shop.pem" key "$PKI/shop.key" name "shop.test"
}
listen on 127.0.0.1 port $OPT tls {
	certificate "$PKI/a.pem" key "$PKI/a.key"
	client ca "$PKI/ca.pem" optional
}
listen on 127.0.0.1 port $REQ tls {
	certificate "$PKI/a.pem" key "$PKI/a.key"
	client ca "$PKI/ca.pem" required
}
listen on 127.0.0.1 port $ONLY13 tls {
	certificate "$PKI/a.pem" key "$PKI/a.key"
	protocols "tlsv1.3"
}
listen on 127.0.0.1 port $REDIR redirect "https://localhost:$MAIN"
listen on 127.0.0.1 port $REDIR2 redirect "https://"
CONF
t_gateway_start "$TMP/gateway.conf"
P=/api/products

# curl over TLS to listener PORT with the test CA: tcurl PORT PATH [args]
tcurl()
{
	local port=$1 path=$2
	shift 2
	t_http GET "https://a.test:$port$path" -- --cacert "$PKI/ca.pem" \
	    --resolve "a.test:$port:127.0.0.1" "$@"
}
# subject PORT SNI [s_client args]: the subject of the certificate served
subject()
{
	local port=$1 sni=$2
	shift 2
	openssl s_client -connect "127.0.0.1:$port" ${sni:+-servername "$sni"} \
	    "$@" </dev/null 2>/dev/null | openssl x509 -noout -subject \
	    -nameopt RFC2253 2>/dev/null | sed 's/^subject=//'
}

# --- handshakes, protocols, SNI -------------------------------------------
tcurl "$MAIN" "$P/1" --tlsv1.3
t_is "TLS 1.3: 200" "$T_STATUS" 200
t_is "TLS 1.3: HTTPS=on" "$(t_json 'j["params"]["HTTPS"]')" on
t_is "TLS 1.3: SSL_PROTOCOL" "$(t_json 'j["params"]["SSL_PROTOCOL"]')" \
    TLSv1.3
t_like "TLS 1.3: SSL_CIPHER" "$(t_json 'j["params"]["SSL_CIPHER"]')" \
    '^TLS_(AES|CHACHA)'
t_is "no client cert: SSL_CLIENT_VERIFY=NONE" \
    "$(t_json 'j["params"]["SSL_CLIENT_VERIFY"]')" NONE
t_is "no client cert: no SSL_CLIENT_S_DN" \
    "$(t_json '"SSL_CLIENT_S_DN" in j["params"]')" false

tcurl "$MAIN" "$P/1" --tlsv1.2 --tls-max 1.2
t_is "TLS 1.2: 200" "$T_STATUS" 200
t_is "TLS 1.2: SSL_PROTOCOL" "$(t_json 'j["params"]["SSL_PROTOCOL"]')" \
    TLSv1.2
t_like "TLS 1.2: an ECDHE AEAD suite" \
    "$(t_json 'j["params"]["SSL_CIPHER"]')" '^ECDHE-.*(GCM|CHACHA20)'

tcurl "$ONLY13" "$P/1" --tlsv1.3
t_is "protocols tlsv1.3: TLS 1.3 served" \
    "$T_STATUS $(t_json 'j["params"]["SSL_PROTOCOL"]')" "200 TLSv1.3"
tcurl "$ONLY13" "$P/1" --tlsv1.2 --tls-max 1.2
t_is "protocols tlsv1.3: TLS 1.2 refused" "$T_STATUS" 000

tcurl "$MAIN" "$P/1" --tlsv1.1 --tls-max 1.1
t_is "TLS 1.1 (curl): refused" "$T_STATUS" 000
for v in tls1 tls1_1; do
	out=$(openssl s_client -connect "127.0.0.1:$MAIN" -"$v" \
	    -cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1)
	t_like "$v (s_client, any cipher): no session" \
	    "$(grep -c 'Cipher is (NONE)\|no protocols available\|alert' \
	    <<<"$out")" '^[1-9]'
done

t_is "no SNI: the default certificate" "$(subject "$MAIN" "")" \
    "CN=a.test,O=Agora Test"
t_is "SNI a.test: the default certificate" "$(subject "$MAIN" a.test)" \
    "CN=a.test,O=Agora Test"
t_is "SNI shop.test: its certificate" "$(subject "$MAIN" shop.test)" \
    "CN=shop.test,O=Agora Test"
t_is "SNI SHOP.test: names match without case" \
    "$(subject "$MAIN" SHOP.test)" "CN=shop.test,O=Agora Test"
t_is "SNI unknown.test: the default certificate" \
    "$(subject "$MAIN" unknown.test)" "CN=a.test,O=Agora Test"
t_is "SNI over TLS 1.2 too" "$(subject "$MAIN" shop.test -tls1_2)" \
    "CN=shop.test,O=Agora Test"
code=$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 5 \
    --cacert "$PKI/ca.pem" --resolve "shop.test:$MAIN:127.0.0.1" \
    "https://shop.test:$MAIN$P/1")
t_is "curl verifies shop.test's certificate by SNI" "$code" 200

# --- keep-alive, pipelining, bodies ------------------------------------------
conns=$("$CURL" -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
    -w '%{num_connects}' --max-time 10 \
    --cacert "$PKI/ca.pem" --resolve "a.test:$MAIN:127.0.0.1" \
    "https://a.test:$MAIN$P/1" "https://a.test:$MAIN$P/2" \
    "https://a.test:$MAIN$P/3" "https://a.test:$MAIN$P/4")
t_is "keep-alive: 4 requests, 1 connection" "$conns" 1000

cat >"$TMP/pipe.py" <<'PYEOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="a.test")
c.settimeout(5)
req = b"".join(b"GET /api/products/%d HTTP/1.1\r\nHost: a.test\r\n\r\n" % i
               for i in range(5))
c.sendall(req)
data = b""
while data.count(b"HTTP/1.1 200") < 5:
    x = c.recv(65536)
    if not x:
        break
    data += x
print(data.count(b"HTTP/1.1 200"),
      all(b'"path": "/products/%d"' % i in data for i in range(5)))
PYEOF
t_is "pipelined over TLS: 5 answers in one go" \
    "$("$PY" "$TMP/pipe.py" "$MAIN" "$PKI/ca.pem" 2>&1)" "5 True"

head -c 1048576 /dev/urandom >"$TMP/1m.bin"
md5=$(md5sum <"$TMP/1m.bin" | cut -d' ' -f1)
for v in 1.2 1.3; do
	t_http POST "https://a.test:$MAIN$P/body" "@$TMP/1m.bin" \
	    -H 'Content-Type: application/octet-stream' \
	    --cacert "$PKI/ca.pem" --resolve "a.test:$MAIN:127.0.0.1" \
	    --tlsv$v --tls-max $v
	t_is "1 MB POST over TLS $v: 200" "$T_STATUS" 200
	t_is "1 MB POST over TLS $v: the backend got every byte" \
	    "$(t_json 'j["stdin"]'):$(t_json 'j["md5"]')" "1048576:$md5"
done
t_http POST "https://a.test:$MAIN$P/chunked" "@$TMP/1m.bin" \
    -H 'Content-Type: application/octet-stream' \
    -H 'Transfer-Encoding: chunked' \
    --cacert "$PKI/ca.pem" --resolve "a.test:$MAIN:127.0.0.1"
t_is "1 MB chunked POST over TLS: md5" \
    "$T_STATUS:$(t_json 'j["md5"]')" "200:$md5"

# large responses: streamed through SSL_write, to a fast and a slow reader
bigmd5=$(head -c 8388608 /dev/zero | tr '\0' x | md5sum | cut -d' ' -f1)
got=$("$CURL" -s --max-time 20 --cacert "$PKI/ca.pem" \
    --resolve "a.test:$MAIN:127.0.0.1" "https://a.test:$MAIN$P/1?big=8388608" |
    md5sum | cut -d' ' -f1)
t_is "8 MB response over TLS: every byte" "$got" "$bigmd5"
got=$("$CURL" -s --max-time 20 --limit-rate 2M --cacert "$PKI/ca.pem" \
    --resolve "a.test:$MAIN:127.0.0.1" "https://a.test:$MAIN$P/1?big=3000000" |
    wc -c)
t_is "3 MB response to a slow TLS reader: every byte" "$got" 3000000
conns=$("$CURL" -s -o /dev/null -o /dev/null -w '%{num_connects}%{size_download} ' \
    --max-time 20 --cacert "$PKI/ca.pem" --resolve "a.test:$MAIN:127.0.0.1" \
    "https://a.test:$MAIN$P/1?big=1000000" "https://a.test:$MAIN$P/2?big=5")
t_is "keep-alive after a large chunked response" "$conns" "11000000 05 "

# sessions: resumed from the cache (1.2) and from a ticket (1.3)
for v in tls1_2 tls1_3; do
	rm -f "$TMP/sess"
	printf 'GET /api/products/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
	    openssl s_client -connect "127.0.0.1:$MAIN" -"$v" -ign_eof \
	    -sess_out "$TMP/sess" >/dev/null 2>&1
	out=$(openssl s_client -connect "127.0.0.1:$MAIN" -"$v" \
	    -sess_in "$TMP/sess" </dev/null 2>/dev/null)
	t_like "$v: session resumed" "$(grep -c '^Reused' <<<"$out")" '^1$'
done

# --- client certificates -------------------------------------------------------
CLIENT=(--cert "$PKI/client.pem" --key "$PKI/client.key")
tcurl "$REQ" "$P/1"
t_is "required, no client cert: handshake refused" "$T_STATUS" 000
tcurl "$REQ" "$P/1" --cert "$PKI/stranger.pem" --key "$PKI/stranger.key"
t_is "required, untrusted client cert: handshake refused" "$T_STATUS" 000
tcurl "$REQ" "$P/1" "${CLIENT[@]}"
t_is "required, good client cert: 200" "$T_STATUS" 200
t_is "required: SSL_CLIENT_VERIFY=SUCCESS" \
    "$(t_json 'j["params"]["SSL_CLIENT_VERIFY"]')" SUCCESS
t_is "required: SSL_CLIENT_S_DN in RFC 2253 form" \
    "$(t_json 'j["params"]["SSL_CLIENT_S_DN"]')" \
    'CN=client one,OU=Shop\, Inc.,O=Agora Test'
tcurl "$REQ" "$P/1" "${CLIENT[@]}" --tlsv1.2 --tls-max 1.2
t_is "required over TLS 1.2: SUCCESS" \
    "$T_STATUS:$(t_json 'j["params"]["SSL_CLIENT_VERIFY"]')" 200:SUCCESS

tcurl "$OPT" "$P/1"
t_is "optional, no client cert: 200" "$T_STATUS" 200
t_is "optional, no client cert: NONE" \
    "$(t_json 'j["params"]["SSL_CLIENT_VERIFY"]')" NONE
tcurl "$OPT" "$P/1" "${CLIENT[@]}"
t_is "optional, good client cert: SUCCESS" \
    "$(t_json 'j["params"]["SSL_CLIENT_VERIFY"]')" SUCCESS
tcurl "$OPT" "$P/1" --cert "$PKI/stranger.pem" --key "$PKI/stranger.key"
t_is "optional, untrusted client cert: 200" "$T_STATUS" 200
t_like "optional, untrusted client cert: FAILED:reason" \
    "$(t_json 'j["params"]["SSL_CLIENT_VERIFY"]')" '^FAILED:.+'
t_is "optional, untrusted client cert: its subject still passed" \
    "$(t_json 'j["params"]["SSL_CLIENT_S_DN"]')" 'CN=stranger,O=Evil'

# --- plain HTTP on a TLS port; redirects -----------------------------------------
t_http GET "http://127.0.0.1:$MAIN$P/1"
t_problem "plain HTTP to the TLS port" 400
t_is "plain HTTP to the TLS port: says so" "$(t_json 'j["detail"]')" \
    "plain HTTP request sent to a TLS port"
t_is "plain HTTP to the TLS port: Connection: close" \
    "$(t_header Connection)" close

t_http GET "http://127.0.0.1:$REDIR$P/7?x=1&y=%20"
t_is "redirect GET: 301" "$T_STATUS" 301
t_is "redirect GET: Location" "$(t_header Location)" \
    "https://localhost:$MAIN$P/7?x=1&y=%20"
t_http HEAD "http://127.0.0.1:$REDIR/" -- -I
t_is "redirect HEAD: 301" "$T_STATUS" 301
t_http POST "http://127.0.0.1:$REDIR$P" '{"a":1}'
t_is "redirect POST: 308" "$T_STATUS" 308
t_is "redirect POST: Location" "$(t_header Location)" \
    "https://localhost:$MAIN$P"
t_http GET "http://127.0.0.1:$REDIR2/a/b?c" -- -H 'Host: shop.test:8080'
t_is "redirect to the Host: Location" "$T_STATUS $(t_header Location)" \
    "301 https://shop.test/a/b?c"
code=$("$CURL" -s -o /dev/null -w '%{http_code} %{num_redirects}' -L \
    --max-time 10 --cacert "$PKI/ca.pem" \
    --resolve "localhost:$MAIN:127.0.0.1" "http://127.0.0.1:$REDIR$P/1")
t_is "curl -L follows the redirect to TLS" "$code" "200 1"

# --- a slow handshake is dropped on the header timeout (2 s) --------------------
cat >"$TMP/slow.py" <<'PYEOF'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(bytes.fromhex(sys.argv[2]))
c.settimeout(10)
t0 = time.time()
try:
    while c.recv(4096):
        pass
except OSError:
    pass
print("%.1f" % (time.time() - t0))
PYEOF
for what in "" 160301; do
	secs=$("$PY" "$TMP/slow.py" "$MAIN" "$what")
	t_ok "slow handshake (${what:-nothing sent}): dropped in ${secs}s" \
	    "$PY" -c "import sys; sys.exit(not 1.5 <= $secs <= 4)"
done

# --- the access log notes TLS ------------------------------------------------
# the access log is flushed every second
for ((i = 0; i < 100; i++)); do
	grep -q ' tls=TLSv1.3' "$TMP/log/access.log" 2>/dev/null && break
	sleep 0.1
done
t_like "access log: tls=TLSv1.3" \
    "$(grep -c ' tls=TLSv1.3' "$TMP/log/access.log")" '^[1-9]'
t_like "access log: plain lines have no tls=" \
    "$(grep ' 301 ' "$TMP/log/access.log" | grep -c 'tls=')" '^0$'

# --- SIGHUP: a new certificate is served; a broken one is refused -----------------
cp "$PKI/a.pem" "$PKI/a-old.pem"
cp "$PKI/a.key" "$PKI/a-old.key"
pki_cert a "/O=Agora Reloaded/CN=a.test" "DNS:a.test,DNS:localhost" ||
	t_bail "openssl: cannot make the new certificate"
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 50; i++)); do
	grep -q 'reloaded: generation' "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_is "SIGHUP: the new certificate" "$(subject "$MAIN" a.test)" \
    "CN=a.test,O=Agora Reloaded"
tcurl "$MAIN" "$P/1"
t_is "SIGHUP: requests go on" "$T_STATUS" 200
# a key that does not match the certificate
cp "$PKI/shop.key" "$PKI/a.key"
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 50; i++)); do
	grep -q 'keeping the running' "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "SIGHUP with a mismatched key: refused with file:line" \
    "$(grep 'does not match' "$T_GATEWAY_LOG")" \
    "gateway.conf:[0-9]+: listener 127.0.0.1 port $MAIN: key .*a.key"
t_is "SIGHUP refused: the last good certificate still serves" \
    "$(subject "$MAIN" a.test)" "CN=a.test,O=Agora Reloaded"
t_ok "the gateway is alive" t_alive "$T_GATEWAY_PID"

# --- -n: certificate problems with file:line ------------------------------------
cn()	# config text -> "rc: output" of agora-gateway -n
{
	printf '%s\n' "$1" >"$TMP/check.conf"
	out=$("$T_GATEWAY" -n -f "$TMP/check.conf" -D "rundir=$TMP/run" 2>&1)
	echo "$?: $(grep -v 'routes with auth = "jwt"' <<<"$out")"
}
BASE="rules \"$top_srcdir/rules/agora.lua\"
service catalog { socket \"127.0.0.1:1\" }
$(t__other_services)"
t_like "-n: good TLS config" "$(cn "listen on 127.0.0.1 port 1 tls {
	certificate \"$PKI/shop.pem\" key \"$PKI/shop.key\"
}
$BASE")" '^0: configuration OK'
t_like "-n: mismatched key: file:line" "$(cn "listen on 127.0.0.1 port 1 tls {
	certificate \"$PKI/a-old.pem\" key \"$PKI/shop.key\"
}
$BASE")" '^1: .*check.conf:1: listener 127.0.0.1 port 1: key ".*shop.key": does not match the certificate'
t_like "-n: missing key: file:line" "$(cn "listen on 127.0.0.1 port 1 tls {
	certificate \"$PKI/shop.pem\" key \"$PKI/nope.key\"
}
$BASE")" '^1: .*check.conf:1: listener 127.0.0.1 port 1: key ".*nope.key": No such file'
t_like "-n: not a certificate: file:line" "$(cn "listen on 127.0.0.1 port 1 tls {
	certificate \"$PKI/shop.key\" key \"$PKI/shop.key\"
}
$BASE")" '^1: .*check.conf:1: listener 127.0.0.1 port 1: certificate ".*shop.key": '
t_like "-n: log syslog facility local3" "$(cn "log syslog facility local3
listen on 127.0.0.1 port 1
$BASE")" '^0: configuration OK'
t_like "-n: unknown facility: file:line" "$(cn "log syslog facility nope
listen on 127.0.0.1 port 1
$BASE")" '^1: .*check.conf:1: unknown syslog facility "nope"'
t_like "-n: error log and log syslog: refused" "$(cn "error log \"/tmp/x\"
log syslog
listen on 127.0.0.1 port 1
$BASE")" '^1: .*check.conf:2: "error log" and "log syslog": choose one'

t_ok "gateway stops cleanly" t_gateway_stop
t_done
