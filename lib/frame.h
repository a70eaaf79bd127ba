/* Session frames: the wire format between isp and esp (docs/protocol.md). */
#ifndef DP_FRAME_H
#define DP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION         3
#define FRAME_HDR_LEN         12
#define FRAME_MAX_PAYLOAD     65536 /* hard limit for any frame */
#define CONFIG_MAX_RULES      4096  /* allow rules an isp may announce */
#define CONFIG_MAX_RULE_FILES 64    /* rule files, one CONFIG frame each */
#define CONFIG_MAX_RULE_NAME  200   /* bytes of a rule file's name */
#define FRAME_DATA_MAX \
	(65536 - FRAME_HDR_LEN) /* one frame: 4 full TLS records */

enum frame_type {
	FRAME_HELLO = 0x01,
	FRAME_OPEN = 0x02,        /* inside-connect request, esp -> isp */
	FRAME_OPEN_RESULT = 0x03, /* inside-connect result, isp -> esp */
	FRAME_DATA = 0x04,
	FRAME_FIN = 0x05,
	FRAME_RST = 0x06,
	FRAME_WINDOW = 0x07,
	FRAME_PING = 0x08,
	FRAME_PONG = 0x09,
	FRAME_GOAWAY = 0x0a,
	FRAME_CONFIG = 0x0b,       /* isp -> esp policy and rules */
	FRAME_OUTSIDE_OPEN = 0x0c, /* outside-connect request, isp -> esp */
	FRAME_OUTSIDE_OPEN_RESULT =
	    0x0d,                 /* outside-connect result, esp -> isp */
	FRAME_AUTH = 0x0e,        /* a client's login, esp -> isp */
	FRAME_AUTH_RESULT = 0x0f, /* the isp's verdict, isp -> esp */
	FRAME_LOGIN = 0x10,       /* an agent's login step, toward the isp */
	FRAME_LOGIN_REPLY = 0x11, /* the isp's answer to a login step */
	FRAME_NOTICE = 0x12, /* a refusal at the esp, for the isp's audit */
	FRAME_TYPE_MAX = FRAME_NOTICE
};

/* Roles announced in HELLO. */
enum frame_role {
	FRAME_ROLE_ISP = 1,
	FRAME_ROLE_ESP = 2,
	FRAME_ROLE_AGENT = 3
};

/* GOAWAY codes. */
enum frame_goaway {
	GOAWAY_NORMAL = 0,
	GOAWAY_PROTOCOL = 1,
	GOAWAY_VERSION = 2,
	GOAWAY_FLOW = 3,
	GOAWAY_INTERNAL = 4,
	GOAWAY_TIMEOUT = 5,
	GOAWAY_REFUSED = 6
};

/* AUTH_RESULT codes. */
enum frame_auth_code { AUTH_OK = 0, AUTH_REFUSED = 1, AUTH_BUSY = 2 };

/* AUTH and LOGIN methods. */
enum frame_auth_method {
	AUTH_PASSWORD = 1, /* AUTH: a password in clear (the SOCKS door) */
	AUTH_SCRAM = 2,    /* LOGIN: SCRAM-SHA-256 (lib/scram.c) */
	AUTH_CERT = 3      /* LOGIN: a signed key exchange (lib/certlogin.c) */
};

/* LOGIN_REPLY codes. */
enum frame_login_code {
	LOGIN_CONTINUE = 0, /* the message is the next challenge */
	LOGIN_ACCEPTED = 1, /* the message is the isp's proof */
	LOGIN_DENIED = 2,
	LOGIN_BUSY = 3
};

/* How an OPEN proves its user. */
enum frame_open_auth {
	OPEN_AUTH_NONE = 0,     /* anonymous: no user, no secret */
	OPEN_AUTH_PASSWORD = 1, /* the user's password */
	OPEN_AUTH_TAG = 2       /* a tag under an agent login's key */
};

/* OPEN_RESULT codes: the SOCKS5 reply codes of RFC 1928. */
enum frame_open_code {
	OPEN_OK = 0,
	OPEN_FAILURE = 1,
	OPEN_NOT_ALLOWED = 2,
	OPEN_NET_UNREACH = 3,
	OPEN_HOST_UNREACH = 4,
	OPEN_REFUSED = 5,
	OPEN_TIMEOUT = 6,
	OPEN_BAD_COMMAND = 7,
	OPEN_BAD_ADDRTYPE = 8
};

/* Address types, as in SOCKS5. */
enum frame_atyp { ATYP_IPV4 = 1, ATYP_NAME = 3, ATYP_IPV6 = 4 };

struct frame_hdr {
	uint8_t fh_version;
	uint8_t fh_type;
	uint16_t fh_flags;
	uint32_t fh_chan;
	uint32_t fh_len;
};

/* An endpoint: IPv4, IPv6 or a name, and a port. */
struct endpoint {
	uint8_t ep_atyp;
	uint8_t ep_len;
	uint8_t ep_addr[255];
	uint16_t ep_port;
};

