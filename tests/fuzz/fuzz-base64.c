/*
 * base64: whatever decodes must re-encode to exactly the input (strict
 * decoding means one spelling per byte string), and any bytes must
 * survive encoding and decoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decode_then_encode(const uint8_t *data, size_t size)
{
	uint8_t *bytes;
	char *again;
	long n;

	bytes = malloc(BASE64_DECODED_MAX(size) + 1);
	if (bytes == NULL)
		abort();
	n = base64_decode(bytes, (const char *)data, size);
	if (n < -1 || n > (long)BASE64_DECODED_MAX(size))
		abort();
	if (n >= 0) {
		again = malloc(BASE64_ENCODED_LEN((size_t)n) + 1);
		if (again == NULL)
			abort();
		if (base64_encode(again, bytes, (size_t)n) != size ||
		    memcmp(again, data, size) != 0)
			abort();
		free(again);
	}
	free(bytes);
}

static void
encode_then_decode(const uint8_t *data, size_t size)
{
	char *text;
	uint8_t *back;
	size_t len;

	text = malloc(BASE64_ENCODED_LEN(size) + 1);
	back = malloc(size + 3);
	if (text == NULL || back == NULL)
		abort();
	len = base64_encode(text, data, size);
	if (len != BASE64_ENCODED_LEN(size) || text[len] != '\0')
		abort();
	if (base64_decode(back, text, len) != (long)size ||
	    memcmp(back, data, size) != 0)
		abort();
	free(text);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_then_encode(data, size);
	encode_then_decode(data, size);
	return 0;
}
