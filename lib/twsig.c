/*
 * X-Twilio-Signature: HMAC-SHA1 keyed with the auth token over the URL
 * followed by the sorted POST parameters, base64 encoded.  The token is
 * only ever handed to HMAC(): nothing here logs or prints it.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "cli.h"
#include "twsig.h"

#define MAC_LEN 20		/* SHA-1 */
#define BODY_HASH_LEN 32	/* SHA-256 */

/*
 * At most: the URL as given, then 2 port forms (as given, and removed or
 * default added) times 2 path forms (as given, '/' toggled).
 */
#define MAX_VARIANTS 5

/* Where the parts of scheme://[userinfo@]host[:port]/path?query#frag are. */
struct url_parts {
	size_t auth;		/* just past "://" */
	size_t host;		/* past any userinfo '@' */
	size_t host_end;	/* the ':' before a port, or auth_end */
	size_t auth_end;	/* start of the path (or query, fragment) */
	size_t path_end;	/* start of '?' or '#', or the end */
	int has_port;
	const char *defport;	/* "443", "80", or NULL if not known */
};

static int add_size(size_t *sum, size_t n)
{
	if (n > SIZE_MAX - *sum)
		return -1;
	*sum += n;
	return 0;
}

/*
 * Twilio says "Unix-style case-sensitive sorting order": byte order, which
 * is what strcmp gives (it compares as unsigned char).  twilio-node sorts
 * the keys, and for a key sent several times sorts its values, so equal
 * names are ordered by value.  (twilio-node also drops repeated identical
 * values of one key; we keep them, as the header's contract says.)
 */
static int param_cmp(const void *a, const void *b)
{
	const struct twsig_param *pa = a, *pb = b;
	int c = strcmp(pa->name, pb->name);

	return c ? c : strcmp(pa->value, pb->value);
}

/* The sorted name+value concatenation, NUL terminated; NULL on failure. */
static char *params_tail(const struct twsig_param *params, size_t n,
			 size_t *lenp)
{
	struct twsig_param *sorted = NULL;
	size_t i, len = 0, off = 0;
	char *s;

	if (n && !params)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!params[i].name || !params[i].value)
			return NULL;
		if (add_size(&len, strlen(params[i].name)) ||
		    add_size(&len, strlen(params[i].value)))
			return NULL;
	}
	if (add_size(&len, 1) || !(s = malloc(len)))
		return NULL;
	if (n) {
		if (n > SIZE_MAX / sizeof(*sorted) ||
		    !(sorted = malloc(n * sizeof(*sorted)))) {
			free(s);
			return NULL;
		}
		memcpy(sorted, params, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), param_cmp);
	}
	for (i = 0; i < n; i++) {
		size_t nl = strlen(sorted[i].name);
		size_t vl = strlen(sorted[i].value);

		memcpy(s + off, sorted[i].name, nl);
		off += nl;
		memcpy(s + off, sorted[i].value, vl);
		off += vl;
	}
	s[off] = '\0';
	free(sorted);
	*lenp = off;
	return s;
}

