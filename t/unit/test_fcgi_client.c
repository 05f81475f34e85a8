/*
 * backends/common/fcgi_client.c against a real FastCGI listener forked by
 * the test, on a unix socket and on 127.0.0.1.  The listener behaves as
 * the MODE param asks: echo, big, stderr, silent, close, nohdr.
 */

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "fcgi_client.h"
#include "runner.h"

static char	 sockdir[] = "/tmp/agora-fcgic.XXXXXX";
static char	 sockpath[128];
static char	 tcpaddr[64];
static pid_t	 srv_pid = -1;

/* Writes one record of the listener's answer. */
static void
srv_record(int fd, uint8_t type, const void *p, size_t len)
{
	static uint8_t	 rec[FCGI_RECORD_MAX];
	size_t		 n;

	n = fcgi_record_encode(rec, sizeof rec, type, 1, p, (uint16_t)len);
	(void)write(fd, rec, n);
}

static void
srv_stdout(int fd, const char *s, size_t len)
{
	size_t	 chunk;

	while (len > 0) {
		chunk = len > 65535 ? 65535 : len;
		srv_record(fd, FCGI_T_STDOUT, s, chunk);
		s += chunk;
		len -= chunk;
	}
}

/* Serves one connection. */
static void
srv_conn(int fd)
{
	static uint8_t		 in[1 << 20];
	struct fcgi_record	 rec;
	const uint8_t		*name, *value;
	const char		*errstr;
	char			 mode[32] = "echo", method[16] = "", out[512];
	char			*big;
	size_t			 len = 0, off = 0, nl, vl, bodylen = 0;
	unsigned long		 sum = 0;
	ssize_t			 n, used, u;
	uint8_t			 end[8];
	int			 done = 0, i;

	while (!done) {
		if ((n = read(fd, in + len, sizeof in - len)) <= 0)
			return;
		len += n;
		while ((used = fcgi_record_decode(in + off, len - off, &rec,
		    &errstr)) > 0) {
			off += used;
			if (rec.hdr.type == FCGI_T_PARAMS) {
				for (i = 0; i < rec.hdr.content_length;
				    i += u) {
					u = fcgi_nv_decode(rec.content + i,
					    rec.hdr.content_length - i, &name,
					    &nl, &value, &vl, &errstr);
					if (u <= 0)
						break;
					if (nl == 4 && memcmp(name, "MODE", 4)
					    == 0 && vl < sizeof mode) {
						memcpy(mode, value, vl);
						mode[vl] = '\0';
					}
					if (nl == 14 && memcmp(name,
					    "REQUEST_METHOD", 14) == 0 &&
					    vl < sizeof method) {
						memcpy(method, value, vl);
						method[vl] = '\0';
					}
				}
			} else if (rec.hdr.type == FCGI_T_STDIN) {
				if (rec.hdr.content_length == 0)
					done = 1;
				for (i = 0; i < rec.hdr.content_length; i++)
					sum = sum * 31 + rec.content[i];
				bodylen += rec.hdr.content_length;
			}
		}
		if (used == -1)
			return;
	}
	if (strcmp(mode, "silent") == 0) {
		sleep(5);
		return;
	}
	if (strcmp(mode, "close") == 0) {
		srv_stdout(fd, "Status: 200 OK\r\n", 16);
		return;
	}
	if (strcmp(mode, "nohdr") == 0)
		srv_stdout(fd, "just text", 9);
	else if (strcmp(mode, "big") == 0) {
		/* 200 000 bytes of body: several STDOUT records. */
		big = malloc(200000 + 64);
		n = snprintf(big, 64, "Content-Type: text/plain\r\n\r\n");
		memset(big + n, 'x', 200000);
		srv_stdout(fd, big, n + 200000);
		free(big);
	} else {
		n = snprintf(out, sizeof out, "Status: 201 Created\r\n"
		    "Content-Type: application/json\r\nX-Test:  yes\r\n\r\n"
		    "{\"method\":\"%s\",\"len\":%zu,\"sum\":%lu}", method,
		    bodylen, sum);
		srv_stdout(fd, out, n);
		if (strcmp(mode, "stderr") == 0)
			srv_record(fd, FCGI_T_STDERR, "warned", 6);
	}
	srv_record(fd, FCGI_T_STDOUT, NULL, 0);
	fcgi_end_request_encode(end, 7, FCGI_S_REQUEST_COMPLETE);
	srv_record(fd, FCGI_T_END_REQUEST, end, sizeof end);
}

