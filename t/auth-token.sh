#!/bin/bash
# agora-auth's token endpoint and its friends, over FastCGI: the
# bootstrap, the password grant, client_credentials (basic and post),
# refresh rotation with reuse detection, introspection, revocation, the
# identities the users service manages, and a password hash upgrade.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/auth-lib.sh"

t_plan 91

auth_start 2
SVC="service:$AGORA_SERVICE_CLIENT_SECRET"

# --- bootstrap -------------------------------------------------------------
t_like "bootstrap: service secret" "$AGORA_SERVICE_CLIENT_SECRET" \
    '^[A-Za-z0-9_-]{43}$'
t_like "bootstrap: admin password" "$AGORA_ADMIN_PASSWORD" '^[A-Za-z0-9_-]{24}$'
out=$(AGORA_DB_SOCKET=$T_DBSOCK AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password \
    "$AUTH_PROG" -B 2>/dev/null)
t_is "bootstrap again: prints no secret" "$out" ""
t_is "bootstrap: one signing key" \
    "$(t_sql 'SELECT COUNT(*) FROM signing_keys' auth)" 1
t_like "bootstrap: the key is stored encrypted" \
    "$(t_sql 'SELECT private_enc FROM signing_keys' auth)" '^[A-Za-z0-9_-]{200,}$'
t_like "bootstrap: password stored as scrypt with parameters" \
    "$(t_sql "SELECT password_hash FROM identities WHERE username='admin'" auth)" \
    '^\$scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$'
t_like "bootstrap: client secret stored hashed" \
    "$(t_sql "SELECT secret_hash FROM clients WHERE client_id='service'" auth)" \
    '^[0-9a-f]{64}$'

# --- password grant ----------------------------------------------------------
auth_login admin "$AGORA_ADMIN_PASSWORD"
t_is "password grant: 200" "$T_STATUS" 200
t_is "password grant: no-store" "$(t_header Cache-Control)" no-store
t_is "password grant: Pragma" "$(t_header Pragma)" no-cache
t_is "password grant: Bearer" "$(t_json 'j["token_type"]')" Bearer
t_is "password grant: expires_in" "$(t_json 'j["expires_in"]')" 900
t_like "password grant: a JWT" "$AT" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$'
t_like "password grant: opaque refresh token" "$RT" '^[A-Za-z0-9_-]{43}$'
t_is "access token: typ" "$(jwt_claim "$AT" 'h["typ"]')" at+jwt
t_is "access token: alg" "$(jwt_claim "$AT" 'h["alg"]')" ES256
t_like "access token: kid" "$(jwt_claim "$AT" 'h["kid"]')" '^[0-9T]{15}-'
admin_id=$(t_sql "SELECT id FROM identities WHERE username='admin'" auth)
t_is "access token: sub" "$(jwt_claim "$AT" 'c["sub"]')" "$admin_id"
t_is "access token: iss" "$(jwt_claim "$AT" 'c["iss"]')" http://127.0.0.1:8080
t_is "access token: aud" "$(jwt_claim "$AT" 'c["aud"]')" agora
t_is "access token: client_id" "$(jwt_claim "$AT" 'c["client_id"]')" web
t_is "access token: roles" "$(jwt_claim "$AT" 'c["roles"]')" '["admin"]'
t_is "access token: lifetime" "$(jwt_claim "$AT" 'c["exp"] - c["iat"]')" 900
t_like "access token: jti" "$(jwt_claim "$AT" 'c["jti"]')" '^[A-Za-z0-9_-]{22}$'
t_is "refresh token stored hashed only" \
    "$(t_sql "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = SHA2('$RT', 256)" auth)" 1
auth_post /auth/token "grant_type=password&client_id=web&username=admin&password=wrong-password"
t_is "wrong password: 400" "$T_STATUS" 400
t_is "wrong password: invalid_grant" "$(t_json 'j["error"]')" invalid_grant
t_is "wrong password: no-store" "$(t_header Cache-Control)" no-store
auth_post /auth/token "grant_type=password&client_id=web&username=nobody&password=whatever1"
t_is "unknown user: invalid_grant, same answer" "$(t_json 'j["error_description"]')" \
    "invalid username or password"

