/*
 * form: arbitrary bodies.  A body that parses must give fields whose
 * names and values, encoded again, parse back to the same fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

/* Percent-encode every byte of s but [A-Za-z0-9], to dst. */
static size_t encode(char *dst, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9')) {
			dst[n++] = (char)c;
		} else {
			dst[n++] = '%';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f, g;
	char *again;
	size_t i, n = 0;

	if (form_parse(&f, (const char *)data, size) != 0) {
		if (f.fields || f.buf || f.n)
			abort();
		return 0;
	}
	if (f.n > size)
		abort();
	if (!(again = malloc(3 * size + 2 * f.n + 1)))
		abort();
	for (i = 0; i < f.n; i++) {
		if (i)
			again[n++] = '&';
		n += encode(again + n, f.fields[i].name);
		again[n++] = '=';
		n += encode(again + n, f.fields[i].value);
	}
	if (form_parse(&g, again, n) != 0)
		abort();
	/* an empty name with an empty value ("=") is a field; a bare ""
	 * between '&' is not, so the counts agree */
	if (g.n != f.n)
		abort();
	for (i = 0; i < f.n; i++)
		if (strcmp(f.fields[i].name, g.fields[i].name) ||
		    strcmp(f.fields[i].value, g.fields[i].value))
			abort();
	form_free(&g);
	form_free(&f);
	free(again);
	return 0;
}
