/* agora-catalog: products and categories over FastCGI. */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "db.h"
#include "problem.h"
#include "request.h"
#include "router.h"
#include "service.h"
#include "xmalloc.h"

/* Product bodies are small: 64 KiB is generous. */
#define CATALOG_MAXBODY		(64 * 1024)

/*
 * Admin-only writes, checked here too although the gateway verifies the
 * token first (defence in depth).  Every write handler starts with
 *	if (catalog_writes_require_admin &&
 *	    !identity_require_role(r, rs, "admin"))
 *		return;
 * Reads stay public.
 */
int	catalog_writes_require_admin = 1;

static const struct route catalog_routes[] = {
	{ "GET",	"/products",		products_list },
	{ "POST",	"/products",		products_create },
	{ "GET",	"/products/{id}",	products_get },
	{ "PUT",	"/products/{id}",	products_replace },
	{ "PATCH",	"/products/{id}",	products_patch },
	{ "DELETE",	"/products/{id}",	products_delete },
	{ "GET",	"/categories",		categories_list },
	{ "POST",	"/categories",		categories_create },
	{ "GET",	"/categories/{slug}",	categories_get },
	{ NULL,		NULL,			NULL }
};

static const struct service catalog_service = {
	.sv_name = "catalog",
	.sv_routes = catalog_routes,
	.sv_maxbody = CATALOG_MAXBODY,
	.sv_idempotent = 1,
};

int
catalog_slug_valid(const char *s)
{
	size_t	 len = strlen(s);

	return len > 0 && len <= CATALOG_SLUG_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

int
main(int argc, char **argv)
{
	return service_main(argc, argv, &catalog_service);
}
