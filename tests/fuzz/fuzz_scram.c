/*
 * libFuzzer: SCRAM messages (lib/scram.c) as a hostile esp or agent
 * writes them, to both sides of an exchange, and stored secrets.
 *
 * Input: up to three lines, A \n B \n C.
 *  - A is parsed as a stored secret, and as a client-first message that
 *    the server answers (with a cheap secret); B is then the client-final
 *    message, whose refusal must read "e=invalid-proof".
 *  - A client answers "r=<its nonce>" + B as the server-first message
 *    (so the nonce check passes and the rest is the fuzzer's), then
 *    checks C as the server-final message, which must fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scram.h"

/* A secret of the smallest cost, so that scrypt stays cheap. */
static const char *cheap =
    "scram$1024$1$1$AAECAwQFBgcICQoLDA0ODw==$9yXSe6dJkqMRiAJC7GgER5R83qmFs0Xp"
    "rXsWhKQf2Fw=$26NIqBP8w09jj0NcjHQzyd0bR/GE5nfHv0X6Jk9MaxE=";

/* Copy piece n of the input (split on newlines) as a string. */
static void
piece(const uint8_t *d, size_t len, int n, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (n > 0 && i < len)
		if (d[i++] == '\n')
			n--;
	while (i < len && d[i] != '\n' && o + 1 < outlen)
		out[o++] = d[i] == '\0' ? '?' : (char)d[i], i++;
	out[o] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t len)
{
	static char a[1024], b[1024], c[1024], m[2 * SCRAM_MSG_MAX];
	char out[SCRAM_MSG_MAX], user[SCRAM_USER_MAX + 1];
	unsigned char key[SCRAM_KEY_LEN];
	struct scram_secret ss, cs;
	struct scram_server sv;
	struct scram_client cl;
	const char *why;
	int old, rc;

	piece(d, len, 0, a, sizeof a);
	piece(d, len, 1, b, sizeof b);
	piece(d, len, 2, c, sizeof c);
	if (scram_secret_parse(a, &ss, &old) == 0)
		free(scram_secret_format(&ss));
	if (scram_secret_parse(cheap, &cs, &old) != 0)
		abort();

	scram_server_user(a, user, sizeof user);
	if (scram_server_first(&sv, a, &cs, out, sizeof out) == 0) {
		rc = scram_server_final(&sv, b, out, sizeof out, key);
		/* Without the password, no proof can pass. */
		if (rc == 0 || strcmp(out, "e=invalid-proof") != 0)
			abort();
	}

	if (scram_client_start(&cl, "alice", "pw", 2, out, sizeof out) != 0)
		abort();
	snprintf(m, sizeof m, "r=%s%s", cl.sc_nonce, b);
	if (scram_client_final(&cl, m, out, sizeof out, &why) == 0 &&
	    scram_client_verify(&cl, c, key, &why) == 0)
		abort(); /* a signature from a server without the secret */
	scram_client_clear(&cl);
	return 0;
}
