#!/bin/bash
# HTTP/1.1 conformance of the gateway's front (RFC 9110/9112): raw
# requests over a socket, each with the statuses it must get, in order.
# Smuggling shapes get 400 (or 501 for codings we do not decode), limits
# get 431/413/408, and every error the front answers is problem+json with
# an X-Request-Id.  The fixture responder echoes params and body length.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_fixture_conf "$TMP/gateway.conf" '
	processes 2
	read timeout 5s
	param APP_ENV "test"
	param SERVER_NAME "svc.example"'
# the front's limits, small enough to hit from a test
sed -i '1a\
max header 2K\
max headers 20\
max body 64K\
header timeout 2s\
body timeout 2s\
idle timeout 3s\
max requests 5\
max client connections 20\
access log "'"$TMP"'/log/access.log"' "$TMP/gateway.conf"
t_gateway_start "$TMP/gateway.conf"

# raw.py [-s SECS] [-d DRIP] REQUEST: sends REQUEST (Python escapes:
# \r \n \x00), reads until the server closes or goes quiet for -s seconds
# (default 1.5), and prints each response's status in order, then
# "closed" if the server closed.  An error response without problem+json
# or without X-Request-Id prints as "<status>!".  -d DRIP sends the
# request DRIP bytes at a time, 0.3 s apart (a slow client).
cat >"$TMP/raw.py" <<'PYEOF'
import codecs, socket, sys, time, getopt
opts, args = getopt.getopt(sys.argv[1:], "s:d:p:")
o = dict(opts)
quiet = float(o.get("-s", "1.5"))
drip = int(o.get("-d", "0"))
req = codecs.escape_decode(args[0].encode())[0]
c = socket.create_connection(("127.0.0.1", int(o["-p"])))
c.settimeout(quiet)
t0 = time.time()
if drip:
    import select
    for i in range(0, len(req), drip):
        if select.select([c], [], [], 0)[0]:
            break	# answered already: stop sending
        try:
            c.sendall(req[i:i + drip])
        except OSError:
            break
        time.sleep(0.3)
else:
    c.sendall(req)
data, closed = b"", False
while True:
    try:
        x = c.recv(65536)
    except socket.timeout:
        break
    except OSError:
        closed = True
        break
    if not x:
        closed = True
        break
    data += x
out = []
while data:
    i = data.find(b"\r\n\r\n")
    if i < 0:
        out.append("partial")
        break
    head = data[:i].decode("latin-1").split("\r\n")
    data = data[i + 4:]
    st = int(head[0].split()[1])
    h = {}
    for l in head[1:]:
        k, _, v = l.partition(":")
        h[k.strip().lower()] = v.strip()
    mark = ""
    if st >= 400 and (not h.get("content-type", "").startswith(
            "application/problem+json") or "x-request-id" not in h):
        mark = "!"
    out.append("%d%s" % (st, mark))
    if st == 100:
        continue
    if "content-length" in h:
        data = data[int(h["content-length"]):]
    elif h.get("transfer-encoding") == "chunked":
        while True:
            j = data.find(b"\r\n")
            n = int(data[:j].split(b";")[0], 16)
            data = data[j + 2 + n + 2:]
            if n == 0:
                break
    elif closed:
        data = b""
if closed:
    out.append("closed")
print(" ".join(out))
if "-s" in o or drip:
    print("elapsed %.1f" % (time.time() - t0), file=sys.stderr)
PYEOF
raw() { "$PY" "$TMP/raw.py" -p "$T_HTTP_PORT" "$@" 2>"$TMP/raw.err"; }

H='Host: t\r\n'
P=/api/products
big=$(printf 'X-Big: %03000d\\r\\n' 0)
many=
for i in $(seq 1 21); do many+="X-F$i: v\\r\\n"; done
ch='Transfer-Encoding: chunked\r\n'

# name | request | expected statuses
while IFS='|' read -r name req want; do
	[ -n "$name" ] || continue
	t_is "$name" "$(raw "$req")" "$want"
