/*
 * X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + sorted params)).
 */
#ifndef TAPLINE_TWSIG_H
#define TAPLINE_TWSIG_H

#include <stddef.h>

#define TWSIG_LEN 28	/* base64 of a 20-byte SHA-1 MAC, without NUL */

struct twsig_param {
	const char *name;
	const char *value;
};

/*
 * Sign url followed by each parameter's name and value, the parameters
 * sorted by name (then value) in byte order, as Twilio does for a POST.
 * Writes TWSIG_LEN characters and a NUL to out.  Returns 0, -1 on failure.
 */
int twsig_sign(const char *token, const char *url,
	       const struct twsig_param *params, size_t nparams,
	       char out[TWSIG_LEN + 1]);

/*
 * Whether sig is valid for url and params, trying the URL variants Twilio
 * is known to sign: as given, with the port removed, with the scheme's
 * default port added, and (for ws/wss URLs, where try_slash is set) each of
 * those with and without a trailing '/' on the path.  Compares in constant
 * time.  Returns 1 if valid, 0 if not.
 */
int twsig_verify(const char *token, const char *url,
		 const struct twsig_param *params, size_t nparams,
		 const char *sig, int try_slash);

/*
 * Twilio's JSON-body variant: url carries bodySHA256=<hex sha256 of body>;
 * valid when the signature over url matches and the hash matches body.
 */
int twsig_verify_body(const char *token, const char *url, const void *body,
		      size_t bodylen, const char *sig);

#endif