/* Starts the listener (once): a child serving both sockets forever. */
static void
srv_start(void)
{
	struct sockaddr_un	 sun;
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;
	int			 ufd, tfd, fd, one = 1;
	fd_set			 set;

	if (srv_pid != -1)
		return;
	if (mkdtemp(sockdir) == NULL)
		abort();
	snprintf(sockpath, sizeof sockpath, "%s/s.sock", sockdir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sockpath);
	ufd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(ufd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(ufd, 16) == -1)
		abort();
	tfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(tfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(tfd, 16) == -1 ||
	    getsockname(tfd, (struct sockaddr *)&sin, &slen) == -1)
		abort();
	snprintf(tcpaddr, sizeof tcpaddr, "127.0.0.1:%d",
	    ntohs(sin.sin_port));
	if ((srv_pid = fork()) == -1)
		abort();
	if (srv_pid == 0) {
		/* A child per connection: a silent one blocks no other. */
		signal(SIGCHLD, SIG_IGN);
		setpgid(0, 0);
		for (;;) {
			FD_ZERO(&set);
			FD_SET(ufd, &set);
			FD_SET(tfd, &set);
			if (select((ufd > tfd ? ufd : tfd) + 1, &set, NULL,
			    NULL, NULL) <= 0)
				continue;
			fd = accept(FD_ISSET(ufd, &set) ? ufd : tfd, NULL,
			    NULL);
			if (fd == -1)
				continue;
			if (fork() == 0) {
				srv_conn(fd);
				close(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	close(ufd);
	close(tfd);
}

static void
srv_stop(void)
{
	if (srv_pid > 0) {
		/* The listener and its per-connection children. */
		kill(-srv_pid, SIGTERM);
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
		unlink(sockpath);
		rmdir(sockdir);
	}
}

/* One request with MODE=mode and a POST body. */
static int
call(const char *addr, const char *mode, const char *body, int timeout,
    struct fcgi_client_response *resp, const char **errstr)
{
	struct fcgi_client_param	 p[3];
	char				 clen[32];

	snprintf(clen, sizeof clen, "%zu", body != NULL ? strlen(body) : 0);
	p[0] = (struct fcgi_client_param){ "REQUEST_METHOD", "POST" };
	p[1] = (struct fcgi_client_param){ "MODE", mode };
	p[2] = (struct fcgi_client_param){ "CONTENT_LENGTH", clen };
	srv_start();
	return fcgi_client_request(addr, timeout, p, 3, body,
	    body != NULL ? strlen(body) : 0, resp, errstr);
}

static unsigned long
checksum(const char *s)
{
	unsigned long	 sum = 0;

	while (*s != '\0')
		sum = sum * 31 + (unsigned char)*s++;
	return sum;
}

static void
t_unix_echo(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;
	char				 want[128];

	srv_start();
	CU_ASSERT_EQUAL_FATAL(call(sockpath, "echo",
	    "{\"a\":1}", 2000, &r, &errstr), 0);
	CU_ASSERT_EQUAL(r.status, 201);
	CU_ASSERT_EQUAL(r.app_status, 7);
	CU_ASSERT_STRING_EQUAL(fcgi_client_header(&r, "content-type"),
	    "application/json");
	CU_ASSERT_STRING_EQUAL(fcgi_client_header(&r, "X-Test"), "yes");
	CU_ASSERT_PTR_NULL(fcgi_client_header(&r, "Status"));
	snprintf(want, sizeof want, "{\"method\":\"POST\",\"len\":7,"
	    "\"sum\":%lu}", checksum("{\"a\":1}"));
	CU_ASSERT_STRING_EQUAL(r.body, want);
	CU_ASSERT_EQUAL(r.bodylen, strlen(want));
	CU_ASSERT_PTR_NULL(r.errtext);
	fcgi_client_response_free(&r);
}

static void
t_tcp_large_request(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;
	char				*body, want[128];

	/* More than one STDIN record, and more than a socket buffer. */
	body = malloc(300001);
	memset(body, 'b', 300000);
	body[300000] = '\0';
	srv_start();
	CU_ASSERT_EQUAL_FATAL(call(tcpaddr, "stderr", body, 5000, &r,
	    &errstr), 0);
	snprintf(want, sizeof want, "{\"method\":\"POST\",\"len\":300000,"
	    "\"sum\":%lu}", checksum(body));
	CU_ASSERT_STRING_EQUAL(r.body, want);
	CU_ASSERT_EQUAL(r.errlen, 6);
	CU_ASSERT_STRING_EQUAL(r.errtext, "warned");
	fcgi_client_response_free(&r);
	free(body);
}

static void
t_large_response(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;
	size_t				 i, bad = 0;

	srv_start();
	CU_ASSERT_EQUAL_FATAL(call(sockpath, "big", NULL, 5000, &r,
	    &errstr), 0);
	CU_ASSERT_EQUAL(r.status, 200);	/* no Status: header */
	CU_ASSERT_EQUAL(r.bodylen, 200000);
	for (i = 0; i < r.bodylen; i++)
		bad += r.body[i] != 'x';
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_STRING_EQUAL(fcgi_client_header(&r, "Content-Type"),
	    "text/plain");
	fcgi_client_response_free(&r);
}

static void
t_timeout(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;
	struct timespec			 a, b;
	long				 ms;

	srv_start();
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(call(sockpath, "silent", "x", 300, &r, &errstr), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CU_ASSERT(ms >= 250 && ms < 2000);
	CU_ASSERT_PTR_NOT_NULL(errstr);
	CU_ASSERT_PTR_NOT_NULL(errstr != NULL ? strstr(errstr, "timed out") :
	    NULL);
	CU_ASSERT_PTR_NULL(r.body);
}

static void
t_closed_early(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;

	CU_ASSERT_EQUAL(call(sockpath, "close", "x", 2000, &r, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr != NULL ? strstr(errstr, "closed") :
	    NULL);
}

static void
t_no_header_end(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;

	CU_ASSERT_EQUAL(call(sockpath, "nohdr", NULL, 2000, &r, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr);
}

static void
t_refused(void)
{
	struct fcgi_client_response	 r;
	const char			*errstr = NULL;
	char				 path[160];

	snprintf(path, sizeof path, "%s/nobody.sock", sockdir);
	CU_ASSERT_EQUAL(call(path, "echo", NULL, 1000, &r, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_EQUAL(call("no-port-here", "echo", NULL, 1000, &r,
	    &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr);
}

static const struct unit_case cases[] = {
	{ "unix socket: params, body, status, headers", t_unix_echo },
	{ "tcp: large request body and stderr", t_tcp_large_request },
	{ "large response over several records", t_large_response },
	{ "a silent application times out", t_timeout },
	{ "closed before END_REQUEST is an error", t_closed_early },
	{ "a response without a header end is an error", t_no_header_end },
	{ "nobody listening, or a bad address", t_refused },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	int	 rc;

	signal(SIGPIPE, SIG_IGN);
	rc = unit_main(argc, argv, "fcgi_client", cases);
	srv_stop();
	return rc;
}
