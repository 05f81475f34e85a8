/* agora-catalog: the handlers its route table (catalog.c) points to. */
#ifndef AGORA_CATALOG_H
#define AGORA_CATALOG_H

struct request;
struct response;

#define CATALOG_SLUG_MAX	64
/* ER_NO_REFERENCED_ROW_2: a foreign key names a row that is not there. */
#define CATALOG_ER_NO_REFERENCED_ROW	1452

/*
 * Whether POST/PUT/PATCH/DELETE need the admin role.  Off until the
 * gateway passes roles from verified JWTs; see catalog.c.
 */
extern int	catalog_writes_require_admin;

/* Whether s is a slug: 1..CATALOG_SLUG_MAX of [a-z0-9-]. */
int	catalog_slug_valid(const char *s);

void	categories_list(struct request *, struct response *);
void	categories_create(struct request *, struct response *);
void	categories_get(struct request *, struct response *);

void	products_list(struct request *, struct response *);
void	products_create(struct request *, struct response *);
void	products_get(struct request *, struct response *);
void	products_replace(struct request *, struct response *);
void	products_patch(struct request *, struct response *);
void	products_delete(struct request *, struct response *);

#endif
