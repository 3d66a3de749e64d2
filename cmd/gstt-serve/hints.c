/*
 * Phrase hints (speech_contexts): while a stream with phrases runs, its
 * decoder searches with the pooled language model interpolated with a
 * small one made of the phrases; the decoder goes back to the pooled
 * model alone before it returns to the pool.
 *
 * The phrase model holds the words of the phrases and the word pairs and
 * triples inside each, at fixed probabilities (phrase_lp).  pocketsphinx
 * raises each model's probabilities to the language weight (-lw) before
 * it adds them up, so giving the phrase model the weight s^lw makes a
 * phrase word score as if that model gave it s times its probability; s
 * grows with the boost (BOOST_LP).  The pooled model keeps the weight 1:
 * words that are in no phrase score exactly as they do without hints.
 *
 * s at boost 0 was chosen on flite speech over the phone path: from 0.001
 * to 0.03 the names of twelve sentences came out more and more often (38,
 * 40, then 43 of 46, against 26 without hints), and past that no more did;
 * from 0.1 on, hinted words that sound like spoken ones began to replace
 * them.  Boost 20 takes s to 1, where that happens a little.
 *
 * Building takes about 0.2 s (the merged vocabulary and the search's
 * lexicon tree are made anew), on the worker that gives the stream its
 * decoder, and only for streams with phrases.  sphinxbase reads language
 * models from files only, so the phrase model passes through a file in a
 * private temporary directory, removed as soon as it is read.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/ngram_model.h>

#include "gstt-serve.h"
#include "log.h"

#define SEARCH		"hints"	/* the name of the biased search */
#define ORDER		3	/* longest n-gram taken from a phrase */
#define SKIP_LOG	160	/* bytes of skipped words in the log */

/*
 * log10 of the phrase model's probabilities, by order: a word of a
 * phrase, a word after the one before it in the phrase, after the two.
 */
static const double phrase_lp[ORDER] = { -2.0, -1.0, -0.5 };

/* log10 s = BOOST_LP0 + BOOST_LP * boost (see the top). */
#define BOOST_LP0	-1.5
#define BOOST_LP	0.075

struct ngram {
	char *key;		/* the words, space-separated */
	int order;
	double lp;		/* log10 probability */
};

struct build {
	ps_decoder_t *ps;
	struct ngram *g;
	size_t n, cap;
	const char *win[ORDER - 1];	/* the words before, nearest first */
	double lp;			/* log10 of this phrase's s / max s */
	size_t nskip;
	char skip[SKIP_LOG];
};

static int in_dict(ps_decoder_t *ps, const char *w)
{
	char *pron = ps_lookup_word(ps, w);

	if (!pron)
		return 0;
	ckd_free(pron);
	return 1;
}

static void add_ngram(struct build *b, const char *w, int order)
{
	size_t len = strlen(w) + 1, k;
	char *key, *p;
	int i;

	for (i = 0; i < order - 1; i++)
		len += strlen(b->win[i]) + 1;
	p = key = malloc(len);
	if (!key)
		die(1, "out of memory");
	for (i = order - 2; i >= 0; i--) {
		k = strlen(b->win[i]);
		memcpy(p, b->win[i], k);
		p += k;
		*p++ = ' ';
	}
	memcpy(p, w, strlen(w) + 1);
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 256;
		b->g = realloc(b->g, b->cap * sizeof *b->g);
		if (!b->g)
			die(1, "out of memory");
	}
	b->g[b->n].key = key;
	b->g[b->n].order = order;
	b->g[b->n].lp = phrase_lp[order - 1] + b->lp;
	b->n++;
}

/* A word of the dictionary, in a phrase after the words of b->win. */
static void add_word(struct build *b, const char *w)
{
	int i;

	add_ngram(b, w, 1);
	for (i = 0; i < ORDER - 1 && b->win[i]; i++)
		add_ngram(b, w, i + 2);
	/* the window points into the phrase being read (add_phrase) */
	memmove(&b->win[1], &b->win[0], (ORDER - 2) * sizeof b->win[0]);
	b->win[0] = w;
}

static void skip_word(struct build *b, const char *w)
{
	size_t k = strlen(b->skip);

	if (b->nskip++ < 10 && k + strlen(w) + 4 < sizeof b->skip)
		snprintf(b->skip + k, sizeof b->skip - k, "%s'%s'",
			 k ? ", " : "", w);
	memset(b->win, 0, sizeof b->win);	/* no n-gram across it */
}

/*
 * A token of a phrase: as it is if the dictionary has it ("a.m.",
 * "o'brien", "ad-hoc"), else without the punctuation around it, else
 * its parts between hyphens and dots.
 */
