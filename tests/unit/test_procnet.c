/*
 * Unit tests for lib/procnet.c: lines of /proc/net/tcp{,6}, and, on live
 * sockets, whether the process behind a connection listens on a port.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "procnet.h"
#include "unit.h"

/* Lines as the kernel prints them. */
static void
test_parse(void)
{
	struct procnet_sock ps;
	uint8_t lo6[16] = { 0 };

	lo6[15] = 1;
	CHECK(
	    procnet_parse("  sl  local_address rem_address   st tx_queue "
			  "rx_queue tr tm->when retrnsmt   uid  timeout inode",
		0, &ps) == -1);
	CHECK(procnet_parse("   1: 0100007F:7015 0200007F:DEDC 06 "
			    "00000000:00000000 03:000000B8 00000000     0  "
			    "      0 0 3 000000007fcf447d",
		  0, &ps) == 0);
	CHECK(ps.ps_local.ep_atyp == ATYP_IPV4 && ps.ps_local.ep_len == 4);
	CHECK(memcmp(ps.ps_local.ep_addr, "\x7f\0\0\x01", 4) == 0);
	CHECK(ps.ps_local.ep_port == 0x7015);
	CHECK(memcmp(ps.ps_remote.ep_addr, "\x7f\0\0\x02", 4) == 0);
	CHECK(ps.ps_remote.ep_port == 0xdedc);
	CHECK(ps.ps_state == 6 && ps.ps_inode == 0);
	CHECK(procnet_parse("   0: 00000000:07E8 00000000:0000 0A "
			    "00000000:00000000 00:00000000 00000000     0  "
			    "      0 1193 1 000000004fa3aca6 100 0 0 10 0",
		  0, &ps) == 0);
	CHECK(ps.ps_state == PROCNET_LISTEN && ps.ps_inode == 1193);
	CHECK(ps.ps_local.ep_port == 2024);
	/* IPv6 ::1, and a v4-mapped address, which reads as IPv4. */
	CHECK(procnet_parse("   0: 00000000000000000000000001000000:0016 "
			    "00000000000000000000000000000000:0000 0A "
			    "00000000:00000000 00:00000000 00000000     0  "
			    "      0 4242 1 0000000000000000 100 0 0 10 0",
		  1, &ps) == 0);
	CHECK(ps.ps_local.ep_atyp == ATYP_IPV6 && ps.ps_local.ep_len == 16);
	CHECK(memcmp(ps.ps_local.ep_addr, lo6, 16) == 0);
	CHECK(ps.ps_inode == 4242 && ps.ps_local.ep_port == 22);
	CHECK(procnet_parse("   0: 0000000000000000FFFF00000100007F:0016 "
			    "0000000000000000FFFF00000100007F:9C40 01 "
			    "00000000:00000000 00:00000000 00000000     0  "
			    "      0 77 1 0000000000000000 100 0 0 10 0",
		  1, &ps) == 0);
	CHECK(ps.ps_local.ep_atyp == ATYP_IPV4);
	CHECK(memcmp(ps.ps_local.ep_addr, "\x7f\0\0\x01", 4) == 0);
	CHECK(ps.ps_remote.ep_port == 40000);
	/* A v4 address in the v6 table's width, and the other way round. */
	CHECK(procnet_parse("   1: 0100007F:7015 0200007F:DEDC 06 0:0 0:0 0 "
			    "0 0 9",
		  1, &ps) == -1);
	CHECK(procnet_parse("   1: 0100007F0:7015 0200007F:DEDC 06 0:0 0:0 0 "
			    "0 0 9",
		  0, &ps) == -1);
	CHECK(procnet_parse("   1: 0100007G:7015 0200007F:DEDC 06 0:0 0:0 0 "
			    "0 0 9",
		  0, &ps) == -1);
	CHECK(procnet_parse("   1: 0100007F:17015 0200007F:DEDC 06 0:0 0:0 0 "
			    "0 0 9",
		  0, &ps) == -1);
	CHECK(procnet_parse("", 0, &ps) == -1);
}

/*
 * A TCP socket on 127.0.0.1 (or any), listening, and its endpoint; at
 * ep's port if share (SO_REUSEPORT, as another socket there).
 */
