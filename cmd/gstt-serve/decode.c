/*
 * The decoding engine: a pool of pocketsphinx decoders and the worker
 * threads that run them.
 *
 * A stream is on the work queue when it has input to decode or has been
 * aborted.  A worker takes it, decodes at most one second of audio (so
 * one fast client cannot starve the others), appends responses to the
 * stream's output list and puts it back if more input is waiting.  Only
 * one worker holds a stream at a time (queued/running, under wq_mu), so
 * the per-stream decoding state needs no lock; the input buffer and the
 * output list are shared with the cq thread under the stream's mu.
 *
 * A decoder takes about half a second and 100 MB to create, so decoders
 * are kept in a pool: --pool are made at start, more on demand (by the
 * worker that needs one, never on the cq thread) up to --max-streams, and
 * a stream's decoder goes back to the pool when the stream ends.  Each
 * stream starts with ps_start_stream (frame numbers count from its first
 * sample) and its cepstral mean set for its kind of audio: the model's
 * own is for wideband speech and mangles the first sentences of a
 * phone call (see phone_cmn).  A stream with phrase hints searches with
 * a language model biased towards them from its start to its end, when
 * the decoder goes back to the pooled search (hints.c).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>

#include "g711.h"
#include "gstt-serve.h"
#include "log.h"
#include "resample.h"

#define RATE		16000	/* what the en-us model takes */
#define FRAME_US	10000	/* pocketsphinx frames: 100 per second */
#define BLOCK		1600	/* samples fed at once: 100 ms */
#define PARTIAL_EVERY	(RATE / 5)	/* interim results at most 5/s */
#define TURN_SECONDS	1	/* audio decoded per turn on a worker */
#define NCEP		13

/*
 * The cepstral mean of 8 kHz mu-law speech upsampled to 16 kHz: what live
 * CMN converged to at the end of long phone-path streams of four flite
 * voices.  The band above 4 kHz is empty, so it is far from the model's
 * wideband -cmninit, and live CMN takes several seconds of speech to get
 * there: the first sentences of every call were lost.  Starting from it
 * took word errors (bench/stt, four voices) from 32.5% to 18.5%, and from
 * 37.6% to 23.6% on ten other sentences that played no part in choosing
 * it.  Other settings tried (-lw, VAD thresholds, a noise floor, wider
 * beams, keeping the mean across streams) did as well on one set as they
 * did badly on the other.
 */
static const float phone_cmn[NCEP] = {
	43.95, 31.05, -30.86, 48.60, -15.80, -1.11, 18.45, -27.24, 14.89,
	-9.96, -0.56, 14.93, -13.74,
};

struct decoder {
	struct decoder *next;
	ps_decoder_t *ps;
	const char *search;	/* the pooled search's name */
	mfcc_t model_cmn[NCEP];	/* the model's -cmninit, for 16 kHz */
	int used;
	int hinted;		/* searching with a stream's phrases */
};

static struct engine_opts eo;
static char hmm[4096], dict[4096], lm[4096];

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t create_mu = PTHREAD_MUTEX_INITIALIZER;
static struct decoder *idle;
static int nidle, ntotal;

static pthread_mutex_t wq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wq_cond = PTHREAD_COND_INITIALIZER;
static struct stream *wq_head, **wq_tail = &wq_head;
static int wq_quit;
static pthread_t *workers;
static int nworkers;

