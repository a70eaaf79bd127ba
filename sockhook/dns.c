/* sockhook: placeholder addresses for names resolved inside.
 *
 * Names under a dns suffix get an address from 198.18.0.0/15 (RFC 2544,
 * never used on real networks). The table is shared memory set up when
 * the library loads, so a process and the children it forks agree on it,
 * even for names one of them adds later. It is lock-free: entries are
 * claimed with an atomic counter and published with a ready flag.
 *
 * Entry i's address is DNS_NET + 1 + (base + i * stride) mod DNS_SPAN,
 * with base and stride drawn at random when the table is made: a
 * placeholder says nothing about which name holds it, so an address from
 * a web page or a hostile resolver cannot be aimed at an inside name. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "sockhook.h"

#define DNS_ENTRIES 16384
#define DNS_SPAN    131070U /* 198.18.0.1 to 198.19.255.254 */

struct dns_entry {
	int ready;
	char name[256];
};

struct dns_table {
	unsigned count;
	uint32_t base, stride, inverse; /* the keyed order of addresses */
	struct dns_entry e[DNS_ENTRIES];
};

static struct dns_table *dns_tab;

/* x to the power -1 modulo DNS_SPAN (x coprime to it). */
static uint32_t
dns_inverse(uint32_t x)
{
	int64_t t = 0, nt = 1, r = DNS_SPAN, nr = x, q, tmp;

	while (nr != 0) {
		q = r / nr;
		tmp = t - q * nt;
		t = nt;
		nt = tmp;
		tmp = r - q * nr;
		r = nr;
		nr = tmp;
	}
	return (uint32_t)(t < 0 ? t + DNS_SPAN : t);
}

/* Random bytes from the kernel; -1 if there are none. */
static int
dns_random(void *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (getrandom(buf, len, GRND_NONBLOCK) == (ssize_t)len)
		return 0;
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, len);
	real.close(fd); /* not our own hook: this runs inside its set-up */
	return n == (ssize_t)len ? 0 : -1;
}

/* Map the shared table and draw its order of addresses. */
void
dns_init(void)
{
	uint32_t r[2];
	void *p;

	if (dns_random(r, sizeof r) != 0)
		return; /* no placeholders rather than guessable ones */
	p = mmap(NULL, sizeof *dns_tab, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	dns_tab = p;
	dns_tab->base = r[0] % DNS_SPAN;
	/* DNS_SPAN is 2 * 3 * 5 * 17 * 257: a stride sharing none of them. */
	dns_tab->stride = r[1] % DNS_SPAN;
	while (dns_tab->stride % 2 == 0 || dns_tab->stride % 3 == 0 ||
	    dns_tab->stride % 5 == 0 || dns_tab->stride % 17 == 0 ||
	    dns_tab->stride % 257 == 0)
		dns_tab->stride = (dns_tab->stride + 1) % DNS_SPAN;
	dns_tab->inverse = dns_inverse(dns_tab->stride);
}

/* The placeholder of entry i (host order). */
static uint32_t
dns_addr_of(unsigned i)
{
	return DNS_NET + 1 +
	    (uint32_t)(((uint64_t)dns_tab->base +
			   (uint64_t)i * dns_tab->stride) %
		DNS_SPAN);
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
			*addr = dns_addr_of(i);
			return 0;
		}
	}
	/* Claim the next entry; the count never passes DNS_ENTRIES. */
	i = __atomic_load_n(&dns_tab->count, __ATOMIC_ACQUIRE);
	do {
		if (i >= DNS_ENTRIES) {
			shlog_warnx("more than %d inside names", DNS_ENTRIES);
			return -1;
		}
	} while (!__atomic_compare_exchange_n(&dns_tab->count, &i, i + 1, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	memcpy(dns_tab->e[i].name, n, strlen(n) + 1);
	__atomic_store_n(&dns_tab->e[i].ready, 1, __ATOMIC_RELEASE);
	*addr = dns_addr_of(i);
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
	uint32_t i, o;

	if (dns_tab == NULL || !dns_is_placeholder(addr) || addr == DNS_NET)
		return NULL;
	if ((o = addr - DNS_NET - 1) >= DNS_SPAN)
		return NULL;
	i = (uint32_t)((uint64_t)((o + DNS_SPAN - dns_tab->base) % DNS_SPAN) *
	    dns_tab->inverse % DNS_SPAN);
	if (i >= DNS_ENTRIES ||
	    !__atomic_load_n(&dns_tab->e[i].ready, __ATOMIC_ACQUIRE))
		return NULL;
	if (strlen(dns_tab->e[i].name) >= len)
		return NULL;
	strcpy(buf, dns_tab->e[i].name);
	return buf;
}
