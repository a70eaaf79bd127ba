/*
 * sockhook: a program's blocking connect waits as the kernel's does. A
 * signal whose handler was installed without SA_RESTART interrupts it
 * (EINTR), and so does any handled signal on a socket with SO_SNDTIMEO;
 * SO_SNDTIMEO itself ends the wait (EINPROGRESS). Either way the connect
 * goes on in the background, as a non-blocking one would.
 *
 * To know which signal came, the signals the program handles and leaves
 * unblocked are blocked while waiting, and a signalfd tells when one is
 * pending. Its handler then runs as soon as they are unblocked again,
 * before the wait either goes on or ends. Signals with their default
 * action (stop, terminate) are never blocked.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "monotime.h"
#include "sockhook.h"

static __thread struct blockwait *blockwait_cur;
static __thread int blockwait_hup_fd = -1;

/* In a helper thread: give up waiting once fd hangs up (-1: never). */
void
blockwait_hangup(int fd)
{
	blockwait_hup_fd = fd;
}

/* Does sig have a handler of the program's (not SIG_DFL or SIG_IGN)? */
static int
blockwait_handled(int sig, int *restart)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL ||
	    sa.sa_handler == SIG_IGN)
		return 0;
	if (restart != NULL)
		*restart = (sa.sa_flags & SA_RESTART) != 0;
	return 1;
}

/* Block the handled signals the program leaves open; watch them. */
static void
blockwait_watch(struct blockwait *bw)
{
	int sig, any = 0;

	bw->bw_sfd = -1;
	sigemptyset(&bw->bw_watch);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigismember(&bw->bw_old, sig) == 1 ||
		    !blockwait_handled(sig, NULL))
			continue;
		if (sigaddset(&bw->bw_watch, sig) == 0)
			any = 1;
	}
	if (!any)
		return;
	pthread_sigmask(SIG_BLOCK, &bw->bw_watch, NULL);
	bw->bw_sfd = signalfd(-1, &bw->bw_watch, SFD_NONBLOCK | SFD_CLOEXEC);
	if (bw->bw_sfd == -1) /* wait as before: signals restart it */
		pthread_sigmask(SIG_SETMASK, &bw->bw_old, NULL);
}

/* Stop watching: the program's mask again, so pending handlers run. */
static void
blockwait_unwatch(struct blockwait *bw)
{
	if (bw->bw_sfd == -1)
		return;
	real.close(bw->bw_sfd);
	bw->bw_sfd = -1;
	pthread_sigmask(SIG_SETMASK, &bw->bw_old, NULL);
}

/* Begin a blocking call's wait on fd, in this thread. */
void
blockwait_begin(struct blockwait *bw, int fd)
{
	struct timeval tv;
	socklen_t len = sizeof tv;

	memset(bw, 0, sizeof *bw);
	if (real.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0 &&
	    (tv.tv_sec > 0 || tv.tv_usec > 0)) {
		bw->bw_timeo = 1;
		bw->bw_give_up = (int64_t)monotime_ms() +
		    (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	}
	pthread_sigmask(SIG_SETMASK, NULL, &bw->bw_old);
	blockwait_watch(bw);
	blockwait_cur = bw;
}

/* End it; returns how it ended: 0, EINTR or EINPROGRESS. */
int
blockwait_end(struct blockwait *bw)
{
	blockwait_unwatch(bw);
	blockwait_cur = NULL;
	return bw->bw_outcome;
}

/* A watched signal is pending: does it interrupt the call? Its handler
 * runs here either way. */
static int
blockwait_signalled(struct blockwait *bw)
{
	sigset_t pending;
	int sig, restart, intr = 0;

	sigemptyset(&pending);
	sigpending(&pending);
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&bw->bw_watch, sig) == 1 &&
		    sigismember(&pending, sig) == 1 &&
		    blockwait_handled(sig, &restart) &&
		    (!restart || bw->bw_timeo))
			intr = 1;
	blockwait_unwatch(bw);
	if (!intr)
		blockwait_watch(bw);
	return intr;
}

/*
 * poll(2) on one descriptor for the blocking call under way in this thread,
 * if any: -2 with errno EINTR or EINPROGRESS when the program's call must
 * end now. In a helper thread, -2 with ECANCELED once the descriptor set
 * with blockwait_hangup hangs up. Otherwise a plain poll.
 */
int
blockwait_poll(struct pollfd *pfd, int timeout)
{
	struct blockwait *bw = blockwait_cur;
	struct pollfd p[2];
	int64_t left;
	int n;

	if (bw == NULL && blockwait_hup_fd == -1)
		return poll(pfd, 1, timeout);
	if (bw == NULL) {
		p[0] = *pfd;
		p[1].fd = blockwait_hup_fd;
		p[1].events = 0; /* hangup and errors only */
		p[1].revents = 0;
		n = poll(p, 2, timeout);
		pfd->revents = p[0].revents;
		if (n > 0 && p[1].revents != 0) {
			errno = ECANCELED;
			return -2;
		}
		return n > 0 && pfd->revents == 0 ? 0 : n;
	}
	if (bw->bw_give_up != 0) {
		if ((left = bw->bw_give_up - (int64_t)monotime_ms()) <= 0) {
			bw->bw_outcome = errno = EINPROGRESS;
			return -2;
		}
		if (timeout < 0 || left < timeout)
			timeout = (int)left;
	}
	p[0] = *pfd;
	p[1].fd = bw->bw_sfd;
	p[1].events = POLLIN;
	p[1].revents = 0;
	n = poll(p, bw->bw_sfd != -1 ? 2 : 1, timeout);
	pfd->revents = p[0].revents;
	if (n > 0 && bw->bw_sfd != -1 && p[1].revents != 0) {
		if (blockwait_signalled(bw)) {
			bw->bw_outcome = errno = EINTR;
			return -2;
		}
		return pfd->revents != 0 ? 1 : 0;
	}
	return n;
}