/* pocketsphinx messages go to our log at -v -v only. */
static void sphinx_log(void *u, err_lvl_t lvl, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	size_t n;

	(void)u;
	if (log_level < LOG_DEBUG || lvl < ERR_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0)
		log_debug("pocketsphinx: %s", buf);
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/*
 * The name of a new decoder's n-gram search (beside it, a phone loop
 * search helps it look ahead); ps_get_search would say, but it leaks.
 */
static const char *ngram_search(ps_decoder_t *ps)
{
	ps_search_iter_t *it;
	const char *name = NULL;
	int n = 0;

	/* to the end: an iterator left midway is not freed */
	for (it = ps_search_iter(ps); it; it = ps_search_iter_next(it)) {
		if (ps_get_lm(ps, ps_search_iter_val(it))) {
			name = ps_search_iter_val(it);
			n++;
		}
	}
	return n == 1 ? name : NULL;
}

static struct decoder *decoder_new(void)
{
	char ps_pre[16], ps_post[16], ps_start[16], ps_thr[32], ps_lw[32];
	const char *argv[] = {
		"-hmm", hmm, "-dict", dict, "-lm", lm,
		"-vad_prespeech", ps_pre, "-vad_postspeech", ps_post,
		"-vad_startspeech", ps_start, "-vad_threshold", ps_thr,
		"-lw", ps_lw,
	};
	int argc = sizeof argv / sizeof *argv;
	struct decoder *d;
	cmd_ln_t *cfg;

	snprintf(ps_pre, sizeof ps_pre, "%d", eo.vad_prespeech);
	snprintf(ps_post, sizeof ps_post, "%d", eo.vad_postspeech);
	snprintf(ps_start, sizeof ps_start, "%d", eo.vad_startspeech);
	snprintf(ps_thr, sizeof ps_thr, "%g", eo.vad_threshold);
	snprintf(ps_lw, sizeof ps_lw, "%g", eo.lw);
	if (eo.lw <= 0)
		argc -= 2;	/* the model's own */
	d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	/* pocketsphinx keeps global state (logging) that ps_init touches. */
	pthread_mutex_lock(&create_mu);
	cfg = cmd_ln_parse_r(NULL, ps_args(), argc, (char **)argv, FALSE);
	if (cfg)
		d->ps = ps_init(cfg);
	if (cfg)
		cmd_ln_free_r(cfg);
	pthread_mutex_unlock(&create_mu);
	if (!d->ps) {
		free(d);
		return NULL;
	}
	cmn_live_get(ps_get_feat(d->ps)->cmn_struct, d->model_cmn);
	d->search = ngram_search(d->ps);
	return d;
}

static void decoder_free(struct decoder *d)
{
	ps_free(d->ps);
	free(d);
}

static struct decoder *pool_get(void)
{
	struct decoder *d;

	pthread_mutex_lock(&pool_mu);
	d = idle;
	if (d) {
		idle = d->next;
		nidle--;
		pthread_mutex_unlock(&pool_mu);
		return d;
	}
	ntotal++;
	pthread_mutex_unlock(&pool_mu);
	log_info("creating a decoder (%d in all)", ntotal);
	d = decoder_new();
	if (!d) {
		pthread_mutex_lock(&pool_mu);
		ntotal--;
		pthread_mutex_unlock(&pool_mu);
	}
	return d;
}

static void pool_put(struct decoder *d)
{
	pthread_mutex_lock(&pool_mu);
	d->next = idle;
	idle = d;
	nidle++;
	pthread_mutex_unlock(&pool_mu);
}

void engine_decoders(int *nidle_out, int *nbusy)
{
	pthread_mutex_lock(&pool_mu);
	*nidle_out = nidle;
	*nbusy = ntotal - nidle;
	pthread_mutex_unlock(&pool_mu);
}

void item_free(struct item *it)
{
	struct item *f, *next;
	size_t i;

	if (!it)
		return;
	for (f = it->finals; f; f = next) {
		next = f->next;
		item_free(f);
	}
	for (i = 0; i < it->nwords; i++)
		free(it->words[i].word);
	free(it->words);
	free(it->text);
	free(it);
}

static struct item *item_new(int kind)
{
	struct item *it = calloc(1, sizeof *it);

	if (!it)
		die(1, "out of memory");
	it->kind = kind;
	it->billed_us = -1;
	return it;
}

static void emit(struct stream *s, struct item *it)
{
	if (it->kind == IT_RESULT)
		metric_add(it->final ? M_RESULTS_FINAL : M_RESULTS_INTERIM, 1);
	else if (it->kind == IT_EVENT)
		metric_add(M_EVENTS, 1);
	if (!s->pend_tail)
		s->pend_tail = &s->pend;
	*s->pend_tail = it;
	s->pend_tail = &it->next;
}

/*
 * Hand the responses of this turn to the cq thread at once (s->mu held),
 * so that the one that turns out to be the last can still be marked.
 */
static void flush_locked(struct stream *s)
{
	if (!s->pend)
		return;
	*s->out_tail = s->pend;
	s->out_tail = s->pend_tail;
	s->pend = NULL;
	s->pend_tail = &s->pend;
}

static void flush(struct stream *s)
{
	pthread_mutex_lock(&s->mu);
	flush_locked(s);
	pthread_mutex_unlock(&s->mu);
}

static void emit_event(struct stream *s, int type, int64_t us)
{
	struct item *it = item_new(IT_EVENT);

	it->event = type;
	it->time_us = us;
	emit(s, it);
}

/* Filler "words" (<s>, </s>, <sil>, [NOISE], ++UM++) are not speech. */
static int filler(const char *w)
{
	return *w == '<' || *w == '[' || *w == '+' || *w == '\0';
}

/* "read(2)" is the second pronunciation of "read". */
static char *word_dup(const char *w)
{
	size_t n = strlen(w);
	char *p;

	if (n > 2 && w[n - 1] == ')') {
		const char *o = strrchr(w, '(');

		if (o && o > w && isdigit((unsigned char)o[1]))
			n = (size_t)(o - w);
	}
	p = strndup(w, n);
	if (!p)
		die(1, "out of memory");
	return p;
}

/* Words of the current hypothesis; with probs, their posteriors. */
static size_t hyp_words(struct stream *s, struct word **out, int probs)
{
	ps_decoder_t *ps = s->dec->ps;
	logmath_t *lm_ = ps_get_logmath(ps);
	struct word *w = NULL;
	size_t n = 0, cap = 0;
	ps_seg_t *seg;

	for (seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
		const char *word = ps_seg_word(seg);
		int sf, ef;

		if (filler(word))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			w = realloc(w, cap * sizeof *w);
			if (!w)
				die(1, "out of memory");
		}
		ps_seg_frames(seg, &sf, &ef);
		w[n].word = word_dup(word);
		w[n].start_us = (int64_t)sf * FRAME_US;
		w[n].end_us = (int64_t)(ef + 1) * FRAME_US;
		w[n].confidence = 0;
		if (probs) {
			int32 a, l, b, post = ps_seg_prob(seg, &a, &l, &b);
			double p = logmath_exp(lm_, post);

			w[n].confidence = p > 1 ? 1 : p < 0 ? 0 : (float)p;
		}
		n++;
	}
	*out = w;
	return n;
}

