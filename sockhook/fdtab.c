/* sockhook: per-descriptor state, and epoll registrations to carry over
 * when a descriptor's open file is replaced. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockhook.h"

#define FDTAB_CHUNK  1024
#define FDTAB_NCHUNK 1024 /* up to 1M descriptors */

static struct fdtab_slot *fdtab_chunks[FDTAB_NCHUNK];
static pthread_mutex_t fdtab_mtx = PTHREAD_MUTEX_INITIALIZER;

/* The slot for fd, creating its chunk (with mmap, not malloc) if asked. */
struct fdtab_slot *
fdtab_get(int fd, int create)
{
	struct fdtab_slot *c, *expect = NULL;
	size_t size = FDTAB_CHUNK * sizeof *c;

	if (fd < 0 || fd >= FDTAB_CHUNK * FDTAB_NCHUNK)
		return NULL;
	c = __atomic_load_n(&fdtab_chunks[fd / FDTAB_CHUNK], __ATOMIC_ACQUIRE);
	if (c == NULL) {
		if (!create)
			return NULL;
		c = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return NULL;
		if (!__atomic_compare_exchange_n(&fdtab_chunks[fd /
						     FDTAB_CHUNK],
			&expect, c, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			munmap(c, size);
			c = expect;
		}
	}
	return &c[fd % FDTAB_CHUNK];
}

/* The state of fd, without locking: FD_NONE for untouched descriptors. */
int
fdtab_state(int fd)
{
	struct fdtab_slot *s = fdtab_get(fd, 0);

	if (s == NULL)
		return FD_NONE;
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

/* The inode of the open file at fd, to tell a reused descriptor. */
unsigned long
fdtab_ino(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return 0;
	return (unsigned long)st.st_ino;
}

/* The slot for fd if its state still applies; a descriptor closed behind
 * our back (fclose, close_range) and reused is forgotten. Called with
 * the lock held. */
struct fdtab_slot *
fdtab_check(int fd)
{
	struct fdtab_slot *s = fdtab_get(fd, 0);

	if (s == NULL || s->state == FD_NONE)
		return s;
	if (s->ino != fdtab_ino(fd))
		fdtab_forget(fd);
	return s;
}

static __thread volatile sig_atomic_t fdtab_held; /* this thread's */

/* Take the table lock. */
void
fdtab_lock(void)
{
	fdtab_held = 1; /* first: a signal handler from here on sees it */
	pthread_mutex_lock(&fdtab_mtx);
}

/* Release the table lock. */
void
fdtab_unlock(void)
{
	pthread_mutex_unlock(&fdtab_mtx);
	fdtab_held = 0;
}

/*
 * Does this thread hold (or wait for) the lock? Then we run in a signal
 * handler that interrupted a hook, and taking the lock again would
 * deadlock: the hook passes the call straight on instead.
 */
int
fdtab_busy(void)
{
	return fdtab_held;
}

static pid_t fdtab_pid; /* the process the table is about */

/* In the child of a fork: the table is its own copy now. */
static void
fdtab_child(void)
{
	fdtab_pid = getpid();
	fdtab_unlock();
}

/* Hold the lock across fork so the child never inherits it locked. */
void
fdtab_atfork(void)
{
	fdtab_pid = getpid();
	pthread_atfork(fdtab_lock, fdtab_unlock, fdtab_child);
}

/*
 * Are we the child of a vfork(2)? It shares the parent's memory, the
 * table included, but not its descriptors: what it closes or dups is its
 * own business and must not touch the parent's state. (A fork runs the
 * atfork handler; a vfork does not.)
 */
int
fdtab_foreign(void)
{
	return getpid() != fdtab_pid;
}

/*
 * May this call not touch the table? In a signal handler on a thread
 * that holds its lock (fdtab_busy), or in a vfork child (fdtab_foreign:
 * a system call, so only for calls on descriptors the table knows).
 */
int
fdtab_hands_off(void)
{
	return fdtab_busy() || fdtab_foreign();
}

/* Forget fd (it is being closed); a pending job is told to stop.
 * Called with the lock held. */
void
fdtab_forget(int fd)
{
	struct fdtab_slot *s = fdtab_get(fd, 0);

	if (s == NULL)
		return;
	if (s->job != NULL)
		__atomic_store_n(&s->job->cancelled, 1, __ATOMIC_RELEASE);
	s->job = NULL;
	s->nreg = 0;
	s->error = 0;
	s->peerlen = 0;
	__atomic_store_n(&s->state, FD_NONE, __ATOMIC_RELEASE);
}

/* Note a successful epoll_ctl on fd. Called with the lock held. */
void
fdtab_epoll_record(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fdtab_slot *s = fdtab_get(fd, 1);
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nreg; i++)
		if (s->reg[i].epfd == epfd)
			break;
	switch (op) {
	case EPOLL_CTL_ADD:
	case EPOLL_CTL_MOD:
		if (i == s->nreg) {
			if (s->nreg == FDTAB_NREG)
				return;
			s->nreg++;
		}
		s->reg[i].epfd = epfd;
		if (ev != NULL)
			s->reg[i].ev = *ev;
		break;
	case EPOLL_CTL_DEL:
		if (i < s->nreg) {
			s->reg[i] = s->reg[s->nreg - 1];
			s->nreg--;
		}
		break;
	}
}

/* Put the open file newfile at descriptor fd, moving fd's epoll
 * registrations over to it. Called with the lock held. */
int
fdtab_replace(int fd, int newfile, int cloexec)
{
	struct fdtab_slot *s = fdtab_get(fd, 1);
	int i, live[FDTAB_NREG], n = s != NULL ? s->nreg : 0;

	for (i = 0; i < n; i++)
		live[i] = real.epoll_ctl(s->reg[i].epfd, EPOLL_CTL_DEL, fd,
			      &s->reg[i].ev) == 0;
	if (real.dup3(newfile, fd, cloexec ? O_CLOEXEC : 0) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (live[i] &&
		    real.epoll_ctl(s->reg[i].epfd, EPOLL_CTL_ADD, fd,
			&s->reg[i].ev) == 0)
			continue;
		live[i] = 0;
	}
	/* Drop registrations that no longer exist. */
	for (i = n - 1; i >= 0; i--) {
		if (live[i])
			continue;
		s->reg[i] = s->reg[s->nreg - 1];
		s->nreg--;
	}
	return 0;
}
