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
	{ "PATCH", "/users/me/addresses/{id}", addresses_update },
	{ "DELETE", "/users/me/addresses/{id}", addresses_delete },
	{ NULL, NULL, NULL }
};

static const struct service users_service = {
	.sv_name = "users",
	.sv_routes = users_routes,
	.sv_maxbody = USERS_MAXBODY,
	.sv_idempotent = 1,
};

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
