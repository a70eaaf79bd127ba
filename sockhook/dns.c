/* sockhook: placeholder addresses for names resolved inside.
 *
 * Names under a dns suffix get an address from 198.18.0.0/15 (RFC 2544,
 * never used on real networks). The table is shared memory set up when
 * the library loads, so a process and the children it forks agree on it,
 * even for names one of them adds later. It is lock-free: entries are
 * claimed with an atomic counter and published with a ready flag. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <sys/mman.h>

#include "sockhook.h"

#define DNS_ENTRIES 16384

struct dns_entry {
	int ready;
	char name[256];
};

struct dns_table {
	unsigned count;
	struct dns_entry e[DNS_ENTRIES];
};

static struct dns_table *dns_tab;

/* Map the shared table. */
void
dns_init(void)
{
	void *p;

	p = mmap(NULL, sizeof *dns_tab, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		dns_tab = p;
}

/* Lower-case name without a trailing dot into buf; -1 if unusable. */
static int
dns_norm(const char *name, char *buf, size_t len)
{
	size_t n = strlen(name), i;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= len)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[n] = '\0';
	return 0;
}

/* Is the name under one of the dns suffixes? "corp.example" covers the
 * name itself and everything under it; ".internal" only what is under. */
int
dns_is_inside(const char *name)
{
	char n[256];
	struct in6_addr a6;
	size_t nl, sl;
	int i;
	const char *s;

	if (sh_conf.nsuffix == 0 || name == NULL ||
	    dns_norm(name, n, sizeof n) != 0)
		return 0;
	if (inet_pton(AF_INET6, n, &a6) == 1 || inet_pton(AF_INET, n, &a6) == 1)
		return 0;
	nl = strlen(n);
	for (i = 0; i < sh_conf.nsuffix; i++) {
		s = sh_conf.suffix[i];
		sl = strlen(s);
		if (s[0] == '.') {
			if (nl > sl && strcmp(n + nl - sl, s) == 0)
				return 1;
		} else if (strcmp(n, s) == 0 ||
		    (nl > sl && n[nl - sl - 1] == '.' &&
			strcmp(n + nl - sl, s) == 0))
			return 1;
	}
	return 0;
}

/* The placeholder for a name (host order), adding it if new. */
int
dns_lookup(const char *name, uint32_t *addr)
{
	char n[256];
	unsigned i, count;

	if (dns_tab == NULL || dns_norm(name, n, sizeof n) != 0)
		return -1;
	count = __atomic_load_n(&dns_tab->count, __ATOMIC_ACQUIRE);
	if (count > DNS_ENTRIES)
		count = DNS_ENTRIES;
	for (i = 0; i < count; i++) {
		if (__atomic_load_n(&dns_tab->e[i].ready, __ATOMIC_ACQUIRE) &&
		    strcmp(dns_tab->e[i].name, n) == 0) {
			*addr = DNS_NET + 1 + i;
			return 0;
		}
	}
	i = __atomic_fetch_add(&dns_tab->count, 1, __ATOMIC_ACQ_REL);
	if (i >= DNS_ENTRIES) {
		shlog_warnx("more than %d inside names", DNS_ENTRIES);
		return -1;
	}
	memcpy(dns_tab->e[i].name, n, strlen(n) + 1);
	__atomic_store_n(&dns_tab->e[i].ready, 1, __ATOMIC_RELEASE);
	*addr = DNS_NET + 1 + i;
	return 0;
}

/* Is addr (host order) in the placeholder range? */
int
dns_is_placeholder(uint32_t addr)
{
	return (addr & DNS_MASK) == DNS_NET;
}

/* The name behind a placeholder, or NULL if it is not one we gave out. */
const char *
dns_reverse(uint32_t addr, char *buf, size_t len)
{
	uint32_t i;

	if (dns_tab == NULL || !dns_is_placeholder(addr) || addr == DNS_NET)
		return NULL;
	i = addr - DNS_NET - 1;
	if (i >= DNS_ENTRIES ||
	    !__atomic_load_n(&dns_tab->e[i].ready, __ATOMIC_ACQUIRE))
		return NULL;
	if (strlen(dns_tab->e[i].name) >= len)
		return NULL;
	strcpy(buf, dns_tab->e[i].name);
	return buf;
}
