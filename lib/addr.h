/* Socket address helpers: parsing, printing, endpoint conversion. */
#ifndef DP_ADDR_H
#define DP_ADDR_H

#include <sys/socket.h>

#include "frame.h"

#define ADDR_STRLEN 300

int addr_split_hostport(const char *, char **host, char **port);
int addr_parse_numeric(const char *host, const char *port,
    struct sockaddr_storage *, socklen_t *);
const char *addr_str(const struct sockaddr *, char *, size_t);
void addr_to_endpoint(const struct sockaddr *, struct endpoint *);
int addr_from_endpoint(const struct endpoint *, struct sockaddr_storage *,
    socklen_t *);
const char *endpoint_str(const struct endpoint *, char *, size_t);
int endpoint_name_ok(const struct endpoint *);
const char *endpoint_raw(const struct endpoint *, char *, size_t);
int addr_port_parse(const char *, uint16_t *);
int endpoint_same_host(const struct endpoint *, const struct endpoint *);
int endpoint_is_local(const struct endpoint *);

#endif
