#!/bin/bash
# JWT at the edge: tokens minted by an independent implementation
# (Debian's python3-jwt) against a JWKS file.  A valid one passes with
# REMOTE_USER, AUTH_TYPE, AUTH_ROLES and AUTH_SCOPE; expired, wrong
# audience or issuer, alg none, HS256 with the public key, unknown kid,
# forged signature get 401 with WWW-Authenticate; a missing role or scope
# 403.  Client headers never set the auth params.  Keys fetched from a
# service: at start, and again for an unknown kid at most every 10 s.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

"$PY" -c 'import jwt, cryptography' 2>/dev/null ||
    t_skip_all "python3-jwt or python3-cryptography missing"

mkdir -p "$TMP/rules"
cat >"$TMP/rules/agora.lua" <<'EOF2'
route { name = "open", prefix = "/api/open", service = "catalog",
    strip = "/api" }
route { name = "admin", prefix = "/api/admin", service = "catalog",
    strip = "/api", auth = "jwt", roles = {"admin", "ops"} }
route { name = "scoped", prefix = "/api/scoped", service = "catalog",
    strip = "/api", auth = "jwt", scopes = {"read", "write"} }
EOF2

# mint.py: keys and tokens; writes $TMP/jwks.json and $TMP/tok.<name>
cat >"$TMP/mint.py" <<'EOF2'
import base64, hashlib, hmac, json, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

out = sys.argv[1]
ec_key = ec.generate_private_key(ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.generate()
other = ec.generate_private_key(ec.SECP256R1())

def jwk(alg, key, kid):
    j = json.loads(alg.to_jwk(key.public_key()))
    j.update(kid=kid, use="sig")
    return j

keys = [jwk(jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256),
            ec_key, "ec1")]
keys[0]["alg"] = "ES256"
e = jwk(jwt.algorithms.OKPAlgorithm(), ed_key, "ed1")
e["alg"] = "EdDSA"
keys.append(e)
open(out + "/jwks.json", "w").write(json.dumps({"keys": keys}))

now = int(time.time())
base = {"sub": "user-42", "iss": "https://auth.test", "aud": "agora",
        "iat": now, "exp": now + 300, "roles": ["admin", "buyer"],
        "scope": "read write"}

def claims(**kw):
    c = dict(base)
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def raw(header, payload, sig=b""):
    h = b64(json.dumps(header).encode())
    p = b64(json.dumps(payload).encode())
    return h + "." + p + "." + b64(sig)

toks = {
    "valid": jwt.encode(claims(), ec_key, "ES256", headers={"kid": "ec1"}),
    "eddsa": jwt.encode(claims(), ed_key, "EdDSA", headers={"kid": "ed1"}),
    "expired": jwt.encode(claims(exp=now - 3600, iat=now - 7200), ec_key,
                          "ES256", headers={"kid": "ec1"}),
    "leeway": jwt.encode(claims(exp=now - 30), ec_key, "ES256",
                         headers={"kid": "ec1"}),
    "aud": jwt.encode(claims(aud="other"), ec_key, "ES256",
                      headers={"kid": "ec1"}),
    "iss": jwt.encode(claims(iss="https://evil.test"), ec_key, "ES256",
                      headers={"kid": "ec1"}),
    "none": raw({"alg": "none", "kid": "ec1"}, claims()),
    "kid": jwt.encode(claims(), other, "ES256", headers={"kid": "nokey"}),
    "forged": jwt.encode(claims(), other, "ES256", headers={"kid": "ec1"}),
    "norole": jwt.encode(claims(roles=["buyer"]), ec_key, "ES256",
                         headers={"kid": "ec1"}),
    "noscope": jwt.encode(claims(scope="read"), ec_key, "ES256",
                          headers={"kid": "ec1"}),
    "ops": jwt.encode(claims(roles="ops"), ec_key, "ES256",
                      headers={"kid": "ec1"}),
}
# HS256 keyed with the public key's PEM: the key-confusion attack
pem = ec_key.public_key().public_bytes(
    serialization.Encoding.PEM,
    serialization.PublicFormat.SubjectPublicKeyInfo)
h = b64(json.dumps({"alg": "HS256", "kid": "ec1"}).encode())
p = b64(json.dumps(claims()).encode())
toks["confusion"] = h + "." + p + "." + b64(hmac.new(
    pem, (h + "." + p).encode(), hashlib.sha256).digest())
