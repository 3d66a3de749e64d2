/*
 * X-Twilio-Signature: Twilio's published vectors (token 12345), the URL
 * variants, the JSON-body variant, and signatures that must not pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "twsig.h"

#define TOKEN "12345"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* SHA-256 of {"property": "value", "boolean": true} */
#define H "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
#define BODY_H "{\"property\": \"value\", \"boolean\": true}"
/* SHA-256 of {} */
#define H_EMPTY \
	"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* The security page's example (its numbers end in 310). */
static const struct twsig_param sec_params[] = {
	{ "CallSid", "CA1234567890ABCDE" },
	{ "Caller", "+14158675310" },
	{ "Digits", "1234" },
	{ "From", "+14158675310" },
	{ "To", "+18005551212" },
};

/* twilio-node's spec, given out of order on purpose. */
static const struct twsig_param tn_params[] = {
	{ "To", "+18005551212" },
	{ "Digits", "1234" },
	{ "CallSid", "CA1234567890ABCDE" },
	{ "From", "+14158675309" },
	{ "Caller", "+14158675309" },
};

#define TN_URL "https://mycompany.com/myapp.php?foo=1&bar=2"
#define SEC_URL "https://example.com/myapp.php?foo=1&bar=2"
#define TN_SIG "RSOYDt4T1cUTdK1PDd93/VVr8B8="

/* base64(HMAC-SHA1) of a literal string, computed without lib/twsig.c. */
static void raw_sig(const char *key, const char *data, char out[29])
{
	unsigned char md[20];
	unsigned int mdlen = 0;

	assert_non_null(HMAC(EVP_sha1(), key, (int)strlen(key),
			     (const unsigned char *)data, strlen(data), md,
			     &mdlen));
	assert_int_equal(mdlen, 20);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, 20), 28);
}

static void sec_example(void **state)
{
	char sig[TWSIG_LEN + 1], raw[29];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, SEC_URL, sec_params,
				    NELEM(sec_params), sig), 0);
	assert_string_equal(sig, "L/OH5YylLD5NRKLltdqwSvS0BnU=");
	assert_int_equal(strlen(sig), TWSIG_LEN);

	/* The string the page says is signed gives the same MAC. */
	raw_sig(TOKEN, SEC_URL "CallSidCA1234567890ABCDECaller+14158675310"
		"Digits1234From+14158675310To+18005551212", raw);
	assert_string_equal(sig, raw);

	assert_int_equal(twsig_verify(TOKEN, SEC_URL, sec_params,
				      NELEM(sec_params),
				      "L/OH5YylLD5NRKLltdqwSvS0BnU=", 0), 1);
}

static void tn_sign_sorts(void **state)
{
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, TN_URL, tn_params,
				    NELEM(tn_params), sig), 0);
	assert_string_equal(sig, TN_SIG);
	assert_int_equal(twsig_verify(TOKEN, TN_URL, tn_params,
				      NELEM(tn_params), TN_SIG, 0), 1);
}

static void tn_https_port_stripped(void **state)
{
	char sig[TWSIG_LEN + 1];

	(void)state;
	/* Signed with the port it differs, so only the stripped form works. */
	assert_int_equal(twsig_sign(TOKEN,
				    "https://mycompany.com:1234/myapp.php"
				    "?foo=1&bar=2", tn_params,
				    NELEM(tn_params), sig), 0);
	assert_string_not_equal(sig, TN_SIG);
	assert_int_equal(twsig_verify(TOKEN,
				      "https://mycompany.com:1234/myapp.php"
				      "?foo=1&bar=2", tn_params,
				      NELEM(tn_params), TN_SIG, 0), 1);
}

static void tn_http_port_kept(void **state)
{
	static const char url[] =
		"http://mycompany.com:1234/myapp.php?foo=1&bar=2";
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, url, tn_params, NELEM(tn_params),
				    sig), 0);
	assert_string_equal(sig, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
	assert_int_equal(twsig_verify(TOKEN, url, tn_params,
				      NELEM(tn_params),
				      "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", 0), 1);
}

