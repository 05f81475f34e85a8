#!/bin/bash
# agora-auth answers bad requests the OAuth way (RFC 6749 §5.2: JSON with
# "error", Cache-Control: no-store, 401 invalid_client with
# WWW-Authenticate) or with problem+json outside OAuth: wrong or missing
# grants and fields, bad client credentials, wrong content types, huge
# or broken input, SQL metacharacters.  Never a 500.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/auth-lib.sh"

auth_start 2
SVC="service:$AGORA_SERVICE_CLIENT_SECRET"
enc() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# --- the token endpoint: STATUS ERROR AUTH BODY ---------------------------------
# AUTH: - none, S the service client's Basic, or id:secret for Basic.
cases=$(cat <<EOF
400 unsupported_grant_type - grant_type=authorization_code&code=x&client_id=web
400 unsupported_grant_type - grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=web
400 invalid_request - client_id=web&username=admin&password=x
400 invalid_request - grant_type=password&client_id=web&username=admin
400 invalid_request - grant_type=password&client_id=web&password=x
400 invalid_request - grant_type=password&client_id=web&username=&password=x
400 invalid_request - grant_type=refresh_token&client_id=web
400 invalid_request - grant_type=password&grant_type=password&client_id=web&username=a&password=b
400 invalid_request - grant_type=password&client_id=web&username=%ZZ&password=b
400 invalid_request - grant_type=password&client_id=web&username=a%00b&password=b
400 invalid_request - grant_type=password&client_id=web&username=%FF%FE&password=b
400 invalid_request S grant_type=client_credentials&client_secret=x
401 invalid_client - grant_type=password&username=admin&password=x
401 invalid_client - grant_type=client_credentials&client_id=nobody&client_secret=x
401 invalid_client - grant_type=client_credentials&client_id=service
401 invalid_client - grant_type=client_credentials&client_id=service&client_secret=
401 invalid_client service:wrong grant_type=client_credentials
401 invalid_client web:x grant_type=password&username=admin&password=x
401 invalid_client - grant_type=password&client_id=web&client_secret=x&username=admin&password=x
400 unauthorized_client - grant_type=client_credentials&client_id=web
400 unauthorized_client S grant_type=password&username=admin&password=x
400 invalid_scope - grant_type=password&client_id=web&username=admin&password=x&scope=admin:all
400 invalid_scope S grant_type=client_credentials&scope=%22quoted%22
400 invalid_grant - grant_type=refresh_token&client_id=web&refresh_token=not-a-token
400 invalid_grant - grant_type=refresh_token&client_id=web&refresh_token=$(printf 'x%.0s' {1..300})
400 invalid_grant - grant_type=password&client_id=web&username=$(enc "admin' OR '1'='1")&password=$(enc "' OR ''='")
400 invalid_grant - grant_type=password&client_id=web&username=$(enc "admin'; DROP TABLE identities; --")&password=x
400 invalid_grant - grant_type=password&client_id=web&username=$(enc 'admin" OR 1=1 #')&password=x
400 invalid_grant - grant_type=password&client_id=web&username=$(enc '%')&password=x
400 invalid_grant - grant_type=password&client_id=web&username=$(printf 'a%.0s' {1..300})&password=x
400 invalid_grant - grant_type=password&client_id=web&username=admin&password=$(printf 'p%.0s' {1..2000})
400 invalid_grant - grant_type=password&client_id=web&username=$(enc $'ad\tmin')&password=x
401 invalid_client - grant_type=client_credentials&client_id=$(enc "service' OR '1'='1")&client_secret=x
401 invalid_client - grant_type=client_credentials&client_id=$(printf 'c%.0s' {1..100})&client_secret=x
EOF
)
n=$(grep -c . <<<"$cases")
t_plan $((n * 4 + 4 * 3 + 52))

while read -r status error auth body; do
	case $auth in
	-)	a= ;;
	S)	a=$SVC ;;
	*)	a=$auth ;;
	esac
	name="${body:0:60}"
	auth_post /auth/token "$body" "$a"
	t_is "$name: status" "$T_STATUS" "$status"
	t_is "$name: error" "$(t_json 'j["error"]')" "$error"
	t_is "$name: no-store" "$(t_header Cache-Control)" no-store
	if [ "$status" = 401 ]; then
		t_like "$name: WWW-Authenticate" "$(t_header WWW-Authenticate)" '^Basic '
	else
		t_like "$name: error_description" "$(t_json 'j["error_description"]')" '^[^<].'
	fi
