/* agora-inventory: stock and reservations over FastCGI. */

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "inventory.h"
#include "json.h"
#include "problem.h"
#include "request.h"
#include "router.h"
#include "service.h"
#include "validate.h"
#include "xmalloc.h"

/* A reservation of 100 lines is well under 16 KiB. */
#define INVENTORY_MAXBODY	(64 * 1024)

/*
 * The gateway strips "/api", so paths start at "/inventory".  The
 * reservation routes come first: "/inventory/{sku}" would match
 * "/inventory/reservations" too.
 */
static const struct route inventory_routes[] = {
	{ "POST", "/inventory/reservations", reservations_create },
	{ "GET", "/inventory/reservations/{id}", reservations_get },
	{ "DELETE", "/inventory/reservations/{id}", reservations_release },
	{ "POST", "/inventory/reservations/{id}/commit", reservations_commit },
	{ "GET", "/inventory/{sku}", stock_get },
	{ "POST", "/inventory/{sku}/restock", stock_restock },
	{ NULL, NULL, NULL }
};

static const struct service inventory_service = {
	.sv_name = "inventory",
	.sv_routes = inventory_routes,
	.sv_maxbody = INVENTORY_MAXBODY,
	.sv_idempotent = 1,
};

const char *
inventory_sku(struct request *r)
{
	const char	*s = request_capture(r, "sku");
	size_t		 i;

	if (s == NULL || !json_utf8_valid(s, strlen(s)) ||
	    validate_chars(s) > INVENTORY_SKU_MAX)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return s;
}

int
main(int argc, char **argv)
{
	return service_main(argc, argv, &inventory_service);
}
