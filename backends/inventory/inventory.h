/*
 * agora-inventory: stock per sku and reservations that expire.  The
 * handlers its route table (inventory.c) points to, and what the files
 * share.
 */
#ifndef AGORA_INVENTORY_H
#define AGORA_INVENTORY_H

#include <stddef.h>

struct request;
struct response;

#define INVENTORY_SKU_MAX	64	/* characters, as catalog.products */

/* stock.c */
void	stock_get(struct request *, struct response *);
void	stock_restock(struct request *, struct response *);
/*
 * Writes inventory.low_stock for sku when taking qty units made its
 * available count drop below its threshold; in the caller's transaction
 * (the stock row is locked).  0 or -1.
 */
int	stock_low_check(const char *sku, long long qty);

/* reservations.c */
void	reservations_create(struct request *, struct response *);
void	reservations_get(struct request *, struct response *);
void	reservations_commit(struct request *, struct response *);
void	reservations_release(struct request *, struct response *);
/*
 * Inside a transaction: locks reservation id and, when it is still active
 * and past expires_at, gives its stock back, marks it expired and writes
 * inventory.released.  0 (also when there was nothing to do) or -1.
 */
int	reservations_expire(long long id);

/* sweeper.c */
/*
 * Releases expired reservations, each in its own transaction.  force 0:
 * only when the last sweep of this process is at least a second old.
 */
void	sweeper_run(int force);

/* inventory.c */
/* The {sku} capture when it is a plausible sku (1..64 chars), or NULL. */
const char *inventory_sku(struct request *);

#endif