# a valid token with one payload byte changed
v = toks["valid"].split(".")
pl = json.loads(base64.urlsafe_b64decode(v[1] + "=="))
pl["sub"] = "admin"
toks["tampered"] = v[0] + "." + b64(json.dumps(pl).encode()) + "." + v[2]
for k, t in toks.items():
    open(out + "/tok." + k, "w").write(t)
EOF2
"$PY" "$TMP/mint.py" "$TMP" || t_bail "cannot mint tokens"
cp "$TMP/jwks.json" "$TMP/jwks.json.good"

t_fixture_conf "$TMP/gateway.conf" "	processes 1"
cat >>"$TMP/gateway.conf" <<EOF
jwt {
	jwks file "$TMP/jwks.json" ; issuer "https://auth.test"
	audience "agora"
	leeway 60s
}
EOF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
A=$T_URL/api/admin/x

bearer() { printf 'Authorization: Bearer %s' "$(cat "$TMP/tok.$1")"; }

t_http GET "$T_URL/api/open/x" -- -H "Remote-User: mallory" \
    -H "Auth-Roles: admin"
t_is "open route: 200 without a token" "$T_STATUS" 200
t_is "open route: no REMOTE_USER" "$(t_json 'j["params"].get("REMOTE_USER")')" null
t_is "open route: client Remote-User not passed" \
    "$(t_json 'j["params"].get("HTTP_REMOTE_USER")')" null
t_is "open route: client Auth-Roles not passed" \
    "$(t_json 'j["params"].get("HTTP_AUTH_ROLES")')" null

t_http GET "$A"
t_problem "no token" 401
t_like "no token: WWW-Authenticate" "$(t_header WWW-Authenticate)" \
    '^Bearer .*error="invalid_token"'

t_http GET "$A" -- -H "$(bearer valid)" -H "Remote-User: mallory"
t_is "valid ES256 token: 200" "$T_STATUS" 200
t_is "REMOTE_USER is the subject" "$(t_json 'j["params"]["REMOTE_USER"]')" \
    user-42
t_is "AUTH_TYPE" "$(t_json 'j["params"]["AUTH_TYPE"]')" Bearer
t_is "AUTH_ROLES" "$(t_json 'j["params"]["AUTH_ROLES"]')" "admin buyer"
t_is "AUTH_SCOPE" "$(t_json 'j["params"]["AUTH_SCOPE"]')" "read write"
t_is "REMOTE_USER sent once" \
    "$(t_json 'len([p for p in j["param_list"] if p[0] == "REMOTE_USER"])')" 1
t_is "a client Remote-User header is dropped" \
    "$(t_json 'j["params"].get("HTTP_REMOTE_USER")')" null

t_http GET "$A" -- -H "$(bearer eddsa)"
t_is "valid EdDSA token: 200" "$T_STATUS" 200
t_http GET "$A" -- -H "$(bearer leeway)"
t_is "expired 30 s ago, leeway 60 s: 200" "$T_STATUS" 200
t_http GET "$A" -- -H "$(bearer ops)"
t_is "one of the roles is enough (ops)" "$T_STATUS" 200

for bad in expired aud iss none kid forged confusion tampered; do
	t_http GET "$A" -- -H "$(bearer $bad)"
	t_problem "$bad token" 401
	t_like "$bad token: WWW-Authenticate" "$(t_header WWW-Authenticate)" \
	    '^Bearer .*error="invalid_token", error_description="[^"]+"'
done
t_http GET "$A" -- -H "Authorization: Basic dXNlcjpwYXNz"
t_problem "Basic instead of Bearer" 401

t_http GET "$A" -- -H "$(bearer norole)"
t_problem "missing role" 403
t_like "missing role: insufficient_scope" "$(t_header WWW-Authenticate)" \
    'error="insufficient_scope"'
t_http GET "$T_URL/api/scoped/x" -- -H "$(bearer valid)"
t_is "all scopes present: 200" "$T_STATUS" 200
t_http GET "$T_URL/api/scoped/x" -- -H "$(bearer noscope)"
t_problem "a scope missing" 403

t_ok "gateway stops cleanly" t_gateway_stop

