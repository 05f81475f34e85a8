#!/bin/bash
# agora-auth's published keys: tokens verify against the JWKS with an
# independent implementation (Debian's python3-jwt), key rotation keeps
# tokens of the old key valid until its last token expires, the keys sit
# in the database encrypted, and a forged token verifies nowhere.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/auth-lib.sh"

"$PY" -c 'import jwt, cryptography' 2>/dev/null ||
    t_skip_all "python3-jwt or python3-cryptography missing (apt-get install python3-jwt python3-cryptography)"

t_plan 40

auth_start 2

# pyjwt JWKS TOKEN [AUD]: verify with python3-jwt; prints the sub or the error.
pyjwt()
{
	"$PY" - "$1" "$2" "${3:-agora}" <<'PYEOF'
import json, sys, jwt
jwks, token, aud = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
try:
    kid = jwt.get_unverified_header(token)["kid"]
    key = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id == kid]
    if not key:
        raise Exception("kid %s not in the JWKS" % kid)
    claims = jwt.decode(token, key[0].key, algorithms=["ES256"],
                        audience=aud, issuer="http://127.0.0.1:8080",
                        options={"require": ["exp", "iat", "sub", "jti"]})
    print("ok " + claims["sub"])
except Exception as e:
    print("refused: %s: %s" % (type(e).__name__, e))
PYEOF
}

jwks_fetch()
{
	t_fcgi GET /.well-known/jwks.json
	cp "$TMP/resp.body" "$TMP/$1"
}

jwks_fetch jwks1.json
t_is "JWKS: 200" "$T_STATUS" 200
t_like "JWKS: JSON" "$(t_header Content-Type)" '^application/json'
t_is "JWKS: one key" "$(t_json 'len(j["keys"])' "$TMP/jwks1.json")" 1
t_is "JWKS: EC P-256 for ES256" \
    "$(t_json '[j["keys"][0][k] for k in ("kty", "crv", "alg", "use")]' "$TMP/jwks1.json")" \
    '["EC","P-256","ES256","sig"]'
t_is "JWKS: no private part" "$(t_json '"d" in j["keys"][0]' "$TMP/jwks1.json")" false
kid1=$(t_json 'j["keys"][0]["kid"]' "$TMP/jwks1.json")

auth_login admin "$AGORA_ADMIN_PASSWORD"
admin_at=$AT
admin_id=$(t_sql "SELECT id FROM identities WHERE username='admin'" auth)
t_is "token's kid is in the JWKS" "$(jwt_claim "$AT" 'h["kid"]')" "$kid1"
t_is "python3-jwt verifies a password-grant token" \
    "$(pyjwt "$TMP/jwks1.json" "$AT")" "ok $admin_id"
auth_post /auth/token "grant_type=client_credentials" \
    "service:$AGORA_SERVICE_CLIENT_SECRET"
svc_at=$(t_json 'j["access_token"]')
t_is "python3-jwt verifies a client_credentials token" \
    "$(pyjwt "$TMP/jwks1.json" "$svc_at")" "ok service"
t_like "python3-jwt: wrong audience refused" \
    "$(pyjwt "$TMP/jwks1.json" "$AT" other)" '^refused: InvalidAudienceError'

