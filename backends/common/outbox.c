/* outbox_append(): events written in the transaction of their change. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "db.h"
#include "log.h"
#include "outbox.h"
#include "xmalloc.h"

static const char sql_append[] =
    "INSERT INTO outbox (event_id, type, aggregate_id, occurred_at, data)"
    " VALUES (?, ?, ?, UTC_TIMESTAMP(6), ?)";

void
outbox_uuid(char out[OUTBOX_UUIDLEN + 1])
{
	unsigned char	 b[16];

	if (RAND_bytes(b, sizeof b) != 1)
		fatalx("%s: RAND_bytes failed", __func__);
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 9562 variant */
	snprintf(out, OUTBOX_UUIDLEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
}

int
outbox_append(const char *type, const char *aggregate_id,
    const char *data_json)
{
	struct db_param	 p[4];
	char		 uuid[OUTBOX_UUIDLEN + 1];

	/* Outside a transaction the event may outlive a rollback. */
	if (!db_in_transaction())
		log_warnx("%s: %s outside a transaction", __func__, type);
	outbox_uuid(uuid);
	p[0] = (struct db_param)DB_STR(uuid);
	p[1] = (struct db_param)DB_STR(type);
	p[2] = (struct db_param)DB_STR(aggregate_id);
	p[3] = (struct db_param)DB_STR(data_json != NULL ? data_json : "{}");
	if (db_exec(sql_append, p, 4, NULL, NULL) == -1) {
		log_warnx("%s: %s: %s", __func__, type, db_error());
		return -1;
	}
	return 0;
}

int
outbox_append_gen(const char *type, const char *aggregate_id, yajl_gen g)
{
	const unsigned char	*buf;
	size_t			 len;
	char			*json;
	int			 rc;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
		log_warnx("%s: %s: event data could not be generated",
		    __func__, type);
		return -1;
	}
	/* The buffer is not guaranteed to end in NUL. */
	json = xstrndup((const char *)buf, len);
	rc = outbox_append(type, aggregate_id, json);
	free(json);
	return rc;
}
