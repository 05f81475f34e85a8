/*
 * The access log: one line per request in combined format plus request
 * id, upstream time, service, upstream address and total time:
 *
 *   127.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET /x HTTP/1.1" 200 123
 *   "-" "curl/7.88" rid=abcd ut=0.002 svc=catalog
 *   up=/run/agora/catalog.sock rt=0.003 [tls=TLSv1.3]
 *
 * or, with accesslog_json(1), one JSON object per line with the same
 * fields ("time" in RFC 3339).
 *
 * Each loop thread formats into its own buffer and writes whole lines
 * with one write(2), when the buffer fills or when the thread flushes it
 * (a timer, and at exit), so lines never interleave and no lock is taken
 * per request.
 */
#ifndef AGORA_PROXY_ACCESSLOG_H
#define AGORA_PROXY_ACCESSLOG_H

#include <stddef.h>
#include <time.h>

struct accesslog_buf;

struct accesslog_entry {
	const char	*ae_remote;
	time_t		 ae_time;
	const char	*ae_method;
	const char	*ae_uri;
	int		 ae_major, ae_minor;
	int		 ae_status;
	size_t		 ae_bytes;
	const char	*ae_referer;	/* NULL: "-" */
	const char	*ae_agent;	/* NULL: "-" */
	const char	*ae_rid;
	double		 ae_ut;		/* < 0: no upstream, "-" */
	const char	*ae_service;	/* NULL: "-" */
	const char	*ae_upstream;	/* server address; NULL: "-" */
	double		 ae_rt;		/* total seconds, head read to end */
	const char	*ae_tls;	/* "TLSv1.3"; NULL: plain, no field */
};

/* Opens path for appending; NULL logs to stderr.  0 or -1 (errno). */
int			 accesslog_open(const char *path);
/* Reopens the same path (SIGUSR1); threads never see a closed fd. */
int			 accesslog_reopen(void);
void			 accesslog_close(void);
/* 1: JSON lines from now on; 0: combined (the default).  At startup. */
void			 accesslog_json(int);

/* A per-thread buffer; free flushes it.  accesslog_buf_free(NULL) is ok. */
struct accesslog_buf	*accesslog_buf_new(void);
void			 accesslog_buf_free(struct accesslog_buf *);
void			 accesslog_flush(struct accesslog_buf *);
void			 accesslog_log(struct accesslog_buf *,
			    const struct accesslog_entry *);

/*
 * Formats one line (with its newline) into out; quotes and control
 * characters in client-supplied fields are escaped as \xHH.  Returns the
 * length, truncated to outlen - 1 at worst.
 */
size_t			 accesslog_format(char *out, size_t outlen,
			    const struct accesslog_entry *, const char *when);
/*
 * The same as one JSON object (with its newline); strings are escaped
 * so the line is valid JSON whatever the client sent (bytes outside
 * printable ASCII as \u00HH).  when is an RFC 3339 time.  A line cut
 * short by outlen still ends in "}\n".
 */
size_t			 accesslog_format_json(char *out, size_t outlen,
			    const struct accesslog_entry *, const char *when);

#endif