# --- client_credentials ----------------------------------------------------------
auth_post /auth/token "grant_type=client_credentials" "$SVC"
t_is "client_credentials (basic): 200" "$T_STATUS" 200
CT=$(t_json 'j["access_token"]')
t_is "client_credentials: no refresh token" "$(t_json '"refresh_token" in j')" false
t_is "client_credentials: sub is the client" "$(jwt_claim "$CT" 'c["sub"]')" service
t_is "client_credentials: role service" "$(jwt_claim "$CT" 'c["roles"]')" '["service"]'
auth_post /auth/token "grant_type=client_credentials&client_id=service&client_secret=$AGORA_SERVICE_CLIENT_SECRET"
t_is "client_credentials (post): 200" "$T_STATUS" 200
auth_post /auth/token "grant_type=client_credentials&client_id=service&client_secret=nope"
t_is "client_credentials, bad secret: 401" "$T_STATUS" 401
t_is "bad secret: invalid_client" "$(t_json 'j["error"]')" invalid_client
t_like "bad secret: WWW-Authenticate" "$(t_header WWW-Authenticate)" '^Basic realm="agora"'

# --- refresh rotation and reuse detection ------------------------------------------
auth_login admin "$AGORA_ADMIN_PASSWORD"
R1=$RT
auth_post /auth/token "grant_type=refresh_token&client_id=web&refresh_token=$R1"
t_is "refresh: 200" "$T_STATUS" 200
R2=$(t_json 'j["refresh_token"]')
A2=$(t_json 'j["access_token"]')
t_like "refresh: rotated" "$R2" '^[A-Za-z0-9_-]{43}$'
[ "$R1" != "$R2" ]
t_is "refresh: a new token, not the old one" "$?" 0
t_is "refresh: access token for the same subject" "$(jwt_claim "$A2" 'c["sub"]')" "$admin_id"
auth_post /auth/token "grant_type=refresh_token&client_id=web&refresh_token=$R2"
t_is "refresh again: 200" "$T_STATUS" 200
R3=$(t_json 'j["refresh_token"]')
auth_post /auth/token "grant_type=refresh_token&client_id=web&refresh_token=$R1"
t_is "reuse of R1: 400" "$T_STATUS" 400
t_is "reuse of R1: invalid_grant" "$(t_json 'j["error"]')" invalid_grant
auth_post /auth/token "grant_type=refresh_token&client_id=web&refresh_token=$R3"
t_is "after reuse, the newest token of the family is dead too" "$(t_json 'j["error"]')" invalid_grant
t_is "the whole family is revoked" "$(t_sql "SELECT COUNT(*) FROM refresh_tokens
    WHERE family = (SELECT family FROM refresh_tokens WHERE token_hash = SHA2('$R1', 256))
    AND state <> 'revoked'" auth)" 0
auth_post /auth/token "grant_type=refresh_token&refresh_token=$R1" "$SVC"
t_is "another client's refresh token: refused" "$(t_json 'j["error"]')" unauthorized_client

# --- introspection ---------------------------------------------------------------------
auth_login admin "$AGORA_ADMIN_PASSWORD"
auth_post /auth/introspect "token=$AT" "$SVC"
t_is "introspect access token: 200" "$T_STATUS" 200
t_is "introspect: active" "$(t_json 'j["active"]')" true
t_is "introspect: sub" "$(t_json 'j["sub"]')" "$admin_id"
t_is "introspect: client_id" "$(t_json 'j["client_id"]')" web
t_is "introspect: token_type" "$(t_json 'j["token_type"]')" access_token
t_is "introspect: no-store" "$(t_header Cache-Control)" no-store
auth_post /auth/introspect "token=$RT" "$SVC"
t_is "introspect another client's refresh token: inactive" "$(t_json 'j')" '{"active":false}'
auth_post /auth/introspect "token=$R3" "$SVC"
t_is "introspect revoked refresh token: inactive" "$(t_json 'j["active"]')" false
auth_post /auth/introspect "token=garbage.token.here&token_type_hint=access_token" "$SVC"
t_is "introspect garbage: inactive" "$(t_json 'j')" '{"active":false}'
auth_post /auth/introspect "token=$AT&client_id=web"
t_is "introspect by a public client: 401" "$T_STATUS" 401
auth_post /auth/introspect "token=$AT"
t_is "introspect unauthenticated: invalid_client" "$(t_json 'j["error"]')" invalid_client

