/* Rule test vectors: every rule file carries its own examples. */
#include "rule_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "xmalloc.h"

/* What a scan of a vector's input gave. */
struct rule_vec_result {
	char vr_first[128]; /* "none", "neutral", "error" or announce_str() */
	const struct rule_kind *vr_kind;
	struct evbuffer *vr_out;
	int vr_failed; /* the scanner failed closed: the channel would end */
};

/* The vector's "with" endpoint at port 0: what a refusal is rewritten to. */
static void
rule_vec_port0(const struct rule_vector *v, struct sockaddr_storage *ss)
{
	*ss = v->v_with;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = 0;
}

/* Feed some bytes and handle whatever the scanner finds. */
static void
rule_vec_feed(struct scan *s, const struct rule_vector *v, struct evbuffer *in,
    struct rule_vec_result *r)
{
	struct sockaddr_storage zero;
	struct announce an;
	const char *why;
	enum scan_result sr;
	int first = 1;

	rule_vec_port0(v, &zero);
	while (!r->vr_failed) {
		sr = scan_feed(s, first ? in : NULL, r->vr_out, &an, &why);
		first = 0;
		if (sr == SCAN_MORE)
			return;
		if (sr == SCAN_ERROR) {
			if (r->vr_first[0] == '\0')
				snprintf(r->vr_first, sizeof r->vr_first,
				    "error");
			r->vr_failed = 1;
			break;
		}
		if (r->vr_first[0] == '\0') {
			if (an.an_suspect)
				snprintf(r->vr_first, sizeof r->vr_first,
				    "neutral");
			else
				announce_str(&an, r->vr_first,
				    sizeof r->vr_first);
			r->vr_kind = an.an_kind;
		}
		/* As the daemons do: a suspect one is refused (port 0). */
		if (scan_emit(s,
			(const struct sockaddr *)(an.an_suspect ? &zero
								: &v->v_with),
			r->vr_out) != 0 &&
		    scan_emit(s, (const struct sockaddr *)&zero, r->vr_out) !=
			0) {
			snprintf(r->vr_first, sizeof r->vr_first, "error");
			r->vr_failed = 1;
		}
	}
}

/* Scan a vector's input, whole or byte by byte. */
static void
rule_vec_scan(const struct rule_kind *k, const struct rule_vector *v,
    int bytewise, struct rule_vec_result *r)
{
	struct scan *s;
	struct evbuffer *in;
	size_t i;

	memset(r, 0, sizeof *r);
	r->vr_out = evbuffer_new();
	s = scan_new(k->k_app, k->k_dir, 0);
	in = evbuffer_new();
	if (bytewise) {
		for (i = 0; i < v->v_inlen; i++) {
			evbuffer_add(in, v->v_input + i, 1);
			rule_vec_feed(s, v, in, r);
		}
	} else {
		evbuffer_add(in, v->v_input, v->v_inlen);
		rule_vec_feed(s, v, in, r);
	}
	scan_eof(s);
	if (!r->vr_failed)
		rule_vec_feed(s, v, NULL, r);
	if (!r->vr_failed)
		scan_flush(s, r->vr_out);
	if (r->vr_first[0] == '\0')
		snprintf(r->vr_first, sizeof r->vr_first, "none");
	evbuffer_free(in);
	scan_free(s);
}

/* Canonical form of an expected decode ("ADDR PORT" etc.). */
static void
rule_vec_canon(const char *want, char *buf, size_t len)
{
	struct announce an;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char host[INET6_ADDRSTRLEN];
	const char *sp;
	unsigned long port;

	snprintf(buf, len, "%s", want);
	if (strcmp(want, "none") == 0 || strcmp(want, "error") == 0 ||
	    strcmp(want, "neutral") == 0)
		return;
	if ((sp = strchr(want, ' ')) == NULL ||
	    (size_t)(sp - want) >= sizeof host)
		return;
	memcpy(host, want, (size_t)(sp - want));
	host[sp - want] = '\0';
	port = strtoul(sp + 1, NULL, 10);
	memset(&an, 0, sizeof an);
	memset(&ss, 0, sizeof ss);
	an.an_port = (uint16_t)port;
	if (strcmp(host, "implied") == 0)
		an.an_implied = 1;
	else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		an.an_family = AF_INET;
		memcpy(an.an_addr, &sin->sin_addr, 4);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		an.an_family = AF_INET6;
		memcpy(an.an_addr, &sin6->sin6_addr, 16);
	} else
		return;
	announce_str(&an, buf, len);
}

/* Does buf hold exactly len bytes equal to p? */
static int
rule_vec_same(struct evbuffer *buf, const void *p, size_t len)
{
	if (evbuffer_get_length(buf) != len)
		return 0;
	return len == 0 || memcmp(evbuffer_pullup(buf, -1), p, len) == 0;
}

