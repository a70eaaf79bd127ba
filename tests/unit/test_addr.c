/* Addresses: is an endpoint one of this host's own? */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "unit.h"

static int fail_ifaddrs; /* getifaddrs fails while set */

/* getifaddrs as libc has it, or failing on demand. */
int
getifaddrs(struct ifaddrs **ifap)
{
	int (*real)(struct ifaddrs **) =
	    (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");

	if (fail_ifaddrs || real == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return real(ifap);
}

/* An endpoint for a numeric address. */
static struct endpoint
ep_of(const char *addr)
{
	struct endpoint ep;

	memset(&ep, 0, sizeof ep);
	if (inet_pton(AF_INET, addr, ep.ep_addr) == 1) {
		ep.ep_atyp = ATYP_IPV4;
		ep.ep_len = 4;
	} else if (inet_pton(AF_INET6, addr, ep.ep_addr) == 1) {
		ep.ep_atyp = ATYP_IPV6;
		ep.ep_len = 16;
	}
	ep.ep_port = 21;
	return ep;
}

/* Loopback, an address of an interface, one that is not; and failure. */
static void
test_is_local(void)
{
	struct ifaddrs *ifs, *i;
	struct endpoint ep;
	int found = 0;

	ep = ep_of("127.0.0.1");
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("127.9.9.9");
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("::1");
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("::ffff:127.0.0.2"); /* loopback, IPv4-mapped */
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("0.0.0.0"); /* connecting to it reaches this host */
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("::");
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("::ffff:0.0.0.0");
	CHECK(endpoint_is_local(&ep) == 1);
	ep = ep_of("::ffff:192.0.2.77");
	CHECK(endpoint_is_local(&ep) == 0);
	ep = ep_of("192.0.2.77"); /* TEST-NET-1: on no interface here */
	CHECK(endpoint_is_local(&ep) == 0);
	ep = ep_of("2001:db8::77");
	CHECK(endpoint_is_local(&ep) == 0);
	/* Every address of an interface is this host's. */
	CHECK(getifaddrs(&ifs) == 0);
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		addr_to_endpoint(i->ifa_addr, &ep);
		CHECK(endpoint_is_local(&ep) == 1);
		found++;
	}
	freeifaddrs(ifs);
	CHECK(found > 0);
	/* Cannot read the list: neither yes nor no. */
	fail_ifaddrs = 1;
	ep = ep_of("192.0.2.77");
	CHECK(endpoint_is_local(&ep) == -1);
	ep = ep_of("127.0.0.1"); /* loopback needs no list */
	CHECK(endpoint_is_local(&ep) == 1);
	fail_ifaddrs = 0;
}

int
main(void)
{
	test_is_local();
	return unit_done("addr");
}
