/* Allocation wrappers that end the program instead of returning NULL. */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		fatalx("%s: zero size", __func__);
	if ((p = malloc(size)) == NULL)
		fatal("%s: %zu bytes", __func__, size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("%s: zero size", __func__);
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("%s: %zu * %zu bytes", __func__, nmemb, size);
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("%s: zero size", __func__);
	if (size > SIZE_MAX / nmemb)
		fatalx("%s: %zu * %zu overflows", __func__, nmemb, size);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		fatal("%s: %zu * %zu bytes", __func__, nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("%s", __func__);
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("%s", __func__);
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("%s", __func__);
	return n;
}
