/*
 * The route table: method + path pattern -> handler.  A pattern is a
 * literal path whose segments may be captures, "/products/{id}"; a capture
 * matches one non-empty segment.  A GET route also answers HEAD.
 *
 * router_match() tells "no such path" (404) from "path exists, method
 * does not" (405, with the Allow list built from the table).
 */
#ifndef AGORA_ROUTER_H
#define AGORA_ROUTER_H

#include <stddef.h>

#define ROUTER_MAXCAPTURES	8

struct request;
struct response;

typedef void	(*route_handler)(struct request *, struct response *);

struct route {
	const char	*method;
	const char	*pattern;
	route_handler	 handler;
};

/* Captures point into match-owned memory, valid until router_match_free. */
struct router_match {
	char		*rm_buf;	/* copy of the path, split in place */
	size_t		 rm_ncaptures;
	const char	*rm_names[ROUTER_MAXCAPTURES];
	size_t		 rm_namelens[ROUTER_MAXCAPTURES];
	const char	*rm_values[ROUTER_MAXCAPTURES];
};

enum router_result {
	ROUTER_FOUND = 0,
	ROUTER_NOT_FOUND,
	ROUTER_BAD_METHOD
};

/*
 * Matches method and path against table (ended by a NULL method).  On
 * ROUTER_FOUND, *route and m are set; on ROUTER_BAD_METHOD allow holds
 * "GET, HEAD, POST" (truncated to allowlen).  m is always reset, and is
 * the caller's to release with router_match_free().
 */
enum router_result
		 router_match(const struct route *table, const char *method,
		    const char *path, const struct route **route,
		    struct router_match *m, char *allow, size_t allowlen);
/* Value of capture name, or NULL. */
const char	*router_capture(const struct router_match *, const char *name);
void		 router_match_free(struct router_match *);

#endif
