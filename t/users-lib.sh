# t/users-lib.sh: what the t/users-*.sh scripts share.  Source it after
# t/lib.sh (and t/lib-fcgi.sh for the cgi-fcgi helpers); it sources
# t/auth-lib.sh, whose gw_* helpers work through the gateway.
#
#   users_start          MariaDB, agora-auth (bootstrapped) and agora-users
#	under spawn-fcgi; $AUTH_SOCK, $AUTH_PIDS, $USERS_SOCK; agora-users
#	gets AGORA_AUTH_SOCKET=$AUTH_SOCK and the same master key file
#   users METHOD PATH [BODY]       t_fcgi against agora-users
#   auth_as METHOD PATH [BODY]     t_fcgi against agora-auth
#   users_register EMAIL PASS NAME  POST /users; $SUB is the new id
#   users_login EMAIL PASS         password grant at auth; $AT, $RT
#   as_user SUB                    sets FCGI_USER/FCGI_ROLES for a customer
#   users_auth_stop / users_auth_start   stop (by pid) and restart auth
#   hex STRING                     uppercase hex of STRING, as SQL HEX()
#   gw_register EMAIL PASS NAME [PHONE]  the same through the gateway

# shellcheck source=t/auth-lib.sh
. "$top_srcdir/t/auth-lib.sh"

users_start()
{
	auth_start 1
	AUTH_SOCK=$T_FCGI_SOCK
	AUTH_PIDS=("${T_FCGI_PIDS[@]}")
	export AGORA_AUTH_SOCKET=$AUTH_SOCK
	export AGORA_AUTH_TIMEOUT=${AGORA_AUTH_TIMEOUT:-5000}
	t_service_start users 1
	USERS_SOCK=$T_FCGI_SOCK
}

users()
{
	T_FCGI_SOCK=$USERS_SOCK t_fcgi "$@"
}

auth_as()
{
	T_FCGI_SOCK=$AUTH_SOCK t_fcgi "$@"
}

users_register()
{
	local body
	body=$("$PY" -c 'import json, sys
print(json.dumps({"email": sys.argv[1], "password": sys.argv[2],
    "name": sys.argv[3]}))' "$1" "$2" "$3")
	FCGI_USER='' FCGI_ROLES='' users POST /users "$body"
	SUB=$(t_json 'j.get("id", "")')
}

users_login()
{
	local saved=$T_FCGI_SOCK
	T_FCGI_SOCK=$AUTH_SOCK
	FCGI_USER='' FCGI_ROLES='' auth_login "$1" "$2"
	T_FCGI_SOCK=$saved
}

as_user()
{
	FCGI_USER=$1
	FCGI_ROLES=${2:-customer}
}

users_auth_stop()
{
	local pid
	for pid in "${AUTH_PIDS[@]}"; do
		t_stop "$pid"
	done
}

users_auth_start()
{
	local saved=$T_FCGI_SOCK
	rm -f "$AUTH_SOCK"
	t_service_start auth 1
	AUTH_PIDS=("${T_FCGI_PIDS[@]}")
	T_FCGI_SOCK=$saved
}

hex()
{
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n' | tr a-f A-F
}

# --- through the gateway ($T_URL):
#   gw_register EMAIL PASS NAME [PHONE]   POST /api/users without a
#	token; $SUB is the new subject (empty when refused)
gw_register()
{
	local body
	body=$("$PY" -c 'import json, sys
d = {"email": sys.argv[1], "password": sys.argv[2], "name": sys.argv[3]}
if len(sys.argv) > 4:
    d["phone"] = sys.argv[4]
print(json.dumps(d))' "$@")
	T_TOKEN='' t_http POST "$T_URL/api/users" "$body"
	SUB=
	[ "$T_STATUS" = 201 ] && SUB=$(t_json 'j["id"]')
	return 0
}
