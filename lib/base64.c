/*
 * RFC 4648 base64 with the standard alphabet and padding.  Decoding runs
 * for every media frame of every track, so it is one table look-up per
 * character and a single validity test per call.
 */
#include "base64.h"

#define XX	0xFF	/* not in the alphabet; '=' is handled apart */

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of each character, XX for those outside the alphabet. */
static const uint8_t value[256] = {
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63,
	 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, XX, XX, XX,
	 XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX,
	 XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
	 XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
};

long
base64_decode(uint8_t *dst, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	uint8_t *d = dst;
	unsigned a, b, c, e, bad;
	size_t i;

	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;

	/*
	 * Valid values fit in six bits, so OR-ing them all together leaves
	 * bits above 63 set only if some character was invalid: one test at
	 * the end instead of one per character.  dst may hold garbage when
	 * the answer is -1.
	 */
	bad = 0;
	for (i = 0; i < n - 4; i += 4) {
		a = value[s[i]];
		b = value[s[i + 1]];
		c = value[s[i + 2]];
		e = value[s[i + 3]];
		bad |= a | b | c | e;
		d[0] = (uint8_t)(a << 2 | b >> 4);
		d[1] = (uint8_t)(b << 4 | c >> 2);
		d[2] = (uint8_t)(c << 6 | e);
		d += 3;
	}

	/*
	 * The last group may end in "=" (two bytes) or "==" (one byte);
	 * the bits the pad leaves over must be zero, or two strings would
	 * decode to the same bytes.
	 */
	a = value[s[i]];
	b = value[s[i + 1]];
	if (s[i + 3] != '=') {
		c = value[s[i + 2]];
		e = value[s[i + 3]];
		bad |= a | b | c | e;
		d[0] = (uint8_t)(a << 2 | b >> 4);
		d[1] = (uint8_t)(b << 4 | c >> 2);
		d[2] = (uint8_t)(c << 6 | e);
		d += 3;
	} else if (s[i + 2] != '=') {
		c = value[s[i + 2]];
		bad |= a | b | c | ((c & 0x03) ? XX : 0);
		d[0] = (uint8_t)(a << 2 | b >> 4);
		d[1] = (uint8_t)(b << 4 | c >> 2);
		d += 2;
	} else {
		bad |= a | b | ((b & 0x0F) ? XX : 0);
		d[0] = (uint8_t)(a << 2 | b >> 4);
		d += 1;
	}
	if (bad > 63)
		return -1;
	return (long)(d - dst);
}

size_t
base64_encode(char *dst, const uint8_t *src, size_t n)
{
	char *d = dst;
	unsigned long v;
	size_t i;

	for (i = 0; n - i >= 3; i += 3) {
		v = (unsigned long)src[i] << 16 | src[i + 1] << 8 | src[i + 2];
		d[0] = alphabet[v >> 18];
		d[1] = alphabet[v >> 12 & 0x3F];
		d[2] = alphabet[v >> 6 & 0x3F];
		d[3] = alphabet[v & 0x3F];
		d += 4;
	}
	if (n - i == 1) {
		v = (unsigned long)src[i] << 16;
		d[0] = alphabet[v >> 18];
		d[1] = alphabet[v >> 12 & 0x3F];
		d[2] = '=';
		d[3] = '=';
		d += 4;
	} else if (n - i == 2) {
		v = (unsigned long)src[i] << 16 | src[i + 1] << 8;
		d[0] = alphabet[v >> 18];
		d[1] = alphabet[v >> 12 & 0x3F];
		d[2] = alphabet[v >> 6 & 0x3F];
		d[3] = '=';
		d += 4;
	}
	*d = '\0';
	return (size_t)(d - dst);
}
