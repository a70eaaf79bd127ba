/* isp -Q: may this user reach this destination, and why. */
#include <stdio.h>

#include "isp.h"

/* Not there yet. */
int
query_main(struct isp *i, const char *user, const char *hostport)
{
	(void)i;
	fprintf(stderr, "isp: -Q %s %s: not available in this build\n", user,
	    hostport);
	return 1;
}
