/*
 * Form decoding (the WHATWG URL standard's urlencoded parser, made strict):
 * a malformed escape is an error rather than literal text, because the
 * decoded fields are signed by Twilio and a lenient reading could make
 * two different bodies look the same.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "form.h"

/* Decode src[0..n) into dst, NUL-terminated; -1 if malformed. */
static int decode(char *dst, const char *src, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hex_value((unsigned char)src[i + 1]);
			lo = hex_value((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -1;
		dst[k++] = (char)c;
	}
	dst[k] = '\0';
	return 0;
}

int form_parse(struct form *f, const char *body, size_t len)
{
	size_t i, nfields = 1, start, end, eq;
	char *d;

	memset(f, 0, sizeof *f);
	for (i = 0; i < len; i++)
		if (body[i] == '&')
			nfields++;
	/* decoding never lengthens: each field needs at most its own
	 * length plus two NULs */
	f->buf = malloc(len + 2 * nfields);
	f->fields = calloc(nfields, sizeof *f->fields);
	if (!f->buf || !f->fields)
		goto fail;
	d = f->buf;
	for (start = 0; start <= len; start = end + 1) {
		const char *p = body + start;

		for (end = start; end < len && body[end] != '&'; end++)
			;
		if (end == start)
			continue;
		for (eq = start; eq < end && body[eq] != '='; eq++)
			;
		if (decode(d, p, eq - start))
			goto fail;
		f->fields[f->n].name = d;
		d += strlen(d) + 1;
		if (eq < end) {
			if (decode(d, body + eq + 1, end - eq - 1))
				goto fail;
		} else {
			*d = '\0';
		}
		f->fields[f->n++].value = d;
		d += strlen(d) + 1;
	}
	return 0;
fail:
	form_free(f);
	return -1;
}

const char *form_get(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return f->fields[i].value;
	return NULL;
}

void form_free(struct form *f)
{
	free(f->fields);
	free(f->buf);
	memset(f, 0, sizeof *f);
}