done <<TABLE
plain GET, Connection: close|GET $P HTTP/1.1\r\n${H}Connection: close\r\n\r\n|200 closed
HTTP/1.0 closes by default|GET $P HTTP/1.0\r\n\r\n|200 closed
HTTP/1.0, body without length: the close ends it|GET $P HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET $P HTTP/1.0\r\n\r\n|200 closed
HEAD has no body|HEAD $P HTTP/1.1\r\n${H}Connection: close\r\n\r\n|200 closed
pipelining answered in order|GET $P HTTP/1.1\r\n$H\r\nGET /nope HTTP/1.1\r\n$H\r\nGET $P?x=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n|200 404 200 closed
max requests 5 per connection|$(for i in 1 2 3 4 5 6; do printf 'GET %s HTTP/1.1\\r\\n%s\\r\\n' "$P" "$H"; done)|200 200 200 200 200 closed
POST with Content-Length|POST $P HTTP/1.1\r\n${H}Content-Length: 5\r\nConnection: close\r\n\r\nhello|200 closed
chunked upload|POST $P HTTP/1.1\r\n$H${ch}Connection: close\r\n\r\n5\r\nhello\r\n4;x=y\r\n abc\r\n0\r\nT: v\r\n\r\n|200 closed
100-continue|POST $P HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi|100 200 closed
CL and TE together|POST $P HTTP/1.1\r\n${H}Content-Length: 5\r\n$ch\r\n5\r\nhello\r\n0\r\n\r\n|400 closed
TE and CL together|POST $P HTTP/1.1\r\n$H${ch}Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n|400 closed
duplicate Content-Length|POST $P HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello|400 closed
conflicting Content-Length|POST $P HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!|400 closed
Content-Length list|POST $P HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello|400 closed
signed Content-Length|POST $P HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello|400 closed
obs-fold|GET $P HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n|400 closed
bare LF line ends|GET $P HTTP/1.1\n${H}\n|400 closed
space before colon|GET $P HTTP/1.1\r\n${H}Content-Length : 5\r\n\r\nhello|400 closed
TE gzip|POST $P HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n|501 closed
TE chunked twice|POST $P HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n|501 closed
TE in HTTP/1.0|POST $P HTTP/1.0\r\n$ch\r\n0\r\n\r\n|400 closed
bad chunk size|POST $P HTTP/1.1\r\n$H$ch\r\nzz\r\nhello\r\n0\r\n\r\n|400 closed
chunk longer than its size|POST $P HTTP/1.1\r\n$H$ch\r\n2\r\nhello\r\n0\r\n\r\n|400 closed
HTTP/1.1 without Host|GET $P HTTP/1.1\r\n\r\n|400 closed
two Host fields|GET $P HTTP/1.1\r\n${H}Host: u\r\n\r\n|400 closed
garbage request line|HELLO\r\n\r\n|400 closed
HTTP/2.0 request line|GET $P HTTP/2.0\r\n\r\n|505 closed
unknown expectation|POST $P HTTP/1.1\r\n${H}Expect: tea\r\nContent-Length: 0\r\n\r\n|417 closed
header over max header|GET $P HTTP/1.1\r\n$H$big\r\n|431 closed
too many header fields|GET $P HTTP/1.1\r\n$H$many\r\n|431 closed
body over max body|POST $P HTTP/1.1\r\n${H}Content-Length: 70000\r\n\r\n|413 closed
chunked body over max body|POST $P HTTP/1.1\r\n$H$ch\r\n$(printf '%x' 70000)\r\n$(head -c 70000 /dev/zero | tr '\0' a)\r\n0\r\n\r\n|413 closed
no route: 404 keeps the connection|GET /nope HTTP/1.1\r\n$H\r\nGET $P HTTP/1.1\r\n${H}Connection: close\r\n\r\n|404 200 closed
absolute-form target|GET http://t$P HTTP/1.1\r\n${H}Connection: close\r\n\r\n|200 closed
TABLE

