/* agora-users: profiles, addresses, registration and GDPR over FastCGI. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "router.h"
#include "service.h"
#include "users.h"
#include "xmalloc.h"

/* A profile or an address is well under 16 KiB of JSON. */
#define USERS_MAXBODY		(64 * 1024)
#define USERS_LIMIT_DEFAULT	20
#define USERS_LIMIT_MAX		100

/*
 * The gateway strips "/api", so paths start at "/users".  "me" is the
 * caller (REMOTE_USER); nothing routes on another user's id, so a
 * customer cannot even name someone else's profile.
 */
static const struct route users_routes[] = {
	{ "POST", "/users", register_handler },
	{ "GET", "/users", profile_list },
	{ "GET", "/users/me", profile_get },
	{ "PATCH", "/users/me", profile_patch },
	{ "DELETE", "/users/me", gdpr_erase },
	{ "GET", "/users/me/export", gdpr_export },
	{ "GET", "/users/me/addresses", addresses_list },
	{ "POST", "/users/me/addresses", addresses_create },
	{ "GET", "/users/me/addresses/{id}", addresses_get },
	{ "DELETE", "/users/me/addresses/{id}", addresses_delete },
	{ NULL, NULL, NULL }
};

static const struct service users_service = {
	.sv_name = "users",
	.sv_routes = users_routes,
	.sv_maxbody = USERS_MAXBODY,
	.sv_idempotent = 1,
};

void
users_dberror(struct request *r, struct response *rs, const char *what)
{
	char	*cause;

	xasprintf(&cause, "%s: database error %u: %s", what, db_errno(),
	    db_error());
	problem_internal(r, rs, db_temporary() ? 503 : 500, cause);
	free(cause);
}

int
users_limit(struct request *r, struct response *rs, long long *limit)
{
	const char	*s;
	char		*end;

	*limit = USERS_LIMIT_DEFAULT;
	if ((s = query_get(&r->rq_query, "limit")) == NULL)
		return 0;
	errno = 0;
	*limit = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    *limit < 1 || *limit > USERS_LIMIT_MAX) {
		problem_send(r, rs, 400, "limit must be an integer from 1 "
		    "to %d", USERS_LIMIT_MAX);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*errstr;

	/* Without the master key no profile can be read or written. */
	if (vault_init(&errstr) == -1) {
		fprintf(stderr, "agora-users: %s\n", errstr);
		return 1;
	}
	return service_main(argc, argv, &users_service);
}
