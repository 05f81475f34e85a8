# t/lib-realfcgi.sh: the checks t/gateway-php.sh and t/gateway-fcgiwrap.sh
# share, against a real FastCGI application behind agora-gateway.  Source
# it after t/lib.sh:
#
#	. "$top_srcdir/t/lib.sh"
#	. "$top_srcdir/t/lib-realfcgi.sh"
#
# The application (t/fixtures/php/app.php, t/fixtures/cgi/app.cgi) picks
# what it does from the query: op=echo (method, query, len and md5 of the
# body read), op=big&mb=N (N MiB of 'x'), op=stderr&msg=M (M on stderr,
# which arrives as FCGI_STDERR), op=die (a response cut short).
#
#   rf_gateway_start NAME <BLOCK	a gateway with one service NAME (the
#	lines of its block on stdin) routed at /NAME; sets RF_URL,
#	RF_SERVICE.  The caller sets before the checks:
#	RF_WHO		who reads the body, for test names ("php")
#	RF_ANSWER	json (app.php) or lines (app.cgi's NAME=value)
#   rf_field NAME	a field of the last op=echo answer
#   rf_get		GET with a query (3 tests)
#   rf_bodies		every case of RF_BODIES (3 tests each)
#   rf_big		a 10 MiB response to a slow client (4 tests)
#   rf_stderr [LEAD [TRAIL]]	stderr in the gateway log, tagged with the
#	service and request id (2 tests); LEAD and TRAIL are EREs around
#	the message (php adds its own prefix; fcgiwrap adds nothing)
#   rf_die LABEL	a response cut short, and the service recovers
#	(5 tests named LABEL)

RF_URL=
RF_SERVICE=
RF_WHO=${RF_WHO:-the application}
RF_ANSWER=${RF_ANSWER:-json}

# The bodies: test name|file in $TMP|more curl arguments (|-separated).
# php-fpm reads a body only with a CONTENT_LENGTH, so a chunked upload
# proves that the gateway buffers it and sends one.
RF_BODIES=(
	"POST 0b|0b"
	"POST 1m|1m"
	"POST 8m|8m"
	"chunked upload|1m|-H|Transfer-Encoding: chunked"
)

rf__rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$T_GATEWAY_PID/status"; }
rf__fds() { ls "/proc/$T_GATEWAY_PID/fd" | wc -l; }

rf_gateway_start()
{
	RF_SERVICE=$1
	mkdir -p "$TMP/rules"
	cat >"$TMP/rules/agora.lua" <<CONF
route { prefix = "/$RF_SERVICE", service = "$RF_SERVICE" }
CONF
	{
		cat <<'CONF'
workers $workers
listen on 127.0.0.1 port $http_port
admin listen on 127.0.0.1 port $admin_port
rules "${rulesdir}/agora.lua"
max body 16M
CONF
		echo "service $RF_SERVICE {"
		cat
		echo "}"
	} >"$TMP/gateway.conf"
	t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
	RF_URL=$T_URL/$RF_SERVICE
}

rf_field()
{
	case $RF_ANSWER in
	json)	t_json "j[\"$1\"]" ;;
	*)	sed -n "s/^$1=//p" "$TMP/resp.body" ;;
	esac
}

rf_get()
{
	t_http GET "$RF_URL/app?a=b%20c&op=echo"
	t_is "GET: 200" "$T_STATUS" 200
	t_is "GET: QUERY_STRING reaches $RF_WHO" "$(rf_field query)" \
	    'a=b%20c&op=echo'
	t_is "GET: method" "$(rf_field method)" GET
}

