/* base64: RFC 4648 section 10 vectors, every rejection, round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base64.h"

static const struct {
	const char *plain, *coded;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

#define NVEC (sizeof(rfc4648) / sizeof(rfc4648[0]))

/* Decode a C string; -1 or the length, bytes in out. */
static long
decode(uint8_t *out, const char *s)
{
	return base64_decode(out, s, strlen(s));
}

static void
rfc_vectors_encode(void **state)
{
	char out[16];
	size_t i, len;

	(void)state;
	for (i = 0; i < NVEC; i++) {
		memset(out, 'x', sizeof(out));
		len = base64_encode(out, (const uint8_t *)rfc4648[i].plain,
		    strlen(rfc4648[i].plain));
		assert_int_equal(len, strlen(rfc4648[i].coded));
		assert_int_equal(len,
		    BASE64_ENCODED_LEN(strlen(rfc4648[i].plain)));
		assert_string_equal(out, rfc4648[i].coded);
	}
}

static void
rfc_vectors_decode(void **state)
{
	uint8_t out[16];
	size_t i;
	long len;

	(void)state;
	for (i = 0; i < NVEC; i++) {
		len = decode(out, rfc4648[i].coded);
		assert_int_equal(len, strlen(rfc4648[i].plain));
		assert_true(len <= (long)BASE64_DECODED_MAX(
		    strlen(rfc4648[i].coded)));
		assert_memory_equal(out, rfc4648[i].plain, (size_t)len);
	}
}

static void
whole_alphabet(void **state)
{
	/* 0x00 0x10 0x83 ... spells the alphabet in order. */
	static const char all[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t bytes[48];
	char back[65];
	int i;

	(void)state;
	assert_int_equal(decode(bytes, all), 48);
	for (i = 0; i < 64; i++) {
		int bit = i * 6, v = 0, k;

		for (k = 0; k < 6; k++, bit++)
			v = v << 1 | (bytes[bit / 8] >> (7 - bit % 8) & 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(base64_encode(back, bytes, 48), 64);
	assert_string_equal(back, all);
}

static void
rejects(void **state)
{
	static const char *bad[] = {
		/* length not a multiple of 4 */
		"Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg", "Zm9vYg=", "Zm9vYmFy=",
		/* characters outside the alphabet, anywhere */
		"Zm9v!mFy", "Zm9vYmF-", "Zm9vYmF_", "-m9v", "Zm9 ", " Zm9",
		"Zm9v\nYmFy", "Zm9vYmF\r", "Zg=\t", "Zm.v", "Zm9vYmE\x80",
		"\xff\xff\xff\xff",
		/* pad not at the end, or too much of it */
		"=Zg=", "Z=g=", "Zg=A", "Zm9v=m9v", "Zg==Zm9v", "Zg==Zg==",
		"Zm8=Zm8=", "A===", "====", "Zm9vYmFy====", "Zm9v====",
		"=AAA", "==AA", "Zm=v",
		/* the bits the pad leaves over must be zero */
		"QR==", "QB==", "QP==", "Zh==", "Zm9=", "Zm+=", "Zm/=",
		"Zm9vYh==", "Zm9vYmF=",
	};
	uint8_t out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode(out, bad[i]) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* A NUL is just another character outside the alphabet. */
	assert_int_equal(base64_decode(out, "Zm9vY\0Fy", 8), -1);
	assert_int_equal(base64_decode(out, "Zg=\0", 4), -1);
	/* The canonical neighbours of the last rows are fine. */
	assert_int_equal(decode(out, "QQ=="), 1);
	assert_int_equal(out[0], 'A');
	assert_int_equal(decode(out, "Zm8="), 2);
	assert_int_equal(decode(out, "Zm9vYg=="), 4);
	assert_int_equal(decode(out, "Zm9vYmE="), 5);
}

static void
length_argument_is_honoured(void **state)
{
	uint8_t out[8];

	(void)state;
	/* Only n characters count, whatever follows them. */
	assert_int_equal(base64_decode(out, "Zm9vYmFy", 4), 3);
	assert_memory_equal(out, "foo", 3);
	assert_int_equal(base64_decode(out, "Zg==garbage", 4), 1);
	assert_int_equal(base64_decode(out, "Zm9vYmFy", 6), -1);
	assert_int_equal(base64_decode(out, "whatever", 0), 0);
}

/* A small deterministic generator, so a failure replays. */
static uint32_t
next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void
round_trip_every_length(void **state)
{
	static uint8_t in[300], out[300 + 3];
	static char coded[BASE64_ENCODED_LEN(300) + 1];
	uint32_t seed = 2463534242u;
	size_t n, i, len;
	int round;

	(void)state;
	for (round = 0; round < 4; round++) {
		for (n = 0; n <= 300; n++) {
			for (i = 0; i < n; i++)
				in[i] = (uint8_t)next(&seed);
			/* Round 0 also covers the extremes. */
			if (round == 0 && n > 0)
				in[n - 1] = n % 2 ? 0xFF : 0x00;
			memset(coded, '?', sizeof(coded));
			len = base64_encode(coded, in, n);
			assert_int_equal(len, BASE64_ENCODED_LEN(n));
			assert_int_equal(coded[len], '\0');
			assert_int_equal(strlen(coded), len);
			assert_int_equal(base64_decode(out, coded, len),
			    (long)n);
			assert_true(n <= BASE64_DECODED_MAX(len));
			if (n > 0)
				assert_memory_equal(out, in, n);
		}
	}
}

/* A media frame: 160 mu-law bytes are 216 characters, and back. */
static void
twilio_frame_size(void **state)
{
	uint8_t in[160], out[BASE64_DECODED_MAX(216)];
	char coded[BASE64_ENCODED_LEN(160) + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xFF - i);
	assert_int_equal(base64_encode(coded, in, 160), 216);
	assert_int_equal(base64_decode(out, coded, 216), 160);
	assert_memory_equal(out, in, 160);
	/* One bad character in the middle spoils the frame. */
	coded[100] = '*';
	assert_int_equal(base64_decode(out, coded, 216), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc_vectors_encode),
		cmocka_unit_test(rfc_vectors_decode),
		cmocka_unit_test(whole_alphabet),
		cmocka_unit_test(rejects),
		cmocka_unit_test(length_argument_is_honoured),
		cmocka_unit_test(round_trip_every_length),
		cmocka_unit_test(twilio_frame_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
