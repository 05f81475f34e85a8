/*
 * Circuit breaker and bulkhead, with Hystrix/resilience4j semantics.
 *
 * A breaker counts requests and errors in a rolling window of `buckets`
 * buckets of `bucket_ms` (default 10 x 1 s).  Errors are the statuses
 * marked in the config (default: every 5xx), connect failures, timeouts
 * and, if slow_ms is set, calls that took at least slow_ms.
 *
 *   CLOSED --(window holds >= volume requests and
 *             errors * 100 >= error_pct * requests)--> OPEN
 *   OPEN --(sleep_ms passed; checked by the next breaker_allow)--> HALF_OPEN
 *   HALF_OPEN: `probes` requests are let through, the others refused;
 *     all probes succeed --> CLOSED (empty window)
 *     any probe fails    --> OPEN, with a fresh sleep_ms
 *
 * The bulkhead caps the requests in flight (max_concurrent, 0: no cap):
 * a request beyond it is refused at once, whatever the state.
 *
 * Every request that breaker_allow() lets through holds a ticket, and the
 * caller must hand it to breaker_record() exactly once (a timeout is an
 * outcome, so a hung backend still returns its ticket).  A ticket issued
 * before a state change is released but not counted after it: a slow
 * request sent while CLOSED cannot decide a HALF_OPEN verdict.
 *
 * Thread safety: any thread may call anything.  The window and the state
 * sit behind one mutex per breaker; the in-flight count is atomic.  The
 * on_change callback runs after the mutex is released, on the thread
 * that caused the change, once per change: log from there.
 *
 * Memory: breaker_new() copies the config (the name too); the caller
 * frees the breaker with breaker_free() (NULL is fine) once no thread
 * uses it.  Tickets live in caller memory (embed one in the request).
 */
#ifndef AGORA_PROXY_BREAKER_H
#define AGORA_PROXY_BREAKER_H

#include <stdint.h>

struct breaker;

enum breaker_state {
	BREAKER_CLOSED = 0,
	BREAKER_OPEN = 1,
	BREAKER_HALF_OPEN = 2,
};

enum breaker_outcome {
	BREAKER_SUCCESS,	/* a response that is not an error */
	BREAKER_FAILURE,	/* an error response (see breaker_status) */
	BREAKER_CONNECT,	/* connect failed */
	BREAKER_TIMEOUT,	/* no (complete) response in time */
	BREAKER_IGNORE,		/* not the backend's fault (client gone):
				 * releases the ticket, counts nothing */
};

/* breaker_allow() results. */
#define BREAKER_ALLOW	0	/* go; record the ticket later */
#define BREAKER_REJECT	1	/* open, or half-open with probes out */
#define BREAKER_FULL	2	/* bulkhead: max_concurrent in flight */

typedef void	(*breaker_change_cb)(struct breaker *, enum breaker_state from,
		    enum breaker_state to, void *arg);

struct breaker_config {
	const char		*name;		/* for logs; copied */
	unsigned int		 buckets;	/* window buckets (10) */
	unsigned int		 bucket_ms;	/* bucket width (1000) */
	unsigned int		 volume;	/* min requests to trip (20) */
	unsigned int		 error_pct;	/* 1..100 (50) */
	unsigned int		 sleep_ms;	/* open time (5000) */
	unsigned int		 probes;	/* half-open probes (1) */
	unsigned int		 slow_ms;	/* slow = error; 0: off (0) */
	unsigned int		 max_concurrent; /* bulkhead; 0: off (0) */
	uint64_t		 error_status[2]; /* bit (s-500) of the pair:
						 * status s is an error;
						 * default all 5xx; only
						 * 500..599 can be marked */
	breaker_change_cb	 on_change;	/* may be NULL */
	void			*arg;
};

/* A request's permission; caller memory, filled by breaker_allow(). */
struct breaker_ticket {
	uint64_t		 bt_gen;	/* state generation at issue */
	uint8_t			 bt_active;	/* not yet recorded */
	uint8_t			 bt_probe;	/* a half-open probe */
};

/* A snapshot for metrics and the status page. */
struct breaker_stats {
	enum breaker_state	 state;
	uint64_t		 requests;	/* in the window */
	uint64_t		 errors;	/* in the window */
	uint64_t		 inflight;
	uint64_t		 opened;	/* transitions to OPEN, ever */
	uint64_t		 rejected;	/* BREAKER_REJECT, ever */
	uint64_t		 full;		/* BREAKER_FULL, ever */
};

/* Fill *cfg with the defaults above (name NULL, no callback). */
void		 breaker_config_default(struct breaker_config *);
/* Mark (on) or unmark an HTTP status 500..599 as an error. */
void		 breaker_config_status(struct breaker_config *, int status,
		    int on);

/*
 * 1 if a and b configure the same breaker: same name and same policy
 * (window, volume, threshold, sleep, probes, slow, bulkhead, error
 * statuses); the callback and its argument do not count.  A reload keeps
 * the state of a breaker whose config is the same (generation.h).
 */
int		 breaker_config_same(const struct breaker_config *,
		    const struct breaker_config *);

/* NULL with *errstr (static) if the config is invalid. */
struct breaker	*breaker_new(const struct breaker_config *,
		    const char **errstr);
void		 breaker_free(struct breaker *);
const char	*breaker_name(const struct breaker *);

/*
 * May a request go now?  BREAKER_ALLOW fills *t.  Otherwise *t is
 * untouched and *retry_after_ms (may be NULL) says when to try again:
 * the rest of the sleep when open, else 1000.
 */
int		 breaker_allow(struct breaker *, uint64_t now_ns,
		    struct breaker_ticket *t, uint64_t *retry_after_ms);
/*
 * The outcome of an allowed request: releases its bulkhead slot and, if
 * the ticket is still current, counts it (latency_ns matters only with
 * slow_ms).  A second call with the same ticket does nothing.
 */
void		 breaker_record(struct breaker *, struct breaker_ticket *t,
		    enum breaker_outcome, uint64_t latency_ns, uint64_t now_ns);
/* The outcome for an HTTP status under this breaker's config. */
enum breaker_outcome
		 breaker_status(const struct breaker *, int status);

/*
 * The state now.  An OPEN breaker whose sleep has passed still reads
 * OPEN until a request arrives (the transition is lazy).
 */
enum breaker_state
		 breaker_state(struct breaker *);
/* "closed", "open", "half_open" */
const char	*breaker_state_name(enum breaker_state);
void		 breaker_stats(struct breaker *, uint64_t now_ns,
		    struct breaker_stats *);

#endif
