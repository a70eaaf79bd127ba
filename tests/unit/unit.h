/* A tiny unit-test harness: CHECK counts, main prints the summary. */
#ifndef DP_UNIT_H
#define DP_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_pass, unit_fail;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (cond)                                                      \
			unit_pass++;                                           \
		else {                                                         \
			unit_fail++;                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
		}                                                              \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                        \
	do {                                                                   \
		const char *h_ = (hay);                                        \
		if (h_ != NULL && strstr(h_, (needle)) != NULL)                \
			unit_pass++;                                           \
		else {                                                         \
			unit_fail++;                                           \
			fprintf(stderr,                                        \
			    "%s:%d: \"%s\" does not contain "                  \
			    "\"%s\"\n",                                        \
			    __FILE__, __LINE__, h_ ? h_ : "(null)", (needle)); \
		}                                                              \
	} while (0)

#define CHECK_STR_EQ(got, want)                                              \
	do {                                                                 \
		const char *g_ = (got);                                      \
		if (g_ != NULL && strcmp(g_, (want)) == 0)                   \
			unit_pass++;                                         \
		else {                                                       \
			unit_fail++;                                         \
			fprintf(stderr, "%s:%d: \"%s\" is not \"%s\"\n",     \
			    __FILE__, __LINE__, g_ ? g_ : "(null)", (want)); \
		}                                                            \
	} while (0)

/* Print the summary; the exit code is the verdict. */
static inline int
unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_pass, unit_fail);
	return unit_fail == 0 ? 0 : 1;
}

#endif
