/* CUnit to TAP: see runner.h. */

#include <stdio.h>
#include <string.h>

#include <CUnit/TestRun.h>

#include "runner.h"

static int	 unit_n;
static int	 unit_failed;

static void
unit_complete(const CU_pTest test, const CU_pSuite suite,
    const CU_pFailureRecord failure)
{
	const CU_FailureRecord	*f;

	unit_n++;
	if (failure == NULL) {
		printf("ok %d - %s/%s\n", unit_n, suite->pName, test->pName);
		return;
	}
	unit_failed++;
	printf("not ok %d - %s/%s\n", unit_n, suite->pName, test->pName);
	for (f = failure; f != NULL; f = f->pNext)
		printf("#   %s:%u: %s\n", f->strFileName ? f->strFileName : "?",
		    f->uiLineNumber, f->strCondition ? f->strCondition : "");
}

int
unit_main(int argc, char **argv, const char *name,
    const struct unit_case *cases)
{
	const struct unit_case	*c;
	CU_pSuite		 suite;
	char			 path[256];
	int			 planned = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	if ((suite = CU_add_suite(name, NULL, NULL)) == NULL)
		return 1;
	for (c = cases; c->name != NULL; c++) {
		snprintf(path, sizeof path, "%s/%s", name, c->name);
		if (argc > 1 && strncmp(path, argv[1], strlen(argv[1])) != 0)
			continue;
		if (CU_add_test(suite, c->name, c->fn) == NULL)
			return 1;
		planned++;
	}
	printf("1..%d\n", planned);
	CU_set_test_complete_handler(unit_complete);
	if (CU_run_all_tests() != CUE_SUCCESS)
		return 1;
	CU_cleanup_registry();
	return unit_failed > 0 || unit_n != planned;
}
