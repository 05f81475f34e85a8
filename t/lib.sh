# t/lib.sh: the harness every integration script sources.
#
#	. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
#
# Scripts speak TAP (automake's tap-driver).  The library gives them:
#   TAP		t_plan N, t_ok NAME CMD..., t_is NAME GOT WANT,
#		t_like NAME GOT ERE, t_pass NAME, t_fail NAME [WHY],
#		t_diag MSG, t_done, t_skip_all REASON, t_bail REASON;
#		T_TODO="why" t_is ...: a known gap (XFAIL; once fixed it is
#		an XPASS, which fails, so the TODO gets removed)
#   files	$TMP, private to the test, removed on exit (T_KEEP=1 keeps it)
#   processes	t_spawn NAME LOG CMD..., t_stop PID [SECS], t_alive PID
#   HTTP	t_free_port, t_wait_http URL [STATUS] [SECS],
#		t_http METHOD URL [BODY|@FILE|--] [curl args...] -> $T_STATUS,
#		t_body, t_header NAME, t_json EXPR, t_problem NAME STATUS,
#		t_curl_bg OUT URL [curl args...]
#   MariaDB	t_mariadb_start [--seed] -> $T_DBSOCK, $T_SECRETS;
#		t_sql SQL [DB], t_sql_as_agora SQL [DB], t_sql_file FILE
#   gateway	t_gateway_start [CONFIG] [-D name=value]... -> $T_URL,
#		$T_ADMIN_URL, $T_GATEWAY_PID; t_gateway_stop,
#		t_gateway_children; t_conf FILE [GLOBAL] [SERVICE] writes a
#		catalog config; t_fixture_conf FILE [SERVICE] one whose
#		"catalog" is a scriptable FastCGI fixture (t_fcgi_fixture);
#		t_master_key [DIR] (t_gateway_start makes one for agora-auth)
#   tokens	t_admin_token (after t_gateway_start with the shipped config)
#		-> $T_ADMIN_TOKEN; t_http sends "Authorization: Bearer
#		$T_TOKEN" when T_TOKEN is set (T_TOKEN=$T_ADMIN_TOKEN t_http ...)
# Everything it starts is stopped by pid from the EXIT trap (TERM, a
# bounded wait, then KILL); nothing is ever looked up by name.  When a
# test fails, the tails of the logs it recorded are printed as TAP
# comments.  Set T_VERBOSE=1 to run the gateway with -v.
#
# automake exports top_srcdir and top_builddir (absolute).  By hand, from
# the source tree, against a build directory:
#	top_builddir=/work/build/x bash t/catalog-crud.sh

set -u

if [ -z "${top_srcdir:-}" ]; then
	top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

PY=/usr/bin/python3
CURL=${CURL:-curl}

t__n=0			# tests run
t__failed=0		# tests failed
t__planned=		# the plan, when t_plan was called
t__pids=()		# what we started, in order
t__logs=()		# logs worth printing on failure

# --- TAP -----------------------------------------------------------------

t_plan()
{
	t__planned=$1
	echo "1..$1"
}

t_diag()
{
	local line
	while IFS= read -r line; do
		echo "# $line"
	done <<<"$*"
}