# Forgeries: a flipped payload, alg none, and HS256 keyed with the JWKS.
forged=$("$PY" - "$AT" "$TMP/jwks1.json" <<'PYEOF'
import base64, hashlib, hmac, json, sys
tok, jwks = sys.argv[1], open(sys.argv[2], "rb").read()
h, p, s = tok.split(".")
e = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
d = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
c = json.loads(d(p)); c["roles"] = ["admin"]; c["sub"] = "1"
p2 = e(json.dumps(c).encode())
hdr = json.loads(d(h))
none = e(json.dumps({"alg": "none", "typ": "at+jwt", "kid": hdr["kid"]}).encode())
hs = e(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": hdr["kid"]}).encode())
mac = e(hmac.new(jwks, (hs + "." + p2).encode(), hashlib.sha256).digest())
print("%s.%s.%s %s.%s. %s.%s.%s" % (h, p2, s, none, p2, hs, p2, mac))
PYEOF
)
read -r tampered none hs <<<"$forged"
t_like "python3-jwt refuses the tampered token" \
    "$(pyjwt "$TMP/jwks1.json" "$tampered")" '^refused: InvalidSignatureError'
for t in tampered none hs; do
	auth_post /auth/introspect "token=${!t}" "service:$AGORA_SERVICE_CLIENT_SECRET"
	t_is "introspect refuses the $t forgery" "$(t_json 'j')" '{"active":false}'
done

# --- rotation ---------------------------------------------------------------------
t_fcgi POST /auth/keys/rotate
t_problem "rotate without identity" 401
FCGI_USER=bob FCGI_ROLES=customer t_fcgi POST /auth/keys/rotate
t_problem "rotate as customer" 403
FCGI_USER="$admin_id" FCGI_ROLES=admin t_fcgi POST /auth/keys/rotate
t_is "rotate as admin: 201" "$T_STATUS" 201
kid2=$(t_json 'j["kid"]')
t_like "rotate: a new kid" "$kid2" '^[0-9T]{15}-'
[ "$kid2" != "$kid1" ]
t_is "rotate: differs from the old kid" "$?" 0

both=$("$PY" -c 'import json,sys; print(json.dumps(sorted(sys.argv[1:]), separators=(",", ":")))' "$kid1" "$kid2")
# At once, from every process (two, serving in turn), whatever it cached.
for i in 1 2 3 4; do
	jwks_fetch jwks2.json
	t_is "JWKS right after rotation ($i): both keys" \
	    "$(t_json 'sorted(k["kid"] for k in j["keys"])' "$TMP/jwks2.json")" "$both"
done
# Every process must sign with the new key within its cache time (5 s).
sleep 5.2
auth_login admin "$AGORA_ADMIN_PASSWORD"
t_is "new tokens carry the new kid" "$(jwt_claim "$AT" 'h["kid"]')" "$kid2"
auth_login admin "$AGORA_ADMIN_PASSWORD"
t_is "... in every process" "$(jwt_claim "$AT" 'h["kid"]')" "$kid2"
t_is "python3-jwt verifies the new token" "$(pyjwt "$TMP/jwks2.json" "$AT")" \
    "ok $admin_id"
t_is "python3-jwt still verifies the old token" \
    "$(pyjwt "$TMP/jwks2.json" "$admin_at")" "ok $admin_id"
auth_post /auth/introspect "token=$admin_at" "service:$AGORA_SERVICE_CLIENT_SECRET"
t_is "the old token still introspects active" "$(t_json 'j["active"]')" true
t_like "the old key expires with the last token it signed" \
    "$(t_sql "SELECT expires_at - retired_at FROM signing_keys WHERE kid = '$kid1'" auth)" \
    '^960$'

# Once the old key's last token has expired it leaves the JWKS.
t_sql "UPDATE signing_keys SET expires_at = UNIX_TIMESTAMP() - 1 WHERE kid = '$kid1'" auth
sleep 5.2
jwks_fetch jwks3.json
t_is "expired key leaves the JWKS" \
    "$(t_json '[k["kid"] for k in j["keys"]]' "$TMP/jwks3.json")" "[\"$kid2\"]"
t_like "python3-jwt: old token's kid is gone" \
    "$(pyjwt "$TMP/jwks3.json" "$admin_at")" '^refused: .*not in the JWKS'

# --- the master key -------------------------------------------------------------------
t_is "no key is stored in the clear" \
    "$(t_sql "SELECT COUNT(*) FROM signing_keys WHERE private_enc LIKE '%BEGIN%' OR private_enc LIKE '%PRIVATE%'" auth)" 0
# Another master key cannot use the stored keys: nothing is served.
head -c 48 /dev/urandom >"$T_SECRETS/other-key"
out=$(AGORA_MASTER_KEY_FILE=$T_SECRETS/other-key AGORA_DB_SOCKET=$T_DBSOCK \
    AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password "$AUTH_PROG" -B 2>&1 >/dev/null)
t_like "a wrong master key cannot decrypt the keys" "$out" 'does not decrypt'
t_is "... and adds no key of its own" \
    "$(t_sql "SELECT COUNT(*) FROM signing_keys" auth)" 2
printf short >"$T_SECRETS/short-key"
out=$(AGORA_MASTER_KEY_FILE=$T_SECRETS/short-key AGORA_DB_SOCKET=$T_DBSOCK \
    AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password "$AUTH_PROG" -B 2>&1 >/dev/null)
t_like "a short master key is refused" "$out" '32 to 4096 bytes'

t_done
