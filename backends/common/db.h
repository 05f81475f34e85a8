/*
 * The service's database: one libmariadb connection per process, opened
 * on first use and reopened after the server went away.  Statements are
 * prepared once per process and cached by their text; parameters are
 * always bound, never formatted into SQL.
 *
 * Configuration comes from the environment (db_configure()):
 *   AGORA_DB_SOCKET        unix socket of mariadbd, or
 *   AGORA_DB_HOST, AGORA_DB_PORT (default 3306)
 *   AGORA_DB_NAME          default: the service name
 *   AGORA_DB_USER          default "agora"
 *   AGORA_DB_PASSWORD_FILE file holding the password (trailing newline
 *                          ignored); unset: no password
 * Sessions run with time_zone '+00:00', utf8mb4 and a strict sql_mode.
 *
 * Functions return 0 or -1; after -1, db_errno()/db_error() say why and
 * db_unavailable() tells "cannot reach the server" (answer 503) from
 * other failures (500, or a mapped error such as 1062 duplicate key).
 */
#ifndef AGORA_DB_H
#define AGORA_DB_H

#include <stddef.h>

#define DB_ER_DUP_ENTRY		1062
#define DB_ER_LOCK_WAIT_TIMEOUT	1205
#define DB_ER_LOCK_DEADLOCK	1213

enum db_type {
	DB_NULL = 0,
	DB_INT,
	DB_STR
};

struct db_param {
	enum db_type	 type;
	long long	 i;
	const char	*s;		/* NUL-terminated */
};

#define DB_INT(v)	{ .type = DB_INT, .i = (v) }
/* A NULL string binds SQL NULL. */
#define DB_STR(v)	{ .type = (v) != NULL ? DB_STR : DB_NULL, .s = (v) }

/*
 * One column of one row.  Integers fill i; DATETIME and TIMESTAMP
 * columns are text in RFC 3339 UTC, "2026-11-25T12:00:00Z"; other
 * columns are text.  s is NUL-terminated (and len its length) for
 * everything but NULL.
 */
struct db_value {
	int		 isnull;
	long long	 i;
	char		*s;
	size_t		 len;
};

struct db_result {
	size_t		 ncols;
	size_t		 nrows;
	struct db_value	*vals;		/* nrows * ncols */
};

/* 0, or -1 with *errstr (unreadable password file). */
int		 db_configure(const char *service, const char **errstr);
void		 db_close(void);

/*
 * Runs a statement that returns no rows.  affected and insert_id may be
 * NULL.
 */
int		 db_exec(const char *sql, const struct db_param *, size_t,
		    unsigned long long *affected,
		    unsigned long long *insert_id);
/* Runs a query and fetches every row into *res (free with db_result_free). */
int		 db_query(const char *sql, const struct db_param *, size_t,
		    struct db_result **res);
const struct db_value
		*db_value(const struct db_result *, size_t row, size_t col);
void		 db_result_free(struct db_result *);	/* NULL is a no-op */

/*
 * Runs fn(arg) inside a transaction.  fn returns 0 to commit, a positive
 * code to roll back and have db_transaction return it (not found, a
 * conflict...), or -1 after a failed db_* call.  A deadlock or lock wait
 * timeout (1213, 1205) in fn or at commit rolls back and runs fn again, a
 * few times with a short backoff, so fn must not keep state across runs.
 * Returns 0, fn's positive code, or -1.
 */
int		 db_transaction(int (*fn)(void *), void *arg);

/* Whether a db_transaction() function is running (outbox sanity check). */
int		 db_in_transaction(void);

unsigned int	 db_errno(void);
const char	*db_error(void);
int		 db_unavailable(void);
/* Unavailable, or lock contention that outlasted the retries: 503. */
int		 db_temporary(void);

#endif
