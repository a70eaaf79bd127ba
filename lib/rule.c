/* Application rules: load rule files, decode and rewrite announcements. */
#include "rule_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <iniparser.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "escape.h"
#include "xmalloc.h"

/* What a test vector's "with" key defaults to. */
#define RULE_WITH_DEFAULT "192.0.2.1 40000"

static const char *const rule_group_names[RG_COUNT] = { "h1", "h2", "h3", "h4",
	"p1", "p2", "addr", "port", "af" };

static const struct {
	const char *name;
	enum rule_decode decode;
} rule_decodes[] = {
	{ "comma", RULE_DEC_COMMA },
	{ "dotted", RULE_DEC_DOTTED },
	{ "u32", RULE_DEC_U32 },
	{ "ipv6", RULE_DEC_IPV6 },
	{ "ip", RULE_DEC_IP },
	{ "implied", RULE_DEC_IMPLIED },
};

static const struct {
	const char *name;
	enum rule_op op;
} rule_builtins[] = {
	{ "new.addr", RULE_OP_ADDR },
	{ "new.ipv4", RULE_OP_IPV4 },
	{ "new.ipv6", RULE_OP_IPV6 },
	{ "new.addr_comma", RULE_OP_ADDR_COMMA },
	{ "new.addr_u32", RULE_OP_ADDR_U32 },
	{ "new.af", RULE_OP_AF },
	{ "new.port", RULE_OP_PORT },
	{ "new.port_comma", RULE_OP_PORT_COMMA },
	{ "new.port_hi", RULE_OP_PORT_HI },
	{ "new.port_lo", RULE_OP_PORT_LO },
};

static const char *const rule_service_keys[] = { "name", "ports", "description",
	"match_limit", "depth_limit", "heap_limit", "telnet", "lines", NULL };
static const char *const rule_kind_keys[] = { "direction", "action", "pattern",
	"decode", "rewrite", "description", "low_ports", "detect", "neutral",
	"other_hosts", "accept", NULL };
static const char *const rule_vector_keys[] = { "input", "decode", "output",
	"with", NULL };

static const uint8_t rule_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	0xff };

static int rule_error(char **, const char *, const char *, const char *,
    const char *, ...) __attribute__((format(printf, 5, 6)));

/* Format "FILE: [section] key: reason" into *cause; returns -1. */
static int
rule_error(char **cause, const char *file, const char *sec, const char *key,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (sec != NULL && key != NULL)
		xasprintf(cause, "%s: [%s] %s: %s", file, sec, key,
		    msg ? msg : "error");
	else if (sec != NULL)
		xasprintf(cause, "%s: [%s]: %s", file, sec,
		    msg ? msg : "error");
	else
		xasprintf(cause, "%s: %s", file, msg ? msg : "error");
	free(msg);
	return -1;
}

/* Is word in the NULL-terminated list? */
static int
rule_in_list(const char *const *list, const char *word)
{
	for (; *list != NULL; list++) {
		if (strcmp(*list, word) == 0)
			return 1;
	}
	return 0;
}

/* Parse all of s[0..len) as a decimal number no larger than max. */
static int
rule_number(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/* Parse a hex digit. */
static int
rule_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append a text segment. */
static void
rule_seg_text(struct rule_seg **segs, size_t *n, const char *s, size_t len)
{
	struct rule_seg *sg;

	if (len == 0)
		return;
	if (*n > 0 && (*segs)[*n - 1].sg_op == RULE_OP_TEXT) {
		sg = &(*segs)[*n - 1];
		sg->sg_text = xrealloc(sg->sg_text, sg->sg_len + len + 1);
		memcpy(sg->sg_text + sg->sg_len, s, len);
		sg->sg_len += len;
		sg->sg_text[sg->sg_len] = '\0';
		return;
	}
	*segs = xrealloc(*segs, (*n + 1) * sizeof **segs);
	sg = &(*segs)[(*n)++];
	memset(sg, 0, sizeof *sg);
	sg->sg_op = RULE_OP_TEXT;
	sg->sg_text = xstrndup(s, len);
	sg->sg_len = len;
}

/*
 * Parse a text value with escapes (\r \n \t \0 \\ \$ \xHH) and, when code
 * is not NULL, ${name} references, into segments. On error, writes the
 * reason to err.
 */
static int
rule_parse_text(const char *s, const pcre2_code *code, struct rule_seg **segs,
    size_t *nsegs, char *err, size_t errlen)
{
	const char *end, *p;
	char c, name[64];
	int hi, lo, num;
	size_t i, len;
	uint32_t ncap;
	struct rule_seg *sg;

	*segs = NULL;
	*nsegs = 0;
	for (p = s; *p != '\0'; p++) {
		if (*p == '\\') {
			switch (p[1]) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '0':
				c = '\0';
				break;
			case '\\':
			case '$':
				c = p[1];
				break;
			case 'x':
				if ((hi = rule_hex(p[2])) < 0 ||
				    (lo = rule_hex(p[3])) < 0) {
					snprintf(err, errlen,
					    "\\x needs two hex digits at "
					    "offset %zu",
					    (size_t)(p - s));
					return -1;
				}
				c = (char)(hi * 16 + lo);
				p += 2;
				break;
			case '\0':
				snprintf(err, errlen, "trailing backslash");
				return -1;
			default:
				snprintf(err, errlen,
				    "unknown escape \\%c at offset %zu", p[1],
				    (size_t)(p - s));
				return -1;
			}
			p++;
			rule_seg_text(segs, nsegs, &c, 1);
			continue;
		}
		if (*p != '$' || code == NULL) {
			rule_seg_text(segs, nsegs, p, 1);
			continue;
		}
		if (p[1] != '{' || (end = strchr(p + 2, '}')) == NULL) {
			snprintf(err, errlen,
			    "$ at offset %zu does not start ${name} "
			    "(write \\$ for a dollar sign)",
			    (size_t)(p - s));
			return -1;
		}
		len = (size_t)(end - p - 2);
		if (len == 0 || len >= sizeof name) {
			snprintf(err, errlen, "bad ${} at offset %zu",
			    (size_t)(p - s));
			return -1;
		}
		memcpy(name, p + 2, len);
		name[len] = '\0';
		*segs = xrealloc(*segs, (*nsegs + 1) * sizeof **segs);
		sg = &(*segs)[(*nsegs)++];
		memset(sg, 0, sizeof *sg);
		if (strncmp(name, "new.", 4) == 0) {
			for (i = 0; i < nitems(rule_builtins); i++) {
				if (strcmp(rule_builtins[i].name, name) == 0)
					break;
			}
			if (i == nitems(rule_builtins)) {
				snprintf(err, errlen,
				    "unknown ${%s} (new.addr, new.ipv4, "
				    "new.ipv6, new.addr_comma, new.addr_u32, "
				    "new.af, new.port, new.port_comma, "
				    "new.port_hi, new.port_lo)",
				    name);
				return -1;
			}
			sg->sg_op = rule_builtins[i].op;
		} else if (isdigit((unsigned char)name[0])) {
			pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT,
			    &ncap);
			num = atoi(name);
			if (strspn(name, "0123456789") != len || num < 0 ||
			    (uint32_t)num > ncap) {
				snprintf(err, errlen,
				    "${%s}: the pattern has %u groups", name,
				    ncap);
				return -1;
			}
			sg->sg_op = RULE_OP_GROUP;
			sg->sg_group = (uint32_t)num;
		} else {
			num = pcre2_substring_number_from_name(code,
			    (PCRE2_SPTR)name);
			if (num <= 0) {
				snprintf(err, errlen,
				    "${%s}: no group of that name in the "
				    "pattern",
				    name);
				return -1;
			}
			sg->sg_op = RULE_OP_GROUP;
			sg->sg_group = (uint32_t)num;
		}
		p = end;
	}
	return 0;
}