static char *join_words(const struct word *w, size_t n)
{
	size_t i, len = 1;
	char *t, *p;

	for (i = 0; i < n; i++)
		len += strlen(w[i].word) + 1;
	t = p = malloc(len);
	if (!t)
		die(1, "out of memory");
	*p = '\0';
	for (i = 0; i < n; i++) {
		size_t k = strlen(w[i].word);

		if (i > 0)
			*p++ = ' ';
		memcpy(p, w[i].word, k + 1);
		p += k;
	}
	return t;
}

static void free_words(struct word *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(w[i].word);
	free(w);
}

/* Number of leading words two space-separated texts share. */
static size_t common_words(const char *a, const char *b, size_t *nb)
{
	size_t same = 0, words = 0;
	int diverged = 0;

	while (*b) {
		const char *ea = a + strcspn(a, " ");
		const char *eb = b + strcspn(b, " ");

		words++;
		if (!diverged && ea - a == eb - b && *a &&
		    memcmp(a, b, (size_t)(eb - b)) == 0)
			same++;
		else
			diverged = 1;
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
	}
	*nb = words;
	return same;
}

static int64_t pos_us(const struct stream *s)
{
	return s->pos16 * 1000000 / RATE;
}

/*
 * While in speech: interim results (if asked), and the deferred
 * SPEECH_ACTIVITY_BEGIN.  Begin waits for the first word so that the
 * VAD's empty segments (common in the first second) produce no events.
 */