static void tn_body_with_query(void **state)
{
	static const char url[] = TN_URL "&bodySHA256=" H;
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, url, NULL, 0, sig), 0);
	assert_string_equal(sig, "a9nBmqA0ju/hNViExpshrM61xv4=");
	assert_int_equal(twsig_verify_body(TOKEN, url, BODY_H,
					   strlen(BODY_H), sig), 1);
	/* One changed byte of body. */
	assert_int_equal(twsig_verify_body(TOKEN, url,
					   "{\"property\": \"value\", "
					   "\"boolean\": false}",
					   strlen(BODY_H) + 1, sig), 0);
	/* The body's hash alone is not enough. */
	assert_int_equal(twsig_verify_body(TOKEN, url, BODY_H,
					   strlen(BODY_H),
					   "y77kIzt2vzLz71DgmJGsen2scGs="), 0);
}

static void tn_body_only(void **state)
{
	static const char url[] =
		"https://mycompany.com/myapp.php?bodySHA256=" H;
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, url, NULL, 0, sig), 0);
	assert_string_equal(sig, "y77kIzt2vzLz71DgmJGsen2scGs=");
	assert_int_equal(twsig_verify_body(TOKEN, url, BODY_H,
					   strlen(BODY_H), sig), 1);
	assert_int_equal(twsig_verify_body("54321", url, BODY_H,
					   strlen(BODY_H), sig), 0);
}

static void tn_body_needs_443(void **state)
{
	static const char url[] = TN_URL "&bodySHA256=" H_EMPTY;
	static const char url443[] =
		"https://mycompany.com:443/myapp.php?foo=1&bar=2"
		"&bodySHA256=" H_EMPTY;
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, url, NULL, 0, sig), 0);
	assert_string_equal(sig, "rw/jVviOgicj2+kHZULvebnA4ag=");
	assert_int_equal(twsig_sign(TOKEN, url443, NULL, 0, sig), 0);
	assert_string_equal(sig, "Ldidvp12m26NI7eqEvxnEpkd9Hc=");

	/* Presented without the port, it matches through the :443 form. */
	assert_int_equal(twsig_verify_body(TOKEN, url, "{}", 2,
					   "Ldidvp12m26NI7eqEvxnEpkd9Hc="), 1);
	assert_int_equal(twsig_verify(TOKEN, url, NULL, 0,
				      "Ldidvp12m26NI7eqEvxnEpkd9Hc=", 0), 1);
	/* And with it, through the stripped form. */
	assert_int_equal(twsig_verify_body(TOKEN, url443, "{}", 2,
					   "rw/jVviOgicj2+kHZULvebnA4ag="), 1);
	assert_int_equal(twsig_verify_body(TOKEN, url, "{ }", 3,
					   "Ldidvp12m26NI7eqEvxnEpkd9Hc="), 0);
}

