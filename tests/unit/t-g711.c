/*
 * G.711 mu-law against the recommendation's own definition: levels and
 * decision thresholds are rebuilt here from segment and mantissa, and the
 * encoder is checked for every int16.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "g711.h"

/*
 * A magnitude code mc is segment << 4 | mantissa, before the sign bit and
 * the inversion.  In G.711's 14-bit units its level is
 * ((2m + 33) << seg) - 33 and its decision interval is
 * [((2m + 32) << seg) - 33, ((2m + 34) << seg) - 33), starting at 0 for
 * mc 0 and ending at 8159 for mc 127; tapline's 16 bits are four times that.
 */
static long
level(int mc)
{
	return ((2L * (mc & 15) + 33) << (mc >> 4)) - 33;
}

static long
lower(int mc)
{
	long v = ((2L * (mc & 15) + 32) << (mc >> 4)) - 33;

	return v < 0 ? 0 : v;
}

static long
upper(int mc)
{
	return ((2L * (mc & 15) + 34) << (mc >> 4)) - 33;
}

static uint8_t
wire(int negative, int mc)
{
	return (uint8_t)~((negative ? 0x80 : 0) | mc);
}

/* What G.711 says s encodes to, by searching the decision intervals. */
static uint8_t
reference_encode(int s)
{
	long mag = labs((long)s);
	int mc;

	for (mc = 0; mc < 127; mc++)
		if (mag < 4 * upper(mc))
			break;
	return wire(s < 0, mc);
}

static void
decode_matches_definition(void **state)
{
	int mc;

	(void)state;
	for (mc = 0; mc < 128; mc++) {
		assert_int_equal(ulaw_decode(wire(0, mc)), 4 * level(mc));
		assert_int_equal(ulaw_decode(wire(1, mc)), -4 * level(mc));
	}
}

static void
decode_known_values(void **state)
{
	(void)state;
	assert_int_equal(ulaw_decode(0x80), 32124);
	assert_int_equal(ulaw_decode(0x00), -32124);
	assert_int_equal(ulaw_decode(0xFF), 0);
	assert_int_equal(ulaw_decode(0x7F), 0);
	assert_int_equal(ulaw_decode(0xFE), 8);
	assert_int_equal(ulaw_decode(0x7E), -8);
	assert_int_equal(ulaw_decode(0xEF), 132);	/* segment 1 begins */
	assert_int_equal(ulaw_decode(0xF0), 120);	/* segment 0 ends */
	assert_int_equal(ulaw_decode(ULAW_SILENCE), 0);
}

static void
decode_range_and_symmetry(void **state)
{
	int c, max = 0;

	(void)state;
	for (c = 0; c < 256; c++) {
		int v = ulaw_decode((uint8_t)c);

		assert_int_equal(v, -ulaw_decode((uint8_t)(c ^ 0x80)));
		assert_true(v >= -32124 && v <= 32124);
		if (abs(v) > max)
			max = abs(v);
		/* Positive codes grow as the inverted bits shrink. */
		if (c > 0x80)
			assert_true(v < ulaw_decode((uint8_t)(c - 1)));
		if (c > 0 && c < 0x80)
			assert_true(v > ulaw_decode((uint8_t)(c - 1)));
	}
	assert_int_equal(max, 32124);
}

static void
thresholds_are_contiguous(void **state)
{
	int mc;

	(void)state;
	assert_int_equal(lower(0), 0);
	assert_int_equal(upper(127), 8159);
	for (mc = 1; mc < 128; mc++) {
		assert_int_equal(lower(mc), upper(mc - 1));
		assert_true(level(mc) >= lower(mc) && level(mc) < upper(mc));
	}
}

static void
encode_full_range(void **state)
{
	long s;

	(void)state;
	for (s = -32768; s <= 32767; s++) {
		uint8_t c = ulaw_encode((int16_t)s);

		if (c != reference_encode((int)s))
			fail_msg("encode(%ld) = 0x%02X, G.711 says 0x%02X", s,
			    c, reference_encode((int)s));
	}
}