static void partial(struct stream *s)
{
	ps_decoder_t *ps = s->dec->ps;
	struct item *it;
	const char *hyp;
	size_t same, n;
	int32 score;

	if (!s->conf.interim && (!s->conf.vad_events || s->begun))
		return;
	if (s->pos16 - s->last_partial16 < PARTIAL_EVERY)
		return;
	s->last_partial16 = s->pos16;
	hyp = ps_get_hyp(ps, &score);
	if (!hyp || !*hyp)
		return;
	if (s->conf.vad_events && !s->begun) {
		struct word *w;
		size_t nw = hyp_words(s, &w, 0);

		emit_event(s, 2, nw ? w[0].start_us : pos_us(s));
		free_words(w, nw);
		s->begun = 1;
	}
	if (!s->conf.interim)
		return;
	if (s->last_partial && strcmp(s->last_partial, hyp) == 0)
		return;
	same = common_words(s->last_partial ? s->last_partial : "", hyp, &n);
	free(s->last_partial);
	s->last_partial = strdup(hyp);
	if (!s->last_partial)
		die(1, "out of memory");
	it = item_new(IT_RESULT);
	it->text = strdup(hyp);
	if (!it->text)
		die(1, "out of memory");
	/* What stayed put since the last partial is likely to stay. */
	it->stability = 0.1f + 0.8f * (float)same / (float)(n ? n : 1);
	it->time_us = pos_us(s);
	emit(s, it);
	s->partial_sent = 1;
}

/* End the current utterance and report it (if it held any words). */
static void utterance_end(struct stream *s, int at_eof)
{
	ps_decoder_t *ps = s->dec->ps;
	struct word *w;
	struct item *it;
	size_t n, i;
	double conf = 0;

	ps_end_utt(ps);
	s->utt_open = 0;
	n = hyp_words(s, &w, 1);
	if (n == 0 && !s->partial_sent) {
		free(w);
		goto next;
	}
	if (s->conf.vad_events) {
		int64_t end = n ? w[n - 1].end_us : pos_us(s);

		if (!s->begun)
			emit_event(s, 2, n ? w[0].start_us : end);
		emit_event(s, 3, end);
	}
	if (s->conf.single && n > 0)
		emit_event(s, 1, w[n - 1].end_us);
	it = item_new(IT_RESULT);
	it->final = 1;
	it->text = join_words(w, n);
	for (i = 0; i < n; i++)
		conf += w[i].confidence;
	it->confidence = n ? (float)(conf / (double)n) : 0;
	it->time_us = n ? w[n - 1].end_us : pos_us(s);
	if (s->conf.word_times || s->conf.word_conf) {
		it->words = w;
		it->nwords = n;
	} else {
		free_words(w, n);
	}
	if (s->unary) {
		*s->finals_tail = it;
		s->finals_tail = &it->next;
	} else {
		emit(s, it);
	}
	s->utt_count++;
	if (s->conf.single && n > 0)
		s->finished = 1;
next:
	s->last_end16 = s->pos16;
	s->begun = 0;
	s->partial_sent = 0;
	free(s->last_partial);
	s->last_partial = NULL;
	if (!at_eof && !s->finished) {
		ps_start_utt(ps);
		s->utt_open = 1;
	}
}