static void body_hash_rules(void **state)
{
	char upper[] = "https://mycompany.com/myapp.php?bodySHA256=" H;
	char sig[TWSIG_LEN + 1];
	char *p;

	(void)state;
	/* Hex compares case-insensitively (the URL, so the MAC, differs). */
	for (p = strchr(upper, '=') + 1; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(twsig_sign(TOKEN, upper, NULL, 0, sig), 0);
	assert_int_equal(twsig_verify_body(TOKEN, upper, BODY_H,
					   strlen(BODY_H), sig), 1);

	/* No bodySHA256, even with a good signature over the URL. */
	assert_int_equal(twsig_sign(TOKEN, TN_URL, NULL, 0, sig), 0);
	assert_int_equal(twsig_verify_body(TOKEN, TN_URL, BODY_H,
					   strlen(BODY_H), sig), 0);

	/* Given twice, one of them right: ambiguous, refused. */
	{
		static const char *const twice[] = {
			TN_URL "&bodySHA256=" H "&bodySHA256=" H_EMPTY,
			TN_URL "&bodySHA256=" H_EMPTY "&bodySHA256=" H,
		};
		size_t i;

		for (i = 0; i < NELEM(twice); i++) {
			assert_int_equal(twsig_sign(TOKEN, twice[i], NULL, 0,
						    sig), 0);
			assert_int_equal(twsig_verify_body(TOKEN, twice[i],
							   BODY_H,
							   strlen(BODY_H),
							   sig), 0);
			assert_int_equal(twsig_verify_body(TOKEN, twice[i],
							   "{}", 2, sig), 0);
		}
	}
	/* Truncated hash, a hash in the fragment, a lookalike name. */
	{
		static const char *const bad[] = {
			TN_URL "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e",
			TN_URL "#bodySHA256=" H,
			"https://mycompany.com/myapp.php#?bodySHA256=" H,
			TN_URL "&xbodySHA256=" H,
			TN_URL "&bodySHA256x=" H,
			TN_URL "&bodySHA256" H,
			TN_URL "&bodysha256=" H,
			TN_URL "&bodySHA256=" H "0",
			TN_URL "&bodySHA256=0g1ff7634d9ab3b95db5c9a2dfe9416e"
				"41502b283a80c7cf19632632f96e6620",
		};
		size_t i;

		for (i = 0; i < NELEM(bad); i++) {
			assert_int_equal(twsig_sign(TOKEN, bad[i], NULL, 0,
						    sig), 0);
			assert_int_equal(twsig_verify_body(TOKEN, bad[i],
							   BODY_H,
							   strlen(BODY_H),
							   sig), 0);
		}
	}
	/* A hash in the fragment does not count, one in the query does. */
	{
		static const char frag[] =
			"https://mycompany.com/myapp.php?bodySHA256=" H_EMPTY
			"#bodySHA256=" H;

		assert_int_equal(twsig_sign(TOKEN, frag, NULL, 0, sig), 0);
		assert_int_equal(twsig_verify_body(TOKEN, frag, "{}", 2,
						   sig), 1);
		assert_int_equal(twsig_verify_body(TOKEN, frag, BODY_H,
						   strlen(BODY_H), sig), 0);
	}
	/* An empty body is a body; NULL with a length is not. */
	{
		static const char empty[] =
			"https://h/x?bodySHA256=e3b0c44298fc1c149afbf4c8996fb9"
			"2427ae41e4649b934ca495991b7852b855";

		assert_int_equal(twsig_sign(TOKEN, empty, NULL, 0, sig), 0);
		assert_int_equal(twsig_verify_body(TOKEN, empty, NULL, 0,
						   sig), 1);
		assert_int_equal(twsig_verify_body(TOKEN, empty, "", 0,
						   sig), 1);
		assert_int_equal(twsig_verify_body(TOKEN, empty, NULL, 1,
						   sig), 0);
	}
	assert_int_equal(twsig_verify_body(TOKEN, NULL, "", 0, sig), 0);
	assert_int_equal(twsig_verify_body(NULL, upper, BODY_H,
					   strlen(BODY_H), sig), 0);
}

static void query_value_matters(void **state)
{
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, "https://mycompany.com/myapp.php"
				    "?test=param", NULL, 0, sig), 0);
	assert_int_equal(twsig_verify(TOKEN,
				      "https://mycompany.com/myapp.php"
				      "?test=param", NULL, 0, sig, 1), 1);
	assert_int_equal(twsig_verify(TOKEN,
				      "https://mycompany.com/myapp.php"
				      "?test=param2", NULL, 0, sig, 1), 0);
}

static void wrong_token(void **state)
{
	(void)state;
	assert_int_equal(twsig_verify("12346", TN_URL, tn_params,
				      NELEM(tn_params), TN_SIG, 1), 0);
	/* "The AuthToken's case matters." */
	assert_int_equal(twsig_verify("1234", TN_URL, tn_params,
				      NELEM(tn_params), TN_SIG, 1), 0);
	assert_int_equal(twsig_verify("", TN_URL, tn_params,
				      NELEM(tn_params), TN_SIG, 1), 0);
	assert_int_equal(twsig_verify(NULL, TN_URL, tn_params,
				      NELEM(tn_params), TN_SIG, 1), 0);
}