# the chunked upload reached the service whole, with its length
out=$(printf 'POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n4\r\n abc\r\n0\r\n\r\n' "$P" |
    "$PY" -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(sys.stdin.buffer.read())
d = b""
while True:
    x = c.recv(65536)
    if not x: break
    d += x
print(d.split(b"\r\n\r\n", 1)[1].decode())' "$T_HTTP_PORT")
t_like "chunked upload: CONTENT_LENGTH 9, stdin 9" "$out" \
    '"stdin": 9.*"CONTENT_LENGTH": "9"'

# slowloris: a head dripping in never completes; 408 within the timeout
out=$(raw -d 8 "GET $P HTTP/1.1\r\n${H}X-1: aaaaaaaaaaaaaaaaaaaa\r\nX-2: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\nX-3: ccccccccccccccccccccccccccccc\r\n\r\n")
t_is "slowloris: 408 then close" "$out" "408 closed"
el=$(sed -n 's/^elapsed //p' "$TMP/raw.err")
t_ok "slowloris: dropped on time (${el}s, timeout 2s)" \
    awk -v e="$el" 'BEGIN { exit !(e >= 1.8 && e < 4) }'
# a body that stops arriving: 408 after the body timeout
out=$(raw -s 5 "POST $P HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc")
t_is "stalled body: 408 then close" "$out" "408 closed"
# an idle keep-alive connection is closed after the idle timeout
out=$(raw -s 6 "GET $P HTTP/1.1\r\n$H\r\n")
t_is "idle keep-alive closed after idle timeout" "$out" "200 closed"
el=$(sed -n 's/^elapsed //p' "$TMP/raw.err")
t_ok "idle timeout is 3s (${el}s)" \
    awk -v e="$el" 'BEGIN { exit !(e >= 2.8 && e < 5) }'

# per-service params: added, and replacing the gateway's own
t_http GET "$T_URL$P"
t_is "param APP_ENV added" "$(t_json 'j["params"].get("APP_ENV")')" test
t_is "param SERVER_NAME replaced" \
    "$(t_json 'j["params"].get("SERVER_NAME")')" svc.example

# a large body streams through (64K limit here: 60000 bytes)
head -c 60000 /dev/urandom >"$TMP/body"
t_http POST "$T_URL$P" "@$TMP/body" -H 'Content-Type: application/octet-stream'
t_is "60000-byte body: 200" "$T_STATUS" 200
t_is "60000-byte body: stdin" "$(t_json 'j["stdin"]')" 60000
t_http POST "$T_URL$P" "@$TMP/body" -H 'Transfer-Encoding: chunked'
t_is "60000-byte chunked body (curl): stdin" "$(t_json 'j["stdin"]')" 60000

# connections per client address: the 21st is refused
"$PY" - "$T_HTTP_PORT" >"$TMP/conns.out" <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1])
def conn():
    return socket.create_connection(("127.0.0.1", port))
def ask(s):
    """a request that ends the connection: its status line, or refused"""
    s.settimeout(3)
    try:
        s.sendall(b"GET /api/products HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        d = s.recv(100)
    except OSError:
        d = b""
    print(d.split(b"\r\n")[0].decode() if d else "refused")
cs = [conn() for _ in range(20)]
time.sleep(0.3)
ask(conn())
for c in cs:
    c.close()
time.sleep(0.3)
y = conn()
ask(y)
# 19 open and one the gateway is closing (it answered Connection: close
# and waits for the client's end): a 21st is served, as after max
# requests a client reconnects before it has closed the old one
cs = [conn() for _ in range(19)]
time.sleep(0.3)
z = conn()
ask(z)
# z's answer can reach us before the gateway's thread has moved z to
# closing; a moment, well inside the 2 s that closing may last
time.sleep(0.2)
ask(conn())
for c in cs + [z, y]:
    c.close()
PYEOF
t_is "max client connections: 21st refused, then served again" \
    "$(sed -n 1,2p "$TMP/conns.out" | tr '\n' ' ')" "refused HTTP/1.1 200 OK "
t_is "max client connections: one the gateway is closing does not count" \
    "$(sed -n 3,4p "$TMP/conns.out" | tr '\n' ' ')" "HTTP/1.1 200 OK HTTP/1.1 200 OK "

# a client that gives up while its request runs: 499, no answer
"$CURL" -s -o /dev/null --max-time 0.5 -H 'X-Request-Id: gone-1' \
    "$T_URL$P?sleep=1.5"

# every error the front answered was access-logged, once each (the
# gateway flushes its access log as it exits)
t_gateway_stop
t_ok "gateway stopped cleanly" test $? -eq 0
t_like "client gone: logged as 499" \
    "$(grep -a 'rid=gone-1' "$TMP/log/access.log")" '" 499 0 '
t_is "client gone: logged once" \
    "$(grep -ac 'rid=gone-1' "$TMP/log/access.log")" 1
n=$(grep -c '" 4[0-9][0-9] ' "$TMP/log/access.log" 2>/dev/null || echo 0)
t_ok "front errors are access-logged ($n lines)" test "$n" -ge 20
t_done
