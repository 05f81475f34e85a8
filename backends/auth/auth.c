/*
 * agora-auth: the OAuth 2.0 token service of API.md.
 *
 *	agora-auth [-v] [-s path|host:port]	serve over FastCGI
 *	agora-auth -B [-v]			bootstrap, see bootstrap.c
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auth.h"
#include "base64url.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "router.h"
#include "service.h"
#include "validate.h"
#include "xmalloc.h"

/* Token requests are a few hundred bytes of form data. */
#define AUTH_MAXBODY		(16 * 1024)

/*
 * The gateway strips "/api": token endpoints start at "/auth"; the
 * well-known documents are served as they are.
 */
static const struct route auth_routes[] = {
	{ "POST", "/auth/token", token_handler },
	{ "POST", "/auth/revoke", revoke_handler },
	{ "POST", "/auth/introspect", introspect_handler },
	{ "POST", "/auth/keys/rotate", keys_rotate_handler },
	{ "POST", "/auth/identities", identities_create },
	{ "GET", "/auth/identities/{id}", identities_get },
	{ "DELETE", "/auth/identities/{id}", identities_delete },
	{ "GET", "/.well-known/jwks.json", keys_jwks },
	{ "GET", "/.well-known/openid-configuration", discovery_handler },
	{ NULL, NULL, NULL }
};

static const struct service auth_service = {
	.sv_name = "auth",
	.sv_routes = auth_routes,
	.sv_maxbody = AUTH_MAXBODY,
};

struct auth_config	auth_conf;

/* A positive integer from the environment, or def. */
static long long
auth_env_num(const char *name, long long def, long long min, long long max)
{
	const char	*s = getenv(name);
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0')
		return def;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < min || v > max) {
		fprintf(stderr, "agora-auth: %s: not a number in "
		    "[%lld, %lld]\n", name, min, max);
		exit(1);
	}
	return v;
}

void
auth_config_load(void)
{
	const char	*s;

	s = getenv("AGORA_AUTH_ISSUER");
	auth_conf.ac_issuer = s != NULL && *s != '\0' ? s :
	    "http://127.0.0.1:8080";
	s = getenv("AGORA_AUTH_AUDIENCE");
	auth_conf.ac_audience = s != NULL && *s != '\0' ? s : "agora";
	auth_conf.ac_access_ttl = auth_env_num("AGORA_AUTH_ACCESS_TTL", 900,
	    1, 86400);
	auth_conf.ac_refresh_ttl = auth_env_num("AGORA_AUTH_REFRESH_TTL",
	    30 * 86400, 1, 365 * 86400);
	auth_conf.ac_lock_threshold = auth_env_num(
	    "AGORA_AUTH_LOCK_THRESHOLD", 5, 1, 1000);
	auth_conf.ac_lock_decay = auth_env_num("AGORA_AUTH_LOCK_DECAY", 60, 1,
	    86400);
	auth_conf.ac_scrypt_n = auth_env_num("AGORA_AUTH_SCRYPT_N", 32768,
	    1024, 1048576);
	/* scrypt needs a power of two */
	if ((auth_conf.ac_scrypt_n & (auth_conf.ac_scrypt_n - 1)) != 0) {
		fprintf(stderr, "agora-auth: AGORA_AUTH_SCRYPT_N must be a "
		    "power of two\n");
		exit(1);
	}
}

int
auth_list_has(const char *list, const char *word)
{
	size_t		 wl = strlen(word);
	const char	*p = list, *e;

	if (wl == 0)
		return 0;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if ((size_t)(e - p) == wl && strncmp(p, word, wl) == 0)
			return 1;
		p = e;
	}
	return 0;
}

int
auth_username_ok(const char *name)
{
	size_t	i, len = strlen(name);

	if (len == 0 || !json_utf8_valid(name, len) ||
	    validate_chars(name) > AUTH_USERNAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

char *
auth_random(size_t n)
{
	unsigned char	buf[64];

	if (n > sizeof buf || RAND_bytes(buf, (int)n) != 1)
		fatalx("auth_random: no random bytes");
	return base64url_encode_dup(buf, n);
}

void
auth_sha256_hex(const char *s, char out[65])
{
	unsigned char	md[SHA256_DIGEST_LENGTH];
	size_t		i;

	SHA256((const unsigned char *)s, strlen(s), md);
	for (i = 0; i < sizeof md; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int
main(int argc, char **argv)
{
	int	i, boot = 0, verbose = 0;

	auth_config_load();
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-B") == 0)
			boot = 1;
		else if (strcmp(argv[i], "-v") == 0)
			verbose++;
	}
	if (boot) {
		if (argc != 2 + verbose) {
			fprintf(stderr, "usage: agora-auth -B [-v]\n");
			return 1;
		}
		return bootstrap_main(verbose);
	}
	return service_main(argc, argv, &auth_service);
}
