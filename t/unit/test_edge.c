/*
 * Unit tests of proxy/edge.c: cookies, the balancing key of each balance
 * mode, idempotent methods and the retry budget.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <string.h>

#include "config.h"
#include "rules.h"
#include "http_parse.h"
#include "edge.h"
#include "runner.h"

static void
t_cookie(void)
{
	char	 v[16];

	CU_ASSERT_EQUAL(edge_cookie("a=1; sid=abc; b=2", "sid", v,
	    sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "abc");
	CU_ASSERT_EQUAL(edge_cookie("sid=\"q\"", "sid", v, sizeof(v)), 0);
	CU_ASSERT_STRING_EQUAL(v, "q");
	/* a name that only starts like it is another cookie */
	CU_ASSERT_EQUAL(edge_cookie("sidx=1", "sid", v, sizeof(v)), -1);
	CU_ASSERT_EQUAL(edge_cookie("", "sid", v, sizeof(v)), -1);
	CU_ASSERT_EQUAL(edge_cookie("sid=0123456789abcdefgh", "sid", v,
	    sizeof(v)), -1);
}

/* Parses a head into h with fields and NUL-terminated strings in blk. */
static void
head(const char *text, struct http_head *h, struct http_field *f,
    char *blk)
{
	const char	*errstr;
	int		 i;

	memset(h, 0, sizeof(*h));
	h->hh_fields = f;
	h->hh_maxfields = 8;
	strcpy(blk, text);
	CU_ASSERT_EQUAL_FATAL(http_parse_head(blk, strlen(blk), h, &errstr),
	    0);
	for (i = 0; i < h->hh_nfields; i++) {
		blk[f[i].hf_name + f[i].hf_name_len] = '\0';
		blk[f[i].hf_value + f[i].hf_value_len] = '\0';
	}
}

static void
t_hash_key(void)
{
	struct gw_service	 svc;
	struct http_head	 h;
	struct http_field	 f[8];
	char			 blk[256], buf[32];

	head("GET / HTTP/1.1\r\nHost: x\r\nX-User: u7\r\n"
	    "Cookie: a=1; route=r9\r\n\r\n", &h, f, blk);
	memset(&svc, 0, sizeof(svc));
	svc.svc_balance = GW_BALANCE_ROUNDROBIN;
	CU_ASSERT_PTR_NULL(edge_hash_key(&svc, &h, blk, "10.0.0.1", buf,
	    sizeof(buf)));
	svc.svc_balance = GW_BALANCE_HASH_SOURCE;
	CU_ASSERT_STRING_EQUAL(edge_hash_key(&svc, &h, blk, "10.0.0.1", buf,
	    sizeof(buf)), "10.0.0.1");
	svc.svc_balance = GW_BALANCE_HASH_HEADER;
	svc.svc_hash_key = "x-user";
	CU_ASSERT_STRING_EQUAL(edge_hash_key(&svc, &h, blk, "10.0.0.1", buf,
	    sizeof(buf)), "u7");
	svc.svc_hash_key = "X-None";
	CU_ASSERT_PTR_NULL(edge_hash_key(&svc, &h, blk, "10.0.0.1", buf,
	    sizeof(buf)));
	svc.svc_balance = GW_BALANCE_HASH_COOKIE;
	svc.svc_hash_key = "route";
	CU_ASSERT_STRING_EQUAL(edge_hash_key(&svc, &h, blk, "10.0.0.1", buf,
	    sizeof(buf)), "r9");
}

static void
t_retries(void)
{
	struct gw_service	 svc;
	struct rule_route	 rt;

	memset(&svc, 0, sizeof(svc));
	memset(&rt, 0, sizeof(rt));
	svc.svc_retries = 2;
	rt.r_retries = -1;
	CU_ASSERT_EQUAL(edge_retries(&rt, &svc, "GET"), 2);
	CU_ASSERT_EQUAL(edge_retries(&rt, &svc, "DELETE"), 2);
	CU_ASSERT_EQUAL(edge_retries(&rt, &svc, "POST"), 0);
	CU_ASSERT_EQUAL(edge_retries(&rt, &svc, "PATCH"), 0);
	rt.r_retries = 0;
	CU_ASSERT_EQUAL(edge_retries(&rt, &svc, "GET"), 0);
	rt.r_retries = 3;
	rt.r_retry_non_idempotent = 1;
	CU_ASSERT_EQUAL(edge_retries(&rt, &svc, "POST"), 3);
	CU_ASSERT_EQUAL(edge_idempotent("OPTIONS"), 1);
	CU_ASSERT_EQUAL(edge_idempotent("get"), 0);
}

static const struct unit_case cases[] = {
	{ "cookie", t_cookie },
	{ "hash key", t_hash_key },
	{ "retries", t_retries },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "edge", cases);
}
