/*
 * Refresh tokens: 256 random bits, handed out once and stored only as
 * their SHA-256.  A login starts a family; each use marks the token used
 * and issues its successor in the same family (token.c decides).
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "db.h"
#include "log.h"
#include "xmalloc.h"

#define REFRESH_BYTES		32
#define REFRESH_FAMILY_BYTES	16	/* 22 base64url characters */

static const char sql_insert[] =
    "INSERT INTO refresh_tokens (token_hash, family, identity_id,"
    " client_id, scope, state, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, 'active', ?, ?)";
/*
 * Expired rows can go: a token past expires_at is refused anyway, so
 * forgetting it loses no reuse detection.  Bounded per call.
 */
static const char sql_prune[] =
    "DELETE FROM refresh_tokens WHERE expires_at < ? LIMIT 100";
static const char sql_revoke_family[] =
    "UPDATE refresh_tokens SET state = 'revoked'"
    " WHERE family = ? AND state <> 'revoked'";

char *
refresh_issue(long long identity_id, const char *client_id,
    const char *scope, const char *family)
{
	struct db_param	 p[7];
	char		*tok, *fam, hash[65];
	long long	 now = (long long)time(NULL);

	tok = auth_random(REFRESH_BYTES);
	fam = family != NULL ? xstrdup(family) :
	    auth_random(REFRESH_FAMILY_BYTES);
	auth_sha256_hex(tok, hash);
	p[0] = (struct db_param)DB_STR(hash);
	p[1] = (struct db_param)DB_STR(fam);
	p[2] = (struct db_param)DB_INT(identity_id);
	p[3] = (struct db_param)DB_STR(client_id);
	p[4] = (struct db_param)DB_STR(scope);
	p[5] = (struct db_param)DB_INT(now);
	p[6] = (struct db_param)DB_INT(now + auth_conf.ac_refresh_ttl);
	if (db_exec(sql_insert, p, 7, NULL, NULL) == -1) {
		OPENSSL_cleanse(tok, strlen(tok));
		free(tok);
		tok = NULL;
	} else if (family == NULL) {
		/* Once per login is often enough. */
		p[0] = (struct db_param)DB_INT(now);
		if (db_exec(sql_prune, p, 1, NULL, NULL) == -1)
			log_warnx("%s: pruning: %s", __func__, db_error());
	}
	free(fam);
	return tok;
}

int
refresh_revoke_family(const char *family)
{
	struct db_param	p[1];

	p[0] = (struct db_param)DB_STR(family);
	return db_exec(sql_revoke_family, p, 1, NULL, NULL);
}