static void tampered_params(void **state)
{
	struct twsig_param p[NELEM(tn_params) + 1];
	size_t i;

	(void)state;
	memcpy(p, tn_params, sizeof(tn_params));
	p[1].value = "1235";
	assert_int_equal(twsig_verify(TOKEN, TN_URL, p, NELEM(tn_params),
				      TN_SIG, 1), 0);

	/* A renamed parameter with the same value. */
	memcpy(p, tn_params, sizeof(tn_params));
	p[1].name = "digits";
	assert_int_equal(twsig_verify(TOKEN, TN_URL, p, NELEM(tn_params),
				      TN_SIG, 1), 0);

	/* One dropped, one added. */
	memcpy(p, tn_params, sizeof(tn_params));
	assert_int_equal(twsig_verify(TOKEN, TN_URL, p, NELEM(tn_params) - 1,
				      TN_SIG, 1), 0);
	p[NELEM(tn_params)].name = "CallStatus";
	p[NELEM(tn_params)].value = "ringing";
	assert_int_equal(twsig_verify(TOKEN, TN_URL, p, NELEM(tn_params) + 1,
				      TN_SIG, 1), 0);

	/*
	 * Twilio's string has no delimiters, so moving a byte across the
	 * name/value boundary signs the same bytes and passes; callers must
	 * not rely on the split.  Moving it to another pair does not pass.
	 */
	memcpy(p, tn_params, sizeof(tn_params));
	p[1].name = "Digits1";
	p[1].value = "234";
	assert_int_equal(twsig_verify(TOKEN, TN_URL, p, NELEM(tn_params),
				      TN_SIG, 1), 1);
	p[1].name = "Digits";
	p[1].value = "123";
	p[0].value = "4+18005551212";
	assert_int_equal(twsig_verify(TOKEN, TN_URL, p, NELEM(tn_params),
				      TN_SIG, 1), 0);

	/* A changed URL: path, host, query, scheme. */
	{
		static const char *const urls[] = {
			"https://mycompany.com/myapp.phq?foo=1&bar=2",
			"https://mycompany.org/myapp.php?foo=1&bar=2",
			"https://mycompany.com/myapp.php?foo=1&bar=3",
			"https://mycompany.com/myapp.php?bar=2&foo=1",
			"http://mycompany.com/myapp.php?foo=1&bar=2",
			"https://mycompany.com:4433/myapp.phq?foo=1&bar=2",
		};

		for (i = 0; i < NELEM(urls); i++)
			assert_int_equal(twsig_verify(TOKEN, urls[i],
						      tn_params,
						      NELEM(tn_params),
						      TN_SIG, 1), 0);
	}
}

static void bad_signature_header(void **state)
{
	static const char *const bad[] = {
		"",
		"R",
		"RSOYDt4T1cUTdK1PDd93/VVr8B8",		/* 27 */
		"RSOYDt4T1cUTdK1PDd93/VVr8B8==",	/* 29 */
		"RSOYDt4T1cUTdK1PDd93/VVr8B8= ",
		" RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		"rsoydt4t1cutdk1pdd93/vvr8b8=",
		"RSOYDt4T1cUTdK1PDd93/VVr8B9=",
		"SSOYDt4T1cUTdK1PDd93/VVr8B8=",
		"!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2"
		 "\xf1\xf0\xef\xee\xed\xec\xeb\xea\xe9\xe8\xe7\xe6\xe5\xe4"),
		"RSOYDt4T1cUTdK1PDd93/VVr8B8=RSOYDt4T1cUTdK1PDd93/VVr8B8=",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++)
		assert_int_equal(twsig_verify(TOKEN, TN_URL, tn_params,
					      NELEM(tn_params), bad[i], 1), 0);
	assert_int_equal(twsig_verify(TOKEN, TN_URL, tn_params,
				      NELEM(tn_params), NULL, 1), 0);
	assert_int_equal(twsig_verify_body(TOKEN, TN_URL "&bodySHA256=" H,
					   BODY_H, strlen(BODY_H), ""), 0);
	assert_int_equal(twsig_verify_body(TOKEN, TN_URL "&bodySHA256=" H,
					   BODY_H, strlen(BODY_H), NULL), 0);
}

/* Sign `signed_url`, then check `presented` with try_slash off and on. */
static void expect_variant(const char *signed_url, const char *presented,
			   int plain, int slash)
{
	char sig[TWSIG_LEN + 1];

	assert_int_equal(twsig_sign(TOKEN, signed_url, NULL, 0, sig), 0);
	if (twsig_verify(TOKEN, presented, NULL, 0, sig, 0) != plain ||
	    twsig_verify(TOKEN, presented, NULL, 0, sig, 1) != slash)
		fail_msg("signed '%s', presented '%s': want %d %d",
			 signed_url, presented, plain, slash);
}

