/* One MariaDB connection per process, prepared statements, transactions. */

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <errmsg.h>

#include "db.h"
#include "log.h"
#include "xmalloc.h"

#define DB_TXN_ATTEMPTS		4
#define DB_CONNECT_TIMEOUT	2	/* seconds */
#define DB_IO_TIMEOUT		30

/* Server errors that mean this connection is gone. */
#define DB_ER_SERVER_SHUTDOWN	1053
#define DB_ER_CONNECTION_KILLED	1927

struct db_cached {
	char			*dc_sql;
	MYSQL_STMT		*dc_stmt;
	struct db_cached	*dc_next;
};

static struct {
	char			*socket;
	char			*host;
	unsigned int		 port;
	char			*name;
	char			*user;
	char			*password;
} db_conf;

static MYSQL		*db_conn;
static struct db_cached	*db_cache;
static int		 db_in_txn;
static unsigned int	 db_last_errno;
static char		 db_last_error[512];
static int		 db_last_unavailable;

static const char db_init_command[] =
    "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,"
    "NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION'";

static void
db_seterr(unsigned int no, const char *msg, int unavailable)
{
	db_last_errno = no;
	snprintf(db_last_error, sizeof db_last_error, "%s", msg);
	db_last_unavailable = unavailable;
	log_debug("db: error %u: %s", no, msg);
}

static void
db_clearerr(void)
{
	db_last_errno = 0;
	db_last_error[0] = '\0';
	db_last_unavailable = 0;
}

static int
db_is_lost(unsigned int no)
{
	switch (no) {
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_UNKNOWN_HOST:
	case DB_ER_SERVER_SHUTDOWN:
	case DB_ER_CONNECTION_KILLED:
		return 1;
	default:
		return 0;
	}
}

static int
db_is_retryable(unsigned int no)
{
	return no == DB_ER_LOCK_DEADLOCK || no == DB_ER_LOCK_WAIT_TIMEOUT;
}

int
db_in_transaction(void)
{
	return db_in_txn;
}

unsigned int
db_errno(void)
{
	return db_last_errno;
}

const char *
db_error(void)
{
	return db_last_error;
}

int
db_unavailable(void)
{
	return db_last_unavailable;
}

int
db_temporary(void)
{
	return db_last_unavailable || db_is_retryable(db_last_errno);
}

static char *
db_env(const char *name, const char *def)
{
	const char	*v;

	if ((v = getenv(name)) != NULL && *v != '\0')
		return xstrdup(v);
	return def != NULL ? xstrdup(def) : NULL;
}

int
db_configure(const char *service, const char **errstr)
{
	char		*port, *path, buf[1024], *end;
	FILE		*fp;
	size_t		 n;
	unsigned long	 p;

	db_conf.socket = db_env("AGORA_DB_SOCKET", NULL);
	db_conf.host = db_env("AGORA_DB_HOST", NULL);
	db_conf.name = db_env("AGORA_DB_NAME", service);
	db_conf.user = db_env("AGORA_DB_USER", "agora");
	if ((port = db_env("AGORA_DB_PORT", NULL)) != NULL) {
		p = strtoul(port, &end, 10);
		free(port);
		if (*end != '\0' || p == 0 || p > 65535) {
			*errstr = "AGORA_DB_PORT is not a port number";
			return -1;
		}
		db_conf.port = p;
	}
	if ((path = db_env("AGORA_DB_PASSWORD_FILE", NULL)) != NULL) {
		if ((fp = fopen(path, "r")) == NULL) {
			free(path);
			*errstr = "cannot open AGORA_DB_PASSWORD_FILE";
			return -1;
		}
		n = fread(buf, 1, sizeof buf - 1, fp);
		fclose(fp);
		free(path);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		db_conf.password = xstrdup(buf);
		explicit_bzero(buf, sizeof buf);
	}
	return 0;
}

static void
db_cache_clear(void)
{
	struct db_cached	*dc, *next;

	for (dc = db_cache; dc != NULL; dc = next) {
		next = dc->dc_next;
		mysql_stmt_close(dc->dc_stmt);
		free(dc->dc_sql);
		free(dc);
	}
	db_cache = NULL;
}

void
db_close(void)
{
	db_cache_clear();
	if (db_conn != NULL)
		mysql_close(db_conn);
	db_conn = NULL;
	db_in_txn = 0;
}

