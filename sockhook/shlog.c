/* sockhook: messages on stderr, without stdio and without allocation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sockhook.h"

/* Write "sockhook[pid]: message" in one write. */
static void
shlog_vwrite(const char *fmt, va_list ap)
{
	char buf[1024];
	int n, m, saved = errno;

	n = snprintf(buf, sizeof buf, "sockhook[%ld]: ", (long)getpid());
	m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	if (write(2, buf, (size_t)n) < 0)
		errno = saved;
	errno = saved;
}

/* A warning, always shown. */
void
shlog_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	shlog_vwrite(fmt, ap);
	va_end(ap);
}

/* A trace line, only with SOCKHOOK_DEBUG set. */
void
shlog_debug(const char *fmt, ...)
{
	va_list ap;

	if (!sh_conf.debug)
		return;
	va_start(ap, fmt);
	shlog_vwrite(fmt, ap);
	va_end(ap);
}

/* Print an address as "a.b.c.d:p" or "[v6]:p". */
const char *
shlog_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, h, sizeof h);
		port = ntohs(sin->sin_port);
		snprintf(buf, len, "%s:%u", h, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, h, sizeof h);
		port = ntohs(sin6->sin6_port);
		snprintf(buf, len, "[%s]:%u", h, port);
	} else
		snprintf(buf, len, "family %d", sa->sa_family);
	return buf;
}