/*
 * voice_activity_timeout: no speech for speech_start_timeout from the
 * start, or for speech_end_timeout after an utterance.  The stream ends
 * there (Google processes no more audio after SPEECH_ACTIVITY_TIMEOUT).
 */
static void activity_timeout(struct stream *s)
{
	int64_t limit = s->utt_count ? s->conf.end_timeout_us
				     : s->conf.start_timeout_us;
	int64_t since = s->utt_count ? s->last_end16 : 0;

	if (limit <= 0 || !s->conf.vad_events ||
	    (s->pos16 - since) * 1000000 / RATE < limit)
		return;
	emit_event(s, 4, pos_us(s));
	s->finished = 1;
}

/*
 * Feed 16 kHz samples to the decoder, watching the VAD at every BLOCK
 * samples of the stream.  Checking at fixed stream positions, not at the
 * ends of what arrived, makes the results independent of how the client
 * split its audio into messages and of when they were decoded.
 */
static void feed16(struct stream *s, const int16_t *x, size_t n)
{
	ps_decoder_t *ps = s->dec->ps;

	while (n > 0 && !s->finished) {
		size_t room = BLOCK - (size_t)(s->pos16 % BLOCK);
		size_t k = n < room ? n : room;
		int speech;

		ps_process_raw(ps, x, k, FALSE, FALSE);
		s->pos16 += (int64_t)k;
		x += k;
		n -= k;
		if (s->pos16 % BLOCK != 0)
			continue;
		speech = ps_get_in_speech(ps);
		if (speech && !s->in_speech) {
			s->in_speech = 1;
			s->last_partial16 = s->pos16 - PARTIAL_EVERY;
		}
		if (speech)
			partial(s);
		else if (s->in_speech) {
			s->in_speech = 0;
			utterance_end(s, 0);
		} else {
			activity_timeout(s);
		}
	}
}

/* Convert received bytes to samples at the stream's rate, then feed. */
static void feed(struct stream *s, const uint8_t *buf, size_t len)
{
	int16_t *pcm, *up = NULL;
	size_t n = 0, i;

	pcm = malloc((len + 1) * sizeof *pcm);
	if (!pcm)
		die(1, "out of memory");
	if (s->conf.encoding == ENCODING_MULAW) {
		ulaw_decode_buf(pcm, buf, len);
		n = len;
	} else {
		i = 0;
		if (s->has_odd && len > 0) {
			pcm[n++] = (int16_t)(s->odd | buf[0] << 8);
			s->has_odd = 0;
			i = 1;
		}
		for (; i + 1 < len; i += 2)
			pcm[n++] = (int16_t)(buf[i] | buf[i + 1] << 8);
		if (i < len) {
			s->odd = buf[i];
			s->has_odd = 1;
		}
	}
	if (s->rs) {
		size_t m;

		up = malloc(resampler_max_out(s->rs, n) * sizeof *up);
		if (!up)
			die(1, "out of memory");
		m = resampler_run(s->rs, pcm, n, up);
		feed16(s, up, m);
	} else {
		feed16(s, pcm, n);
	}
	free(up);
	free(pcm);
}

static void stream_begin(struct stream *s)
{
	struct decoder *d = s->dec;
	mfcc_t cmn[NCEP];
	int i;

	ps_start_stream(d->ps);
	if (!eo.keep_cmn || !d->used) {
		for (i = 0; i < NCEP; i++)
			cmn[i] = s->conf.rate == 8000 ? phone_cmn[i]
						      : d->model_cmn[i];
		cmn_live_set(ps_get_feat(d->ps)->cmn_struct, cmn);
	}
	d->used = 1;
	if (s->hints && hints_apply(d->ps, d->search, s->hints, s->id) == 0) {
		d->hinted = 1;
		metric_add(M_HINTED, 1);
	}
	ps_start_utt(d->ps);
	s->utt_open = 1;
	if (s->conf.rate != RATE) {
		s->rs = resampler_new(s->conf.rate, RATE);
		if (!s->rs)
			die(1, "out of memory");
	}
	s->finals_tail = &s->finals;
}

