/*
 * The transactional outbox: an event is a row of the service's `outbox`
 * table, written in the same transaction as the change it reports, so
 * the event exists if and only if the change committed.  agora-relay
 * (a later issue) reads the table in id order and delivers each row.
 *
 *   outbox (id BIGINT AUTO_INCREMENT, event_id CHAR(36) uuid v4,
 *           type, aggregate_id, occurred_at DATETIME(6) UTC, data JSON)
 *
 * The event on the wire is {id: event_id, type, aggregate_id,
 * occurred_at, data}.  Types are dotted and in the past tense
 * ("inventory.reserved").
 */
#ifndef AGORA_OUTBOX_H
#define AGORA_OUTBOX_H

#include <yajl/yajl_gen.h>

#define OUTBOX_UUIDLEN	36

/*
 * Appends an event inside the caller's db_transaction() (logged as a bug
 * when there is none).  data_json is a JSON object.  Returns 0, or -1
 * after a failed db_* call (the caller rolls back).  There is no database
 * handle argument: a service process has exactly one connection (db.h).
 */
int	outbox_append(const char *type, const char *aggregate_id,
	    const char *data_json);
/* The same with the complete document generated in g (g is not freed). */
int	outbox_append_gen(const char *type, const char *aggregate_id,
	    yajl_gen g);
/* A random (version 4) UUID, lowercase, NUL-terminated, into out. */
void	outbox_uuid(char out[OUTBOX_UUIDLEN + 1]);

#endif
