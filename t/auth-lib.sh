# t/auth-lib.sh: what the t/auth-*.sh scripts share.  Source it after
# t/lib.sh, and t/lib-fcgi.sh for the cgi-fcgi helpers; the gw_* helpers
# at the end go through the gateway instead (t/platform-flow.sh).
#
#   auth_start [PROCESSES]   MariaDB, a master key, `agora-auth -B` (its
#	output in $TMP/bootstrap.env, sourced: $AGORA_SERVICE_CLIENT_SECRET,
#	$AGORA_ADMIN_PASSWORD), then agora-auth under spawn-fcgi
#   auth_post PATH BODY [AUTH]   a form POST; AUTH "id:secret" adds
#	client_secret_basic credentials
#   auth_login USER PASS     password grant with the public client "web";
#	sets $AT (access token) and $RT (refresh token)
#   jwt_part TOKEN N         the decoded JSON of part N (0 header, 1 claims)

AUTH_PROG=$top_builddir/backends/auth/agora-auth

auth_start()
{
	local n=${1:-1}
	t_mariadb_start
	head -c 48 /dev/urandom >"$T_SECRETS/master-key"
	export AGORA_MASTER_KEY_FILE=$T_SECRETS/master-key
	# A cheaper scrypt keeps the suite fast; the format stays the same.
	export AGORA_AUTH_SCRYPT_N=${AGORA_AUTH_SCRYPT_N:-16384}
	export AGORA_AUTH_ISSUER=http://127.0.0.1:8080
	t_log_add "$TMP/bootstrap.err"
	AGORA_DB_SOCKET=$T_DBSOCK \
	    AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password \
	    "$AUTH_PROG" -B >"$TMP/bootstrap.env" 2>"$TMP/bootstrap.err" ||
	    { cat "$TMP/bootstrap.err" >&2; t_bail "agora-auth -B failed"; }
	# shellcheck disable=SC1091
	. "$TMP/bootstrap.env"
	t_service_start auth "$n"
}

auth_post()
{
	local path=$1 body=$2 auth=${3:-} extra=${FCGI_EXTRA:-}
	if [ -n "$auth" ]; then
		extra+=$'\n'"HTTP_AUTHORIZATION=Basic $(printf '%s' "$auth" |
		    base64 -w 0)"
	fi
	FCGI_EXTRA=$extra FCGI_CTYPE=${FCGI_CTYPE:-application/x-www-form-urlencoded} \
	    t_fcgi POST "$path" "$body"
}

auth_login()
{
	auth_post /auth/token "grant_type=password&client_id=web&username=$1&password=$2"
	AT=$(t_json 'j.get("access_token", "")')
	RT=$(t_json 'j.get("refresh_token", "")')
}

jwt_part()
{
	"$PY" -c 'import base64, sys
p = sys.argv[1].split(".")[int(sys.argv[2])]
sys.stdout.write(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$1" "$2"
}

# jwt_claim TOKEN EXPR: EXPR over c, the claims (h: the header).
jwt_claim()
{
	"$PY" - "$1" "$2" <<'PYEOF'
import base64, json, sys
def part(i):
    p = sys.argv[1].split(".")[i]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
try:
    v = eval(sys.argv[2], {"h": part(0), "c": part(1), "len": len})
except Exception as e:
    v = "<error: %s>" % e
sys.stdout.write(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
PYEOF
}

# --- through the gateway ($T_URL, after t_gateway_start and
# t_auth_bootstrap), the way a shop's client asks for tokens.
#
#   gw_form K V [K V]...     an application/x-www-form-urlencoded body
#   gw_token K V [K V]...    POST /api/auth/token with that form (no
#	bearer token); the answer is the last response
#   gw_login USER PASS       password grant, client "web": $AT and $RT
#	(empty when refused; $T_STATUS says why)
#   gw_refresh RT            refresh_token grant, client "web": $AT, $RT
#   gw_service_token         client_credentials of the "service" client
#	(secret from t_auth_bootstrap's output): $T_SERVICE_TOKEN

gw_form()
{
	"$PY" -c 'import sys, urllib.parse
a = sys.argv[1:]
print(urllib.parse.urlencode(list(zip(a[0::2], a[1::2]))))' "$@"
}

gw_token()
{
	T_TOKEN='' t_http POST "$T_URL/api/auth/token" "$(gw_form "$@")" \
	    -H 'Content-Type: application/x-www-form-urlencoded'
}

gw__tokens()
{
	AT=$(t_json 'j.get("access_token", "")')
	RT=$(t_json 'j.get("refresh_token", "")')
	case $AT in "<error"*) AT= ;; esac
	case $RT in "<error"*) RT= ;; esac
}

gw_login()
{
	gw_token grant_type password client_id web username "$1" \
	    password "$2"
	gw__tokens
}

gw_refresh()
{
	gw_token grant_type refresh_token client_id web refresh_token "$1"
	gw__tokens
}

gw_service_token()
{
	local id secret
	[ -n "${T_SERVICE_TOKEN:-}" ] && return 0
	t_auth_bootstrap
	id=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_SERVICE_CLIENT_ID")
	secret=$(. "$TMP/auth-bootstrap.env"
	    echo "$AGORA_SERVICE_CLIENT_SECRET")
	gw_token grant_type client_credentials client_id "$id" \
	    client_secret "$secret"
	T_SERVICE_TOKEN=$(t_json 'j.get("access_token", "")')
	[ "$T_STATUS" = 200 ] ||
	    t_bail "gw_service_token: client_credentials got $T_STATUS"
	export T_SERVICE_TOKEN
}