# -n: a route that wants tokens without a jwt block; a broken JWKS
t_fixture_conf "$TMP/nojwt.conf" "	processes 1"
out=$("$T_GATEWAY" -n -f "$TMP/nojwt.conf" -D "rulesdir=$TMP/rules" \
    -D "rundir=$TMP/run" -D http_port=1 -D admin_port=2 -D workers=1 2>&1)
t_like "-n: auth = jwt without a jwt block is said" "$out" \
    'agora.lua:[0-9]+: 2 routes with auth = "jwt" but .* has no "jwt" block'
t_like "-n: ..but accepted" "$out" 'configuration OK'
echo '{"keys": []}' >"$TMP/jwks.json"
out=$("$T_GATEWAY" -n -f "$TMP/gateway.conf" -D "rulesdir=$TMP/rules" \
    -D "rundir=$TMP/run" -D http_port=1 -D admin_port=2 -D workers=1 2>&1)
t_like "-n: an unusable JWKS file" "$out" 'gateway.conf:[0-9]+: jwt: jwks file'
# --- keys fetched from a service: a FastCGI responder serving the file
# $TMP/served.json as /.well-known/jwks.json, one line in $TMP/fetches
# per fetch
t_fcgi_proto
cat >"$TMP/jwks-server.py" <<'PYEOF'
import socket, sys
from fcgi_proto import *
ls = socket.socket(fileno=0)
while True:
    c, _ = ls.accept()
    try:
        while True:
            rec = read_record(c)
            if rec is None:
                break
            typ, rid, data = rec
            if typ == STDIN and not data:
                body = open(sys.argv[1], "rb").read()
                open(sys.argv[2], "a").write("fetch\n")
                send_answer(c, rid,
                            b"Content-Type: application/json\r\n\r\n" + body)
                break
    except OSError:
        pass
    finally:
        c.close()
PYEOF
"$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
j["keys"] = [k for k in j["keys"] if k["kid"] == "ec1"]
json.dump(j, open(sys.argv[2], "w"))' "$TMP/jwks.json.good" "$TMP/served.json"
: >"$TMP/fetches"
t_fixture_conf "$TMP/fetch.conf" "	processes 1"
cat >>"$TMP/fetch.conf" <<CONFEOF
service authkeys {
	socket "\${rundir}/authkeys.sock"
	program "$PY"
	argument "$TMP/jwks-server.py"
	argument "$TMP/served.json"
	argument "$TMP/fetches"
}
jwt {
	jwks service authkeys path "/.well-known/jwks.json" refresh 5m
	issuer "https://auth.test" ; audience "agora"
}
CONFEOF
t_gateway_start "$TMP/fetch.conf" -D "rulesdir=$TMP/rules"
A=$T_URL/api/admin/x
for ((i = 0; i < 50; i++)); do
	grep -q 'jwks: 1 key from service authkeys' "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "fetched: 1 key from the service" "$(cat "$T_GATEWAY_LOG")" \
    'jwks: 1 key from service authkeys'
t0=$SECONDS
t_http GET "$A" -- -H "$(bearer valid)"
t_is "fetched keys: a valid token passes" "$T_STATUS" 200
t_is "fetched keys: REMOTE_USER" "$(t_json 'j["params"]["REMOTE_USER"]')" \
    user-42
t_http GET "$A" -- -H "$(bearer eddsa)"
t_is "a kid the set lacks: 401" "$T_STATUS" 401
# the service publishes the other key; unknown kids fetch again, at most
# once every 10 s
cp "$TMP/jwks.json.good" "$TMP/served.json"
for i in 1 2 3; do
	t_http GET "$A" -- -H "$(bearer eddsa)"
done
t_is "within 10 s of the last fetch: no new fetch" \
    "$(wc -l <"$TMP/fetches")" 1
while [ $((SECONDS - t0)) -lt 11 ]; do sleep 0.5; done
for ((i = 0; i < 30; i++)); do
	t_http GET "$A" -- -H "$(bearer eddsa)"
	[ "$T_STATUS" = 200 ] && break
	sleep 0.1
done
t_is "after 10 s an unknown kid fetches again: the new key passes" \
    "$T_STATUS" 200
t_is "..with one more fetch only" "$(wc -l <"$TMP/fetches")" 2
t_ok "gateway stops cleanly (the fetch thread joined)" t_gateway_stop
t_done
