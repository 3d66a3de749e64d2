/*
 * twsig: arbitrary URLs, parameters, bodies and signature headers.
 *
 * Input: one flags byte, then fields separated by '\n': token, URL,
 * signature, body, and then parameter names and values alternately.
 * Flags bit 0 sets try_slash; bit 1 replaces the signature with one
 * twsig_sign made, which twsig_verify must then accept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twsig.h"

#define MAX_FIELDS 68

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *field[MAX_FIELDS];
	size_t flen[MAX_FIELDS];
	struct twsig_param params[(MAX_FIELDS - 4) / 2];
	size_t nf = 0, np = 0, i;
	const uint8_t *p, *end;
	char sig[TWSIG_LEN + 1];
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0];
	p = data + 1;
	end = data + size;
	while (nf < MAX_FIELDS) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (!(field[nf] = malloc(n + 1)))
			goto out;
		memcpy(field[nf], p, n);
		field[nf][n] = '\0';
		flen[nf++] = n;
		if (!nl)
			break;
		p = nl + 1;
	}
	while (nf < 4) {
		if (!(field[nf] = strdup("")))
			goto out;
		flen[nf++] = 0;
	}
	for (i = 4; i + 1 < nf; i += 2) {
		params[np].name = field[i];
		params[np++].value = field[i + 1];
	}

	twsig_verify(field[0], field[1], params, np, field[2], flags & 1);
	twsig_verify_body(field[0], field[1], field[3], flen[3], field[2]);
	if ((flags & 2) &&
	    twsig_sign(field[0], field[1], params, np, sig) == 0) {
		if (strlen(sig) != TWSIG_LEN)
			abort();
		if (!twsig_verify(field[0], field[1], params, np, sig,
				  flags & 1))
			abort();
		twsig_verify_body(field[0], field[1], field[3], flen[3], sig);
	}
out:
	for (i = 0; i < nf; i++)
		free(field[i]);
	return 0;
}
