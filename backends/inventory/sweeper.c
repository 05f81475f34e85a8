/*
 * The sweeper: gives the stock of expired reservations back.
 *
 * A service process only runs while answering requests, so there is no
 * timer: handlers call sweeper_run() before they read or change stock
 * (at most once a second per process), and a new reservation always
 * sweeps first so that expired holds can be reserved again.  An idle
 * service therefore keeps expired rows until its next request, which is
 * also the first moment anyone could notice.
 *
 * Finding due reservations is a plain (non-locking) indexed read; each
 * one is then expired in its own short transaction that locks it and
 * checks again, so concurrent sweepers in other processes and a
 * concurrent commit or release never double-release.
 */

#include <time.h>

#include "db.h"
#include "inventory.h"
#include "log.h"

#define SWEEPER_INTERVAL_MS	1000
#define SWEEPER_BATCH		50

static const char sql_due[] =
    "SELECT id FROM reservations WHERE state = 'active'"
    " AND expires_at <= UTC_TIMESTAMP(6) ORDER BY expires_at, id LIMIT ?";

static int
sweeper_expire_txn(void *arg)
{
	return reservations_expire(*(long long *)arg);
}

void
sweeper_run(int force)
{
	static struct timespec	 last;
	struct timespec		 now;
	struct db_result	*res;
	struct db_param		 p[1];
	long long		 id, ms;
	size_t			 i, done = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - last.tv_sec) * 1000 +
	    (now.tv_nsec - last.tv_nsec) / 1000000;
	if (!force && last.tv_sec != 0 && ms < SWEEPER_INTERVAL_MS)
		return;
	last = now;

	p[0] = (struct db_param)DB_INT(SWEEPER_BATCH);
	if (db_query(sql_due, p, 1, &res) == -1) {
		/* The request itself will meet (and report) the same. */
		log_debug("%s: %s", __func__, db_error());
		return;
	}
	for (i = 0; i < res->nrows; i++) {
		id = db_value(res, i, 0)->i;
		if (db_transaction(sweeper_expire_txn, &id) != 0) {
			log_warnx("%s: reservation %lld: %s", __func__, id,
			    db_error());
			break;
		}
		done++;
	}
	if (done > 0)
		log_info("sweeper: %zu due reservation%s swept", done,
		    done == 1 ? "" : "s");
	db_result_free(res);
}