done <<<"$cases"
t_is "SQL metacharacters left the tables alone" \
    "$(t_sql 'SELECT COUNT(*) FROM identities' auth)" 1

# --- malformed Basic credentials ----------------------------------------------------
for hdr in "Basic" "Basic !!!!" "Basic $(printf 'no-colon' | base64)" "Bearer abc"; do
	FCGI_EXTRA="HTTP_AUTHORIZATION=$hdr" auth_post /auth/token grant_type=client_credentials
	t_is "Authorization: $hdr: 401" "$T_STATUS" 401
	t_is "Authorization: $hdr: invalid_client" "$(t_json 'j["error"]')" invalid_client
	t_is "Authorization: $hdr: no-store" "$(t_header Cache-Control)" no-store
done
# RFC 6749 §2.3.1: id and secret are form-encoded inside Basic.
auth_post /auth/token grant_type=client_credentials \
    "service:$(enc "$AGORA_SERVICE_CLIENT_SECRET")"
t_is "Basic with form-encoded secret works" "$T_STATUS" 200

# --- content types and sizes ----------------------------------------------------------
FCGI_CTYPE=application/json auth_post /auth/token '{"grant_type":"client_credentials"}' "$SVC"
t_is "JSON body: 400" "$T_STATUS" 400
t_is "JSON body: invalid_request" "$(t_json 'j["error"]')" invalid_request
FCGI_CTYPE='application/x-www-form-urlencoded; charset=UTF-8' \
    auth_post /auth/token grant_type=client_credentials "$SVC"
t_is "form with charset parameter: 200" "$T_STATUS" 200
t_fcgi POST /auth/token ''
t_is "no body: 400" "$T_STATUS" 400
head -c 20000 /dev/zero | tr '\0' a >"$TMP/big"
auth_post /auth/token "@$TMP/big" "$SVC"
t_is "body over 16K: 413" "$T_STATUS" 413
t_fcgi GET /auth/token
t_problem "GET /auth/token" 405
t_fcgi GET /auth/nothing
t_problem "unknown path" 404

# --- introspection and revocation -----------------------------------------------------
auth_post /auth/introspect "" "$SVC"
t_is "introspect without token: invalid_request" "$(t_json 'j["error"]')" invalid_request
auth_post /auth/introspect "token=x" "service:bad"
t_is "introspect bad secret: 401" "$T_STATUS" 401
auth_post /auth/introspect "token=$(enc "' OR 1=1 --")" "$SVC"
t_is "introspect SQL metacharacters: inactive" "$(t_json 'j')" '{"active":false}'
auth_post /auth/introspect "token=$(printf 'a.%.0s' {1..5000})b" "$SVC"
t_is "introspect huge token: inactive" "$(t_json 'j')" '{"active":false}'
auth_post /auth/introspect "token=e30.e30.e30" "$SVC"
t_is "introspect junk JWT: inactive" "$(t_json 'j["active"]')" false
auth_post /auth/revoke "client_id=web"
t_is "revoke without token: invalid_request" "$(t_json 'j["error"]')" invalid_request
auth_post /auth/revoke "token=x"
t_is "revoke without client: 401" "$T_STATUS" 401

# --- identities: problem+json ------------------------------------------------------------
svc() { FCGI_USER=users FCGI_ROLES=service t_fcgi POST /auth/identities "$@"; }
t_fcgi POST /auth/identities '{"username": "x", "password": "12345678"}'
t_problem "identities without identity" 401
svc '{"username": '
t_problem "identities: malformed JSON" 400
svc '{"username": 5, "password": "short", "roles": ["root"], "extra": 1}'
t_problem "identities: every field wrong" 422
t_is "identities: all four errors listed" \
    "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["extra","password","roles","username"]'
svc "{\"username\": \"$(printf 'u%.0s' {1..200})\", \"password\": \"12345678\"}"
t_problem "identities: username too long" 422
svc '{"username": "a\u0001b", "password": "12345678"}'
t_problem "identities: control characters" 422
svc "{\"username\": \"robert'); DROP TABLE identities;--\", \"password\": \"12345678\"}"
t_is "identities: SQL metacharacters are data" "$T_STATUS" 201
FCGI_USER=users FCGI_ROLES=service t_fcgi DELETE "/auth/identities/1'%20OR%201=1"
t_problem "delete: SQL in the id" 404
FCGI_USER=users FCGI_ROLES=service t_fcgi DELETE /auth/identities/99999999999999999999999
t_problem "delete: overflowing id" 404

t_done
