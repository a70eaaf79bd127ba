/* Test client: N threads connect at once (half blocking, half
 * non-blocking with poll), each fetches PATH and compares it with FILE.
 *
 * threads N HOST PORT PATH FILE */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct addrinfo *th_ai;
static const char *th_host, *th_path;
static char *th_want;
static size_t th_wantlen;
static pthread_barrier_t th_barrier;

/* Connect, blocking or not; 0 or an errno. */
static int
th_connect(int fd, int nonblock)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	socklen_t len = sizeof(int);
	int err = 0;

	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, th_ai->ai_addr, th_ai->ai_addrlen) == 0)
		goto done;
	if (!nonblock || errno != EINPROGRESS)
		return errno;
	if (poll(&pfd, 1, 60000) != 1)
		return ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return errno;
	if (err != 0)
		return err;
done:
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return 0;
}

/* One client: connect, fetch, compare. Returns NULL or a message. */
static void *
th_main(void *arg)
{
	char req[512], *buf, *body;
	size_t have = 0, cap = th_wantlen + 65536;
	ssize_t n;
	int fd, err;

	if ((buf = malloc(cap)) == NULL)
		return "malloc";
	fd = socket(th_ai->ai_family, SOCK_STREAM, 0);
	pthread_barrier_wait(&th_barrier);
	if ((err = th_connect(fd, (int)(long)arg % 2)) != 0) {
		fprintf(stderr, "thread %ld: connect: %s\n", (long)arg,
		    strerror(err));
		return "connect";
	}
	snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
	    th_path, th_host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return "write";
	while (have < cap && (n = read(fd, buf + have, cap - have)) > 0)
		have += (size_t)n;
	close(fd);
	body = memmem(buf, have, "\r\n\r\n", 4);
	if (body == NULL)
		return "no header";
	body += 4;
	if ((size_t)(buf + have - body) != th_wantlen ||
	    memcmp(body, th_want, th_wantlen) != 0)
		return "body differs";
	free(buf);
	return NULL;
}

/* Load the file, start the threads, count the good fetches. */
int
main(int argc, char **argv)
{
	struct addrinfo hints;
	pthread_t *t;
	FILE *f;
	long i, n, bad = 0;
	void *res;

	if (argc != 6) {
		fprintf(stderr, "usage: threads n host port path file\n");
		return 1;
	}
	n = atol(argv[1]);
	th_host = argv[2];
	th_path = argv[4];
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(argv[2], argv[3], &hints, &th_ai) != 0)
		return 2;
	if ((f = fopen(argv[5], "rb")) == NULL)
		return 2;
	fseek(f, 0, SEEK_END);
	th_wantlen = (size_t)ftell(f);
	rewind(f);
	th_want = malloc(th_wantlen + 1);
	if (fread(th_want, 1, th_wantlen, f) != th_wantlen)
		return 2;
	fclose(f);
	t = calloc((size_t)n, sizeof *t);
	pthread_barrier_init(&th_barrier, NULL, (unsigned)n);
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, th_main, (void *)i) != 0)
			return 2;
	for (i = 0; i < n; i++) {
		pthread_join(t[i], &res);
		if (res != NULL) {
			fprintf(stderr, "thread %ld: %s\n", i, (char *)res);
			bad++;
		}
	}
	printf("%ld of %ld threads fetched the file intact\n", n - bad, n);
	return bad == 0 ? 0 : 1;
}
