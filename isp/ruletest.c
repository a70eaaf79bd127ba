/* isp -R: try a rule file on its vectors and on a capture. */
#include <stdio.h>

#include "isp.h"

/* Not there yet. */
int
ruletest_main(const char *rulefile, const char *capture)
{
	(void)capture;
	fprintf(stderr, "isp: -R %s: not available in this build\n", rulefile);
	return 1;
}
