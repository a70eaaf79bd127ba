/*
 * libFuzzer: rule file loading (lib/rule.c): the input is one rule file;
 * if it loads, its test vectors run (lib/rule_vec.c). ruleset_load_text
 * writes a temporary copy under $TMPDIR.
 */
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "rule.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Quiet logs. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_rules", 0, 0);
	return 0;
}

/* Load the input as fuzz.ini, run its vectors, free it all. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ruleset *rs = ruleset_new();
	char *cause = NULL;

	if (ruleset_load_text(rs, "fuzz.ini", (const char *)data, size,
		&cause) == 0) {
		(void)ruleset_vector_count(rs);
		if (ruleset_run_vectors(rs, &cause) != 0 && cause == NULL)
			abort(); /* a failure always says why */
	} else if (cause == NULL)
		abort();
	log_info("fuzz: %s", cause != NULL ? cause : "loaded, vectors pass");
	free(cause);
	ruleset_free(rs);
	return 0;
}
