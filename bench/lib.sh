# bench/lib.sh: what the bench scripts share.  Sourced (bash), never run:
#
#	srcdir=$(cd "$(dirname "$0")" && pwd)
#	BENCH=proxy		# the name messages start with
#	. "$srcdir/lib.sh"
#
# Programs	findprog NAME...: the first found (a path, on PATH, or in
#		/usr/sbin) on stdout; 1 when none is
# Files		bench_tmp: TMP, a private directory removed on exit (KEEP=1
#		keeps it), and the EXIT trap that stops every pid in PIDS
# Processes	PIDS+=(pid) for anything started; bench_cleanup stops them
#		in reverse, by pid (TERM, then KILL after 12 s), with their
#		children (nginx workers); nothing is looked up by name
# Ports		free_port -> REPLY, a free 127.0.0.1 port below the
#		ephemeral range, never handed out twice in a run
# Templates	subst IN OUT NAME=VALUE...: @NAME@ replaced; an unfilled
#		@X@ left is fatal
# FastCGI	spawn_pool DIR N HELLO -> REPLY, the pids of N bench/hello
#		processes on DIR/hello.sock (added to PIDS);
#		pool_dead "PIDS": how many of them are gone
# Readiness	wait_ready PORT PID [PATH [CURL ARGS...]]: 200 "Hello,
#		world" on http://127.0.0.1:PORT/ (or PATH) within 5 s
# Measures	proc_ticks PID: utime + stime in clock ticks of PID and its
#		children; HZ; rss_kb PID: VmRSS of PID and its children;
#		parse_wrk FILE: "rps p50_us p99_us errors requests" from
#		wrk --latency output; median N...: the median of numbers
# Only 127.0.0.1 is ever used.

: "${BENCH:=bench}"
: "${KEEP:=0}"
PIDS=()
HZ=$(getconf CLK_TCK)

findprog() {
	local p
	for p in "$@"; do
		[ -n "$p" ] || continue
		if [[ $p == */* ]]; then
			[ -x "$p" ] && { echo "$p"; return 0; }
		elif command -v "$p" >/dev/null 2>&1; then
			command -v "$p"; return 0
		elif [ -x "/usr/sbin/$p" ]; then
			echo "/usr/sbin/$p"; return 0
		fi
	done
	return 1
}

bench_cleanup() {
	local i pid n
	trap - EXIT INT TERM HUP
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		kill -0 "$pid" 2>/dev/null || continue
		# nginx workers are children of the master: stop those too
		PIDS+=($(ps -o pid= --ppid "$pid" 2>/dev/null))
		kill -TERM "$pid" 2>/dev/null
	done
	# the gateway drains for up to 10 s on SIGTERM
	for ((n = 0; n < 120; n++)); do
		for pid in "${PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && break
			pid=
		done
		[ -z "${pid:-}" ] && break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		echo "$BENCH: pid $pid did not stop on SIGTERM, killing" >&2
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${TMP:-}" ] || return 0
	if [ "$KEEP" = 1 ]; then
		echo "${PIDS[*]}" >"$TMP/pids"
		echo "$BENCH: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}

bench_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/agora-$BENCH.XXXXXX") || exit 2
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# A port nobody listens on and this run has not handed out: REPLY.
USED_PORTS=" "
free_port() {
	local p i
	# below the kernel's ephemeral range (32768-60999 by default): a
	# port there may become the local end of some client's connection
	# (wrk's, a test's) between this check and the bind
	for ((i = 0; i < 500; i++)); do
		p=$((10000 + RANDOM % 22000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		USED_PORTS+="$p "
		REPLY=$p
		return 0
	done
	echo "$BENCH: no free port" >&2
	exit 1
}

subst() {
	local in=$1 out=$2 kv args=(-e '')
	shift 2
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$in" >"$out"
	if grep -q '@[A-Z_]*@' "$out"; then
		echo "$BENCH: unfilled variable in $out" >&2
		exit 1
	fi
}

spawn_pool() {		# dir n hello
	local dir=$1 pid
	if ! "${SPAWN_FCGI:-spawn-fcgi}" -s "$dir/hello.sock" -M 0666 \
	    -F "$2" -P "$dir/hello.pid" -- "$3" >"$dir/spawn.log" 2>&1; then
		echo "$BENCH: spawn-fcgi failed in $dir:" >&2
		cat "$dir/spawn.log" >&2
		return 1
	fi
	REPLY=$(cat "$dir/hello.pid")
	for pid in $REPLY; do
		PIDS+=("$pid")
	done
}

pool_dead() {
	local pid dead=0
	for pid in $1; do
		kill -0 "$pid" 2>/dev/null || dead=$((dead + 1))
	done
	echo "$dead"
}

wait_ready() {		# port pid [path [curl args...]]
	local port=$1 pid=$2 path=${3:-/} n code body
	shift 2
	[ $# -gt 0 ] && shift
	body=$(mktemp "${TMPDIR:-/tmp}/agora-ready.XXXXXX") || return 1
	for ((n = 0; n < 50; n++)); do
		kill -0 "$pid" 2>/dev/null || break
		code=$("${CURL:-curl}" -s -m 1 -o "$body" -w '%{http_code}' \
		    "http://127.0.0.1:$port$path" "$@" 2>/dev/null)
		if [ "$code" = 200 ] && [ "$(cat "$body")" = "Hello, world" ]
		then
			rm -f "$body"
			return 0
		fi
		sleep 0.1
	done
	rm -f "$body"
	return 1
}

proc_ticks() {
	local total=0 p s f
	for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }		# comm may hold spaces
		read -ra f <<<"$s"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

rss_kb() {
	local total=0 p r
	for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		total=$((total + ${r:-0}))
	done
	echo "$total"
}

parse_wrk() {
	awk '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return (v + 0) * 1000
		if (v ~ /m$/) return (v + 0) * 60000000
		if (v ~ /s$/) return (v + 0) * 1000000
		return v + 0
	}
	BEGIN { rps = p50 = p99 = err = req = -1 }
	$1 == "50%" { p50 = us($2) }
	$1 == "99%" { p99 = us($2) }
	/ requests in / { req = $1; if (err < 0) err = 0 }
	/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	$1 == "Requests/sec:" { rps = $2 }
	END { printf "%.0f %.0f %.0f %d %d\n", rps, p50, p99, err, req }
	' "$1"
}

median() {
	printf '%s\n' "$@" | sort -g | awk '
	{ a[NR] = $1 }
	END {
		if (NR == 0) exit 1
		print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
	}'
}

# bench_builddir [DIR]: BUILDDIR (DIR, else $BUILDDIR, else the current
# folder) made absolute, and GATEWAY and HELLO in it unless set; exits 2
# when there is no such folder.
bench_builddir()
{
	BUILDDIR=${1:-${BUILDDIR:-$PWD}}
	BUILDDIR=$(cd "$BUILDDIR" 2>/dev/null && pwd) || {
		echo "$BENCH: no build directory ${1:-${BUILDDIR:-}}" >&2
		exit 2
	}
	GATEWAY=${GATEWAY:-$BUILDDIR/proxy/agora-gateway}
	HELLO=${HELLO:-$BUILDDIR/bench/hello}
}
