/*
 * application/x-www-form-urlencoded bodies, as Twilio posts its webhooks.
 */
#ifndef TAPLINE_FORM_H
#define TAPLINE_FORM_H

#include <stddef.h>

struct form_field {
	const char *name;
	const char *value;
};

struct form {
	struct form_field *fields;	/* in the order received */
	size_t n;
	char *buf;		/* the decoded names and values */
};

/*
 * Decode len bytes of body: fields separated by '&', each "name=value"
 * (a field without '=' has an empty value; empty fields are skipped),
 * '+' is a space and %XX a byte.  Repeated names are kept, in order.
 * Returns 0, or -1 if a '%' is not followed by two hex digits, a name or
 * value decodes to a NUL byte, or memory runs out; f is then empty.
 */
int form_parse(struct form *f, const char *body, size_t len);

/* The value of the first field called name, or NULL. */
const char *form_get(const struct form *f, const char *name);

void form_free(struct form *f);

#endif