/* Check one vector, one way; -1 with *cause on a mismatch. */
static int
rule_vec_check(const struct rule_kind *k, const struct rule_vector *v,
    int bytewise, char **cause)
{
	struct rule_vec_result r;
	const char *file = k->k_app->a_path, *how;
	char want[128], a[600], b[600];
	size_t outlen;
	int rc = 0;

	how = bytewise ? " (fed byte by byte)" : "";
	rule_vec_scan(k, v, bytewise, &r);
	outlen = evbuffer_get_length(r.vr_out);
	if (v->v_decode != NULL) {
		rule_vec_canon(v->v_decode, want, sizeof want);
		if (strcmp(want, r.vr_first) != 0) {
			xasprintf(cause,
			    "%s: [%s] %s.decode: expected %s, got "
			    "%s%s",
			    file, k->k_name, v->v_id, want, r.vr_first, how);
			rc = -1;
		} else if (r.vr_kind != NULL && r.vr_kind != k) {
			xasprintf(cause,
			    "%s: [%s] %s.decode: expected an "
			    "announcement of [%s], got [%s]%s",
			    file, k->k_name, v->v_id, k->k_name,
			    r.vr_kind->k_name, how);
			rc = -1;
		}
	}
	if (rc == 0 && v->v_has_output &&
	    !rule_vec_same(r.vr_out, v->v_output, v->v_outlen)) {
		esc_bytes(a, sizeof a, v->v_output, v->v_outlen, ESC_QUOTES);
		esc_bytes(b, sizeof b,
		    (const char *)evbuffer_pullup(r.vr_out, -1), outlen,
		    ESC_QUOTES);
		xasprintf(cause,
		    "%s: [%s] %s.output: expected \"%s\", got "
		    "\"%s\"%s",
		    file, k->k_name, v->v_id, a, b, how);
		rc = -1;
	}
	if (rc == 0 && !v->v_has_output && strcmp(r.vr_first, "none") == 0 &&
	    !rule_vec_same(r.vr_out, v->v_input, v->v_inlen)) {
		xasprintf(cause,
		    "%s: [%s] %s.input: bytes changed without an "
		    "announcement%s",
		    file, k->k_name, v->v_id, how);
		rc = -1;
	}
	evbuffer_free(r.vr_out);
	return rc;
}

/* Check one vector fed whole, then byte by byte. */
static int
rule_vec_run(const struct rule_kind *k, const struct rule_vector *v,
    char **cause)
{
	if (rule_vec_check(k, v, 0, cause) != 0 ||
	    rule_vec_check(k, v, 1, cause) != 0)
		return -1;
	return 0;
}

/* Run every rule's test vectors: 0, or -1 with the first failure. */
int
ruleset_run_vectors(const struct ruleset *rs, char **cause)
{
	const struct rule_app *a;
	const struct rule_kind *k;
	size_t i, j, m;

	for (i = 0; i < rs->rs_napps; i++) {
		a = rs->rs_apps[i];
		for (j = 0; j < a->a_nkinds; j++) {
			k = a->a_kinds[j];
			for (m = 0; m < k->k_nvecs; m++) {
				if (rule_vec_run(k, &k->k_vecs[m], cause) != 0)
					return -1;
			}
		}
	}
	return 0;
}

/*
 * Run every vector, in file order, and tell cb how each went (the same
 * message as ruleset_run_vectors for a failure). Returns how many failed.
 */
size_t
ruleset_report_vectors(const struct ruleset *rs, ruleset_vector_cb cb,
    void *arg)
{
	const struct rule_app *a;
	const struct rule_kind *k;
	char *cause;
	size_t i, j, m, failed = 0;

	for (i = 0; i < rs->rs_napps; i++) {
		a = rs->rs_apps[i];
		for (j = 0; j < a->a_nkinds; j++) {
			k = a->a_kinds[j];
			for (m = 0; m < k->k_nvecs; m++) {
				cause = NULL;
				if (rule_vec_run(k, &k->k_vecs[m], &cause) != 0)
					failed++;
				cb(a, k, k->k_vecs[m].v_id, cause, arg);
				free(cause);
			}
		}
	}
	return failed;
}

/* How many test vectors all the rules carry. */
size_t
ruleset_vector_count(const struct ruleset *rs)
{
	size_t i, j, n = 0;

	for (i = 0; i < rs->rs_napps; i++) {
		for (j = 0; j < rs->rs_apps[i]->a_nkinds; j++)
			n += rs->rs_apps[i]->a_kinds[j]->k_nvecs;
	}
	return n;
}
