/*
 * Form decoding: '+' and %XX, empty and valueless fields, repeated names,
 * and the malformed escapes that must be refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "form.h"

static void parse_ok(struct form *f, const char *body)
{
	assert_int_equal(form_parse(f, body, strlen(body)), 0);
}

static void test_twilio_body(void **state)
{
	struct form f;

	(void)state;
	parse_ok(&f, "CallSid=CA1234567890ABCDE&Caller=%2B14158675310"
		 "&CallerName=Jane+Q.+Doe&Digits=1234");
	assert_int_equal(f.n, 4);
	assert_string_equal(f.fields[0].name, "CallSid");
	assert_string_equal(f.fields[0].value, "CA1234567890ABCDE");
	assert_string_equal(form_get(&f, "Caller"), "+14158675310");
	assert_string_equal(form_get(&f, "CallerName"), "Jane Q. Doe");
	assert_string_equal(form_get(&f, "Digits"), "1234");
	assert_null(form_get(&f, "digits"));
	form_free(&f);
}

static void test_escapes(void **state)
{
	struct form f;

	(void)state;
	/* a literal '+' only as %2B; %26 and %3D are data, not syntax */
	parse_ok(&f, "a%20b=1%2B1%3D2%26c&%c3%A9=%E2%82%AC");
	assert_int_equal(f.n, 2);
	assert_string_equal(f.fields[0].name, "a b");
	assert_string_equal(f.fields[0].value, "1+1=2&c");
	assert_string_equal(f.fields[1].name, "\xc3\xa9");
	assert_string_equal(f.fields[1].value, "\xe2\x82\xac");
	form_free(&f);
}

static void test_shapes(void **state)
{
	struct form f;

	(void)state;
	parse_ok(&f, "");
	assert_int_equal(f.n, 0);
	form_free(&f);
	parse_ok(&f, "&&x&=v&y=&z==&x=2&");
	assert_int_equal(f.n, 5);
	assert_string_equal(f.fields[0].name, "x");
	assert_string_equal(f.fields[0].value, "");
	assert_string_equal(f.fields[1].name, "");
	assert_string_equal(f.fields[1].value, "v");
	assert_string_equal(f.fields[2].value, "");
	assert_string_equal(f.fields[3].name, "z");
	assert_string_equal(f.fields[3].value, "=");
	assert_string_equal(f.fields[4].value, "2");
	assert_string_equal(form_get(&f, "x"), "");
	form_free(&f);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"a=%", "a=%4", "a=%4g", "a=%g4", "%=1", "a=%00", "a%00=1",
		"a=1&b=x%", "a=%%41",
	};
	struct form f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(form_parse(&f, bad[i], strlen(bad[i])), -1);
		assert_null(f.fields);
		assert_int_equal(f.n, 0);
	}
	/* not NUL-terminated: the length is what counts */
	assert_int_equal(form_parse(&f, "a=%41%42", 6), -1);
	assert_int_equal(form_parse(&f, "a=%41%42", 5), 0);
	assert_string_equal(form_get(&f, "a"), "A");
	form_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twilio_body),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
