/* Rule engine internals shared by rule.c and scan.c. */
#ifndef DP_RULE_INT_H
#define DP_RULE_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <sys/socket.h>

#include "rule.h"
#include "scan.h"

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define RULE_MATCH_LIMIT 100000
#define RULE_DEPTH_LIMIT 10000
#define RULE_HEAP_LIMIT  1024 /* KiB, per match */
#define RULE_MAX_ENTRIES 64   /* patterns per direction, detect included */

enum rule_decode {
	RULE_DEC_COMMA,  /* h1,h2,h3,h4,p1,p2 */
	RULE_DEC_DOTTED, /* addr = dotted quad, port */
	RULE_DEC_U32,    /* addr = 32-bit decimal, port */
	RULE_DEC_IPV6,   /* addr = IPv6 text, port */
	RULE_DEC_IP,     /* addr = either, optional af = 1 or 2, port */
	RULE_DEC_IMPLIED /* port only */
};

enum rule_op {
	RULE_OP_TEXT,
	RULE_OP_GROUP,
	RULE_OP_ADDR,
	RULE_OP_IPV4,
	RULE_OP_IPV6,
	RULE_OP_ADDR_COMMA,
	RULE_OP_ADDR_U32,
	RULE_OP_AF,
	RULE_OP_PORT,
	RULE_OP_PORT_COMMA,
	RULE_OP_PORT_HI,
	RULE_OP_PORT_LO
};

struct rule_seg {
	enum rule_op sg_op;
	char *sg_text; /* RULE_OP_TEXT */
	size_t sg_len;
	uint32_t sg_group; /* RULE_OP_GROUP */
};

struct rule_vector {
	char *v_id; /* "test.1" */
	char *v_input;
	size_t v_inlen;
	char *v_decode; /* NULL, "none", "error", "implied PORT", "ADDR PORT" */
	char *v_output;
	size_t v_outlen;
	int v_has_output;
	struct sockaddr_storage v_with;
};

enum rule_group {
	RG_H1,
	RG_H2,
	RG_H3,
	RG_H4,
	RG_P1,
	RG_P2,
	RG_ADDR,
	RG_PORT,
	RG_AF,
	RG_COUNT
};

struct rule_kind {
	struct rule_app *k_app;
	char *k_name;
	enum rule_dir k_dir;
	enum rule_action k_action;
	enum rule_decode k_decode;
	int k_low_ports;
	int k_other_hosts; /* client-connects: may name another host */
	int k_accept;      /* server-connects: RULE_ACCEPT_* who may connect */
	char *k_pattern;
	pcre2_code *k_code;
	char *k_detect_pattern; /* what merely starts like one, or NULL */
	pcre2_code *k_detect;
	uint32_t k_groups[RG_COUNT]; /* 0: absent */
	struct rule_seg *k_segs;
	size_t k_nsegs;
	struct rule_seg *k_neutral; /* what a refused one becomes */
	size_t k_nneutral;
	struct rule_vector *k_vecs;
	size_t k_nvecs;
};

struct rule_port_range {
	uint16_t pr_lo, pr_hi;
};

struct rule_app {
	char *a_name;
	char *a_file; /* base name */
	char *a_path; /* for messages */
	char *a_text;
	size_t a_len;
	struct rule_port_range *a_ports;
	size_t a_nports;
	struct rule_kind **a_kinds;
	size_t a_nkinds;
	pcre2_match_context *a_mctx;
	pcre2_compile_context *a_cctx; /* CR, LF or CRLF end a line */
	int a_telnet; /* Telnet-framed (RFC 854): IAC handled first */
	int a_lines;  /* line-based: a detect match runs to the line end */
	uint32_t a_lookbehind; /* longest lookbehind of any pattern */
	/*
	 * A direction's patterns as one alternation, (*MARK:i) naming the
	 * kind, so that a scan makes one pass instead of one per kind; NULL
	 * with fewer than two kinds or a pattern that cannot be combined.
	 */
	pcre2_code *a_any[2];
	int a_refs; /* its rule set, and each scanner using it */
};

struct ruleset {
	struct rule_app **rs_apps;
	size_t rs_napps;
};

/*
 * One pattern a scanner looks for: a kind's own pattern, or its detect
 * pattern. A direction's entries are its kinds' patterns in file order,
 * then their detect patterns, so that on a tie the real pattern wins.
 */
struct rule_entry {
	const struct rule_kind *re_kind;
	pcre2_code *re_code;
	int re_detect;
};

size_t rule_app_entries(const struct rule_app *, enum rule_dir,
    struct rule_entry *, size_t max);

int rule_kind_decode(const struct rule_kind *, const char *subject,
    const PCRE2_SIZE *ov, struct announce *, char *why, size_t whylen);
int rule_kind_rewrite(const struct rule_kind *, int neutral,
    const char *subject, const PCRE2_SIZE *ov, uint32_t npairs,
    const struct sockaddr *, struct evbuffer *out);

#endif
