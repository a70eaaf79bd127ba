/* Expected connections announced by servers (FTP 227/229). */
#ifndef DP_EXPECT_H
#define DP_EXPECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct expect;

struct expect_table {
	TAILQ_HEAD(, expect) et_list;
	size_t et_count;
	int et_ttl_ms;
};

void expect_init(struct expect_table *, int ttl_ms);
void expect_add(struct expect_table *, const struct sockaddr *client,
    const struct sockaddr *endpoint, const char *user, uint64_t owner);
int expect_take(struct expect_table *, const struct sockaddr *client,
    const struct sockaddr *dst, const char *user, uint64_t owner);
void expect_add_from(struct expect_table *, const struct sockaddr *client,
    const struct sockaddr *endpoint, const char *user, uint64_t owner,
    uint32_t parent);
int expect_take_from(struct expect_table *, const struct sockaddr *client,
    const struct sockaddr *dst, const char *user, uint64_t owner,
    uint32_t *parent);
void expect_clear(struct expect_table *);

#endif
