/*
 * agora-auth -B: first-run setup, run once by tools/quickstart (and safe
 * to run again).  With the same environment as the service, it
 *   - creates the first signing key, when there is none;
 *   - creates the client "service" (client_credentials, role service)
 *     with a random secret;
 *   - creates the public client "web" (password and refresh_token grants)
 *     for the shop's own front end;
 *   - creates the identity "admin" (role admin) with a random password.
 * What it creates is printed on stdout, once, as shell assignments:
 *	AGORA_SERVICE_CLIENT_ID=service
 *	AGORA_SERVICE_CLIENT_SECRET=...
 *	AGORA_ADMIN_USER=admin
 *	AGORA_ADMIN_PASSWORD=...
 * Whatever already existed is left alone and reported on stderr.  Exit 0,
 * or 1 when something failed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "db.h"
#include "log.h"

static const char sql_client[] =
    "INSERT INTO clients (client_id, secret_hash, grant_types, scope,"
    " roles, created_at) VALUES (?, ?, ?, ?, ?, ?)";

static const struct {
	const char	*id;
	int		 confidential;
	const char	*grants;
	const char	*roles;
} bootstrap_clients[] = {
	{ "service", 1, "client_credentials", "service" },
	{ "web", 0, "password refresh_token", "" },
};

/* 0 created (secret printed), 1 existed, -1 failed. */
static int
bootstrap_client(size_t i)
{
	struct db_param	 p[6];
	char		*secret = NULL, hash[65];

	if (bootstrap_clients[i].confidential) {
		secret = auth_random(32);
		auth_sha256_hex(secret, hash);
	}
	p[0] = (struct db_param)DB_STR(bootstrap_clients[i].id);
	p[1] = (struct db_param)DB_STR(secret != NULL ? hash : NULL);
	p[2] = (struct db_param)DB_STR(bootstrap_clients[i].grants);
	p[3] = (struct db_param)DB_STR("");
	p[4] = (struct db_param)DB_STR(bootstrap_clients[i].roles);
	p[5] = (struct db_param)DB_INT((long long)time(NULL));
	if (db_exec(sql_client, p, 6, NULL, NULL) == -1) {
		free(secret);
		if (db_errno() == DB_ER_DUP_ENTRY) {
			fprintf(stderr, "agora-auth: client %s exists\n",
			    bootstrap_clients[i].id);
			return 1;
		}
		log_warnx("%s: client %s: %s", __func__,
		    bootstrap_clients[i].id, db_error());
		return -1;
	}
	if (secret != NULL) {
		if (strcmp(bootstrap_clients[i].id, "service") == 0)
			printf("AGORA_SERVICE_CLIENT_ID=%s\n"
			    "AGORA_SERVICE_CLIENT_SECRET=%s\n",
			    bootstrap_clients[i].id, secret);
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	return 0;
}

int
bootstrap_main(int verbose)
{
	const char	*errstr;
	char		*pass;
	long long	 id;
	size_t		 i;
	int		 rc, failed = 0;

	log_init("agora-auth", verbose);
	if (db_configure("auth", &errstr) == -1)
		fatalx("%s", errstr);
	if (keys_signing(&errstr) == NULL) {
		log_warnx("signing key: %s", errstr);
		failed = 1;
	}
	for (i = 0; i < sizeof bootstrap_clients / sizeof bootstrap_clients[0];
	    i++)
		if (bootstrap_client(i) == -1)
			failed = 1;
	pass = auth_random(18);
	rc = identities_insert("admin", pass, "admin", &id);
	if (rc == 0)
		printf("AGORA_ADMIN_USER=admin\nAGORA_ADMIN_PASSWORD=%s\n",
		    pass);
	else if (rc == 1)
		fprintf(stderr, "agora-auth: identity admin exists\n");
	else {
		log_warnx("identity admin: %s", db_error());
		failed = 1;
	}
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	fflush(stdout);
	db_close();
	return failed;
}
