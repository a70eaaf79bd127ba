/* sockhook: the SOCKS5 client side (RFC 1928, RFC 1929), on any socket,
 * blocking or not, bounded by a deadline. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "monotime.h"
#include "sockdiag.h"
#include "sockhook.h"

/* Wait for events on fd until the deadline; 0 when ready. */
static int
socks_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - (int64_t)monotime_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = blockwait_poll(&pfd, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n == -2 || (n == -1 && errno != EINTR))
			return -1;
	}
}

/* Send all of buf. */
static int
socks_send(int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (socks_wait(fd, POLLOUT, deadline) != 0)
			return -1;
	}
	return 0;
}

/* Receive exactly len bytes; a short read is an error. */
static int
socks_recv(int fd, void *buf, size_t len, int64_t deadline)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if (socks_wait(fd, POLLIN, deadline) != 0)
			return -1;
	}
	return 0;
}

/* Connect fd to the ESP's door, waiting for the outcome. */
int
socks_connect_esp(int fd, const struct sockaddr *sa, socklen_t len,
    int64_t deadline)
{
	socklen_t elen = sizeof(int);
	int err = 0;

	if (real.connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR && errno != EALREADY)
		return -1;
	if (socks_wait(fd, POLLOUT, deadline) != 0)
		return -1;
	if (real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * To the esp's door. Without a login the method is known, so the greeting
 * and the request go in one write (RFC 1928 allows it). With
 * sockhook.conf's user the esp chooses between no login and RFC 1929;
 * once it has, the login and the request go in one write. The answers
 * come back in turn; the request's is read by the caller.
 */
static int
socks_door_ask(int fd, const unsigned char *req, size_t reqlen,
    int64_t deadline)
{
	unsigned char buf[4 + 3 + 255 + 255 + 4 + 1 + 255 + 2], rep[2];
	size_t n = 0, ul, pl;
	int login = sh_conf.user != NULL;

	buf[n++] = 5;
	buf[n++] = login ? 2 : 1;
	buf[n++] = 0x00;
	if (login)
		buf[n++] = 0x02;
	else {
		memcpy(buf + n, req, reqlen);
		n += reqlen;
	}
	if (socks_send(fd, buf, n, deadline) != 0 ||
	    socks_recv(fd, rep, 2, deadline) != 0)
		return -1;
	if (rep[0] != 5)
		goto proto;
	if (rep[1] == 0x00)
		return login ? socks_send(fd, req, reqlen, deadline) : 0;
	if (rep[1] != 0x02 || !login) {
		shlog_debug("esp accepts none of our methods (0x%02x)", rep[1]);
		errno = EACCES;
		return -1;
	}
	ul = strlen(sh_conf.user);
	pl = strlen(sh_conf.pass);
	n = 0;
	buf[n++] = 1;
	buf[n++] = (unsigned char)ul;
	memcpy(buf + n, sh_conf.user, ul);
	n += ul;
	buf[n++] = (unsigned char)pl;
	memcpy(buf + n, sh_conf.pass, pl);
	n += pl;
	memcpy(buf + n, req, reqlen);
	n += reqlen;
	if (socks_send(fd, buf, n, deadline) != 0) {
		explicit_bzero(buf, sizeof buf);
		return -1;
	}
	explicit_bzero(buf, sizeof buf);
	if (socks_recv(fd, rep, 2, deadline) != 0)
		return -1;
	if (rep[0] != 1)
		goto proto;
	if (rep[1] != 0) {
		shlog_debug("esp refused user %s", sh_conf.user);
		errno = EACCES;
		return -1;
	}
	return 0;
proto:
	shlog_debug("esp does not speak SOCKS5");
	errno = ENETUNREACH;
	return -1;
}

/*
 * To a local agent, everything in one write (RFC 1928 allows it once the
 * method is known): the greeting, the login with the agent's token, and
 * the request. Then its answers to the three in turn.
 */
static int
socks_agent_ask(int fd, const char *token, const unsigned char *req,
    size_t reqlen, int64_t deadline)
{
	unsigned char
	    buf[3 + 2 + 5 + 1 + AGENTSTATE_TOKEN_LEN + 4 + 1 + 255 + 2];
	unsigned char rep[4];
	size_t n = 0;

	buf[n++] = 5;
	buf[n++] = 1;
	buf[n++] = 0x02;
	buf[n++] = 1;
	buf[n++] = 5;
	memcpy(buf + n, "agent", 5);
	n += 5;
	buf[n++] = AGENTSTATE_TOKEN_LEN;
	memcpy(buf + n, token, AGENTSTATE_TOKEN_LEN);
	n += AGENTSTATE_TOKEN_LEN;
	memcpy(buf + n, req, reqlen);
	n += reqlen;
	if (socks_send(fd, buf, n, deadline) != 0) {
		explicit_bzero(buf, sizeof buf);
		return -1;
	}
	explicit_bzero(buf, sizeof buf);
	if (socks_recv(fd, rep, 4, deadline) != 0)
		return -1;
	if (rep[0] != 5 || rep[1] != 0x02 || rep[2] != 1 || rep[3] != 0) {
		shlog_warnx("the agent refused this program's token "
			    "(is it another user's agent?)");
		errno = EACCES;
		return -1;
	}
	return 0;
}

/* Build the CONNECT request for dest into buf; returns its length. */
static size_t
socks_request(const struct socks_dest *d, unsigned char *buf)
{
	const struct sockaddr_in *sin = (const void *)&d->sa;
	const struct sockaddr_in6 *sin6 = (const void *)&d->sa;
	size_t n = 4, l;

	buf[0] = 5;
	buf[1] = 1;
	buf[2] = 0;
	if (d->name != NULL) {
		l = strlen(d->name);
		buf[3] = 3;
		buf[n++] = (unsigned char)l;
		memcpy(buf + n, d->name, l);
		n += l;
	} else if (d->sa.ss_family == AF_INET) {
		buf[3] = 1;
		memcpy(buf + n, &sin->sin_addr, 4);
		n += 4;
	} else if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		buf[3] = 1;
		memcpy(buf + n, (const char *)&sin6->sin6_addr + 12, 4);
		n += 4;
	} else {
		buf[3] = 4;
		memcpy(buf + n, &sin6->sin6_addr, 16);
		n += 16;
	}
	buf[n++] = (unsigned char)(d->port >> 8);
	buf[n++] = (unsigned char)(d->port & 0xff);
	return n;
}

/*
 * Is the agent that fd reached this user's? Its state file may be stale
 * (the agent died) and its port taken by another user: the token and the
 * destination go only to a port that this user's socket listens on.
 */
static int
socks_agent_ours(int fd)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	socklen_t sl = sizeof ss;
	uid_t uid;

	if (real.getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    sockdiag_v4((struct sockaddr *)&ss, &sin) != 0) {
		shlog_warnx("cannot tell where the agent's connection goes: %s",
		    strerror(errno));
		return 0;
	}
	if (sockdiag_uid(&sin, NULL, &uid) != 0) {
		shlog_warnx("cannot tell who listens on the agent's port %u "
			    "(%s): not sending the token",
		    (unsigned)ntohs(sin.sin_port), strerror(errno));
		return 0;
	}
	if (uid != getuid()) {
		shlog_warnx("the agent's port %u is another user's (uid %u): "
			    "the agent is gone and its state is stale; not "
			    "sending the token",
		    (unsigned)ntohs(sin.sin_port), (unsigned)uid);
		return 0;
	}
	return 1;
}

