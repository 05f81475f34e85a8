/*
 * RFC 9457 application/problem+json answers.  Each replaces whatever the
 * response held, and logs the error once, with the request id: 4xx as
 * info, 5xx as warning.
 */
#ifndef AGORA_PROBLEM_H
#define AGORA_PROBLEM_H

struct request;
struct response;
struct validate;

/* status with a detail for the client. */
void	problem_send(struct request *, struct response *, int status,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * A server-side failure: cause goes to the log only, the client gets a
 * generic detail for status (500, 503 with Retry-After: 1).
 */
/* Answers a failed db_* call: 503 when the server is unreachable. */
void	problem_db(struct request *, struct response *, const char *what);
void	problem_internal(struct request *, struct response *, int status,
	    const char *cause);
/* 422 with "errors": [{field, message}] from v. */
void	problem_validation(struct request *, struct response *,
	    const struct validate *v);

#endif