struct frame_hello {
	uint16_t fhl_min_version;
	uint16_t fhl_max_version;
	uint8_t fhl_role;
	uint32_t fhl_window; /* session-wide receive window */
	char fhl_software[64];
	uint8_t fhl_lane; /* which of an isp's sessions to one esp, from 0 */
};

#define FRAME_OPEN_FIXED 10 /* window, reference, command, auth */
#define FRAME_USER_MAX   64
#define FRAME_LANES_MAX  16 /* sessions one isp may hold to one esp */
#define FRAME_SECRET_MAX 255

struct frame_open {
	uint32_t fo_window; /* opener's receive window for the channel */
	uint32_t fo_ref;    /* OUTSIDE_OPEN: the control channel; else 0 */
	uint8_t fo_command; /* 1 = connect */
	uint8_t fo_auth;    /* enum frame_open_auth */
	struct endpoint fo_dst;
	struct endpoint fo_client;        /* who asked, for policy and logs */
	char fo_user[FRAME_USER_MAX + 1]; /* the login; "" anonymous */
	uint8_t fo_secret[FRAME_SECRET_MAX]; /* password, or tag (fo_auth) */
	uint8_t fo_secret_len;
};

/* AUTH: a login for the isp to verify; the esp only relays it. */
struct frame_auth {
	uint32_t fa_ref; /* the esp's number for this attempt */
	uint8_t fa_method;
	struct endpoint fa_client; /* who is logging in, for fairness */
	char fa_user[FRAME_USER_MAX + 1];
	uint8_t fa_secret[FRAME_SECRET_MAX];
	uint8_t fa_secret_len;
};

#define FRAME_LOGIN_MSG_MAX 16384
#define FRAME_LOGIN_LEFT    3 /* step: the agent of login <msg u32> left */

/* LOGIN: one step of an agent's login, relayed by the esp. */
struct frame_login {
	uint32_t fl_ref; /* the sender's number for this login */
	uint8_t fl_leg;  /* which isp's exchange (agent side), else 0 */
	uint8_t fl_method;
	uint8_t fl_step;           /* 1, 2, or FRAME_LOGIN_LEFT */
	struct endpoint fl_client; /* the agent, as the esp sees it */
	const uint8_t *fl_msg;     /* points into the frame */
	size_t fl_msglen;
};

/* LOGIN_REPLY: the isp's answer to a step. */
struct frame_login_reply {
	uint32_t flr_ref;
	uint8_t flr_leg;
	uint8_t flr_legs;   /* exchanges in this login (esp to agent), else 1 */
	uint8_t flr_code;   /* enum frame_login_code */
	uint32_t flr_login; /* the isp's number for an accepted login */
	const uint8_t *flr_msg;
	size_t flr_msglen;
};

struct frame_open_result {
	uint8_t for_code;
	uint32_t for_window;
	struct endpoint for_bound;
};

/* Result of a decode. */
enum frame_status { FRAME_OK = 0, FRAME_SHORT = 1, FRAME_BAD = -1 };

void frame_hdr_encode(uint8_t *, uint8_t type, uint32_t chan, uint32_t len);
int frame_hdr_decode(const uint8_t *, size_t, struct frame_hdr *,
    const char **);
const char *frame_type_name(uint8_t);

size_t frame_hello_encode(uint8_t *, size_t, const struct frame_hello *);
int frame_hello_decode(const uint8_t *, size_t, struct frame_hello *);
size_t frame_open_encode(uint8_t *, size_t, const struct frame_open *);
int frame_open_decode(const uint8_t *, size_t, struct frame_open *);
size_t frame_open_result_encode(uint8_t *, size_t,
    const struct frame_open_result *);
int frame_open_result_decode(const uint8_t *, size_t,
    struct frame_open_result *);

size_t frame_auth_encode(uint8_t *, size_t, const struct frame_auth *);
int frame_auth_decode(const uint8_t *, size_t, struct frame_auth *);
size_t frame_auth_result_encode(uint8_t *, size_t, uint32_t ref, uint8_t code);
int frame_auth_result_decode(const uint8_t *, size_t, uint32_t *ref,
    uint8_t *code);

/* NOTICE: a request the esp refused, for the isp's audit. */
#define FRAME_NOTICE_WHY_MAX 200
struct frame_notice {
	struct endpoint fn_client;
	struct endpoint fn_dst;
	char fn_user[FRAME_USER_MAX + 1];
	char fn_why[FRAME_NOTICE_WHY_MAX + 1];
};

size_t frame_notice_encode(uint8_t *, size_t, const struct frame_notice *);
int frame_notice_decode(const uint8_t *, size_t, struct frame_notice *);
size_t frame_login_encode(uint8_t *, size_t, const struct frame_login *);
int frame_login_decode(const uint8_t *, size_t, struct frame_login *);
size_t frame_login_reply_encode(uint8_t *, size_t,
    const struct frame_login_reply *);
int frame_login_reply_decode(const uint8_t *, size_t,
    struct frame_login_reply *);

const char *frame_open_code_str(uint8_t);
const char *frame_goaway_str(uint8_t);

#endif