static void add_token(struct build *b, char *t)
{
	char *e, *part;

	if (in_dict(b->ps, t)) {
		add_word(b, t);
		return;
	}
	while (*t == '\'' || *t == '-' || *t == '.')
		t++;
	e = t + strlen(t);
	while (e > t && (e[-1] == '\'' || e[-1] == '-' || e[-1] == '.'))
		*--e = '\0';
	if (!*t)
		return;
	if (in_dict(b->ps, t)) {
		add_word(b, t);
		return;
	}
	if (!strpbrk(t, "-.")) {
		skip_word(b, t);
		return;
	}
	for (part = strtok_r(t, "-.", &e); part;
	     part = strtok_r(NULL, "-.", &e)) {
		while (*part == '\'')
			part++;
		if (!*part)
			continue;
		if (in_dict(b->ps, part))
			add_word(b, part);
		else
			skip_word(b, part);
	}
}

/*
 * The dictionary is lower case, its words made of letters, digits and
 * ' - . (bytes past ASCII are kept, so a word of another script is
 * looked up whole and skipped); any other character separates words.
 */
static int word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '\'' || c == '-' || c == '.' || c >= 0x80;
}

static void add_phrase(struct build *b, const char *text, char *copy)
{
	char *p = copy, *t;
	size_t i;

	for (i = 0; text[i]; i++) {
		unsigned char c = (unsigned char)text[i];

		copy[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') :
			  (char)c;
	}
	copy[i] = '\0';
	memset(b->win, 0, sizeof b->win);
	while (*p) {
		while (*p && *p != '$' && !word_char((unsigned char)*p))
			p++;
		if (!*p)
			break;
		t = p;
		if (*p == '$') {
			/* a class of Google's: $MONTH, $OOV_CLASS_... */
			while (*p && !isspace((unsigned char)*p))
				p++;
			if (*p)
				*p++ = '\0';
			skip_word(b, t);
			continue;
		}
		while (*p && word_char((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		add_token(b, t);
	}
}

static int cmp_ngram(const void *x, const void *y)
{
	const struct ngram *a = x, *b = y;

	if (a->order != b->order)
		return a->order - b->order;
	return strcmp(a->key, b->key);
}

/* Sort, and keep one of each n-gram: the most probable. */
static void unique(struct build *b, size_t count[ORDER], int *order)
{
	size_t i, k = 0;

	qsort(b->g, b->n, sizeof *b->g, cmp_ngram);
	memset(count, 0, ORDER * sizeof *count);
	for (i = 0; i < b->n; i++) {
		if (k > 0 && cmp_ngram(&b->g[k - 1], &b->g[i]) == 0) {
			if (b->g[i].lp > b->g[k - 1].lp)
				b->g[k - 1].lp = b->g[i].lp;
			free(b->g[i].key);
			continue;
		}
		b->g[k++] = b->g[i];
		count[b->g[i].order - 1]++;
	}
	b->n = k;
	*order = 0;
	for (i = 0; i < ORDER; i++)
		if (count[i])
			*order = (int)i + 1;
}

/* The phrase model in ARPA format. */
static int write_arpa(FILE *fp, const struct build *b,
		      const size_t count[ORDER], int order)
{
	size_t i;
	int o;

	fprintf(fp, "\\data\\\n");
	for (o = 1; o <= order; o++)
		fprintf(fp, "ngram %d=%zu\n", o, count[o - 1]);
	for (o = 1, i = 0; o <= order; o++) {
		fprintf(fp, "\n\\%d-grams:\n", o);
		for (; i < b->n && b->g[i].order == o; i++)
			fprintf(fp, "%.4f\t%s%s\n", b->g[i].lp, b->g[i].key,
				o < order ? "\t0" : "");
	}
	fprintf(fp, "\n\\end\\\n");
	return ferror(fp) ? -1 : 0;
}

/* Through a file: sphinxbase has no other way in. */
static ngram_model_t *read_model(ps_decoder_t *ps, const struct build *b,
				 const size_t count[ORDER], int order)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200];
	ngram_model_t *lm = NULL;
	FILE *fp;
	int fd, r;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(dir, sizeof dir, "%s/gstt-serve-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		log_warn("cannot create a directory in '%s': %s", tmp,
			 strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof path, "%s/phrases.arpa", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!fp) {
		log_warn("cannot create '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		r = write_arpa(fp, b, count, order);
		if (fclose(fp) != 0 || r < 0)
			log_warn("cannot write '%s': %s", path,
				 strerror(errno));
		else
			/* with a config, a model it cannot read crashes it */
			lm = ngram_model_read(NULL, path, NGRAM_ARPA,
					      ps_get_logmath(ps));
	}
	unlink(path);
	rmdir(dir);
	return lm;
}

/* The phrase model, or NULL if no word of any phrase is known. */
static ngram_model_t *phrase_model(ps_decoder_t *ps, const struct hints *h,
				   uint64_t id, double bmax)
{
	struct build b;
	size_t count[ORDER], i, len = 0;
	ngram_model_t *lm = NULL;
	char *copy;
	int order;

	memset(&b, 0, sizeof b);
	b.ps = ps;
	for (i = 0; i < h->n; i++) {
		size_t k = strlen(h->v[i].text);

		len = k > len ? k : len;
	}
	/* one buffer for each phrase in turn: the n-grams copy its words */
	copy = malloc(len + 1);
	if (!copy)
		die(1, "out of memory");
	for (i = 0; i < h->n; i++) {
		b.lp = BOOST_LP * (h->v[i].boost - bmax);
		add_phrase(&b, h->v[i].text, copy);
	}
	free(copy);
	if (b.nskip > 0)
		log_info("stream %llu: %zu word%s of the phrases not in the "
			 "dictionary, skipped: %s%s", (unsigned long long)id,
			 b.nskip, b.nskip == 1 ? "" : "s", b.skip,
			 b.nskip > 10 ? "..." : "");
	if (b.n > 0) {
		unique(&b, count, &order);
		lm = read_model(ps, &b, count, order);
		if (lm)
			log_info("stream %llu: phrase model: words %zu, "
				 "pairs %zu, triples %zu",
				 (unsigned long long)id, count[0], count[1],
				 count[2]);
	}
	for (i = 0; i < b.n; i++)
		free(b.g[i].key);
	free(b.g);
	return lm;
}

int hints_apply(ps_decoder_t *ps, const char *search, const struct hints *h,
		uint64_t id)
{
	ngram_model_t *lm, *base, *set, *models[2];
	char *names[] = { "base", "phrases" };
	float32 weights[2];
	cmd_ln_t *cfg = ps_get_config(ps);
	ngram_model_set_iter_t *it;
	const char *name;
	struct timespec t0, t1;
	double bmax = 0, lw;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* the pooled search's model: a set around the model read */
	lm = search ? ps_get_lm(ps, search) : NULL;
	it = lm ? ngram_model_set_iter(lm) : NULL;
	if (!it) {
		log_warn("stream %llu: phrases ignored: the decoder has no "
			 "n-gram model", (unsigned long long)id);
		return -1;
	}
	base = ngram_model_set_iter_model(it, &name);
	ngram_model_set_iter_free(it);
	for (i = 0; i < h->n; i++)
		if (h->v[i].boost > bmax)
			bmax = h->v[i].boost;
	lm = phrase_model(ps, h, id, bmax);
	if (!lm)
		return -1;
	/* what ngram_model_read would do with the decoder's config */
	lw = cmd_ln_float32_r(cfg, "-lw");
	ngram_model_apply_weights(lm, (float32)lw,
				  cmd_ln_float32_r(cfg, "-wip"));
	models[0] = base;
	models[1] = lm;
	weights[0] = 1;
	weights[1] = (float32)pow(10, lw * (BOOST_LP0 + BOOST_LP * bmax));
	/* this sphinxbase's sets hold a reference to each model */
	set = ngram_model_set_init(cfg, models, names, weights, 2);
	ngram_model_free(lm);
	if (!set) {
		log_warn("stream %llu: phrases ignored: cannot interpolate "
			 "the models", (unsigned long long)id);
		return -1;
	}
	/* the search holds its own reference */
	if (ps_set_lm(ps, SEARCH, set) < 0) {
		ngram_model_free(set);
		log_warn("stream %llu: phrases ignored: cannot make a search",
			 (unsigned long long)id);
		return -1;
	}
	ngram_model_free(set);
	if (ps_set_search(ps, SEARCH) < 0) {
		ps_unset_search(ps, SEARCH);
		log_warn("stream %llu: phrases ignored: cannot use the search",
			 (unsigned long long)id);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("stream %llu: %zu phrase%s, boost %g, ready in %lld ms",
		 (unsigned long long)id, h->n, h->n == 1 ? "" : "s", bmax,
		 (long long)((t1.tv_sec - t0.tv_sec) * 1000 +
			     (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return 0;
}

/* Back to the pooled search; freeing this one frees the phrase model. */
void hints_undo(ps_decoder_t *ps, const char *search)
{
	ps_set_search(ps, search);
	ps_unset_search(ps, SEARCH);
}