# --- revocation ---------------------------------------------------------------------------
auth_post /auth/revoke "token=$RT&token_type_hint=refresh_token&client_id=web"
t_is "revoke refresh token: 200" "$T_STATUS" 200
auth_post /auth/token "grant_type=refresh_token&client_id=web&refresh_token=$RT"
t_is "revoked refresh token: invalid_grant" "$(t_json 'j["error"]')" invalid_grant
auth_post /auth/revoke "token=$AT&client_id=web"
t_is "revoke access token: 200" "$T_STATUS" 200
auth_post /auth/introspect "token=$AT" "$SVC"
t_is "revoked access token: inactive" "$(t_json 'j["active"]')" false
auth_post /auth/revoke "token=nonsense&client_id=web"
t_is "revoke an unknown token: 200 all the same" "$T_STATUS" 200
auth_post /auth/revoke "token=$CT&client_id=web"
auth_post /auth/introspect "token=$CT" "$SVC"
t_is "another client cannot revoke a token" "$(t_json 'j["active"]')" true

# --- identities (users service) ------------------------------------------------------------
svc() { FCGI_USER=service FCGI_ROLES=service t_fcgi "$@"; }
svc POST /auth/identities '{"username": "alice@example.com", "password": "correct horse"}'
t_is "create identity: 201" "$T_STATUS" 201
alice=$(t_json 'j["id"]')
t_is "create identity: Location" "$(t_header Location)" "/api/auth/identities/$alice"
t_is "create identity: default role" "$(t_json 'j["roles"]')" '["customer"]'
svc POST /auth/identities '{"username": "ALICE@example.com", "password": "another one"}'
t_problem "duplicate username (any case)" 409
FCGI_USER=bob FCGI_ROLES=customer t_fcgi POST /auth/identities \
    '{"username": "x@example.com", "password": "correct horse"}'
t_problem "a customer cannot create identities" 403
auth_login 'alice@example.com' 'correct%20horse'
t_is "new identity logs in" "$T_STATUS" 200
t_is "new identity: role customer" "$(jwt_claim "$AT" 'c["roles"]')" '["customer"]'
svc DELETE "/auth/identities/$alice"
t_is "delete identity: 204" "$T_STATUS" 204
auth_post /auth/token "grant_type=refresh_token&client_id=web&refresh_token=$RT"
t_is "deleted identity: refresh refused" "$(t_json 'j["error"]')" invalid_grant
auth_login 'alice@example.com' 'correct%20horse'
t_is "deleted identity: login refused" "$(t_json 'j["error"]')" invalid_grant
svc DELETE "/auth/identities/$alice"
t_problem "delete again" 404

# --- hash upgrade on login -----------------------------------------------------------------
old=$("$PY" -c 'import base64, hashlib
salt = b"0123456789abcdef"
h = hashlib.scrypt(b"legacy pass", salt=salt, n=1024, r=8, p=1, dklen=32)
e = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print("$scrypt$1024$8$1$%s$%s" % (e(salt), e(h)))')
t_sql "INSERT INTO identities (username, password_hash, roles, created_at, updated_at)
    VALUES ('legacy', '$old', 'customer', 0, 0)" auth
auth_login legacy 'legacy%20pass'
t_is "old-parameter hash: login works" "$T_STATUS" 200
t_like "old-parameter hash: upgraded on login" \
    "$(t_sql "SELECT password_hash FROM identities WHERE username='legacy'" auth)" \
    '^\$scrypt\$16384\$8\$1\$'
auth_login legacy 'legacy%20pass'
t_is "upgraded hash: login still works" "$T_STATUS" 200

# --- discovery ---------------------------------------------------------------------------------
t_fcgi GET /.well-known/openid-configuration
t_is "discovery: 200" "$T_STATUS" 200
t_is "discovery: issuer" "$(t_json 'j["issuer"]')" http://127.0.0.1:8080
t_is "discovery: token endpoint" "$(t_json 'j["token_endpoint"]')" \
    http://127.0.0.1:8080/api/auth/token
t_is "discovery: grants" "$(t_json 'j["grant_types_supported"]')" \
    '["password","client_credentials","refresh_token"]'

t_done
