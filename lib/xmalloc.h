/*
 * Allocation that never returns NULL: on failure the program ends with a
 * clear message, so no call site has to handle it.  Memory returned is the
 * caller's to free(); free(NULL) is a no-op as usual.
 */
#ifndef AGORA_XMALLOC_H
#define AGORA_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
