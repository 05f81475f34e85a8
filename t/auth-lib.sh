# t/auth-lib.sh: what the t/auth-*.sh scripts share.  Source it after
# t/lib.sh and t/lib-fcgi.sh.
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