static void
encode_is_monotonic(void **state)
{
	long s;
	int prev = -32768;

	(void)state;
	for (s = -32768; s <= 32767; s++) {
		int v = ulaw_decode(ulaw_encode((int16_t)s));

		if (v < prev)
			fail_msg("decode(encode(%ld)) = %d < %d", s, v, prev);
		prev = v;
	}
}

/*
 * Every level is the middle of its own interval, so short of clipping the
 * error is at most half the step of the level's segment.
 */
static void
encode_error_is_bounded(void **state)
{
	long s;

	(void)state;
	for (s = -32635; s <= 32635; s++) {
		int v = ulaw_decode(ulaw_encode((int16_t)s));
		int seg = (~ulaw_encode((int16_t)s) >> 4) & 7;
		long step = 4L * (2L << seg);

		if (labs(s - v) > step / 2)
			fail_msg("s %ld decodes to %d, step %ld", s, v, step);
	}
}

static void
encode_decode_round_trip(void **state)
{
	int c;

	(void)state;
	for (c = 0; c < 256; c++) {
		uint8_t back = ulaw_encode(ulaw_decode((uint8_t)c));

		if (c == 0x7F)
			assert_int_equal(back, 0xFF);	/* -0 becomes +0 */
		else
			assert_int_equal(back, c);
	}
}

static void
encode_known_values(void **state)
{
	(void)state;
	assert_int_equal(ulaw_encode(0), 0xFF);
	assert_int_equal(ulaw_encode(-1), 0x7F);
	assert_int_equal(ulaw_encode(3), 0xFF);
	assert_int_equal(ulaw_encode(4), 0xFE);
	assert_int_equal(ulaw_encode(-4), 0x7E);
	assert_int_equal(ulaw_encode(123), 0xF0);
	assert_int_equal(ulaw_encode(124), 0xEF);	/* threshold 31 */
	assert_int_equal(ulaw_encode(32767), 0x80);
	assert_int_equal(ulaw_encode(32124), 0x80);
	assert_int_equal(ulaw_encode(32635), 0x80);
	assert_int_equal(ulaw_encode(-32768), 0x00);
	assert_int_equal(ulaw_encode(-32767), 0x00);
	assert_int_equal(ulaw_encode(-32124), 0x00);
	/* The top level's interval begins at ((2 * 15 + 32) << 7) - 33. */
	assert_int_equal(ulaw_encode(4 * 7903 - 1), 0x81);
	assert_int_equal(ulaw_encode(4 * 7903), 0x80);
	assert_int_equal(ulaw_encode(-4 * 7903), 0x00);
}

static void
buffers_match_single_calls(void **state)
{
	static int16_t pcm[65536], back[256];
	static uint8_t codes[65536], all[256];
	size_t i;

	(void)state;
	for (i = 0; i < 65536; i++)
		pcm[i] = (int16_t)((long)i - 32768);
	ulaw_encode_buf(codes, pcm, 65536);
	for (i = 0; i < 65536; i++)
		assert_int_equal(codes[i], ulaw_encode(pcm[i]));

	for (i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	ulaw_decode_buf(back, all, 256);
	for (i = 0; i < 256; i++)
		assert_int_equal(back[i], ulaw_to_s16[i]);
	/* n = 0 touches nothing. */
	back[0] = 12345;
	ulaw_decode_buf(back, all, 0);
	assert_int_equal(back[0], 12345);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_matches_definition),
		cmocka_unit_test(decode_known_values),
		cmocka_unit_test(decode_range_and_symmetry),
		cmocka_unit_test(thresholds_are_contiguous),
		cmocka_unit_test(encode_full_range),
		cmocka_unit_test(encode_is_monotonic),
		cmocka_unit_test(encode_error_is_bounded),
		cmocka_unit_test(encode_decode_round_trip),
		cmocka_unit_test(encode_known_values),
		cmocka_unit_test(buffers_match_single_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