/* Free segments. */
static void
rule_segs_free(struct rule_seg *segs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(segs[i].sg_text);
	free(segs);
}

/* Unescape a plain text value (no ${}) into a new buffer. */
static int
rule_unescape(const char *s, char **out, size_t *len, char *err, size_t errlen)
{
	struct rule_seg *segs;
	size_t n;

	if (rule_parse_text(s, NULL, &segs, &n, err, errlen) != 0) {
		rule_segs_free(segs, n);
		return -1;
	}
	if (n == 0) {
		*out = xstrdup("");
		*len = 0;
	} else {
		*out = segs[0].sg_text;
		*len = segs[0].sg_len;
		segs[0].sg_text = NULL;
	}
	rule_segs_free(segs, n);
	return 0;
}

/* Parse "ADDR PORT" or "implied PORT" into ss (family 0 when implied). */
static int
rule_endpoint_parse(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *sp;
	char host[INET6_ADDRSTRLEN];
	unsigned long port;

	memset(ss, 0, sizeof *ss);
	if ((sp = strchr(s, ' ')) == NULL || (size_t)(sp - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(sp - s));
	host[sp - s] = '\0';
	while (*sp == ' ')
		sp++;
	if (rule_number(sp, strlen(sp), 65535, &port) != 0)
		return -1;
	if (strcmp(host, "implied") == 0) {
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

/* Parse "21", "6667,6697" or "6660-6669, 7000" into ranges. */
static int
rule_ports_parse(const char *s, struct rule_port_range **out, size_t *n,
    char *err, size_t errlen)
{
	char *copy, *item, *next, *dash;
	unsigned long lo, hi;
	size_t len;
	int rc = 0;

	*out = NULL;
	*n = 0;
	copy = xstrdup(s);
	for (item = copy; item != NULL; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*item))
			item++;
		len = strlen(item);
		while (len > 0 && isspace((unsigned char)item[len - 1]))
			item[--len] = '\0';
		if ((dash = strchr(item, '-')) != NULL) {
			if (rule_number(item, (size_t)(dash - item), 65535,
				&lo) != 0 ||
			    rule_number(dash + 1, strlen(dash + 1), 65535,
				&hi) != 0)
				goto bad;
		} else {
			if (rule_number(item, len, 65535, &lo) != 0)
				goto bad;
			hi = lo;
		}
		if (lo == 0 || hi < lo)
			goto bad;
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		(*out)[*n].pr_lo = (uint16_t)lo;
		(*out)[(*n)++].pr_hi = (uint16_t)hi;
		continue;
	bad:
		snprintf(err, errlen,
		    "\"%s\" is not a port or range of ports 1-65535 "
		    "(e.g. 21, 6667,6697, 6660-6669)",
		    item);
		rc = -1;
		break;
	}
	free(copy);
	if (rc == 0 && *n == 0) {
		snprintf(err, errlen, "no ports");
		rc = -1;
	}
	if (rc != 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Free one kind. */
static void
rule_kind_free(struct rule_kind *k)
{
	size_t i;

	if (k == NULL)
		return;
	free(k->k_name);
	free(k->k_pattern);
	pcre2_code_free(k->k_code);
	free(k->k_detect_pattern);
	pcre2_code_free(k->k_detect);
	rule_segs_free(k->k_segs, k->k_nsegs);
	rule_segs_free(k->k_neutral, k->k_nneutral);
	for (i = 0; i < k->k_nvecs; i++) {
		free(k->k_vecs[i].v_id);
		free(k->k_vecs[i].v_input);
		free(k->k_vecs[i].v_decode);
		free(k->k_vecs[i].v_output);
	}
	free(k->k_vecs);
	free(k);
}

/*
 * Let go of one application: its rule set and each scanner using it hold
 * it, so a rule set replaced by a reload goes once its last scanner does.
 * Scanners end on whichever thread runs their channel.
 */
static void
rule_app_free(struct rule_app *a)
{
	size_t i;

	if (a == NULL ||
	    __atomic_sub_fetch(&a->a_refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (i = 0; i < a->a_nkinds; i++)
		rule_kind_free(a->a_kinds[i]);
	free(a->a_kinds);
	free(a->a_ports);
	pcre2_match_context_free(a->a_mctx);
	pcre2_compile_context_free(a->a_cctx);
	pcre2_code_free(a->a_any[RULE_C2S]);
	pcre2_code_free(a->a_any[RULE_S2C]);
	free(a->a_name);
	free(a->a_file);
	free(a->a_path);
	free(a->a_text);
	free(a);
}

/* A scanner uses the application: it stays until rule_app_release. */
void
rule_app_hold(const struct rule_app *a)
{
	__atomic_add_fetch(&((struct rule_app *)a)->a_refs, 1,
	    __ATOMIC_RELAXED);
}

/* The scanner is done with the application. */
void
rule_app_release(const struct rule_app *a)
{
	rule_app_free((struct rule_app *)a);
}

/* A section's keys without the "section:" prefix; free the array only. */
static const char **
rule_keys(dictionary *d, const char *sec, int *n)
{
	const char **keys;
	int i;
	size_t skip = strlen(sec) + 1;

	*n = iniparser_getsecnkeys(d, sec);
	if (*n <= 0) {
		*n = 0;
		return NULL;
	}
	keys = xcalloc((size_t)*n, sizeof *keys);
	iniparser_getseckeys(d, sec, keys);
	for (i = 0; i < *n; i++)
		keys[i] += skip;
	return keys;
}

/* A value, or NULL when absent. */
static const char *
rule_get(dictionary *d, const char *sec, const char *key)
{
	char full[256];

	snprintf(full, sizeof full, "%s:%s", sec, key);
	return iniparser_getstring(d, full, NULL);
}

/* Is key "test.N.field"? Sets the id length ("test.N"). */
static int
rule_vector_key(const char *key, size_t *idlen, const char **field)
{
	const char *p;

	if (strncmp(key, "test.", 5) != 0)
		return 0;
	p = key + 5;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p != '.' || p - key > 32)
		return 0;
	*idlen = (size_t)(p - key);
	*field = p + 1;
	return rule_in_list(rule_vector_keys, p + 1);
}

/* Parse the test vectors of a kind. */
static int
rule_parse_vectors(struct rule_kind *k, dictionary *d, const char **keys,
    int nkeys, const char *file, char **cause)
{
	struct rule_vector *v;
	const char *field, *val;
	char id[40], key[64], err[256];
	size_t idlen, i;
	int j;

	for (j = 0; j < nkeys; j++) {
		if (!rule_vector_key(keys[j], &idlen, &field))
			continue;
		snprintf(id, sizeof id, "%.*s", (int)idlen, keys[j]);
		for (i = 0; i < k->k_nvecs; i++) {
			if (strcmp(k->k_vecs[i].v_id, id) == 0)
				break;
		}
		if (i < k->k_nvecs)
			continue;
		k->k_vecs =
		    xrealloc(k->k_vecs, (k->k_nvecs + 1) * sizeof *k->k_vecs);
		v = &k->k_vecs[k->k_nvecs++];
		memset(v, 0, sizeof *v);
		v->v_id = xstrdup(id);

		snprintf(key, sizeof key, "%s.input", id);
		if ((val = rule_get(d, k->k_name, key)) == NULL)
			return rule_error(cause, file, k->k_name, key,
			    "missing (the other %s keys need it)", id);
		if (rule_unescape(val, &v->v_input, &v->v_inlen, err,
			sizeof err) != 0)
			return rule_error(cause, file, k->k_name, key, "%s",
			    err);
		if (v->v_inlen == 0)
			return rule_error(cause, file, k->k_name, key,
			    "empty input");

		snprintf(key, sizeof key, "%s.output", id);
		if ((val = rule_get(d, k->k_name, key)) != NULL) {
			if (rule_unescape(val, &v->v_output, &v->v_outlen, err,
				sizeof err) != 0)
				return rule_error(cause, file, k->k_name, key,
				    "%s", err);
			v->v_has_output = 1;
		}

		snprintf(key, sizeof key, "%s.with", id);
		val = rule_get(d, k->k_name, key);
		if (rule_endpoint_parse(val ? val : RULE_WITH_DEFAULT,
			&v->v_with) != 0 ||
		    v->v_with.ss_family == 0)
			return rule_error(cause, file, k->k_name, key,
			    "\"%s\" is not ADDRESS PORT (e.g. 192.0.2.1 "
			    "40000)",
			    val);

		snprintf(key, sizeof key, "%s.decode", id);
		if ((val = rule_get(d, k->k_name, key)) != NULL) {
			struct sockaddr_storage ss;

			if (strcmp(val, "none") != 0 &&
			    strcmp(val, "error") != 0 &&
			    strcmp(val, "neutral") != 0 &&
			    rule_endpoint_parse(val, &ss) != 0)
				return rule_error(cause, file, k->k_name, key,
				    "\"%s\" is not none, neutral, error, "
				    "implied PORT or ADDRESS PORT",
				    val);
			v->v_decode = xstrdup(val);
		}
	}
	return 0;
}

/*
 * Does a pattern repeat, without bound, a group that itself repeats
 * without bound, as in (a+)* or (?:x*y+)+? Such nesting can make matching
 * take time exponential or polynomial in the input, so it is refused. A
 * simple reading of the text: escapes and character classes are skipped,
 * and * + {n,} count as unbounded.
 */
static int
rule_nested_unbounded(const char *p, size_t *at)
{
	int inner[64], depth = 0, last_group = 0, unb;
	const char *s = p, *q;

	memset(inner, 0, sizeof inner);
	for (; *s != '\0'; s++) {
		unb = 0;
		if (*s == '\\') {
			if (s[1] == '\0')
				break;
			s++;
			if (*s == 'x' && s[1] == '{' && (q = strchr(s, '}')))
				s = q;
			last_group = 0;
			continue;
		}
		if (*s == '[') {
			s++;
			if (*s == '^')
				s++;
			if (*s == ']')
				s++;
			for (; *s != '\0' && *s != ']'; s++)
				if (*s == '\\' && s[1] != '\0')
					s++;
			if (*s == '\0')
				break;
			last_group = 0;
			continue;
		}
		if (*s == '(') {
			if (depth < 63)
				inner[++depth] = 0;
			last_group = 0;
			continue;
		}
		if (*s == ')') {
			last_group = depth > 0 ? inner[depth] + 1 : 0;
			if (depth > 0)
				depth--;
			/* The group's own repeats count for its parent. */
			if (last_group > 1)
				inner[depth] = 1;
			continue;
		}
		if (*s == '*' || *s == '+')
			unb = 1;
		else if (*s == '{' && (q = strchr(s, '}')) != NULL &&
		    q[-1] == ',')
			unb = 1;
		else if (*s == '{' || *s == '?') {
			last_group = 0;
			continue;
		} else {
			last_group = 0;
			continue;
		}
		if (unb && last_group > 1) {
			*at = (size_t)(s - p);
			return 1;
		}
		if (unb)
			inner[depth] = 1;
		last_group = 0;
	}
	return 0;
}

/*
 * Compile one of a kind's patterns: no empty match, lookbehind of at most
 * 255, no nested unbounded repeats; JIT when it can.
 */
static pcre2_code *
rule_compile(struct rule_app *a, const char *v, const char *file,
    const char *sec, const char *key, char **cause)
{
	pcre2_code *code;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE erroff;
	uint32_t lb, minlen;
	size_t at;
	int errcode;

	if (rule_nested_unbounded(v, &at)) {
		rule_error(cause, file, sec, key,
		    "a group that repeats without bound is repeated without "
		    "bound at offset %zu: matching could take time far beyond "
		    "the input's length; write it without nesting",
		    at);
		return NULL;
	}
	code = pcre2_compile((PCRE2_SPTR)v, PCRE2_ZERO_TERMINATED,
	    PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &errcode, &erroff, a->a_cctx);
	if (code == NULL) {
		pcre2_get_error_message(errcode, msg, sizeof msg);
		rule_error(cause, file, sec, key,
		    "PCRE2 error at offset %zu: %s", (size_t)erroff,
		    (char *)msg);
		return NULL;
	}
	pcre2_pattern_info(code, PCRE2_INFO_MINLENGTH, &minlen);
	pcre2_pattern_info(code, PCRE2_INFO_MAXLOOKBEHIND, &lb);
	if (minlen == 0 || lb > 255) {
		if (minlen == 0)
			rule_error(cause, file, sec, key,
			    "can match an empty string");
		else
			rule_error(cause, file, sec, key,
			    "lookbehind of %u characters is over 255", lb);
		pcre2_code_free(code);
		return NULL;
	}
	if (lb > a->a_lookbehind)
		a->a_lookbehind = lb;
	/* Without JIT (or with an unsupported pattern) the interpreter runs. */
	pcre2_jit_compile(code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
	return code;
}

/* A yes/no key of a kind; -1 on a bad value. */
static int
rule_yesno(dictionary *d, const char *file, const char *sec, const char *key,
    int *out, char **cause)
{
	const char *v = rule_get(d, sec, key);

	if (v == NULL)
		return 0;
	if (strcmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0)
		*out = 0;
	else
		return rule_error(cause, file, sec, key,
		    "\"%s\" is not yes or no", v);
	return 0;
}

/*
 * The rest of an action = refuse section: a detect pattern and the text
 * that replaces what it finds, nothing that decodes or rewrites.
 */
static int
rule_parse_refusal(struct rule_app *a, dictionary *d, const char *sec,
    const char *file, struct rule_kind *k, char **cause)
{
	static const char *const none[] = { "pattern", "decode", "rewrite",
		"accept", "low_ports", "other_hosts" };
	const char *v;
	char err[512];
	size_t i;

	for (i = 0; i < nitems(none); i++)
		if (rule_get(d, sec, none[i]) != NULL)
			return rule_error(cause, file, sec, none[i],
			    "not with action = refuse: it only detects");
	if ((v = rule_get(d, sec, "detect")) == NULL || *v == '\0')
		return rule_error(cause, file, sec, "detect",
		    "missing: action = refuse needs what to detect");
	k->k_detect_pattern = xstrdup(v);
	if ((k->k_detect = rule_compile(a, v, file, sec, "detect", cause)) ==
	    NULL)
		return -1;
	if ((v = rule_get(d, sec, "neutral")) == NULL || *v == '\0')
		return rule_error(cause, file, sec, "neutral",
		    "missing: what replaces text that detect finds");
	/* Plain text: nothing decodes, so there is no ${new.*} to fill. */
	if (strchr(v, '$') != NULL)
		return rule_error(cause, file, sec, "neutral",
		    "no ${...} with action = refuse");
	if (rule_parse_text(v, NULL, &k->k_neutral, &k->k_nneutral, err,
		sizeof err) != 0)
		return rule_error(cause, file, sec, "neutral", "%s", err);
	return 0;
}

/* Parse one announcement section. */
static struct rule_kind *
rule_parse_kind(struct rule_app *a, dictionary *d, const char *sec,
    const char *file, char **cause)
{
	struct rule_kind *k;
	const char **keys = NULL, *v, *field;
	char err[512];
	size_t i, idlen;
	int nkeys, j, num;

	k = xcalloc(1, sizeof *k);
	k->k_app = a;
	k->k_name = xstrdup(sec);
	if (strspn(sec, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
	    strlen(sec)) {
		rule_error(cause, file, sec, NULL,
		    "section names are letters, digits, _ and -");
		goto fail;
	}
	keys = rule_keys(d, sec, &nkeys);
	for (j = 0; j < nkeys; j++) {
		if (!rule_in_list(rule_kind_keys, keys[j]) &&
		    !rule_vector_key(keys[j], &idlen, &field)) {
			rule_error(cause, file, sec, keys[j], "unknown key");
			goto fail;
		}
	}

	if ((v = rule_get(d, sec, "direction")) == NULL || *v == '\0') {
		rule_error(cause, file, sec, "direction", "missing");
		goto fail;
	}
	if (strcmp(v, "client-to-server") == 0 || strcmp(v, "c2s") == 0)
		k->k_dir = RULE_C2S;
	else if (strcmp(v, "server-to-client") == 0 || strcmp(v, "s2c") == 0)
		k->k_dir = RULE_S2C;
	else {
		rule_error(cause, file, sec, "direction",
		    "\"%s\" is not client-to-server or server-to-client", v);
		goto fail;
	}

	if ((v = rule_get(d, sec, "action")) == NULL || *v == '\0') {
		rule_error(cause, file, sec, "action", "missing");
		goto fail;
	}
	if (strcmp(v, "server-connects") == 0)
		k->k_action = RULE_SERVER_CONNECTS;
	else if (strcmp(v, "client-connects") == 0)
		k->k_action = RULE_CLIENT_CONNECTS;
	else if (strcmp(v, "refuse") == 0)
		k->k_action = RULE_REFUSE;
	else {
		rule_error(cause, file, sec, "action",
		    "\"%s\" is not server-connects, client-connects or "
		    "refuse",
		    v);
		goto fail;
	}
	if (k->k_action == RULE_REFUSE) {
		if (rule_parse_refusal(a, d, sec, file, k, cause) != 0 ||
		    rule_parse_vectors(k, d, keys, nkeys, file, cause) != 0)
			goto fail;
		free(keys);
		return k;
	}

	if ((v = rule_get(d, sec, "decode")) == NULL || *v == '\0') {
		rule_error(cause, file, sec, "decode", "missing");
		goto fail;
	}
	for (i = 0; i < nitems(rule_decodes); i++) {
		if (strcmp(rule_decodes[i].name, v) == 0)
			break;
	}
	if (i == nitems(rule_decodes)) {
		rule_error(cause, file, sec, "decode",
		    "\"%s\" is not comma, dotted, u32, ipv6, ip or implied", v);
		goto fail;
	}
	k->k_decode = rule_decodes[i].decode;

	/* Who announces is who is connected to: one pairing each way. */
	if ((k->k_action == RULE_SERVER_CONNECTS) != (k->k_dir == RULE_C2S)) {
		rule_error(cause, file, sec, "action",
		    "server-connects goes with client-to-server, "
		    "client-connects with server-to-client");
		goto fail;
	}
	k->k_accept = RULE_ACCEPT_SERVER;
	if (rule_yesno(d, file, sec, "low_ports", &k->k_low_ports, cause) !=
		0 ||
	    rule_yesno(d, file, sec, "other_hosts", &k->k_other_hosts, cause) !=
		0)
		goto fail;
	if (k->k_other_hosts && k->k_action != RULE_CLIENT_CONNECTS) {
		rule_error(cause, file, sec, "other_hosts",
		    "only for action = client-connects");
		goto fail;
	}
	if ((v = rule_get(d, sec, "accept")) != NULL) {
		k->k_accept = 0;
		if (strstr(v, "server") != NULL)
			k->k_accept |= RULE_ACCEPT_SERVER;
		if (strstr(v, "inside") != NULL)
			k->k_accept |= RULE_ACCEPT_INSIDE;
		if (k->k_accept == 0 ||
		    strspn(v, "serverinside |,") != strlen(v)) {
			rule_error(cause, file, sec, "accept",
			    "\"%s\" is not server, inside or server | inside",
			    v);
			goto fail;
		}
		if (k->k_action != RULE_SERVER_CONNECTS) {
			rule_error(cause, file, sec, "accept",
			    "only for action = server-connects");
			goto fail;
		}
	}

	if ((v = rule_get(d, sec, "pattern")) == NULL || *v == '\0') {
		rule_error(cause, file, sec, "pattern", "missing");
		goto fail;
	}
	k->k_pattern = xstrdup(v);
	if ((k->k_code = rule_compile(a, v, file, sec, "pattern", cause)) ==
	    NULL)
		goto fail;
	if ((v = rule_get(d, sec, "detect")) != NULL && *v != '\0') {
		k->k_detect_pattern = xstrdup(v);
		if ((k->k_detect = rule_compile(a, v, file, sec, "detect",
			 cause)) == NULL)
			goto fail;
	}

	for (i = 0; i < RG_COUNT; i++) {
		num = pcre2_substring_number_from_name(k->k_code,
		    (PCRE2_SPTR)rule_group_names[i]);
		k->k_groups[i] = num > 0 ? (uint32_t)num : 0;
	}
	switch (k->k_decode) {
	case RULE_DEC_COMMA:
		for (i = RG_H1; i <= RG_P2; i++) {
			if (k->k_groups[i] == 0)
				break;
		}
		break;
	case RULE_DEC_IMPLIED:
		i = k->k_groups[RG_PORT] == 0 ? RG_PORT : RG_COUNT;
		break;
	default:
		if (k->k_groups[RG_ADDR] == 0)
			i = RG_ADDR;
		else if (k->k_groups[RG_PORT] == 0)
			i = RG_PORT;
		else
			i = RG_COUNT;
		break;
	}
	if (i < RG_COUNT && (k->k_decode != RULE_DEC_COMMA || i <= RG_P2)) {
		rule_error(cause, file, sec, "pattern",
		    "decode %s needs a group named %s, (?<%s>...)",
		    rule_get(d, sec, "decode"), rule_group_names[i],
		    rule_group_names[i]);
		goto fail;
	}

	if ((v = rule_get(d, sec, "rewrite")) == NULL || *v == '\0') {
		rule_error(cause, file, sec, "rewrite", "missing");
		goto fail;
	}
	if (rule_parse_text(v, k->k_code, &k->k_segs, &k->k_nsegs, err,
		sizeof err) != 0) {
		rule_error(cause, file, sec, "rewrite", "%s", err);
		goto fail;
	}
	if ((v = rule_get(d, sec, "neutral")) != NULL) {
		if (rule_parse_text(v, k->k_code, &k->k_neutral, &k->k_nneutral,
			err, sizeof err) != 0) {
			rule_error(cause, file, sec, "neutral", "%s", err);
			goto fail;
		}
		for (i = 0; i < k->k_nneutral; i++)
			if (k->k_neutral[i].sg_op == RULE_OP_GROUP) {
				rule_error(cause, file, sec, "neutral",
				    "only ${new.*} here: it replaces text the "
				    "pattern did not match");
				goto fail;
			}
	} else if (k->k_detect != NULL) {
		rule_error(cause, file, sec, "neutral",
		    "missing: what replaces text that detect finds");
		goto fail;
	}
	if (rule_parse_vectors(k, d, keys, nkeys, file, cause) != 0)
		goto fail;
	free(keys);
	return k;

fail:
	free(keys);
	rule_kind_free(k);
	return NULL;
}

/*
 * Whether a pattern means the same inside (?:...) next to others: nothing
 * that numbers groups (\1, \g, (?1), (?(...)), calls subroutines, uses
 * verbs, moves the match start (\K), quotes to the end (\Q) or may be
 * a comment to the end (#). Conservative: such patterns are scanned alone.
 */
static int
rule_combinable(const char *p)
{
	static const char *const bad[] = { "\\g", "\\K", "\\Q", "(*", "(?(",
		"(?&", "(?P>", "(?R", "(?|", "#" };
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		if (strstr(p, bad[i]) != NULL)
			return 0;
	}
	for (; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] >= '1' && p[1] <= '9')
			return 0;
		if (p[0] == '(' && p[1] == '?' &&
		    (isdigit((unsigned char)p[2]) || p[2] == '+' ||
			p[2] == '-'))
			return 0;
	}
	return 1;
}

/* A direction's patterns, in the order the scanner tries them. */
size_t
rule_app_entries(const struct rule_app *a, enum rule_dir dir,
    struct rule_entry *out, size_t max)
{
	const struct rule_kind *k;
	size_t i, n = 0;
	int detect;

	for (detect = 0; detect < 2; detect++) {
		for (i = 0; i < a->a_nkinds && n < max; i++) {
			k = a->a_kinds[i];
			if (k->k_dir != dir ||
			    (detect && k->k_detect == NULL) ||
			    (!detect && k->k_code == NULL))
				continue;
			out[n].re_kind = k;
			out[n].re_code = detect ? k->k_detect : k->k_code;
			out[n++].re_detect = detect;
		}
	}
	return n;
}

/* One alternation of a direction's patterns, or NULL (see a_any). */
static pcre2_code *
rule_app_combine(struct rule_app *a, enum rule_dir dir)
{
	struct rule_entry e[RULE_MAX_ENTRIES];
	pcre2_code *code;
	const char *pat;
	char *text = NULL, *next;
	size_t i, n;
	PCRE2_SIZE erroff;
	int errcode;

	n = rule_app_entries(a, dir, e, nitems(e));
	for (i = 0; i < n; i++) {
		pat = e[i].re_detect ? e[i].re_kind->k_detect_pattern
				     : e[i].re_kind->k_pattern;
		if (!rule_combinable(pat)) {
			free(text);
			return NULL;
		}
		xasprintf(&next, "%s%s(?:(?:%s)(*MARK:%zu))", text ? text : "",
		    text ? "|" : "", pat, i);
		free(text);
		text = next;
	}
	if (n < 2) {
		free(text);
		return NULL;
	}
	code = pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED,
	    PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | PCRE2_DUPNAMES, &errcode,
	    &erroff, a->a_cctx);
	free(text);
	if (code != NULL)
		pcre2_jit_compile(code,
		    PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
	return code;
}

/* Parse a loaded dictionary into an application. */
static struct rule_app *
rule_parse_app(struct ruleset *rs, dictionary *d, const char *file,
    char **cause)
{
	struct rule_app *a, *o;
	struct rule_kind *k;
	const char **keys, *sec, *v;
	char err[256];
	size_t i, j, m;
	int nsec, n, s;
	unsigned long ml = RULE_MATCH_LIMIT, dl = RULE_DEPTH_LIMIT,
		      hl = RULE_HEAP_LIMIT;

	a = xcalloc(1, sizeof *a);
	a->a_refs = 1;
	for (s = 0; s < d->size; s++) {
		if (d->key[s] != NULL && d->key[s][0] == ':') {
			rule_error(cause, file, NULL, NULL,
			    "key \"%s\" is outside a section", d->key[s] + 1);
			goto fail;
		}
	}
	if (!iniparser_find_entry(d, "service")) {
		rule_error(cause, file, "service", NULL, "missing");
		goto fail;
	}
	keys = rule_keys(d, "service", &n);
	for (s = 0; s < n; s++) {
		if (!rule_in_list(rule_service_keys, keys[s])) {
			rule_error(cause, file, "service", keys[s],
			    "unknown key");
			free(keys);
			goto fail;
		}
	}
	free(keys);

	if ((v = rule_get(d, "service", "name")) != NULL && *v != '\0') {
		if (strspn(v,
			"abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
		    strlen(v)) {
			rule_error(cause, file, "service", "name",
			    "\"%s\" is not letters, digits, _, - and .", v);
			goto fail;
		}
		a->a_name = xstrdup(v);
	}
	if ((v = rule_get(d, "service", "ports")) == NULL || *v == '\0') {
		rule_error(cause, file, "service", "ports", "missing");
		goto fail;
	}
	if (rule_ports_parse(v, &a->a_ports, &a->a_nports, err, sizeof err) !=
	    0) {
		rule_error(cause, file, "service", "ports", "%s", err);
		goto fail;
	}
	if ((v = rule_get(d, "service", "match_limit")) != NULL &&
	    (rule_number(v, strlen(v), 100000000, &ml) != 0 || ml < 100)) {
		rule_error(cause, file, "service", "match_limit",
		    "\"%s\" is not a number from 100 to 100000000", v);
		goto fail;
	}
	if ((v = rule_get(d, "service", "depth_limit")) != NULL &&
	    (rule_number(v, strlen(v), 10000000, &dl) != 0 || dl < 100)) {
		rule_error(cause, file, "service", "depth_limit",
		    "\"%s\" is not a number from 100 to 10000000", v);
		goto fail;
	}
	if ((v = rule_get(d, "service", "heap_limit")) != NULL &&
	    (rule_number(v, strlen(v), 1000000, &hl) != 0 || hl < 16)) {
		rule_error(cause, file, "service", "heap_limit",
		    "\"%s\" is not a number of KiB from 16 to 1000000", v);
		goto fail;
	}
	if (rule_yesno(d, file, "service", "telnet", &a->a_telnet, cause) !=
		0 ||
	    rule_yesno(d, file, "service", "lines", &a->a_lines, cause) != 0)
		goto fail;
	a->a_mctx = pcre2_match_context_create(NULL);
	/* A line protocol's peer may end a line with a bare CR: so does ^. */
	a->a_cctx = pcre2_compile_context_create(NULL);
	if (a->a_lines)
		pcre2_set_newline(a->a_cctx, PCRE2_NEWLINE_ANYCRLF);
	pcre2_set_match_limit(a->a_mctx, (uint32_t)ml);
	pcre2_set_depth_limit(a->a_mctx, (uint32_t)dl);
	pcre2_set_heap_limit(a->a_mctx, (uint32_t)hl);

	nsec = iniparser_getnsec(d);
	for (s = 0; s < nsec; s++) {
		sec = iniparser_getsecname(d, s);
		if (strcmp(sec, "service") == 0)
			continue;
		if ((k = rule_parse_kind(a, d, sec, file, cause)) == NULL)
			goto fail;
		a->a_kinds = xrealloc(a->a_kinds,
		    (a->a_nkinds + 1) * sizeof *a->a_kinds);
		a->a_kinds[a->a_nkinds++] = k;
	}
	if (a->a_nkinds == 0) {
		rule_error(cause, file, NULL, NULL,
		    "no announcement sections (only [service])");
		goto fail;
	}
	a->a_any[RULE_C2S] = rule_app_combine(a, RULE_C2S);
	a->a_any[RULE_S2C] = rule_app_combine(a, RULE_S2C);

	/* Ports belong to one application only. */
	for (i = 0; i < rs->rs_napps; i++) {
		o = rs->rs_apps[i];
		for (j = 0; j < a->a_nports; j++) {
			for (m = 0; m < o->a_nports; m++) {
				if (a->a_ports[j].pr_lo > o->a_ports[m].pr_hi ||
				    a->a_ports[j].pr_hi < o->a_ports[m].pr_lo)
					continue;
				rule_error(cause, file, "service", "ports",
				    "port %u is already taken by %s",
				    a->a_ports[j].pr_lo > o->a_ports[m].pr_lo
					? a->a_ports[j].pr_lo
					: o->a_ports[m].pr_lo,
				    o->a_file);
				goto fail;
			}
		}
	}
	return a;

fail:
	rule_app_free(a);
	return NULL;
}

/* Load a rule file from text; path is used in messages. */
static int
ruleset_load_named(struct ruleset *rs, const char *path, const char *text,
    size_t len, char **cause)
{
	struct rule_app *a;
	dictionary *d;
	const char *tmpdir, *base, *p;
	char tmp[4096], msg[512];
	size_t i, done;
	ssize_t w;
	int fd;

	base = (p = strrchr(path, '/')) != NULL ? p + 1 : path;
	if (memchr(text, '\0', len) != NULL)
		return rule_error(cause, path, NULL, NULL,
		    "contains a NUL byte");
	/* iniparser reads files: a memory file where there is one. */
	if ((fd = memfd_create("dynpass-rule", MFD_CLOEXEC)) != -1 &&
	    access("/proc/self/fd", X_OK) == 0) {
		snprintf(tmp, sizeof tmp, "/proc/self/fd/%d", fd);
		tmpdir = NULL;
	} else {
		if (fd != -1)
			close(fd);
		if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
			tmpdir = "/tmp";
		snprintf(tmp, sizeof tmp, "%s/dynpass-rule.XXXXXX", tmpdir);
		if ((fd = mkstemp(tmp)) == -1)
			return rule_error(cause, path, NULL, NULL,
			    "cannot create a temporary file in %s: %s", tmpdir,
			    strerror(errno));
	}
	for (done = 0; done < len; done += (size_t)w) {
		if ((w = write(fd, text + done, len - done)) <= 0) {
			rule_error(cause, path, NULL, NULL,
			    "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			if (tmpdir != NULL)
				unlink(tmp);
			return -1;
		}
	}
	d = conf_parse_file(tmp, base, msg, sizeof msg);
	close(fd);
	if (tmpdir != NULL)
		unlink(tmp);
	if (d == NULL)
		return rule_error(cause, path, NULL, NULL, "cannot parse: %s",
		    msg);
	a = rule_parse_app(rs, d, path, cause);
	iniparser_freedict(d);
	if (a == NULL)
		return -1;
	a->a_file = xstrdup(base);
	a->a_path = xstrdup(path);
	if (a->a_name == NULL) {
		if ((p = strrchr(base, '.')) != NULL && p != base)
			a->a_name = xstrndup(base, (size_t)(p - base));
		else
			a->a_name = xstrdup(base);
	}
	for (i = 0; i < rs->rs_napps; i++) {
		if (strcmp(rs->rs_apps[i]->a_name, a->a_name) == 0) {
			rule_error(cause, path, "service", "name",
			    "\"%s\" is already loaded from %s", a->a_name,
			    rs->rs_apps[i]->a_file);
			rule_app_free(a);
			return -1;
		}
	}
	a->a_text = xmalloc(len + 1);
	memcpy(a->a_text, text, len);
	a->a_text[len] = '\0';
	a->a_len = len;
	rs->rs_apps =
	    xrealloc(rs->rs_apps, (rs->rs_napps + 1) * sizeof *rs->rs_apps);
	rs->rs_apps[rs->rs_napps++] = a;
	return 0;
}

/* An empty set of rules. */
struct ruleset *
ruleset_new(void)
{
	return xcalloc(1, sizeof(struct ruleset));
}

/* Free a set of rules. */
void
ruleset_free(struct ruleset *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->rs_napps; i++)
		rule_app_free(rs->rs_apps[i]);
	free(rs->rs_apps);
	free(rs);
}

/* Load a rule file from a buffer; name (e.g. "ftp.ini") is for messages. */
int
ruleset_load_text(struct ruleset *rs, const char *name, const char *text,
    size_t len, char **cause)
{
	return ruleset_load_named(rs, name, text, len, cause);
}

/* Order file names. */
static int
rule_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a whole file. */
static char *
rule_read_file(const char *path, size_t *len, char **cause)
{
	FILE *f;
	char *buf = NULL;
	size_t size = 0, n;

	*len = 0;
	if ((f = fopen(path, "r")) == NULL) {
		rule_error(cause, path, NULL, NULL, "cannot open: %s",
		    strerror(errno));
		return NULL;
	}
	for (;;) {
		if (*len == size) {
			if (size >= 1024 * 1024) {
				rule_error(cause, path, NULL, NULL,
				    "larger than 1M");
				goto fail;
			}
			size = size ? size * 2 : 8192;
			buf = xrealloc(buf, size);
		}
		n = fread(buf + *len, 1, size - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	if (ferror(f)) {
		rule_error(cause, path, NULL, NULL, "cannot read: %s",
		    strerror(errno));
		goto fail;
	}
	fclose(f);
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* Load one rule file; messages name it by path. */
int
ruleset_load_file(struct ruleset *rs, const char *path, char **cause)
{
	char *text;
	size_t len;
	int rc;

	if ((text = rule_read_file(path, &len, cause)) == NULL)
		return -1;
	rc = ruleset_load_named(rs, path, text, len, cause);
	free(text);
	return rc;
}

/* Load every *.ini in dir, sorted by name; all or nothing. */
int
ruleset_load_dir(struct ruleset *rs, const char *dir, char **cause)
{
	DIR *dp;
	struct dirent *de;
	char **names = NULL, *path, *text;
	size_t n = 0, i, len, before = rs->rs_napps, nlen;
	int rc = 0;

	if ((dp = opendir(dir)) == NULL)
		return rule_error(cause, dir, NULL, NULL, "cannot open: %s",
		    strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		nlen = strlen(de->d_name);
		if (de->d_name[0] == '.' || nlen < 5 ||
		    strcmp(de->d_name + nlen - 4, ".ini") != 0)
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dp);
	if (n > 0)
		qsort(names, n, sizeof *names, rule_name_cmp);
	for (i = 0; i < n && rc == 0; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		if ((text = rule_read_file(path, &len, cause)) == NULL)
			rc = -1;
		else
			rc = ruleset_load_named(rs, path, text, len, cause);
		free(text);
		free(path);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc != 0) {
		while (rs->rs_napps > before)
			rule_app_free(rs->rs_apps[--rs->rs_napps]);
	}
	return rc;
}

/* How many applications. */
size_t
ruleset_count(const struct ruleset *rs)
{
	return rs->rs_napps;
}

/* The i-th application, in load order. */
const struct rule_app *
ruleset_app(const struct ruleset *rs, size_t i)
{
	if (i >= rs->rs_napps)
		return NULL;
	return rs->rs_apps[i];
}

/* The application for a server port, or NULL: do not scan. */
const struct rule_app *
ruleset_for_port(const struct ruleset *rs, uint16_t port)
{
	size_t i;

	if (rs == NULL)
		return NULL;
	for (i = 0; i < rs->rs_napps; i++) {
		if (rule_app_has_port(rs->rs_apps[i], port))
			return rs->rs_apps[i];
	}
	return NULL;
}

/* Does the application watch this server port? */
int
rule_app_has_port(const struct rule_app *a, uint16_t port)
{
	size_t i;

	for (i = 0; i < a->a_nports; i++) {
		if (port >= a->a_ports[i].pr_lo && port <= a->a_ports[i].pr_hi)
			return 1;
	}
	return 0;
}

/* The application's name, e.g. "ftp". */
const char *
rule_app_name(const struct rule_app *a)
{
	return a->a_name;
}

/* The file's base name, e.g. "ftp.ini". */
const char *
rule_app_file(const struct rule_app *a)
{
	return a->a_file;
}

/* The file's original text, to hand to the esp. */
const char *
rule_app_text(const struct rule_app *a, size_t *len)
{
	if (len != NULL)
		*len = a->a_len;
	return a->a_text;
}

/* Does any kind watch this direction? */
int
rule_app_scans(const struct rule_app *a, enum rule_dir dir)
{
	size_t i;

	for (i = 0; i < a->a_nkinds; i++) {
		if (a->a_kinds[i]->k_dir == dir)
			return 1;
	}
	return 0;
}

/* How many kinds of announcement. */
size_t
rule_app_kind_count(const struct rule_app *a)
{
	return a->a_nkinds;
}

/* The i-th kind, in file order. */
const struct rule_kind *
rule_app_kind(const struct rule_app *a, size_t i)
{
	if (i >= a->a_nkinds)
		return NULL;
	return a->a_kinds[i];
}

/* The section name, e.g. "port". */
const char *
rule_kind_name(const struct rule_kind *k)
{
	return k->k_name;
}

/* Who connects to the announced endpoint. */
enum rule_action
rule_kind_action(const struct rule_kind *k)
{
	return k->k_action;
}

/* May a client-connects announcement name another host than the server? */
int
rule_kind_other_hosts(const struct rule_kind *k)
{
	return k->k_other_hosts;
}

/* Who may connect to a reverse opening: RULE_ACCEPT_* bits. */
int
rule_kind_accept(const struct rule_kind *k)
{
	return k->k_accept;
}

/* Is the address implied (the connection's own peer)? */
int
rule_kind_implied(const struct rule_kind *k)
{
	return k->k_decode == RULE_DEC_IMPLIED;
}

/* A captured group as (pointer, length); -1 if unset. */
static int
rule_group(const char *subject, const PCRE2_SIZE *ov, uint32_t g,
    const char **p, size_t *len)
{
	if (g == 0 || ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] < ov[2 * g])
		return -1;
	*p = subject + ov[2 * g];
	*len = ov[2 * g + 1] - ov[2 * g];
	return 0;
}

/* Decode a numeric group no larger than max. */
static int
rule_group_number(const struct rule_kind *k, const char *subject,
    const PCRE2_SIZE *ov, enum rule_group rg, unsigned long max,
    unsigned long *out, char *why, size_t whylen)
{
	const char *p;
	char shown[200];
	size_t len;

	if (rule_group(subject, ov, k->k_groups[rg], &p, &len) != 0) {
		snprintf(why, whylen, "group %s is unset",
		    rule_group_names[rg]);
		return -1;
	}
	if (rule_number(p, len, max, out) != 0) {
		esc_bytes(shown, sizeof shown, p, len > 40 ? 40 : len,
		    ESC_QUOTES);
		snprintf(why, whylen, "%s \"%s\" is not a number 0-%lu",
		    rule_group_names[rg], shown, max);
		return -1;
	}
	return 0;
}

/* Decode the address and port of a match into an. */
int
rule_kind_decode(const struct rule_kind *k, const char *subject,
    const PCRE2_SIZE *ov, struct announce *an, char *why, size_t whylen)
{
	unsigned long v[6], port;
	const char *p;
	char text[INET6_ADDRSTRLEN], shown[200];
	size_t len;
	int i, family;
	uint32_t u;

	an->an_family = 0;
	an->an_implied = 0;
	memset(an->an_addr, 0, sizeof an->an_addr);
	switch (k->k_decode) {
	case RULE_DEC_COMMA:
		for (i = 0; i < 6; i++) {
			if (rule_group_number(k, subject, ov, RG_H1 + i, 255,
				&v[i], why, whylen) != 0)
				return -1;
		}
		an->an_family = AF_INET;
		for (i = 0; i < 4; i++)
			an->an_addr[i] = (uint8_t)v[i];
		an->an_port = (uint16_t)(v[4] * 256 + v[5]);
		return 0;
	case RULE_DEC_IMPLIED:
		if (rule_group_number(k, subject, ov, RG_PORT, 65535, &port,
			why, whylen) != 0)
			return -1;
		an->an_implied = 1;
		an->an_port = (uint16_t)port;
		return 0;
	case RULE_DEC_U32:
		if (rule_group_number(k, subject, ov, RG_ADDR, 4294967295UL,
			&v[0], why, whylen) != 0)
			return -1;
		an->an_family = AF_INET;
		u = htonl((uint32_t)v[0]);
		memcpy(an->an_addr, &u, 4);
		break;
	default:
		if (rule_group(subject, ov, k->k_groups[RG_ADDR], &p, &len) !=
		    0) {
			snprintf(why, whylen, "group addr is unset");
			return -1;
		}
		if (len >= sizeof text) {
			snprintf(why, whylen, "address is too long");
			return -1;
		}
		memcpy(text, p, len);
		text[len] = '\0';
		family = AF_INET;
		if (k->k_decode == RULE_DEC_IPV6 ||
		    (k->k_decode == RULE_DEC_IP && strchr(text, ':') != NULL))
			family = AF_INET6;
		if (inet_pton(family, text, an->an_addr) != 1) {
			esc_str(shown, sizeof shown, text);
			snprintf(why, whylen, "\"%s\" is not an %s address",
			    shown, family == AF_INET ? "IPv4" : "IPv6");
			return -1;
		}
		an->an_family = family;
		if (family == AF_INET6 &&
		    memcmp(an->an_addr, rule_mapped, sizeof rule_mapped) == 0) {
			/* ::ffff:a.b.c.d is an IPv4 address. */
			memmove(an->an_addr, an->an_addr + 12, 4);
			memset(an->an_addr + 4, 0, 12);
			an->an_family = AF_INET;
		}
		if (k->k_decode == RULE_DEC_IP &&
		    rule_group(subject, ov, k->k_groups[RG_AF], &p, &len) ==
			0 &&
		    !(len == 1 && p[0] == (family == AF_INET ? '1' : '2'))) {
			esc_bytes(shown, sizeof shown, p, len > 20 ? 20 : len,
			    ESC_QUOTES);
			snprintf(why, whylen,
			    "address family \"%s\" does not match %s", shown,
			    text);
			return -1;
		}
		break;
	}
	if (rule_group_number(k, subject, ov, RG_PORT, 65535, &port, why,
		whylen) != 0)
		return -1;
	an->an_port = (uint16_t)port;
	return 0;
}

/* Write the rewrite template with endpoint sa into out; -1 if it cannot. */
int
rule_kind_rewrite(const struct rule_kind *k, int neutral, const char *subject,
    const PCRE2_SIZE *ov, uint32_t npairs, const struct sockaddr *sa,
    struct evbuffer *out)
{
	const struct rule_seg *segs = k->k_segs;
	size_t nsegs = k->k_nsegs;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	const struct rule_seg *sg;
	uint8_t a[16];
	char text[INET6_ADDRSTRLEN];
	const char *p;
	size_t i, len;
	int family;
	uint16_t port;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		family = AF_INET;
		memcpy(a, &sin->sin_addr, 4);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = AF_INET;
			memcpy(a, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			family = AF_INET6;
			memcpy(a, &sin6->sin6_addr, 16);
		}
	} else
		return -1;

	if (neutral && k->k_neutral != NULL) {
		segs = k->k_neutral;
		nsegs = k->k_nneutral;
	}
	/* Only IPv4 fits some forms: know before writing anything. */
	for (i = 0; i < nsegs; i++)
		if (family != AF_INET &&
		    (segs[i].sg_op == RULE_OP_IPV4 ||
			segs[i].sg_op == RULE_OP_ADDR_COMMA ||
			segs[i].sg_op == RULE_OP_ADDR_U32))
			return -1;
	for (i = 0; i < nsegs; i++) {
		sg = &segs[i];
		switch (sg->sg_op) {
		case RULE_OP_TEXT:
			evbuffer_add(out, sg->sg_text, sg->sg_len);
			break;
		case RULE_OP_GROUP:
			if (sg->sg_group < npairs &&
			    rule_group(subject, ov, sg->sg_group, &p, &len) ==
				0)
				evbuffer_add(out, p, len);
			break;
		case RULE_OP_ADDR:
		case RULE_OP_IPV4:
		case RULE_OP_IPV6:
			if (sg->sg_op == RULE_OP_IPV6 && family == AF_INET) {
				struct in6_addr m;

				memset(&m, 0, sizeof m);
				m.s6_addr[10] = m.s6_addr[11] = 0xff;
				memcpy(m.s6_addr + 12, a, 4);
				inet_ntop(AF_INET6, &m, text, sizeof text);
			} else
				inet_ntop(family, a, text, sizeof text);
			evbuffer_add(out, text, strlen(text));
			break;
		case RULE_OP_ADDR_COMMA:
			evbuffer_add_printf(out, "%u,%u,%u,%u", a[0], a[1],
			    a[2], a[3]);
			break;
		case RULE_OP_ADDR_U32:
			evbuffer_add_printf(out, "%lu",
			    (unsigned long)a[0] << 24 |
				(unsigned long)a[1] << 16 |
				(unsigned long)a[2] << 8 | a[3]);
			break;
		case RULE_OP_AF:
			evbuffer_add_printf(out, "%d",
			    family == AF_INET ? 1 : 2);
			break;
		case RULE_OP_PORT:
			evbuffer_add_printf(out, "%u", port);
			break;
		case RULE_OP_PORT_COMMA:
			evbuffer_add_printf(out, "%u,%u", port >> 8,
			    port & 0xff);
			break;
		case RULE_OP_PORT_HI:
			evbuffer_add_printf(out, "%u", port >> 8);
			break;
		case RULE_OP_PORT_LO:
			evbuffer_add_printf(out, "%u", port & 0xff);
			break;
		}
	}
	return 0;
}