/*
 * A healthy idle connection never has anything to read: if the socket is
 * readable, the server closed it (restart, wait_timeout, KILL).  Checking
 * before use saves sending a statement into a dead connection, after
 * which it would be unknown whether it ran.
 */
static int
db_idle_ok(void)
{
	struct pollfd	 pfd;

	pfd.fd = mysql_get_socket(db_conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return 0;
	if (poll(&pfd, 1, 0) == 0)
		return 1;
	return 0;
}

static int
db_connect(void)
{
	unsigned int	 timeout;

	if (db_conn != NULL) {
		if (db_in_txn || db_idle_ok())
			return 0;
		log_info("db: connection to the server was closed, "
		    "reconnecting");
		db_close();
	}
	if ((db_conn = mysql_init(NULL)) == NULL) {
		db_seterr(CR_OUT_OF_MEMORY, "mysql_init failed", 1);
		return -1;
	}
	timeout = DB_CONNECT_TIMEOUT;
	mysql_options(db_conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	timeout = DB_IO_TIMEOUT;
	mysql_options(db_conn, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(db_conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	mysql_options(db_conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db_conn, MYSQL_INIT_COMMAND, db_init_command);
	if (mysql_real_connect(db_conn, db_conf.host, db_conf.user,
	    db_conf.password, db_conf.name, db_conf.port, db_conf.socket,
	    0) == NULL) {
		/* Whatever the reason, the client can only retry later. */
		db_seterr(mysql_errno(db_conn), mysql_error(db_conn), 1);
		mysql_close(db_conn);
		db_conn = NULL;
		return -1;
	}
	log_debug("db: connected to %s", db_conf.name);
	return 0;
}

/* Records the connection's error; drops the connection if it is gone. */
static void
db_fail(unsigned int no, const char *msg)
{
	int	 lost = db_is_lost(no);

	db_seterr(no, msg, lost);
	if (lost && !db_in_txn)
		db_close();
}

static MYSQL_STMT *
db_prepare(const char *sql)
{
	struct db_cached	*dc;
	MYSQL_STMT		*stmt;

	for (dc = db_cache; dc != NULL; dc = dc->dc_next)
		if (strcmp(dc->dc_sql, sql) == 0)
			return dc->dc_stmt;
	if ((stmt = mysql_stmt_init(db_conn)) == NULL) {
		db_fail(mysql_errno(db_conn), mysql_error(db_conn));
		return NULL;
	}
	if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
		unsigned int no = mysql_stmt_errno(stmt);
		char msg[512];

		snprintf(msg, sizeof msg, "%s", mysql_stmt_error(stmt));
		mysql_stmt_close(stmt);
		db_fail(no, msg);
		return NULL;
	}
	dc = xcalloc(1, sizeof *dc);
	dc->dc_sql = xstrdup(sql);
	dc->dc_stmt = stmt;
	dc->dc_next = db_cache;
	db_cache = dc;
	return stmt;
}

static void
db_stmt_fail(MYSQL_STMT *stmt)
{
	db_fail(mysql_stmt_errno(stmt), mysql_stmt_error(stmt));
}

/* Prepares (cached), binds and executes; the statement or NULL. */
static MYSQL_STMT *
db_execute(const char *sql, const struct db_param *params, size_t n)
{
	MYSQL_BIND	*bind = NULL;
	MYSQL_STMT	*stmt;
	unsigned long	*lens = NULL;
	size_t		 i;

	db_clearerr();
	if (db_connect() == -1)
		return NULL;
	if ((stmt = db_prepare(sql)) == NULL)
		return NULL;
	if (mysql_stmt_param_count(stmt) != n) {
		db_seterr(CR_PARAMS_NOT_BOUND, "wrong number of parameters",
		    0);
		log_warnx("%s: %zu parameters for: %s", __func__, n, sql);
		return NULL;
	}
	if (n > 0) {
		bind = xcalloc(n, sizeof *bind);
		lens = xcalloc(n, sizeof *lens);
		for (i = 0; i < n; i++) {
			switch (params[i].type) {
			case DB_INT:
				bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
				/* libmariadb only reads input buffers */
				bind[i].buffer = (void *)(uintptr_t)&params[i].i;
				break;
			case DB_STR:
				lens[i] = strlen(params[i].s);
				bind[i].buffer_type = MYSQL_TYPE_STRING;
				bind[i].buffer = (void *)(uintptr_t)params[i].s;
				bind[i].buffer_length = lens[i];
				bind[i].length = &lens[i];
				break;
			default:
				bind[i].buffer_type = MYSQL_TYPE_NULL;
				break;
			}
		}
		if (mysql_stmt_bind_param(stmt, bind) != 0) {
			db_stmt_fail(stmt);
			stmt = NULL;
			goto done;
		}
	}
	if (mysql_stmt_execute(stmt) != 0) {
		db_stmt_fail(stmt);
		stmt = NULL;
	}
done:
	free(bind);
	free(lens);
	return stmt;
}

/*
 * Runs a statement, again once after a connection found dead (only on
 * "gone away", which libmariadb reports when the statement could not be
 * sent), and again after a deadlock when outside a transaction.
 */
static MYSQL_STMT *
db_run(const char *sql, const struct db_param *params, size_t n)
{
	MYSQL_STMT	*stmt;
	int		 attempt;

	for (attempt = 0; attempt < DB_TXN_ATTEMPTS; attempt++) {
		if ((stmt = db_execute(sql, params, n)) != NULL)
			return stmt;
		if (db_in_txn)
			break;
		if (db_last_errno == CR_SERVER_GONE_ERROR && attempt == 0 &&
		    db_conn == NULL)
			continue;
		if (!db_is_retryable(db_last_errno))
			break;
	}
	return NULL;
}

int
db_exec(const char *sql, const struct db_param *params, size_t n,
    unsigned long long *affected, unsigned long long *insert_id)
{
	MYSQL_STMT	*stmt;

	if ((stmt = db_run(sql, params, n)) == NULL)
		return -1;
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(stmt);
	if (insert_id != NULL)
		*insert_id = mysql_stmt_insert_id(stmt);
	mysql_stmt_free_result(stmt);
	return 0;
}

static int
db_is_int(enum enum_field_types t)
{
	return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT ||
	    t == MYSQL_TYPE_LONG || t == MYSQL_TYPE_LONGLONG ||
	    t == MYSQL_TYPE_INT24 || t == MYSQL_TYPE_YEAR;
}

static int
db_is_time(enum enum_field_types t)
{
	return t == MYSQL_TYPE_DATETIME || t == MYSQL_TYPE_TIMESTAMP ||
	    t == MYSQL_TYPE_DATE;
}

int
db_query(const char *sql, const struct db_param *params, size_t n,
    struct db_result **resp)
{
	MYSQL_STMT	*stmt;
	MYSQL_RES	*meta = NULL;
	MYSQL_FIELD	*fields;
	MYSQL_BIND	*bind = NULL, colbind;
	MYSQL_TIME	*times = NULL;
	struct db_result *res;
	struct db_value	*row, *v;
	unsigned long	*lens = NULL;
	my_bool		*nulls = NULL;
	size_t		 ncols, i;
	int		 rc, ret = -1;

	*resp = NULL;
	if ((stmt = db_run(sql, params, n)) == NULL)
		return -1;
	if (mysql_stmt_store_result(stmt) != 0) {
		db_stmt_fail(stmt);
		return -1;
	}
	res = xcalloc(1, sizeof *res);
	if ((meta = mysql_stmt_result_metadata(stmt)) == NULL) {
		/* Not a query: an empty result. */
		*resp = res;
		mysql_stmt_free_result(stmt);
		return 0;
	}
	ncols = mysql_num_fields(meta);
	fields = mysql_fetch_fields(meta);
	res->ncols = ncols;
	bind = xcalloc(ncols, sizeof *bind);
	lens = xcalloc(ncols, sizeof *lens);
	nulls = xcalloc(ncols, sizeof *nulls);
	times = xcalloc(ncols, sizeof *times);
	row = xcalloc(ncols, sizeof *row);
	for (i = 0; i < ncols; i++) {
		bind[i].length = &lens[i];
		bind[i].is_null = &nulls[i];
		if (db_is_int(fields[i].type)) {
			bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[i].buffer = &row[i].i;
		} else if (db_is_time(fields[i].type)) {
			bind[i].buffer_type = MYSQL_TYPE_DATETIME;
			bind[i].buffer = &times[i];
		} else {
			/* Length first, then fetch_column into a fit buffer. */
			bind[i].buffer_type = MYSQL_TYPE_STRING;
			bind[i].buffer = NULL;
			bind[i].buffer_length = 0;
		}
	}
	if (mysql_stmt_bind_result(stmt, bind) != 0) {
		db_stmt_fail(stmt);
		goto done;
	}
	for (;;) {
		memset(row, 0, ncols * sizeof *row);
		rc = mysql_stmt_fetch(stmt);
		if (rc == MYSQL_NO_DATA)
			break;
		if (rc == 1) {
			db_stmt_fail(stmt);
			goto done;
		}
		res->vals = xreallocarray(res->vals, (res->nrows + 1) * ncols,
		    sizeof *res->vals);
		v = &res->vals[res->nrows * ncols];
		memset(v, 0, ncols * sizeof *v);
		for (i = 0; i < ncols; i++) {
			v[i].isnull = nulls[i];
			if (nulls[i])
				continue;
			if (bind[i].buffer_type == MYSQL_TYPE_LONGLONG) {
				v[i].i = row[i].i;
				xasprintf(&v[i].s, "%lld", v[i].i);
			} else if (bind[i].buffer_type == MYSQL_TYPE_DATETIME) {
				v[i].len = xasprintf(&v[i].s,
				    "%04u-%02u-%02uT%02u:%02u:%02uZ",
				    times[i].year, times[i].month,
				    times[i].day, times[i].hour,
				    times[i].minute, times[i].second);
			} else {
				v[i].s = xmalloc(lens[i] + 1);
				memset(&colbind, 0, sizeof colbind);
				colbind.buffer_type = MYSQL_TYPE_STRING;
				colbind.buffer = v[i].s;
				colbind.buffer_length = lens[i];
				if (lens[i] > 0 && mysql_stmt_fetch_column(stmt,
				    &colbind, i, 0) != 0) {
					res->nrows++;
					db_stmt_fail(stmt);
					goto done;
				}
				v[i].s[lens[i]] = '\0';
				v[i].len = lens[i];
			}
			if (v[i].len == 0)
				v[i].len = strlen(v[i].s);
		}
		res->nrows++;
	}
	ret = 0;
done:
	free(row);
	free(bind);
	free(lens);
	free(nulls);
	free(times);
	mysql_free_result(meta);
	mysql_stmt_free_result(stmt);
	if (ret == 0)
		*resp = res;
	else
		db_result_free(res);
	return ret;
}

const struct db_value *
db_value(const struct db_result *res, size_t row, size_t col)
{
	static const struct db_value	 null = { .isnull = 1 };

	if (res == NULL || row >= res->nrows || col >= res->ncols)
		return &null;
	return &res->vals[row * res->ncols + col];
}

void
db_result_free(struct db_result *res)
{
	size_t	 i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nrows * res->ncols; i++)
		free(res->vals[i].s);
	free(res->vals);
	free(res);
}

static int
db_simple(const char *sql)
{
	if (mysql_query(db_conn, sql) != 0) {
		db_fail(mysql_errno(db_conn), mysql_error(db_conn));
		return -1;
	}
	return 0;
}

/* A little jitter so that two deadlocked workers do not meet again. */
static void
db_backoff(int attempt)
{
	struct timespec	 ts;

	ts.tv_sec = 0;
	ts.tv_nsec = (long)(5 + 10 * attempt + arc4random_uniform(10)) *
	    1000000L;
	nanosleep(&ts, NULL);
}

int
db_transaction(int (*fn)(void *), void *arg)
{
	int	 attempt, rc;

	for (attempt = 0; attempt < DB_TXN_ATTEMPTS; attempt++) {
		db_clearerr();
		if (db_connect() == -1)
			return -1;
		if (db_simple("START TRANSACTION") == -1) {
			/* Nothing ran yet: a dead connection is safe to redo. */
			if (db_last_unavailable && attempt == 0)
				continue;
			return -1;
		}
		db_in_txn = 1;
		rc = fn(arg);
		if (rc == 0 && db_conn != NULL && mysql_commit(db_conn) != 0) {
			db_fail(mysql_errno(db_conn), mysql_error(db_conn));
			rc = -1;
		}
		if (rc != 0 && db_conn != NULL && !db_last_unavailable)
			(void)mysql_rollback(db_conn);
		db_in_txn = 0;
		if (rc == -1 && db_last_unavailable)
			db_close();
		if (rc != -1 || !db_is_retryable(db_last_errno) ||
		    attempt + 1 == DB_TXN_ATTEMPTS)
			return rc;
		log_info("db: transaction attempt %d: %s, retrying",
		    attempt + 1, db_last_error);
		db_backoff(attempt);
	}
	return -1;
}