rf_bodies()
{
	local c name f want size
	local -a more

	[ -s "$TMP/1m" ] || head -c 1048576 /dev/urandom >"$TMP/1m"
	[ -s "$TMP/8m" ] || head -c 8388608 /dev/urandom >"$TMP/8m"
	: >"$TMP/0b"
	for c in "${RF_BODIES[@]}"; do
		IFS='|' read -r -a more <<<"$c"
		name=${more[0]} f=$TMP/${more[1]}
		more=("${more[@]:2}")
		want=$(md5sum <"$f" | cut -d' ' -f1)
		size=$(stat -c %s "$f")
		t_http POST "$RF_URL/app" "@$f" \
		    -H 'Content-Type: application/octet-stream' "${more[@]}"
		t_is "$name: 200" "$T_STATUS" 200
		t_is "$name: $RF_WHO read $size bytes" "$(rf_field len)" "$size"
		t_is "$name: md5 matches" "$(rf_field md5)" "$want"
	done
}

# 10 MiB to a client reading 4 MB/s: streamed, not held in the gateway.
rf_big()
{
	local rss0 peak grew r cpid

	rss0=$(rf__rss)
	"$CURL" -s --max-time 20 --limit-rate 4M -o "$TMP/big" \
	    -w '%{http_code}' "$RF_URL/app?op=big&mb=10" \
	    >"$TMP/big.status" 2>/dev/null &
	cpid=$!
	peak=$rss0
	while t_alive "$cpid"; do
		r=$(rf__rss)
		[ "$r" -gt "$peak" ] && peak=$r
		sleep 0.1
	done
	wait "$cpid"
	t_is "10 MiB response: 200" "$(cat "$TMP/big.status")" 200
	t_is "10 MiB response: every byte arrived" \
	    "$(stat -c %s "$TMP/big")" 10485760
	t_is "10 MiB response: all of it $RF_WHO's" \
	    "$(tr -d x <"$TMP/big" | wc -c)" 0
	grew=$((peak - rss0))
	t_diag "gateway VmRSS ${rss0} kB before, peak ${peak} kB during" \
	    "the download"
	if grep -qa __asan_init "$T_GATEWAY"; then
		# ASan's quarantine keeps freed memory resident
		t_pass "10 MiB response: RSS not judged in a sanitizer build"
	else
		t_ok "10 MiB response: gateway RSS grew < 4 MiB ($grew kB)" \
		    test "$grew" -lt 4096
	fi
}

rf_stderr()
{
	local lead=${1:-} trail=${2:-} s=$RF_SERVICE i
	local msg=proof-$s-stderr-42

	t_http GET "$RF_URL/app?op=stderr&msg=$msg" -- \
	    -H "X-Request-Id: $s-stderr-rid"
	t_is "stderr: 200" "$T_STATUS" 200
	# the log is written after the response: poll for it, bounded
	for ((i = 0; i < 100; i++)); do
		grep -q "$msg" "$T_GATEWAY_LOG" && break
		sleep 0.1
	done
	t_like "stderr: in the gateway log, tagged ${s}[request id]" \
	    "$(grep "$msg" "$T_GATEWAY_LOG" | head -1)" \
	    "$s\\[$s-stderr-rid\\]: $lead$msg$trail"
}

# The application ends a response early (curl's --max-time 10 bounds it).
rf_die()
{
	local label=$1 fd0 fd1 t0 out rc

	fd0=$(rf__fds)
	t0=$SECONDS
	out=$("$CURL" -s --max-time 10 -o "$TMP/die" -w '%{http_code}' \
	    "$RF_URL/app?op=die" 2>/dev/null)
	rc=$?
	t_diag "$label: curl exit $rc, status $out," \
	    "$(stat -c %s "$TMP/die") bytes"
	t_ok "$label: the client sees an error or a truncated body" \
	    test "$rc" -ne 0 -o "${out:0:1}" = 5
	t_ok "$label: no hang" test $((SECONDS - t0)) -lt 8
	t_http GET "$RF_URL/app?op=echo&after=die"
	t_is "$label: the next request is served" "$T_STATUS" 200
	t_http GET "$RF_URL/app?op=echo&after=die2"
	t_is "$label: and the one after" "$T_STATUS" 200
	fd1=$(rf__fds)
	t_ok "$label: no fd leaked ($fd0 -> $fd1)" \
	    test "$fd1" -le $((fd0 + 2))
}
