/* backends/common/outbox.c: event ids are random version 4 UUIDs. */

#include <string.h>

#include "outbox.h"
#include "runner.h"

static int
is_uuid4(const char *u)
{
	size_t	 i;

	if (strlen(u) != OUTBOX_UUIDLEN)
		return 0;
	for (i = 0; i < OUTBOX_UUIDLEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return 0;
		} else if (strchr("0123456789abcdef", u[i]) == NULL ||
		    u[i] == '\0')
			return 0;
	}
	/* Version nibble 4, variant bits 10xx. */
	return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static void
t_uuid_format(void)
{
	char	 u[OUTBOX_UUIDLEN + 1];
	int	 i;

	for (i = 0; i < 200; i++) {
		outbox_uuid(u);
		CU_ASSERT_TRUE(is_uuid4(u));
	}
	CU_ASSERT_FALSE(is_uuid4("0e03978e-40d5-13e8-bc93-6894a57f9324"));
	CU_ASSERT_FALSE(is_uuid4("0e03978e-40d5-43e8-cc93-6894a57f9324"));
}

static void
t_uuid_unique(void)
{
	char	 u[64][OUTBOX_UUIDLEN + 1];
	int	 i, j, dup = 0;

	for (i = 0; i < 64; i++)
		outbox_uuid(u[i]);
	for (i = 0; i < 64; i++)
		for (j = i + 1; j < 64; j++)
			if (strcmp(u[i], u[j]) == 0)
				dup++;
	CU_ASSERT_EQUAL(dup, 0);
}

static const struct unit_case cases[] = {
	{ "uuid/format", t_uuid_format },
	{ "uuid/unique", t_uuid_unique },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "outbox", cases);
}