t__result()	# ok(0|1) name
{
	t__n=$((t__n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $t__n - $2${T_TODO:+ # TODO $T_TODO}"
	else
		[ -n "${T_TODO:-}" ] || t__failed=$((t__failed + 1))
		echo "not ok $t__n - $2${T_TODO:+ # TODO $T_TODO}"
	fi
}

# t_ok NAME CMD...: passes when CMD exits 0.
t_ok()
{
	local name=$1
	shift
	if "$@"; then
		t__result 0 "$name"
	else
		t__result 1 "$name"
		t_diag "command failed: $*"
		return 1
	fi
}

# t_is NAME GOT WANT: exact string comparison.
t_is()
{
	if [ "$2" == "$3" ]; then
		t__result 0 "$1"
	else
		t__result 1 "$1"
		t_diag "     got: '$2'"
		t_diag "expected: '$3'"
		return 1
	fi
}

# t_like NAME GOT ERE: GOT matches the extended regular expression.
t_like()
{
	if [[ $2 =~ $3 ]]; then
		t__result 0 "$1"
	else
		t__result 1 "$1"
		t_diag "     got: '$2'"
		t_diag "expected to match: $3"
		return 1
	fi
}

# t_pass NAME / t_fail NAME [why]: a result decided by the caller.
t_pass()
{
	t__result 0 "$1"
}

t_fail()
{
	t__result 1 "$1"
	[ $# -lt 2 ] || t_diag "$2"
	return 1
}

# t_done: ends the test; prints the plan when t_plan was not called.
t_done()
{
	t__stop_all
	t__sanitizer_check || t__failed=$((t__failed + 1))
	if [ -z "$t__planned" ]; then
		echo "1..$t__n"
	elif [ "$t__planned" -ne "$t__n" ]; then
		t_diag "planned $t__planned tests but ran $t__n"
		t__failed=$((t__failed + 1))
	fi
	[ "$t__failed" -eq 0 ] && exit 0
	exit 1
}

# t_skip_all REASON: nothing can run here.  Under CI a skip is a failure.
t_skip_all()
{
	if [ -n "${CI:-}" ]; then
		echo "1..1"
		echo "not ok 1 - cannot run under CI: $*"
		t__failed=1
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 0
}

# t_bail REASON: the harness itself broke (a server would not start...).
t_bail()
{
	t__failed=$((t__failed + 1))
	echo "Bail out! $*"
	exit 1
}

# --- temp dir, logs, processes ------------------------------------------

# unix socket paths must stay short (sun_path is 108 bytes).
t__tmpbase=${TMPDIR:-/tmp}
[ ${#t__tmpbase} -le 60 ] || t__tmpbase=/tmp
TMP=$(mktemp -d "$t__tmpbase/agora-t.XXXXXX") || t_bail "mktemp failed"
export TMP

t_log_add()
{
	t__logs+=("$1")
}

# t_spawn NAME LOG CMD...: start CMD in the background with stdout and
# stderr in LOG; its pid is remembered for the cleanup and printed.
t_spawn()
{
	local name=$1 log=$2
	shift 2
	"$@" </dev/null >"$log" 2>&1 &
	local pid=$!
	t__pids+=("$pid")
	t_log_add "$log"
	T_LAST_PID=$pid
}

t_alive()
{
	kill -0 "$1" 2>/dev/null
}

t__gone()	# pid: exited (a zombie child of ours counts as gone)
{
	local st
	t_alive "$1" || return 0
	st=$(ps -o stat= -p "$1" 2>/dev/null)
	case $st in Z*|"") return 0 ;; esac
	return 1
}

# t_stop PID [SECS]: TERM, wait up to SECS (default 15), then KILL.
t_stop()
{
	local pid=$1 secs=${2:-15} i
	if ! t__gone "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < secs * 10; i++)); do
			t__gone "$pid" && break
			sleep 0.1
		done
		if ! t__gone "$pid"; then
			t_diag "pid $pid ignored TERM for ${secs}s, sending KILL"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null
	return 0
}

t__children()	# pid -> its children's pids
{
	pgrep -P "$1" 2>/dev/null || true
}

# t__stop_all: stop what we started, in reverse order (the gateway before
# the database it needs).
t__stop_all()
{
	local i pid kids k
	for ((i = ${#t__pids[@]} - 1; i >= 0; i--)); do
		pid=${t__pids[i]}
		kids=$(t__children "$pid")
		t_stop "$pid"
		# a gateway that died badly may leave its services behind
		for k in $kids; do
			t__gone "$k" || t_stop "$k" 5
		done
	done
	t__pids=()
}

# t__sanitizer_check: a sanitizer build's reports land in the logs; any
# report fails the test.
t__sanitizer_check()
{
	local log hits rc=0
	for log in "${t__logs[@]}"; do
		[ -f "$log" ] || continue
		hits=$(grep -a -m 5 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log")
		[ -n "$hits" ] || continue
		t_diag "sanitizer report in ${log#"$TMP"/}:"
		t_diag "$hits"
		rc=1
	done
	return "$rc"
}

t__cleanup()
{
	local rc=$? log
	trap - EXIT INT TERM
	t__stop_all
	if [ "$rc" -ne 0 ] || [ "$t__failed" -ne 0 ]; then
		for log in "${t__logs[@]}"; do
			[ -s "$log" ] || continue
			echo "# --- tail of ${log#"$TMP"/}"
			tail -n 40 "$log" | sed 's/^/#   /'
		done
	fi
	if [ -n "${T_KEEP:-}" ]; then
		echo "# kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap t__cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports and HTTP --------------------------------------------------------

# t_free_port: a free TCP port on 127.0.0.1, never the same one twice in
# one test (kept in $TMP/ports: callers run it in a subshell).  It comes
# from below the kernel's ephemeral range (ip_local_port_range,
# 32768-60999 by default), as in bench/proxy.sh: a port in that range may
# become the local end of some outgoing connection between this check and
# the server's bind (a rare EADDRINUSE).
t_free_port()
{
	local lo=20000 hi=32767 eph p i
	{ read -r eph _ </proc/sys/net/ipv4/ip_local_port_range; } 2>/dev/null
	[ "${eph:-0}" -gt 1024 ] && [ "$hi" -ge "$eph" ] && hi=$((eph - 1))
	[ "$hi" -lt $((lo + 1000)) ] && lo=1024
	for ((i = 0; i < 200; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		grep -qx "$p" "$TMP/ports" 2>/dev/null && continue
		if [ -x "$PY" ]; then
			# a bind, without SO_REUSEADDR: listening, bound or
			# in TIME_WAIT there all refuse it
			"$PY" -c 'import socket, sys
socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$p" \
			    2>/dev/null || continue
		else
			# refused means nobody listens there
			(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
			    continue
		fi
		echo "$p" >>"$TMP/ports"
		echo "$p"
		return 0
	done
	t_bail "t_free_port: no free port"
}

# t_results FILE: reports each line "PASS|FAIL<TAB>name<TAB>why<TAB>todo"
# of FILE (what a table-driven checker wrote) as a test; their count in
# T_RESULTS.
t_results()
{
	local verdict name why todo n=0
	while IFS=$'\t' read -r verdict name why todo; do
		n=$((n + 1))
		if [ "$verdict" = PASS ]; then
			T_TODO=$todo t_pass "$name"
		else
			T_TODO=$todo t_fail "$name" "$why"
		fi
	done <"$1"
	T_RESULTS=$n
}

# t_gateway_reload: SIGHUP the gateway, then wait (up to 5 s) for the
# log line that ends the reload, applied or refused; 0, or 1.
t_gateway_reload()
{
	local n i
	n=$(grep -c -E 'reloaded: generation|keeping the running' \
	    "$T_GATEWAY_LOG")
	kill -HUP "$T_GATEWAY_PID"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c -E 'reloaded: generation|keeping the running' \
		    "$T_GATEWAY_LOG")" -gt "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

# t_pool_is SERVICE BUSY [QUEUED]: wait (up to 10 s) until the admin
# listener's /status.json shows SERVICE's pool with BUSY requests on its
# processes (and QUEUED waiting, when given); 0, or 1 with a diagnostic.
# Concurrent steps are ordered by the gateway's state, not by sleeps.
t_pool_is()
{
	local i got want="[$2,${3:-0}]" expr
	expr='[(s["pool"]["busy"], s["pool"]["queued"]) for s in j["services"]
	    if s["name"] == "'"$1"'"][0]'
	[ $# -lt 3 ] && expr='[(s["pool"]["busy"], 0) for s in j["services"]
	    if s["name"] == "'"$1"'"][0]'
	for ((i = 0; i < 200; i++)); do
		"$CURL" -s --max-time 2 -o "$TMP/pool-status.json" \
		    "$T_ADMIN_URL/status.json"
		got=$(t_json "$expr" "$TMP/pool-status.json")
		[ "$got" = "$want" ] && return 0
		sleep 0.05
	done
	t_diag "t_pool_is $*: the pool shows $got"
	return 1
}

# t_wait_http URL [STATUS] [SECS]: poll until URL answers (with STATUS
# when given; "" means any status) or SECS (default 15) pass.
t_wait_http()
{
	local url=$1 want=${2:-} secs=${3:-15} code i
	for ((i = 0; i < secs * 10; i++)); do
		code=$("$CURL" -s -o /dev/null --max-time 1 -w '%{http_code}' \
		    "$url" 2>/dev/null)
		if [ "$code" != 000 ] && [ -n "$code" ]; then
			[ -z "$want" ] || [ "$code" = "$want" ] && return 0
		fi
		sleep 0.1
	done
	t_diag "t_wait_http: $url did not answer ${want:-} within ${secs}s" \
	    "(last status $code)"
	return 1
}

# t_http METHOD URL [BODY|@FILE|-] [curl args...]: one request, bounded in
# time.  Sets T_STATUS (000 when no answer); t_body and t_header read the
# response.  A BODY is sent as application/json unless the args set
# another Content-Type.
t_http()
{
	local method=$1 url=$2 body=
	shift 2
	local args=(-s -S --max-time "${T_HTTP_TIMEOUT:-10}" -X "$method"
	    -o "$TMP/resp.body" -D "$TMP/resp.headers" -w '%{http_code}')
	if [ $# -gt 0 ] && [ "$1" != -- ]; then
		body=$1
		shift
		case $body in
		@*)	args+=(--data-binary "$body") ;;
		*)	printf '%s' "$body" >"$TMP/req.body"
			args+=(--data-binary "@$TMP/req.body") ;;
		esac
		[[ ${*,,} == *content-type:* ]] ||
		    args+=(-H 'Content-Type: application/json')
	elif [ $# -gt 0 ]; then
		shift
	fi
	[ -z "${T_TOKEN:-}" ] ||
	    args+=(-H "Authorization: Bearer $T_TOKEN")
	: >"$TMP/resp.body"
	: >"$TMP/resp.headers"
	T_STATUS=$("$CURL" "${args[@]}" "$@" "$url" 2>"$TMP/resp.err")
	[ -n "$T_STATUS" ] || T_STATUS=000
	return 0
}

t_body()
{
	cat "$TMP/resp.body"
}

# t_header NAME: the value of NAME in the last response (last one wins).
t_header()
{
	awk -v h="$1" 'BEGIN { h = tolower(h) ":" }
	    { sub(/\r$/, "") }
	    tolower(substr($0, 1, length(h))) == h {
		v = substr($0, length(h) + 1); sub(/^[ \t]+/, "", v); last = v }
	    END { printf "%s", last }' "$TMP/resp.headers"
}

# t_json EXPR [FILE]: evaluate a Python expression over j, the JSON of the
# last response body (or FILE).  Strings print raw, None prints "null",
# anything else as compact JSON; an error prints "<error: ...>".
t_json()
{
	"$PY" - "$1" "${2:-$TMP/resp.body}" <<'EOF'
import json, sys
expr, path = sys.argv[1], sys.argv[2]
try:
    with open(path, "rb") as f:
        j = json.loads(f.read().decode("utf-8"))
    v = eval(expr, {"j": j, "len": len, "sorted": sorted, "set": set})
except Exception as e:
    v = "<error: %s: %s>" % (type(e).__name__, e)
if isinstance(v, str):
    sys.stdout.write(v)
elif v is None:
    sys.stdout.write("null")
else:
    sys.stdout.write(json.dumps(v, separators=(",", ":"),
                                ensure_ascii=False))
EOF
}

# t_problem NAME STATUS: the last response is STATUS with an RFC 9457
# application/problem+json body whose "status" member agrees.
t_problem()
{
	local name=$1 want=$2
	t_is "$name: status" "$T_STATUS" "$want"
	t_like "$name: Content-Type" "$(t_header Content-Type)" \
	    '^application/problem\+json'
	t_is "$name: body status" "$(t_json 'j["status"]')" "$want"
	t_like "$name: body title" "$(t_json 'j["title"]')" '^[A-Z]'
}

# --- MariaDB -----------------------------------------------------------------

t__find()	# name... -> first one found on PATH or in the sbin dirs
{
	local n d
	for n in "$@"; do
		for d in ${PATH//:/ } /usr/sbin /usr/bin /usr/local/sbin \
		    /usr/local/bin; do
			if [ -x "$d/$n" ]; then
				echo "$d/$n"
				return 0
			fi
		done
	done
	return 1
}

# Small footprint: tests need correctness, not throughput.
T_MARIADB_FLAGS=(
	--innodb-buffer-pool-size=32M
	--innodb-log-file-size=8M
	--innodb-log-buffer-size=1M
	--innodb-flush-log-at-trx-commit=2
	--innodb-doublewrite=0
	--innodb-use-native-aio=0
	--performance-schema=OFF
	--key-buffer-size=1M
	--max-connections=64
	--skip-name-resolve
	--character-set-server=utf8mb4
	--collation-server=utf8mb4_general_ci
)

# t_mariadb_start [--seed]: a private mariadbd on $T_DBSOCK with every
# sql/*.sql loaded (and sql/seed/*.sql with --seed), user agora with the
# password in $T_SECRETS/db-password, granted ALL on each service database.
t_mariadb_start()
{
	local seed= db=$TMP/db user=() f i
	[ "${1:-}" = --seed ] && seed=1
	T_MARIADBD=$(t__find mariadbd mysqld) &&
	    T_MARIADB_INSTALL=$(t__find mariadb-install-db mysql_install_db) &&
	    T_MARIADB=$(t__find mariadb mysql) &&
	    T_MARIADB_ADMIN=$(t__find mariadb-admin mysqladmin) ||
	    t_skip_all "MariaDB server binaries not found" \
	    "(install mariadb-server and mariadb-client)"
	[ "$(id -u)" -eq 0 ] && user=(--user=root)

	mkdir -p "$db/data" "$db/tmp" "$TMP/secrets"
	t_log_add "$db/client.log"
	chmod 700 "$db" "$TMP/secrets"
	T_DBSOCK=$db/sock
	T_SECRETS=$TMP/secrets
	export T_DBSOCK T_SECRETS

	if ! "$T_MARIADB_INSTALL" --no-defaults "${user[@]}" \
	    --auth-root-authentication-method=normal --skip-test-db \
	    --datadir="$db/data" --tmpdir="$db/tmp" "${T_MARIADB_FLAGS[@]}" \
	    >"$db/install.log" 2>&1; then
		t_log_add "$db/install.log"
		t_bail "mariadb-install-db failed"
	fi

	t_log_add "$db/error.log"
	t_spawn mariadbd "$db/mariadbd.out" "$T_MARIADBD" --no-defaults \
	    "${user[@]}" --datadir="$db/data" --socket="$T_DBSOCK" \
	    --skip-networking --pid-file="$db/mariadbd.pid" \
	    --tmpdir="$db/tmp" --log-error="$db/error.log" \
	    "${T_MARIADB_FLAGS[@]}"
	T_MARIADBD_PID=$T_LAST_PID

	for ((i = 0; i < 300; i++)); do
		"$T_MARIADB_ADMIN" --no-defaults --socket="$T_DBSOCK" -uroot \
		    --connect-timeout=1 ping >/dev/null 2>&1 && break
		t_alive "$T_MARIADBD_PID" || t_bail "mariadbd exited at startup"
		sleep 0.1
	done
	[ "$i" -lt 300 ] || t_bail "mariadbd did not answer within 30s"

	for f in "$top_srcdir"/sql/*.sql; do
		[ -f "$f" ] || continue
		t_sql_file "$f" || t_bail "loading ${f#"$top_srcdir"/} failed"
	done
	if [ -n "$seed" ]; then
		for f in "$top_srcdir"/sql/seed/*.sql; do
			[ -f "$f" ] || continue
			t_sql_file "$f" ||
			    t_bail "loading ${f#"$top_srcdir"/} failed"
		done
	fi

	# A password without quotes or backslashes needs no SQL escaping.
	T_DBPASS=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' |
	    head -c 24)
	(umask 077 && printf '%s' "$T_DBPASS" >"$T_SECRETS/db-password")
	t_sql "CREATE USER 'agora'@'localhost' IDENTIFIED BY '$T_DBPASS'" ||
	    t_bail "CREATE USER agora failed"
	for f in $(t_service_dbs); do
		t_sql "GRANT ALL ON \`$f\`.* TO 'agora'@'localhost'" ||
		    t_bail "GRANT on $f failed"
	done
	return 0
}

# t_service_dbs: the databases the sql/ files created.
t_service_dbs()
{
	t_sql "SELECT schema_name FROM information_schema.schemata
	    WHERE schema_name NOT IN ('mysql', 'information_schema',
	    'performance_schema', 'sys') ORDER BY 1"
}

# t_sql SQL [DB]: run SQL as root; rows on stdout, tab separated, raw.
t_sql()
{
	"$T_MARIADB" --no-defaults --socket="$T_DBSOCK" -uroot -N -B -r \
	    ${2:+"$2"} -e "$1" 2>>"$TMP/db/client.log"
}

t_sql_file()
{
	"$T_MARIADB" --no-defaults --socket="$T_DBSOCK" -uroot \
	    <"$1" >>"$TMP/db/client.log" 2>&1
}

# t_sql_as_agora SQL [DB]: the same, as the service user.
t_sql_as_agora()
{
	"$T_MARIADB" --no-defaults --socket="$T_DBSOCK" -uagora \
	    -p"$T_DBPASS" -N -B -r ${2:+"$2"} -e "$1" \
	    2>>"$TMP/db/client.log"
}

# --- the gateway ---------------------------------------------------------------

T_GATEWAY=$top_builddir/proxy/agora-gateway

# t_sbindir: a directory of links to the built service programs, because
# they live in per-service build folders (backends/catalog/agora-catalog).
t_sbindir()
{
	local f
	if [ ! -d "$TMP/sbin" ]; then
		mkdir -p "$TMP/sbin"
		for f in "$top_builddir"/backends/*/agora-*; do
			[ -f "$f" ] && [ -x "$f" ] || continue
			ln -s "$f" "$TMP/sbin/${f##*/}"
		done
	fi
	echo "$TMP/sbin"
}

# t_master_key [DIR]: DIR/master-key (default $T_SECRETS), 32 random bytes
# mode 0600, unless it exists; agora-auth (and agora-users) read it.
t_master_key()
{
	local dir=${1:-${T_SECRETS:-$TMP/secrets}}
	[ -s "$dir/master-key" ] && return 0
	mkdir -p "$dir"
	chmod 700 "$dir"
	(umask 077 && head -c 32 /dev/urandom >"$dir/master-key")
}

# t_gateway_start [CONFIG] [-D name=value]...: run agora-gateway with the
# shipped etc/gateway.conf (or CONFIG) and macros pointing into $TMP.  Sets
# T_URL, T_ADMIN_URL, T_HTTP_PORT, T_ADMIN_PORT, T_GATEWAY_PID and
# T_GATEWAY_LOG; waits until /readyz answers 200.  Needs t_mariadb_start
# first (for dbsock and secrets).
t_gateway_start()
{
	local conf=$top_srcdir/etc/gateway.conf out
	if [ $# -gt 0 ] && [ "$1" != -D ]; then
		conf=$1
		shift
	fi
	[ -x "$T_GATEWAY" ] || t_bail "$T_GATEWAY not built"
	[ -f "$conf" ] || t_bail "no config $conf"
	mkdir -p "$TMP/run" "$TMP/log"
	t_master_key "${T_SECRETS:-$TMP/secrets}"
	T_HTTP_PORT=$(t_free_port)
	T_ADMIN_PORT=$(t_free_port)
	T_URL=http://127.0.0.1:$T_HTTP_PORT
	T_ADMIN_URL=http://127.0.0.1:$T_ADMIN_PORT
	T_GATEWAY_LOG=$TMP/log/gateway.log
	T_GATEWAY_ARGS=(-f "$conf"
	    -D "sbindir=$(t_sbindir)"
	    -D "rundir=$TMP/run"
	    -D "rulesdir=$top_srcdir/rules"
	    -D "dbsock=${T_DBSOCK:-$TMP/db/sock}"
	    -D "secrets=${T_SECRETS:-$TMP/secrets}"
	    -D "http_port=$T_HTTP_PORT"
	    -D "admin_port=$T_ADMIN_PORT"
	    -D "workers=2"
	    "$@")
	[ -n "${T_VERBOSE:-}" ] && T_GATEWAY_ARGS+=(-v)

	if ! out=$("$T_GATEWAY" -n "${T_GATEWAY_ARGS[@]}" 2>&1); then
		t_diag "$out"
		t_bail "agora-gateway -n refused ${conf##*/}"
	fi
	t_spawn gateway "$T_GATEWAY_LOG" "$T_GATEWAY" "${T_GATEWAY_ARGS[@]}"
	T_GATEWAY_PID=$T_LAST_PID
	if ! t_wait_http "$T_ADMIN_URL/readyz" 200 20; then
		t_alive "$T_GATEWAY_PID" || t_diag "agora-gateway exited"
		t_bail "agora-gateway did not become ready"
	fi
	return 0
}

# t_gateway_children: pids of the processes the gateway supervises.
t_gateway_children()
{
	t__children "$T_GATEWAY_PID"
}

# t__other_services: service blocks for the other services the shipped
# rules name, socket only (nothing spawned), so that a config of the
# catalog alone still loads rules/agora.lua.  A request routed to one of
# them gets 502.
t__other_services()
{
	local s
	for s in inventory auth users; do
		printf 'service %s {\n\tsocket "${rundir}/%s.sock"\n}\n' \
		    "$s" "$s"
	done
}

# t_conf FILE [GLOBAL_LINES] [SERVICE_LINES]: write a gateway config that
# spawns the catalog like the shipped one does, plus test-specific lines
# (e.g. 'processes 1' / 'queue 1').  It takes the same -D macros.  The
# other services of the shipped rules are declared but not spawned.
t_conf()
{
	cat >"$1" <<CONF
# written by t/lib.sh t_conf for ${0##*/}
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
${2:-}
service catalog {
	socket "\${rundir}/catalog.sock"
	program "\${sbindir}/agora-catalog"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
${3:-}
}
$(t__other_services)
CONF
}

# t_curl_bg OUT URL [curl args...]: one request in the background, bounded
# in time; OUT gets "<status> <seconds>" (status 000: no answer).
t_curl_bg()
{
	local out=$1 url=$2
	shift 2
	"$CURL" -s -o /dev/null --max-time "${T_HTTP_TIMEOUT:-10}" \
	    -w '%{http_code} %{time_total}\n' "$@" "$url" >"$out" 2>/dev/null &
	T_LAST_PID=$!
}

# t_fcgi_proto: copies t/fcgi_proto.py (FastCGI records for Python
# responders) into $TMP, next to the scripts that import it.
t_fcgi_proto()
{
	cp "$top_srcdir/t/fcgi_proto.py" "$TMP/fcgi_proto.py"
}

# t_fcgi_fixture: writes $TMP/fcgi-fixture.py, a FastCGI responder that
# takes its listening socket on fd 0 (as the supervisor spawns it) and
# misbehaves on request, so gateway tests need no slow real service:
#	?sleep=SECS	answer after SECS
#	?close=1	close the connection without answering (-> 502)
#	?garbage=1	answer bytes that are not FastCGI (-> 502)
#	?pad=N		add "pad": N x's to the answer (several reads)
# Otherwise it answers 200 {"pid": ..., "path": PATH_INFO, "rid": REQUEST_ID,
# "stdin": <body bytes>, "params": {every FastCGI param}, "param_list":
# [[name, value], ...] in the order sent, duplicates kept}.
t_fcgi_fixture()
{
	t_fcgi_proto
	cat >"$TMP/fcgi-fixture.py" <<'PYEOF'
import json, os, socket, struct, sys, time, urllib.parse
from fcgi_proto import *

def serve(c):
    reqs = {}
    while True:
        rec = read_record(c)
        if rec is None:
            return
        typ, rid, data = rec
        if typ == GET_VALUES:
            want = nv_decode(data)
            have = {"FCGI_MAX_CONNS": "1", "FCGI_MAX_REQS": "1",
                    "FCGI_MPXS_CONNS": "0"}
            send(c, GET_VALUES_RESULT, 0,
                 nv_encode({k: have[k] for k in want if k in have}))
        elif typ == BEGIN:
            _, flags = struct.unpack("!HB5x", data)
            reqs[rid] = {"keep": flags & 1, "params": b"", "stdin": b""}
        elif typ == PARAMS:
            reqs[rid]["params"] += data
        elif typ == ABORT:
            send(c, END, rid, END_OK)
            reqs.pop(rid, None)
        elif typ == STDIN and data:
            reqs[rid]["stdin"] += data
        elif typ == STDIN:
            r = reqs.pop(rid)
            p = nv_decode(r["params"])
            q = urllib.parse.parse_qs(p.get("QUERY_STRING", ""))
            if "close" in q:
                return
            if "garbage" in q:
                c.sendall(b"HTTP/1.0 200 OK\r\n\r\nnot fastcgi at all\n" * 4)
                return
            time.sleep(float(q.get("sleep", ["0"])[0]))
            stdin = r["stdin"]
            body = json.dumps({"pid": os.getpid(),
                               "path": p.get("PATH_INFO", ""),
                               "rid": p.get("REQUEST_ID", ""),
                               "stdin": len(stdin),
                               "pad": "x" * int(q.get("pad", ["0"])[0]),
                               "params": p,
                               "param_list": nv_pairs(r["params"])}).encode()
            send_answer(c, rid, b"Status: 200 OK\r\n"
                        b"Content-Type: application/json\r\n\r\n" + body)
            if not r["keep"]:
                return
        elif typ not in (7, 8):
            send(c, UNKNOWN, 0, bytes([typ]) + b"\0" * 7)

ls = socket.socket(fileno=0)
while True:
    c, _ = ls.accept()
    try:
        serve(c)
    except (OSError, KeyError):
        pass
    finally:
        c.close()
PYEOF
}

# t_fixture_conf FILE SERVICE_LINES: a gateway config whose "catalog"
# service (so the shipped rules route /api/products to it) is the FastCGI
# fixture of t_fcgi_fixture; the other services of the shipped rules are
# declared, not spawned.
t_fixture_conf()
{
	t_fcgi_fixture
	cat >"$1" <<CONF
# written by t/lib.sh t_fixture_conf for ${0##*/}
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
service catalog {
	socket "\${rundir}/fixture.sock"
	program "$PY"
	argument "$TMP/fcgi-fixture.py"
${2:-}
}
$(t__other_services)
CONF
}

# t_gateway_stop: SIGTERM the gateway; fails unless it exits 0 within
# 15 s and leaves none of its supervised children behind (those are then
# stopped here).
t_gateway_stop()
{
	local kids k rc=0 left=
	kids=$(t_gateway_children)
	if t__gone "$T_GATEWAY_PID"; then
		t_diag "t_gateway_stop: gateway already gone"
		rc=1
	fi
	kill -TERM "$T_GATEWAY_PID" 2>/dev/null
	for ((k = 0; k < 150; k++)); do
		t__gone "$T_GATEWAY_PID" && break
		sleep 0.1
	done
	if ! t__gone "$T_GATEWAY_PID"; then
		t_diag "t_gateway_stop: gateway ignored TERM for 15 s"
		kill -KILL "$T_GATEWAY_PID" 2>/dev/null
		rc=1
	fi
	wait "$T_GATEWAY_PID" 2>/dev/null
	k=$?
	[ "$k" -eq 0 ] || { t_diag "t_gateway_stop: exit status $k"; rc=1; }
	for k in $kids; do
		t__gone "$k" && continue
		left="$left $k"
		t_stop "$k" 5
	done
	[ -z "$left" ] || { t_diag "t_gateway_stop: children left:$left"; rc=1; }
	return "$rc"
}

# t_auth_bootstrap: `agora-auth -B` once per test, with the environment the
# shipped gateway.conf gives the auth service; its output (the admin
# password, the service client secret) lands in $TMP/auth-bootstrap.env.
t_auth_bootstrap()
{
	local boot=$TMP/auth-bootstrap.env
	[ -s "$boot" ] && return 0
	t_master_key "${T_SECRETS:-$TMP/secrets}"
	mkdir -p "$TMP/log"
	t_log_add "$TMP/log/auth-bootstrap.log"
	# A cheaper scrypt for the admin's hash keeps the grant fast.
	(umask 077 && env AGORA_DB_SOCKET="${T_DBSOCK:-$TMP/db/sock}" \
	    AGORA_DB_NAME=auth AGORA_DB_USER=agora \
	    AGORA_DB_PASSWORD_FILE="${T_SECRETS:-$TMP/secrets}/db-password" \
	    AGORA_MASTER_KEY_FILE="${T_SECRETS:-$TMP/secrets}/master-key" \
	    AGORA_AUTH_ISSUER=http://127.0.0.1:8080 AGORA_AUTH_SCRYPT_N=16384 \
	    "$top_builddir/backends/auth/agora-auth" -B >"$boot" \
	    2>"$TMP/log/auth-bootstrap.log") && [ -s "$boot" ] ||
	    t_bail "agora-auth -B failed"
}

# t_password_token USER PASSWORD: an access token by the password grant
# (client "web") through the gateway at $T_URL, on stdout; empty when
# refused.  Clobbers the last response.
t_password_token()
{
	local form
	form=$("$PY" -c 'import sys, urllib.parse
print(urllib.parse.urlencode({"grant_type": "password", "client_id": "web",
    "username": sys.argv[1], "password": sys.argv[2]}))' "$1" "$2")
	T_TOKEN= t_http POST "$T_URL/api/auth/token" "$form" \
	    -H 'Content-Type: application/x-www-form-urlencoded'
	[ "$T_STATUS" = 200 ] && t_json 'j["access_token"]'
}

# t_admin_token: once per test, after t_gateway_start with the shipped
# config: bootstraps agora-auth, gets the admin an access token through the
# gateway (exported as T_ADMIN_TOKEN) and waits until the gateway has
# fetched the signing keys (it retries every second until it has them).
# Clobbers the last response.
t_admin_token()
{
	local i user pass
	[ -n "${T_ADMIN_TOKEN:-}" ] && return 0
	t_auth_bootstrap
	user=$(. "$TMP/auth-bootstrap.env"; echo "${AGORA_ADMIN_USER:-admin}")
	pass=$(. "$TMP/auth-bootstrap.env"; echo "${AGORA_ADMIN_PASSWORD:-}")
	[ -n "$pass" ] || t_bail "t_admin_token: no admin password from -B"
	for ((i = 0; i < 50; i++)); do
		T_ADMIN_TOKEN=$(t_password_token "$user" "$pass")
		[ -n "$T_ADMIN_TOKEN" ] && break
		sleep 0.2
	done
	[ -n "$T_ADMIN_TOKEN" ] ||
	    t_bail "t_admin_token: password grant failed (status $T_STATUS)"
	export T_ADMIN_TOKEN
	# Any answer but 401 to a checked route means the keys are there.
	for ((i = 0; i < 100; i++)); do
		T_TOKEN=$T_ADMIN_TOKEN t_http GET "$T_URL/api/users/me"
		[ "$T_STATUS" != 401 ] && [ "$T_STATUS" != 000 ] && return 0
		sleep 0.2
	done
	t_bail "t_admin_token: the gateway never accepted the admin token" \
	    "(status $T_STATUS)"
}