static int
listener_at(const char *ip, struct endpoint *ep, int share)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin.sin_addr);
	if (share) {
		sin.sin_port = htons(ep->ep_port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	}
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
		abort();
	addr_to_endpoint((struct sockaddr *)&sin, ep);
	if (strcmp(ip, "0.0.0.0") == 0) /* where a client would connect */
		ep->ep_addr[0] = 127, ep->ep_addr[3] = 1;
	return fd;
}

/* A listener on a port of its own. */
static int
listener(const char *ip, struct endpoint *ep)
{
	return listener_at(ip, ep, 0);
}

/* Live sockets: who holds the program's connection, and who listens. */
static void
test_owner(void)
{
	struct endpoint door, prog, mine, wild, theirs, none, shared, mapped;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const char *why = NULL;
	int dfd, cfd, afd, mfd, wfd, nfd, sfd, up[2], go[2];
	pid_t child;
	char c;

	dfd = listener("127.0.0.1", &door);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	addr_from_endpoint(&door, &ss, &sl);
	CHECK(connect(cfd, (struct sockaddr *)&ss, sl) == 0);
	sl = sizeof ss;
	getsockname(cfd, (struct sockaddr *)&ss, &sl);
	addr_to_endpoint((struct sockaddr *)&ss, &prog);
	afd = accept(dfd, NULL, NULL);
	mfd = listener("127.0.0.1", &mine);
	wfd = listener("0.0.0.0", &wild);
	nfd = listener("127.0.0.1", &none);
	close(nfd); /* a port nothing listens on */
	sfd = listener("127.0.0.1", &shared);
	close(sfd); /* a port this process and the child share */
	sfd = listener_at("127.0.0.1", &shared, 1);

	/* Another process listens on a port of its own. */
	CHECK(pipe(up) == 0);
	CHECK(pipe(go) == 0);
	if ((child = fork()) == 0) {
		int fd = listener("127.0.0.1", &theirs);
		int fd2 = listener_at("127.0.0.1", &shared, 1);

		(void)fd2;
		close(cfd); /* the program's connection is not its */
		if (write(up[1], &theirs.ep_port, sizeof theirs.ep_port) < 0 ||
		    read(go[0], &c, 1) < 0)
			_exit(1);
		close(fd);
		_exit(0);
	}
	theirs = mine;
	CHECK(read(up[0], &theirs.ep_port, sizeof theirs.ep_port) ==
	    sizeof theirs.ep_port);

	CHECK(procnet_owner_listens(&prog, &door, &mine, &why) == 1);
	CHECK(procnet_owner_listens(&prog, &door, &wild, &why) == 1);
	/* The same address as a v4-mapped IPv6 one. */
	memset(&mapped, 0, sizeof mapped);
	mapped.ep_atyp = ATYP_IPV6;
	mapped.ep_len = 16;
	mapped.ep_addr[10] = mapped.ep_addr[11] = 0xff;
	memcpy(mapped.ep_addr + 12, mine.ep_addr, 4);
	mapped.ep_port = mine.ep_port;
	CHECK(procnet_owner_listens(&prog, &door, &mapped, &why) == 1);
	/* A port another process listens on too (SO_REUSEPORT). */
	CHECK(procnet_owner_listens(&prog, &door, &shared, &why) == 0);
	CHECK(why != NULL &&
	    strcmp(why, "another program listens there too") == 0);
	CHECK(procnet_owner_listens(&prog, &door, &theirs, &why) == 0);
	CHECK(why != NULL &&
	    strcmp(why, "the program does not listen there") == 0);
	CHECK(procnet_owner_listens(&prog, &door, &none, &why) == 0);
	CHECK(why != NULL && strcmp(why, "nothing listens there") == 0);
	/* A connection that is not there. */
	none = prog;
	none.ep_port ^= 1;
	CHECK(procnet_owner_listens(&none, &door, &mine, &why) == 0);
	CHECK(why != NULL &&
	    strcmp(why, "the program's connection is gone") == 0);
	CHECK(write(go[1], "x", 1) == 1);
	waitpid(child, NULL, 0);
	close(cfd);
	close(afd);
	CHECK(procnet_owner_listens(&prog, &door, &mine, &why) == 0);
	close(dfd);
	close(mfd);
	close(wfd);
	close(sfd);
}

int
main(void)
{
	test_parse();
	test_owner();
	return unit_done("procnet");
}
