/* sockhook: once-only set-up, and the real libc functions behind the hooks. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sockhook.h"

struct real real;
struct config sh_conf;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/* Find the next definition of a symbol; abort if it is our own hook. */
static void *
real_sym(const char *name)
{
	Dl_info self, found;
	void *p;
	char msg[256];
	int n;

	p = dlsym(RTLD_NEXT, name);
	if (p != NULL && dladdr((void *)real_sym, &self) != 0 &&
	    dladdr(p, &found) != 0 && found.dli_fbase == self.dli_fbase) {
		n = snprintf(msg, sizeof msg,
		    "sockhook: dlsym(RTLD_NEXT, \"%s\") returned the hook "
		    "itself\n",
		    name);
		if (write(2, msg, (size_t)n) < 0)
			abort();
		abort();
	}
	if (p == NULL) {
		n = snprintf(msg, sizeof msg, "sockhook: libc has no %s: %s\n",
		    name, dlerror());
		if (write(2, msg, (size_t)n) < 0)
			abort();
		abort();
	}
	return p;
}

/* Look up every real function. */
static void
real_resolve(void)
{
	real.connect = real_sym("connect");
	real.getpeername = real_sym("getpeername");
	real.getsockname = real_sym("getsockname");
	real.getsockopt = real_sym("getsockopt");
	real.setsockopt = real_sym("setsockopt");
	real.close = real_sym("close");
	real.dup2 = real_sym("dup2");
	real.dup3 = real_sym("dup3");
	real.epoll_ctl = real_sym("epoll_ctl");
	real.sendto = real_sym("sendto");
	real.sendmsg = real_sym("sendmsg");
	real.sendmmsg = real_sym("sendmmsg");
	real.getaddrinfo = real_sym("getaddrinfo");
	real.getnameinfo = real_sym("getnameinfo");
	real.gethostbyname = real_sym("gethostbyname");
	real.gethostbyname2 = real_sym("gethostbyname2");
	real.gethostbyname_r = real_sym("gethostbyname_r");
	real.gethostbyname2_r = real_sym("gethostbyname2_r");
	real.gethostbyaddr = real_sym("gethostbyaddr");
	real.gethostbyaddr_r = real_sym("gethostbyaddr_r");
}

/* Symbols, tables, then the configuration (one line on stderr if bad). */
static void
real_init(void)
{
	const char *path, *dbg;
	char *cause = NULL;

	real_resolve();
	fdtab_atfork();
	dns_init();
	if ((path = getenv("SOCKHOOK_CONF")) == NULL || *path == '\0')
		path = SOCKHOOK_DEFAULT_CONF;
	if (config_load(&sh_conf, path, CONFIG_SECRETS, &cause) != 0) {
		shlog_warnx("%s%s", cause != NULL ? cause : path,
		    sh_conf.routes_known
			? "; inside destinations are refused"
			: "; every non-loopback TCP connect is refused");
		free(cause);
	}
	dbg = getenv("SOCKHOOK_DEBUG");
	sh_conf.debug = dbg != NULL && *dbg != '\0' && strcmp(dbg, "0") != 0;
}

/* Run real_init exactly once, from whichever thread comes first. */
void
real_ready(void)
{
	pthread_once(&real_once, real_init);
}

/* Set up as soon as the library is loaded. */
__attribute__((constructor)) static void
real_ctor(void)
{
	real_ready();
}