/* The worker is done with s: mark its last response, free the decoder. */
static void stream_done(struct stream *s, grpc_status_code code,
			const char *msg)
{
	int64_t billed = (s->decoded_us + 999999) / 1000000 * 1000000;

	if (s->dec) {
		if (s->utt_open)
			ps_end_utt(s->dec->ps);
		/* the next stream on this decoder must not be biased */
		if (s->dec->hinted)
			hints_undo(s->dec->ps, s->dec->search);
		s->dec->hinted = 0;
		pool_put(s->dec);
		s->dec = NULL;
	}
	resampler_free(s->rs);
	s->rs = NULL;
	free(s->last_partial);
	s->last_partial = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->abort) {
		while (s->pend) {
			struct item *t = s->pend;

			s->pend = t->next;
			item_free(t);
		}
		s->pend_tail = &s->pend;
	}
	flush_locked(s);
	if (s->out) {
		struct item *t = s->out;

		while (t->next)
			t = t->next;
		t->billed_us = billed;
	}
	s->done = 1;
	s->done_code = code;
	snprintf(s->done_msg, sizeof s->done_msg, "%s", msg ? msg : "");
	s->released = 1;
	pthread_mutex_unlock(&s->mu);
	metric_add(M_STREAMS_ACTIVE, -1);
}

static void stream_eof(struct stream *s, grpc_status_code code,
		       const char *msg)
{
	if (s->rs && !s->finished) {
		int16_t tail[256];
		size_t m = resampler_run(s->rs, NULL, 0, tail);

		if (m > sizeof tail / sizeof *tail)
			m = sizeof tail / sizeof *tail;
		feed16(s, tail, m);
	}
	if (!s->finished)
		utterance_end(s, 1);
	s->finished = 1;
	s->in_speech = 0;
	if (s->unary) {
		struct item *it = item_new(IT_UNARY);

		it->finals = s->finals;
		s->finals = NULL;
		emit(s, it);
	}
	stream_done(s, code, msg);
}

/* One turn of a worker on s. */
static void run(struct stream *s)
{
	grpc_status_code code;
	char msg[MSG_MAX];
	uint8_t *buf = NULL;
	size_t len, max;
	int eof, more;

	if (s->released)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->abort) {
		pthread_mutex_unlock(&s->mu);
		stream_done(s, GRPC_STATUS_CANCELLED, "");
		return;
	}
	max = (size_t)req_bytes_per_second(&s->conf) * TURN_SECONDS;
	len = s->inlen < max ? s->inlen : max;
	if (len > 0) {
		buf = malloc(len);
		if (!buf)
			die(1, "out of memory");
		memcpy(buf, s->in, len);
		memmove(s->in, s->in + len, s->inlen - len);
		s->inlen -= len;
	}
	more = s->inlen > 0;
	eof = s->in_eof && !more;
	code = s->eof_code;
	memcpy(msg, s->eof_msg, sizeof msg);
	pthread_mutex_unlock(&s->mu);

	if (!s->dec) {
		s->dec = pool_get();
		if (!s->dec) {
			free(buf);
			log_error("cannot create a pocketsphinx decoder");
			stream_done(s, GRPC_STATUS_INTERNAL, "The speech "
				    "decoder could not be created.");
			return;
		}
		stream_begin(s);
	}
	if (!s->finished && len > 0) {
		s->decoded_us += (int64_t)len * 1000000 /
				 req_bytes_per_second(&s->conf);
		metric_add(M_AUDIO_US, (int64_t)len * 1000000 /
			   req_bytes_per_second(&s->conf));
		feed(s, buf, len);
	}
	free(buf);
	if (s->finished && !s->unary) {
		/* single_utterance: the rest of the audio is not wanted */
		stream_done(s, GRPC_STATUS_OK, "");
		return;
	}
	if (eof) {
		stream_eof(s, code, msg);
		return;
	}
	flush(s);
	if (more)
		s->wake = 1;
}

