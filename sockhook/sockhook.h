/* sockhook: internal interfaces of the preload library and launcher. */
#ifndef SOCKHOOK_H
#define SOCKHOOK_H

#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "allow.h"

/* Internal symbols stay inside the library: nothing here is interposable. */
#pragma GCC visibility push(hidden)

#define SOCKHOOK_DEFAULT_CONF "/etc/dynpass/sockhook.conf"
#define SOCKHOOK_TIMEOUT_MS   (120 * 1000)
#define SOCKHOOK_MAXSUFFIX    32

/* Placeholder addresses for inside names: 198.18.0.0/15 (RFC 2544). */
#define DNS_NET  0xc6120000U /* 198.18.0.0 */
#define DNS_MASK 0xfffe0000U
#define DNS_MAX  65536

/* The configuration, as read from the file. */
struct config {
	char *path;
	int ok;           /* whole file valid */
	int routes_known; /* route list parsed */
	struct allow route;
	char *esp_host, *esp_port;        /* SOCKS door, or the agents' door */
	int agent;                        /* through a local agent (agent =) */
	char *ca;                         /* agent: the esp's CA */
	char *peer_name;                  /* agent: the name the esp proves */
	char *cert, *key;                 /* agent: a certificate login */
	char *isp_ca;                     /* agent: what isps' certs chain to */
	char *isp_name;                   /* agent: names they must carry */
	char *via;                        /* agent: reach the esp via a proxy */
	int linger_ms;                    /* agent: stay this long unused */
	int login_timeout_ms;             /* agent: the esp answers a login */
	char *suffix[SOCKHOOK_MAXSUFFIX]; /* dns suffixes, lower case */
	int nsuffix;
	char *user, *pass; /* RFC 1929, user NULL when unused */
	int timeout_ms;
	int debug;
};

/* What config_load reads besides the file. */
#define CONFIG_SECRETS 0x1 /* the password file, for the SOCKS door */
#define CONFIG_AGENT   0x2 /* the password file, for the agent itself */

int config_load(struct config *, const char *path, int flags, char **cause);
void config_free(struct config *);

/* Where an agent is, and what it asks of local programs. */
#define AGENTSTATE_TOKEN_LEN 64 /* hex of 32 random bytes */

struct agentstate_paths {
	char ap_dir[PATH_MAX - 64];
	char ap_state[PATH_MAX - 32];
	char ap_lock[PATH_MAX];
	char ap_log[PATH_MAX];
};

struct agentstate {
	struct sockaddr_in as_addr; /* loopback */
	char as_token[AGENTSTATE_TOKEN_LEN];
	pid_t as_pid;
};

int agentstate_paths(const char *conf, struct agentstate_paths *, char *why,
    size_t);
int agentstate_parse(const char *, struct agentstate *);
int agentstate_read(const char *path, struct agentstate *);
int agentstate_write(const char *path, const struct agentstate *);

/* The real libc functions, found with dlsym(RTLD_NEXT). */
struct real {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*close)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	ssize_t (*sendto)(int, const void *, size_t, int,
	    const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *,
	    socklen_t, char *, socklen_t, int);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
	    struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *,
	    size_t, struct hostent **, int *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *,
	    char *, size_t, struct hostent **, int *);
};

extern struct real real;
extern struct config sh_conf;

void real_ready(void);

/* Per-descriptor state. */
enum fdtab_state {
	FD_NONE = 0,
	FD_PENDING, /* non-blocking connect in progress, gate in place */
	FD_PROXIED, /* connected through the ESP */
	FD_FAILED   /* connect failed, error not yet read */
};

#define FDTAB_NREG 4

struct fdtab_reg {
	int epfd;
	struct epoll_event ev;
};

/* SOCKS5 destination: numeric, or a name from the dns table. */
struct socks_dest {
	struct sockaddr_storage sa; /* numeric destination, or placeholder */
	socklen_t salen;
	const char *name; /* name to send instead, or NULL */
	char namebuf[256];
	uint16_t port; /* host order */
};

/* A non-blocking connect in progress, owned by its helper thread. */
struct job {
	int cancelled;          /* the app closed the descriptor */
	int fd;                 /* the app's descriptor */
	int orig;               /* the app's own socket, set aside */
	int gatepeer;           /* the far end of the gate */
	unsigned long gate_ino; /* the gate's inode: is fd still ours? */
	int cloexec;
	int64_t deadline; /* monotime_ms */
	int opts_set;     /* options set on orig while it waited */
	struct socks_dest dest;
};

struct fdtab_slot {
	int state;
	unsigned long ino;            /* the open file the state is about */
	int error;                    /* FD_FAILED: errno for SO_ERROR */
	struct sockaddr_storage peer; /* original destination */
	socklen_t peerlen;
	struct job *job; /* FD_PENDING */
	int nreg;
	struct fdtab_reg reg[FDTAB_NREG]; /* epoll registrations */
};

struct fdtab_slot *fdtab_get(int fd, int create);
int fdtab_state(int fd);
unsigned long fdtab_ino(int fd);
struct fdtab_slot *fdtab_check(int fd);
void fdtab_lock(void);
void fdtab_unlock(void);
void fdtab_atfork(void);
int fdtab_foreign(void);
int fdtab_busy(void);
int fdtab_hands_off(void);
void fdtab_forget(int fd);
void fdtab_epoll_record(int epfd, int op, int fd, struct epoll_event *);
int fdtab_replace(int fd, int newfile, int cloexec);

/* SOCKS5 client. */
int socks_handshake(int fd, const struct socks_dest *, int64_t deadline);
int socks_errno(int reply);
int socks_connect_esp(int fd, const struct sockaddr *, socklen_t,
    int64_t deadline);

/* Routing decisions. */
enum route_verdict { ROUTE_DIRECT, ROUTE_PROXY, ROUTE_DENY };

int route_decide(const struct sockaddr *, socklen_t, struct socks_dest *,
    int *err);
int route_esp_addr(int family, int v6only, struct sockaddr_storage *,
    socklen_t *);
int route_agent_token(char *out);

/* A program's blocking call waiting as the kernel's would. */
struct blockwait {
	int bw_sfd;         /* signalfd for bw_watch, or -1 */
	sigset_t bw_old;    /* the program's signal mask */
	sigset_t bw_watch;  /* handled signals it leaves unblocked */
	int bw_timeo;       /* the socket has SO_SNDTIMEO */
	int64_t bw_give_up; /* when SO_SNDTIMEO ends the wait; 0 never */
	int bw_outcome;     /* 0, EINTR or EINPROGRESS */
};

void blockwait_begin(struct blockwait *, int fd);
int blockwait_end(struct blockwait *);
int blockwait_poll(struct pollfd *, int timeout);
void blockwait_hangup(int fd);

/* Connecting through the ESP. */
int proxy_blocking(int fd, const struct socks_dest *);
int proxy_start(int fd, const struct socks_dest *);

/* Placeholder addresses for inside names. */
int dns_is_inside(const char *name);
int dns_lookup(const char *name, uint32_t *addr);
const char *dns_reverse(uint32_t addr, char *buf, size_t len);
int dns_is_placeholder(uint32_t addr);
void dns_init(void);

/* Messages. */
void shlog_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void shlog_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *shlog_addr(const struct sockaddr *, char *, size_t);

#pragma GCC visibility pop

#endif
