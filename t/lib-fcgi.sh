# t/lib-fcgi.sh: talk FastCGI to a service directly, without the gateway,
# so a test can set the identity params (REMOTE_USER, AUTH_ROLES) that
# only the gateway may set.  Source it after t/lib.sh:
#
#	. "$top_srcdir/t/lib.sh"
#	. "$top_srcdir/t/lib-fcgi.sh"
#
#   t_service_start NAME [PROCESSES]   spawn-fcgi -F N agora-NAME on a unix
#       socket in $TMP (needs t_mariadb_start first); sets T_FCGI_SOCK and
#       T_FCGI_PIDS; the processes are stopped by pid on exit
#   t_fcgi METHOD PATH [BODY|@FILE]    one request through cgi-fcgi; sets
#       T_STATUS and leaves the response where t_body, t_header, t_json and
#       t_problem (t/lib.sh) read it.  The params come from a clean
#       environment (env -i), plus these variables when set:
#         FCGI_USER -> REMOTE_USER, FCGI_ROLES -> AUTH_ROLES,
#         FCGI_SCOPE -> AUTH_SCOPE, FCGI_KEY -> HTTP_IDEMPOTENCY_KEY,
#         FCGI_CTYPE (default application/json), FCGI_QUERY -> QUERY_STRING,
#         FCGI_EXTRA: more NAME=VALUE params, one a line
#   t_fcgi_bg OUT METHOD PATH [BODY]   the same in the background: OUT gets
#       the raw response; T_LAST_PID is the pid
#   t_fcgi_status FILE                 the status of a raw response file
#
# cgi-fcgi comes from Debian's libfcgi-bin.

T_CGI_FCGI=$(t__find cgi-fcgi) ||
    t_skip_all "cgi-fcgi not found (install libfcgi-bin)"
T_SPAWN_FCGI=$(t__find spawn-fcgi) ||
    t_skip_all "spawn-fcgi not found (install spawn-fcgi)"

t_service_start()
{
	local name=$1 n=${2:-1} prog pid i
	prog=$top_builddir/backends/$name/agora-$name
	[ -x "$prog" ] || t_bail "$prog not built"
	mkdir -p "$TMP/run" "$TMP/log"
	T_FCGI_SOCK=$TMP/run/$name.sock
	T_FCGI_LOG=$TMP/log/$name.log
	t_log_add "$T_FCGI_LOG"
	# spawn-fcgi forks N children that share the socket, writes their
	# pids to the pid file and exits.
	AGORA_DB_SOCKET=$T_DBSOCK \
	    AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password \
	    "$T_SPAWN_FCGI" -s "$T_FCGI_SOCK" -F "$n" \
	    -P "$TMP/run/$name.pids" -- "$prog" ${T_VERBOSE:+-v} \
	    </dev/null >>"$T_FCGI_LOG" 2>&1 ||
	    t_bail "spawn-fcgi $name failed"
	T_FCGI_PIDS=()
	# The file's last pid has no newline.
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c . "$TMP/run/$name.pids" 2>/dev/null)" -ge "$n" ] &&
		    break
		sleep 0.1
	done
	while read -r pid || [ -n "$pid" ]; do
		[ -n "$pid" ] || continue
		T_FCGI_PIDS+=("$pid")
		# t/lib.sh stops everything in t__pids from its EXIT trap.
		t__pids+=("$pid")
	done <"$TMP/run/$name.pids"
	[ "${#T_FCGI_PIDS[@]}" -eq "$n" ] ||
	    t_bail "spawn-fcgi started ${#T_FCGI_PIDS[@]} of $n $name processes"
	[ -S "$T_FCGI_SOCK" ] || t_bail "no socket $T_FCGI_SOCK"
	return 0
}

# t__fcgi_run OUT METHOD PATH [BODY|@FILE]: the request, raw response in OUT.
t__fcgi_run()
{
	local out=$1 method=$2 path=$3 body=${4-} bodyfile
	local env=(REQUEST_METHOD="$method" PATH_INFO="$path"
	    SCRIPT_NAME=/api REQUEST_URI="/api$path"
	    QUERY_STRING="${FCGI_QUERY:-}" GATEWAY_INTERFACE=CGI/1.1
	    SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1
	    REQUEST_ID="t-$$-$RANDOM")
	bodyfile=$out.req
	case $body in
	@*)	cp "${body#@}" "$bodyfile" ;;
	*)	printf '%s' "$body" >"$bodyfile" ;;
	esac
	if [ -n "$body" ]; then
		env+=(CONTENT_TYPE="${FCGI_CTYPE-application/json}"
		    CONTENT_LENGTH="$(wc -c <"$bodyfile")")
	fi
	[ -z "${FCGI_USER:-}" ] || env+=(REMOTE_USER="$FCGI_USER"
	    AUTH_TYPE=Bearer)
	[ -z "${FCGI_ROLES:-}" ] || env+=(AUTH_ROLES="$FCGI_ROLES")
	[ -z "${FCGI_SCOPE:-}" ] || env+=(AUTH_SCOPE="$FCGI_SCOPE")
	[ -z "${FCGI_KEY:-}" ] || env+=(HTTP_IDEMPOTENCY_KEY="$FCGI_KEY")
	local line
	while IFS= read -r line; do
		[ -z "$line" ] || env+=("$line")
	done <<<"${FCGI_EXTRA:-}"
	timeout "${T_HTTP_TIMEOUT:-10}" env -i "${env[@]}" \
	    "$T_CGI_FCGI" -bind -connect "$T_FCGI_SOCK" \
	    <"$bodyfile" >"$out" 2>"$out.err"
}

# t_fcgi_status FILE: the status of a raw CGI response ("000": none).
t_fcgi_status()
{
	local s
	s=$(sed -n '1,/^\r\{0,1\}$/s/^Status: \([0-9][0-9][0-9]\).*/\1/p' \
	    "$1" 2>/dev/null | head -n 1)
	echo "${s:-000}"
}

t_fcgi()
{
	t__fcgi_run "$TMP/resp.raw" "$@"
	"$PY" - "$TMP/resp.raw" "$TMP/resp.headers" "$TMP/resp.body" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
h, _, b = d.partition(b"\r\n\r\n")
open(sys.argv[2], "wb").write(h + b"\r\n")
open(sys.argv[3], "wb").write(b)
EOF
	T_STATUS=$(t_fcgi_status "$TMP/resp.raw")
	return 0
}

t_fcgi_bg()
{
	local out=$1
	shift
	t__fcgi_run "$out" "$@" &
	T_LAST_PID=$!
}