/* Ask the ESP (already connected on fd) for dest. On failure errno is
 * what a direct connect would have given. */
int
socks_handshake(int fd, const struct socks_dest *d, int64_t deadline)
{
	unsigned char buf[4 + 1 + 255 + 2];
	char token[AGENTSTATE_TOKEN_LEN + 1];
	size_t n, skip;

	n = socks_request(d, buf);
	if (sh_conf.agent) {
		if (!socks_agent_ours(fd) || route_agent_token(token) != 0) {
			errno = ENETUNREACH;
			return -1;
		}
		if (socks_agent_ask(fd, token, buf, n, deadline) != 0) {
			explicit_bzero(token, sizeof token);
			goto fail;
		}
		explicit_bzero(token, sizeof token);
	} else if (socks_door_ask(fd, buf, n, deadline) != 0)
		goto fail;
	if (socks_recv(fd, buf, 4, deadline) != 0)
		goto fail;
	if (buf[0] != 5 || buf[2] != 0) {
		shlog_debug("esp sent a bad reply");
		errno = ENETUNREACH;
		return -1;
	}
	if (buf[1] != 0) {
		shlog_debug("esp reply %u", buf[1]);
		errno = socks_errno(buf[1]);
		return -1;
	}
	switch (buf[3]) {
	case 1:
		skip = 4 + 2;
		break;
	case 4:
		skip = 16 + 2;
		break;
	case 3:
		if (socks_recv(fd, buf, 1, deadline) != 0)
			goto fail;
		skip = (size_t)buf[0] + 2;
		break;
	default:
		errno = ENETUNREACH;
		return -1;
	}
	if (socks_recv(fd, buf, skip, deadline) != 0)
		goto fail;
	return 0;
fail:
	if (errno != ETIMEDOUT && errno != EACCES) {
		shlog_debug("esp conversation failed: %s", strerror(errno));
		errno = ENETUNREACH;
	}
	return -1;
}

/* The errno for a SOCKS5 reply code. */
int
socks_errno(int reply)
{
	switch (reply) {
	case 2:
		return EACCES;
	case 4:
		return EHOSTUNREACH;
	case 5:
		return ECONNREFUSED;
	case 6:
		return ETIMEDOUT;
	case 7:
		return EOPNOTSUPP;
	case 8:
		return EAFNOSUPPORT;
	default: /* 1, 3 and anything unknown */
		return ENETUNREACH;
	}
}
