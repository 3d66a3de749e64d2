/*
 * ITU-T G.711 mu-law.  A code is a sign bit, a 3-bit segment and a 4-bit
 * mantissa, all inverted on the wire.  The 14-bit magnitude of a code is
 * ((2 * mantissa + 33) << segment) - 33; tapline works in 16 bits, so
 * every level and decision threshold here is that value times four.
 */
#include "g711.h"

/* The formula's 33, in 16 bits: added, segment n starts at 128 << n. */
#define BIAS	132
/* The largest magnitude below G.711's top decision threshold (8159 * 4). */
#define CLIP	32635

/* Generated once from the formula above; row i holds codes 8i..8i+7. */
const int16_t ulaw_to_s16[256] = {
	-32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
	-23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
	-15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
	-11900, -11388, -10876, -10364,  -9852,  -9340,  -8828,  -8316,
	 -7932,  -7676,  -7420,  -7164,  -6908,  -6652,  -6396,  -6140,
	 -5884,  -5628,  -5372,  -5116,  -4860,  -4604,  -4348,  -4092,
	 -3900,  -3772,  -3644,  -3516,  -3388,  -3260,  -3132,  -3004,
	 -2876,  -2748,  -2620,  -2492,  -2364,  -2236,  -2108,  -1980,
	 -1884,  -1820,  -1756,  -1692,  -1628,  -1564,  -1500,  -1436,
	 -1372,  -1308,  -1244,  -1180,  -1116,  -1052,   -988,   -924,
	  -876,   -844,   -812,   -780,   -748,   -716,   -684,   -652,
	  -620,   -588,   -556,   -524,   -492,   -460,   -428,   -396,
	  -372,   -356,   -340,   -324,   -308,   -292,   -276,   -260,
	  -244,   -228,   -212,   -196,   -180,   -164,   -148,   -132,
	  -120,   -112,   -104,    -96,    -88,    -80,    -72,    -64,
	   -56,    -48,    -40,    -32,    -24,    -16,     -8,      0,
	 32124,  31100,  30076,  29052,  28028,  27004,  25980,  24956,
	 23932,  22908,  21884,  20860,  19836,  18812,  17788,  16764,
	 15996,  15484,  14972,  14460,  13948,  13436,  12924,  12412,
	 11900,  11388,  10876,  10364,   9852,   9340,   8828,   8316,
	  7932,   7676,   7420,   7164,   6908,   6652,   6396,   6140,
	  5884,   5628,   5372,   5116,   4860,   4604,   4348,   4092,
	  3900,   3772,   3644,   3516,   3388,   3260,   3132,   3004,
	  2876,   2748,   2620,   2492,   2364,   2236,   2108,   1980,
	  1884,   1820,   1756,   1692,   1628,   1564,   1500,   1436,
	  1372,   1308,   1244,   1180,   1116,   1052,    988,    924,
	   876,    844,    812,    780,    748,    716,    684,    652,
	   620,    588,    556,    524,    492,    460,    428,    396,
	   372,    356,    340,    324,    308,    292,    276,    260,
	   244,    228,    212,    196,    180,    164,    148,    132,
	   120,    112,    104,     96,     88,     80,     72,     64,
	    56,     48,     40,     32,     24,     16,      8,      0,
};

/* Static, so that the buffer loop inlines it. */
static uint8_t
encode(int16_t s)
{
	int mag, seg;
	uint8_t sign;

	/* In int, so that -32768 has a magnitude. */
	mag = s;
	sign = 0;
	if (mag < 0) {
		mag = -mag;
		sign = 0x80;
	}
	if (mag > CLIP)
		mag = CLIP;
	/*
	 * With the bias, segment n starts at 128 << n, so the segment is the
	 * position of the highest set bit above bit 7 and the mantissa is
	 * the four bits below it.  Counting the segment starts passed needs
	 * neither a loop nor a table.
	 */
	mag += BIAS;
	seg = (mag >= 256) + (mag >= 512) + (mag >= 1024) + (mag >= 2048) +
	    (mag >= 4096) + (mag >= 8192) + (mag >= 16384);
	return (uint8_t)~(sign | seg << 4 | ((mag >> (seg + 3)) & 0x0F));
}

uint8_t
ulaw_encode(int16_t s)
{
	return encode(s);
}

void
ulaw_decode_buf(int16_t *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = ulaw_to_s16[src[i]];
}

void
ulaw_encode_buf(uint8_t *dst, const int16_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = encode(src[i]);
}
