/* agora-catalog: products (and later categories) over FastCGI. */

#include <stddef.h>

#include "catalog.h"
#include "router.h"
#include "service.h"

/* Product bodies are small: 64 KiB is generous. */
#define CATALOG_MAXBODY		(64 * 1024)

static const struct route catalog_routes[] = {
	{ "GET",	"/products",		products_list },
	{ "POST",	"/products",		products_create },
	{ "GET",	"/products/{id}",	products_get },
	{ "PUT",	"/products/{id}",	products_replace },
	{ "PATCH",	"/products/{id}",	products_patch },
	{ "DELETE",	"/products/{id}",	products_delete },
	{ NULL,		NULL,			NULL }
};

static const struct service catalog_service = {
	.sv_name = "catalog",
	.sv_routes = catalog_routes,
	.sv_maxbody = CATALOG_MAXBODY,
};

int
main(int argc, char **argv)
{
	return service_main(argc, argv, &catalog_service);
}