static void *worker(void *arg)
{
	struct stream *s;

	(void)arg;
	pthread_mutex_lock(&wq_mu);
	for (;;) {
		while (!wq_head && !wq_quit)
			pthread_cond_wait(&wq_cond, &wq_mu);
		if (!wq_head)
			break;
		s = wq_head;
		wq_head = s->wnext;
		if (!wq_head)
			wq_tail = &wq_head;
		s->queued = 0;
		s->running = 1;
		s->wake = 0;
		pthread_mutex_unlock(&wq_mu);
		run(s);
		pthread_mutex_lock(&wq_mu);
		s->running = 0;
		if (s->wake && !s->released) {
			s->wake = 0;
			s->queued = 1;
			s->wnext = NULL;
			*wq_tail = s;
			wq_tail = &s->wnext;
		}
	}
	pthread_mutex_unlock(&wq_mu);
	return NULL;
}

void engine_schedule(struct stream *s)
{
	pthread_mutex_lock(&wq_mu);
	if (s->running) {
		s->wake = 1;
	} else if (!s->queued) {
		s->queued = 1;
		s->wnext = NULL;
		*wq_tail = s;
		wq_tail = &s->wnext;
		pthread_cond_signal(&wq_cond);
	}
	pthread_mutex_unlock(&wq_mu);
}

int engine_idle(struct stream *s)
{
	int r;

	pthread_mutex_lock(&wq_mu);
	r = !s->queued && !s->running;
	pthread_mutex_unlock(&wq_mu);
	return r;
}

int engine_start(const struct engine_opts *o)
{
	int i;

	eo = *o;
	err_set_logfp(NULL);
	err_set_callback(sphinx_log, NULL);
	snprintf(hmm, sizeof hmm, "%s/en-us", eo.model);
	if (eo.hmm)
		snprintf(hmm, sizeof hmm, "%s", eo.hmm);
	else if (!exists(hmm))
		snprintf(hmm, sizeof hmm, "%s", eo.model);
	snprintf(dict, sizeof dict, "%s", eo.dict ? eo.dict : "");
	if (!eo.dict)
		snprintf(dict, sizeof dict, "%s/cmudict-en-us.dict", eo.model);
	snprintf(lm, sizeof lm, "%s", eo.lm ? eo.lm : "");
	if (!eo.lm)
		snprintf(lm, sizeof lm, "%s/en-us.lm.bin", eo.model);
	if (!exists(hmm) || !exists(dict) || !exists(lm)) {
		log_error("cannot open model '%s': %s", !exists(hmm) ? hmm :
			  !exists(dict) ? dict : lm, strerror(ENOENT));
		return -1;
	}
	for (i = 0; i < eo.pool; i++) {
		struct decoder *d = decoder_new();

		if (!d) {
			log_error("cannot create a pocketsphinx decoder from "
				  "'%s'", hmm);
			return -1;
		}
		ntotal++;
		pool_put(d);
	}
	workers = calloc((size_t)eo.workers, sizeof *workers);
	if (!workers)
		return -1;
	for (i = 0; i < eo.workers; i++) {
		if (pthread_create(&workers[i], NULL, worker, NULL) != 0) {
			log_error("cannot start a worker thread");
			break;
		}
		nworkers++;
	}
	return nworkers > 0 ? 0 : -1;
}

void engine_stop(void)
{
	struct decoder *d;
	int i;

	pthread_mutex_lock(&wq_mu);
	wq_quit = 1;
	pthread_cond_broadcast(&wq_cond);
	pthread_mutex_unlock(&wq_mu);
	for (i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	while ((d = idle)) {
		idle = d->next;
		decoder_free(d);
	}
	nidle = ntotal = 0;
}
