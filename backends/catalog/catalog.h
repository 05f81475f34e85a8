/* agora-catalog: the handlers its route table (catalog.c) points to. */
#ifndef AGORA_CATALOG_H
#define AGORA_CATALOG_H

struct request;
struct response;

void	products_list(struct request *, struct response *);
void	products_create(struct request *, struct response *);
void	products_get(struct request *, struct response *);
void	products_replace(struct request *, struct response *);
void	products_patch(struct request *, struct response *);
void	products_delete(struct request *, struct response *);

#endif