static void url_variants(void **state)
{
	(void)state;
	/* Twilio signs the wss URL, maybe with a '/' added, maybe :443. */
	expect_variant("wss://h.example/media", "wss://h.example/media", 1, 1);
	expect_variant("wss://h.example/media/", "wss://h.example/media",
		       0, 1);
	expect_variant("wss://h.example/media", "wss://h.example/media/",
		       0, 1);
	expect_variant("wss://h.example:443/media/", "wss://h.example/media",
		       0, 1);
	expect_variant("wss://h.example/media/", "wss://h.example:443/media",
		       0, 1);
	expect_variant("wss://h.example:443/media", "wss://h.example/media",
		       1, 1);
	expect_variant("wss://h.example/", "wss://h.example", 0, 1);
	expect_variant("wss://h.example", "wss://h.example/", 0, 1);
	expect_variant("wss://h.example/m/?a=b", "wss://h.example/m?a=b",
		       0, 1);
	expect_variant("wss://h.example/m?a=b/", "wss://h.example/m?a=b",
		       0, 0);
	/* Only one '/' is toggled. */
	expect_variant("wss://h.example/m//", "wss://h.example/m", 0, 0);

	/* Default ports by scheme, case-insensitively. */
	expect_variant("ws://h:80/m", "ws://h/m", 1, 1);
	expect_variant("http://h:80/m", "http://h/m", 1, 1);
	expect_variant("HTTPS://h:443/m", "HTTPS://h/m", 1, 1);
	expect_variant("http://h:443/m", "http://h/m", 0, 0);
	expect_variant("https://h:80/m", "https://h/m", 0, 0);
	expect_variant("ftp://h:21/m", "ftp://h/m", 0, 0);
	expect_variant("ftp://h/m", "ftp://h:21/m", 1, 1);

	/* Any port is stripped; ports are never swapped for another. */
	expect_variant("https://h/m", "https://h:8443/m", 1, 1);
	expect_variant("https://h:443/m", "https://h:8443/m", 0, 0);
	expect_variant("https://h:8443/m", "https://h/m", 0, 0);

	/* Twilio drops user:password. */
	expect_variant("https://h/m", "https://u:p@h/m", 1, 1);
	expect_variant("https://h:443/m", "https://u:p@h/m", 1, 1);
	expect_variant("https://h/m", "https://a@b:p@h:99/m", 1, 1);
	expect_variant("https://u:p@h/m", "https://u:p@h/m", 1, 1);

	/* IPv6 literals: the address's colons are not a port. */
	expect_variant("https://[::1]/m", "https://[::1]:8443/m", 1, 1);
	expect_variant("https://[::1]:443/m", "https://[::1]/m", 1, 1);
	expect_variant("wss://[2001:db8::1]:443/", "wss://[2001:db8::1]", 0,
		       1);
	expect_variant("https://[::1/m", "https://[::1/m", 1, 1);
	expect_variant("https://[::1/m", "https://[::1:443/m", 0, 0);

	/* Not a URL we can take apart: only as given. */
	expect_variant("h.example/m", "h.example/m", 1, 1);
	expect_variant("h.example/m/", "h.example/m", 0, 0);
	expect_variant("https://h/m", "https://h:x/m", 0, 0);
	expect_variant("https://h:x/m", "https://h:x/m", 1, 1);
	expect_variant("", "", 1, 1);

	/* An empty port is a port. */
	expect_variant("https://h/m", "https://h:/m", 1, 1);

	/* The query and fragment are left alone. */
	expect_variant("https://h:443/m?x=:1#f", "https://h/m?x=:1#f", 1, 1);
	expect_variant("https://h/m?p=h:1", "https://h/m?p=h:1", 1, 1);
}