/* base64(HMAC-SHA1(token, url || tail)) into out. */
static int mac_b64(const char *token, const char *url, size_t ulen,
		   const char *tail, size_t tlen, char out[TWSIG_LEN + 1])
{
	unsigned char md[MAC_LEN];
	unsigned int mdlen = 0;
	size_t klen = strlen(token), len = ulen;
	unsigned char *data;
	int ok;

	/* An empty key would make every signature forgeable by anyone. */
	if (klen == 0 || klen > INT_MAX)
		return -1;
	if (add_size(&len, tlen) || add_size(&len, 1) || !(data = malloc(len)))
		return -1;
	memcpy(data, url, ulen);
	memcpy(data + ulen, tail, tlen);
	ok = HMAC(EVP_sha1(), token, (int)klen, data, ulen + tlen, md,
		  &mdlen) != NULL && mdlen == MAC_LEN;
	free(data);
	if (!ok)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, md, MAC_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int twsig_sign(const char *token, const char *url,
	       const struct twsig_param *params, size_t nparams,
	       char out[TWSIG_LEN + 1])
{
	char *tail;
	size_t tlen;
	int r;

	if (!token || !url || !out)
		return -1;
	if (!(tail = params_tail(params, nparams, &tlen)))
		return -1;
	r = mac_b64(token, url, strlen(url), tail, tlen, out);
	free(tail);
	return r;
}

static int is_scheme(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/*
 * Split url into its parts.  Returns -1 when it is not of the form
 * scheme://authority..., in which case only the URL as given is tried.
 */
static int url_parse(const char *url, struct url_parts *u)
{
	const char *sep = strstr(url, "://"), *p, *q;
	size_t i, slen;

	if (!sep || sep == url)
		return -1;
	slen = (size_t)(sep - url);
	for (i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)url[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (i > 0 && ((c >= '0' && c <= '9') || c == '+' ||
				 c == '-' || c == '.'))))
			return -1;
	}
	memset(u, 0, sizeof(*u));
	if (is_scheme(url, slen, "https") || is_scheme(url, slen, "wss"))
		u->defport = "443";
	else if (is_scheme(url, slen, "http") || is_scheme(url, slen, "ws"))
		u->defport = "80";
	u->auth = slen + 3;
	u->auth_end = u->auth + strcspn(url + u->auth, "/?#");
	u->path_end = u->auth_end + strcspn(url + u->auth_end, "?#");

	/* Twilio drops user:password; the last '@' ends the userinfo. */
	u->host = u->auth;
	for (p = url + u->auth; p < url + u->auth_end; p++)
		if (*p == '@')
			u->host = (size_t)(p - url) + 1;

	p = url + u->host;
	q = url + u->auth_end;
	if (p < q && *p == '[') {
		/* An IPv6 literal: its colons are not a port separator. */
		while (p < q && *p != ']')
			p++;
		if (p == q)
			return -1;
		p++;
		if (p < q && *p != ':')
			return -1;
	} else {
		while (p < q && *p != ':')
			p++;
	}
	u->host_end = (size_t)(p - url);
	if (p < q) {
		u->has_port = 1;
		for (p++; p < q; p++)
			if (*p < '0' || *p > '9')
				return -1;
	}
	return 0;
}

/* Concatenate up to n pieces into a new string; NULL on failure. */
static char *join(const char *const *piece, const size_t *len, size_t n)
{
	size_t i, total = 0, off = 0;
	char *s;

	for (i = 0; i < n; i++)
		if (add_size(&total, len[i]))
			return NULL;
	if (add_size(&total, 1) || !(s = malloc(total)))
		return NULL;
	for (i = 0; i < n; i++) {
		memcpy(s + off, piece[i], len[i]);
		off += len[i];
	}
	s[off] = '\0';
	return s;
}

/* Add s to v unless an equal string is there; takes ownership of s. */
static void add_variant(char **v, size_t *nv, char *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < *nv; i++) {
		if (strcmp(v[i], s) == 0) {
			free(s);
			return;
		}
	}
	if (*nv < MAX_VARIANTS)
		v[(*nv)++] = s;
	else
		free(s);
}

/*
 * One candidate URL: the scheme, host, a port form (0 as given, 1 none,
 * 2 the default), the path with its trailing '/' toggled or not, the rest.
 */
