#!/bin/bash
# A real fcgiwrap (Debian's) behind agora-gateway, spawned by the gateway's
# supervisor (2 processes on the service socket, passed as fd 0) and run
# with -f, so a CGI script's stderr travels as FCGI_STDERR.  The script is
# t/fixtures/cgi/app.cgi.  Through the gateway: GET with a query, POST
# bodies of 0 B, 1 MiB and 8 MiB and a chunked upload (the script echoes
# the md5 of what it read), a 10 MiB response streamed to a slow client
# while the gateway's RSS stays low, stderr in the gateway's log tagged
# with the service, and a script that exits in the middle of a response.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/lib-realfcgi.sh"

FCGIWRAP=$(t__find fcgiwrap) ||
    t_skip_all "fcgiwrap not found (install fcgiwrap)"

mkdir -p "$TMP/cgi"
# a private copy: fcgiwrap executes it, whatever mode the checkout has
cp "$top_srcdir/t/fixtures/cgi/app.cgi" "$TMP/cgi/app.cgi" ||
    t_bail "no t/fixtures/cgi/app.cgi"
chmod 755 "$TMP/cgi/app.cgi"

rf_gateway_start cgi <<CONF
	socket "\${rundir}/fcgiwrap.sock"
	program "$FCGIWRAP"
	argument "-f"
	processes 2
	param SCRIPT_FILENAME "$TMP/cgi/app.cgi"
	read timeout 10s
CONF
RF_WHO="the script" RF_ANSWER=lines
U=$RF_URL

t_ok "fcgiwrap answers through the gateway" t_wait_http "$U/app" 200 10
t_is "the supervisor runs 2 fcgiwrap processes" \
    "$(t_gateway_children | wc -l)" 2

# --- GET with a query, POST bodies and a chunked upload (the script
# echoes the md5 of what it read), a 10 MiB response to a slow client,
# the script's stderr as FCGI_STDERR
rf_get
rf_bodies
rf_big
rf_stderr '' '$'

# --- a script that promises 1 MiB and exits after 64 KiB: the client must
# not take the short body for a whole one
rf_die "script exits early"

t_ok "gateway stops cleanly" t_gateway_stop
t_done
