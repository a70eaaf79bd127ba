/* Destination allow lists: "10.1.0.0/16:21,80 192.0.2.7/32:1-65535". */
#ifndef DP_ALLOW_H
#define DP_ALLOW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct allow_ports {
	uint16_t ap_lo, ap_hi;
};

struct allow_rule {
	int ar_family; /* AF_INET, AF_INET6, or AF_UNSPEC for a name */
	char *ar_name; /* "host.example", or ".example" for a suffix */
	uint8_t ar_addr[16];
	int ar_prefix;
	struct allow_ports *ar_ports; /* NULL: every port */
	size_t ar_nports;
};

struct allow {
	struct allow_rule *al_rules;
	size_t al_n;
};

int allow_parse(struct allow *, const char *, char **cause);
int allow_match(const struct allow *, const struct sockaddr *);
int allow_match_host(const struct allow *, const struct sockaddr *);
int allow_match_name(const struct allow *, const char *name, uint16_t port);
long allow_find(const struct allow *, const struct sockaddr *);
long allow_find_name(const struct allow *, const char *name, uint16_t port);
const char *allow_rule_str(const struct allow_rule *, char *, size_t);
int allow_has_names(const struct allow *);
int allow_overlap(const struct allow *, const struct allow *, char *, size_t);
void allow_free(struct allow *);

#endif