static char *build_variant(const char *url, const struct url_parts *u,
			   int portform, int toggle)
{
	const char *piece[7];
	size_t len[7], n = 0, plen;

	piece[n] = url;
	len[n++] = u->auth;
	piece[n] = url + u->host;
	len[n++] = u->host_end - u->host;
	if (portform == 0) {
		piece[n] = url + u->host_end;
		len[n++] = u->auth_end - u->host_end;
	} else if (portform == 2) {
		piece[n] = ":";
		len[n++] = 1;
		piece[n] = u->defport;
		len[n++] = strlen(u->defport);
	}
	plen = u->path_end - u->auth_end;
	piece[n] = url + u->auth_end;
	if (toggle && plen > 0 && url[u->path_end - 1] == '/') {
		len[n++] = plen - 1;
	} else if (toggle) {
		len[n++] = plen;
		piece[n] = "/";
		len[n++] = 1;
	} else {
		len[n++] = plen;
	}
	piece[n] = url + u->path_end;
	len[n++] = strlen(url + u->path_end);
	return join(piece, len, n);
}

static size_t url_variants(const char *url, int try_slash,
			   char *v[MAX_VARIANTS])
{
	struct url_parts u;
	size_t nv = 0;
	int t, nt = try_slash ? 2 : 1;

	add_variant(v, &nv, strdup(url));
	if (url_parse(url, &u) < 0)
		return nv;
	for (t = 0; t < nt; t++) {
		add_variant(v, &nv, build_variant(url, &u, 0, t));
		if (u.has_port)
			add_variant(v, &nv, build_variant(url, &u, 1, t));
		else if (u.defport)
			add_variant(v, &nv, build_variant(url, &u, 2, t));
	}
	return nv;
}

int twsig_verify(const char *token, const char *url,
		 const struct twsig_param *params, size_t nparams,
		 const char *sig, int try_slash)
{
	char *v[MAX_VARIANTS];
	char want[TWSIG_LEN + 1];
	char *tail;
	size_t i, nv, tlen;
	int ok = 0;

	if (!token || !url || !sig || strnlen(sig, TWSIG_LEN + 1) != TWSIG_LEN)
		return 0;
	if (!(tail = params_tail(params, nparams, &tlen)))
		return 0;
	nv = url_variants(url, try_slash, v);
	for (i = 0; i < nv; i++) {
		if (!ok && mac_b64(token, v[i], strlen(v[i]), tail, tlen,
				   want) == 0 &&
		    CRYPTO_memcmp(want, sig, TWSIG_LEN) == 0)
			ok = 1;
		free(v[i]);
	}
	free(tail);
	return ok;
}

/*
 * Decode the one bodySHA256 query parameter of url into hash.  Returns -1
 * if it is missing, given twice, or not 64 hex digits.
 */
static int body_hash_param(const char *url, unsigned char hash[BODY_HASH_LEN])
{
	static const char name[] = "bodySHA256";
	const size_t nlen = sizeof(name) - 1;
	const char *p = url + strcspn(url, "?#"), *end, *val = NULL;
	size_t vlen = 0, i;

	if (*p != '?')
		return -1;
	p++;
	end = p + strcspn(p, "#");
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(fe - p));

		if (eq && (size_t)(eq - p) == nlen &&
		    memcmp(p, name, nlen) == 0) {
			if (val)
				return -1;
			val = eq + 1;
			vlen = (size_t)(fe - val);
		}
		p = amp ? amp + 1 : end;
	}
	if (!val || vlen != 2 * BODY_HASH_LEN)
		return -1;
	for (i = 0; i < BODY_HASH_LEN; i++) {
		int hi = hex_value(val[2 * i]), lo = hex_value(val[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int twsig_verify_body(const char *token, const char *url, const void *body,
		      size_t bodylen, const char *sig)
{
	unsigned char want[BODY_HASH_LEN], got[SHA256_DIGEST_LENGTH];
	int sig_ok, hash_ok;

	if (!url || (!body && bodylen))
		return 0;
	if (body_hash_param(url, want) < 0)
		return 0;
	if (!SHA256(body ? body : (const void *)"", bodylen, got))
		return 0;
	hash_ok = CRYPTO_memcmp(want, got, BODY_HASH_LEN) == 0;
	/* The JSON body is not a parameter: the URL alone is signed. */
	sig_ok = twsig_verify(token, url, NULL, 0, sig, 0);
	return hash_ok && sig_ok;
}