static void sort_order(void **state)
{
	/* Byte order: upper case first; equal names ordered by value. */
	static const struct twsig_param p[] = {
		{ "a", "2" }, { "b", "" }, { "B", "x" }, { "a", "10" },
		{ "a", "1" }, { "", "e" }, { "\xc3\xa9", "u" }, { "z", "z" },
	};
	struct twsig_param rev[NELEM(p)];
	char sig[TWSIG_LEN + 1], sig2[TWSIG_LEN + 1], raw[29];
	size_t i;

	(void)state;
	assert_int_equal(twsig_sign(TOKEN, "https://h/", p, NELEM(p), sig),
			 0);
	raw_sig(TOKEN, "https://h/eBxa1a10a2bzz\xc3\xa9u", raw);
	assert_string_equal(sig, raw);

	for (i = 0; i < NELEM(p); i++)
		rev[i] = p[NELEM(p) - 1 - i];
	assert_int_equal(twsig_sign(TOKEN, "https://h/", rev, NELEM(rev),
				    sig2), 0);
	assert_string_equal(sig, sig2);
	assert_int_equal(twsig_verify(TOKEN, "https://h/", rev, NELEM(rev),
				      sig, 0), 1);

	/* Repeated identical pairs are all signed. */
	{
		static const struct twsig_param d[] = {
			{ "a", "1" }, { "a", "1" },
		};

		assert_int_equal(twsig_sign(TOKEN, "u", d, NELEM(d), sig), 0);
		raw_sig(TOKEN, "ua1a1", raw);
		assert_string_equal(sig, raw);
	}
}

static void sign_rejects(void **state)
{
	static const struct twsig_param null_name[] = { { NULL, "v" } };
	static const struct twsig_param null_value[] = { { "n", NULL } };
	char sig[TWSIG_LEN + 1];

	(void)state;
	assert_int_equal(twsig_sign(NULL, "u", NULL, 0, sig), -1);
	assert_int_equal(twsig_sign("", "u", NULL, 0, sig), -1);
	assert_int_equal(twsig_sign(TOKEN, NULL, NULL, 0, sig), -1);
	assert_int_equal(twsig_sign(TOKEN, "u", NULL, 1, sig), -1);
	assert_int_equal(twsig_sign(TOKEN, "u", null_name, 1, sig), -1);
	assert_int_equal(twsig_sign(TOKEN, "u", null_value, 1, sig), -1);
	assert_int_equal(twsig_verify(TOKEN, "u", null_value, 1,
				      TN_SIG, 1), 0);
	assert_int_equal(twsig_verify(TOKEN, NULL, NULL, 0, TN_SIG, 1), 0);

	/* No parameters at all: the URL alone. */
	{
		char raw[29];

		assert_int_equal(twsig_sign(TOKEN, "wss://h/m", NULL, 0, sig),
				 0);
		raw_sig(TOKEN, "wss://h/m", raw);
		assert_string_equal(sig, raw);
	}
}

static void long_inputs(void **state)
{
	enum { N = 1 << 16 };
	static char given[N + 32], bare[N + 32], val[N];
	struct twsig_param p[3];
	char sig[TWSIG_LEN + 1];

	(void)state;
	/* given: https://u:p@h////...?x=1, bare: the same without u:p@. */
	memcpy(given, "https://u:p@h", 13);
	memset(given + 13, '/', N);
	memcpy(given + 13 + N, "?x=1", 5);
	memcpy(bare, "https://h", 9);
	memcpy(bare + 9, given + 13, N + 5);
	memset(val, 'v', N - 1);
	val[N - 1] = '\0';
	p[0].name = "A";
	p[0].value = val;
	p[1].name = val;
	p[1].value = "";
	p[2].name = "z";
	p[2].value = val + 1;
	assert_int_equal(twsig_sign(TOKEN, bare, p, 3, sig), 0);
	assert_int_equal(twsig_verify(TOKEN, given, p, 3, sig, 1), 1);
	p[2].value = val + 2;
	assert_int_equal(twsig_verify(TOKEN, given, p, 3, sig, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sec_example),
		cmocka_unit_test(tn_sign_sorts),
		cmocka_unit_test(tn_https_port_stripped),
		cmocka_unit_test(tn_http_port_kept),
		cmocka_unit_test(tn_body_with_query),
		cmocka_unit_test(tn_body_only),
		cmocka_unit_test(tn_body_needs_443),
		cmocka_unit_test(body_hash_rules),
		cmocka_unit_test(query_value_matters),
		cmocka_unit_test(wrong_token),
		cmocka_unit_test(tampered_params),
		cmocka_unit_test(bad_signature_header),
		cmocka_unit_test(url_variants),
		cmocka_unit_test(sort_order),
		cmocka_unit_test(sign_rejects),
		cmocka_unit_test(long_inputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
