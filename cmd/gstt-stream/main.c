/*
 * gstt-stream: transcribe audio of any length with Google Speech-to-Text
 * v1 StreamingRecognize, writing events NDJSON.
 *
 * The main thread owns every grpc object: one channel, one completion
 * queue, and per track (a channel of a recording, or the one audio of
 * stdin) one stream at a time with one message in flight each way; the
 * tracks of a recording run side by side on the same queue.  Google ends
 * a stream at 305 s, after some errors, and after a silence; each time,
 * the next stream starts at the end of the last final result and replays
 * the audio after it, so the timeline runs on exactly, byte for byte (see
 * the DESCRIPTION of gstt-stream(1)).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <jansson.h>

#include "google/cloud/speech/v1/cloud_speech.pb-c.h"

#include "cli.h"
#include "clock.h"
#include "grpcpb.h"
#include "gstt.h"
#include "log.h"

#define METHOD "/google.cloud.speech.v1.Speech/StreamingRecognize"
#define ENC(x) GOOGLE__CLOUD__SPEECH__V1__RECOGNITION_CONFIG__\
AUDIO_ENCODING__##x
#define REQ(x) GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_REQUEST__\
STREAMING_REQUEST_##x
#define GOOGLE "speech.googleapis.com:443"
#define MAX_ALT_LANGS 3
#define MAX_REQUEST 24000	/* Google takes 25 KB of audio a request */
#define CLOSE_IDLE_MS 10000	/* after a restart's half-close: silence */
#define CLOSE_MAX_MS 60000	/* ...and in all, plus 2 x the audio sent */
#define SEND_STALL_MS 30000	/* a message not taken: the link is dead */
#define HEALTHY_MS 10000	/* a stream this old ends an outage */
#define SECOND_SIGNAL_MS 200	/* a signal sooner is the first again */

static const char usage[] =
"usage: gstt-stream [options] [FILE...]\n"
"Transcribe audio (stdin, or files) with Google Speech-to-Text streaming;\n"
"events NDJSON on stdout.\n"
"\n"
"input:\n"
"  -e, --encoding ENC      raw stdin: mulaw (default) or linear16\n"
"  -r, --rate HZ           raw stdin: sample rate (8000)\n"
"      --realtime          send at real-time speed\n"
"recognition:\n"
"  -l, --language CODE     BCP-47 language (en-US)\n"
"      --alt-language CODE another possible language (up to 3)\n"
"  -m, --model NAME        model (phone_call)\n"
"      --enhanced          the enhanced version of the model\n"
"      --no-interim        final results only\n"
"      --no-punctuation    no automatic punctuation\n"
"      --words             word time offsets\n"
"      --phrase TEXT       a phrase hint (repeatable)\n"
"      --phrases FILE      phrase hints, one a line\n"
"      --boost N           boost of the hints (0-20)\n"
"      --profanity-filter  mask profanities\n"
"      --alternatives N    up to N alternatives (1)\n"
"      --single-utterance  stop after one utterance\n"
"service:\n"
"      --endpoint ADDR     HOST:PORT or unix:PATH (" GOOGLE ")\n"
"      --insecure          plaintext, no credentials (default on loopback)\n"
"      --tls               TLS even on loopback\n"
"      --adc               look for credentials on the metadata server\n"
"recordings:\n"
"      --channel-tracks A,B  name the channels' tracks (2 channels:\n"
"                          inbound,outbound)\n"
"      --mix               mix the channels down to one track\n"
"labels:\n"
"      --call-sid SID, --stream-sid SID, --track NAME\n"
"streams:\n"
"      --restart-after SEC restart streams after this much audio (290)\n"
"      --max-replay SEC    replay at most this much on a restart (60)\n"
"      --buffer SEC        audio held while the service is away (300)\n"
"      --idle-close SEC    close a stream when input stalls this long (8)\n"
"      --give-up SEC       exit 5 after failing this long (0: never)\n"
"      --eof-timeout SEC   at the end, wait this long for each result (30)\n"
"  -v, --verbose           more messages\n"
"  -q, --quiet             errors only\n"
"  -h, --help, -V, --version\n";

enum {
	O_REALTIME = 256, O_ALT, O_ENHANCED, O_INTERIM, O_NO_INTERIM,
	O_PUNCT, O_NO_PUNCT, O_WORDS, O_PHRASE, O_PHRASES, O_BOOST,
	O_PROFANITY, O_ALTS, O_SINGLE, O_ENDPOINT, O_INSECURE, O_TLS, O_ADC,
	O_CALL, O_STREAM, O_TRACK, O_RESTART, O_REPLAY, O_BUFFER, O_IDLE,
	O_GIVEUP, O_EOFTMO, O_CHTRACKS, O_MIX
};

static const struct option longopts[] = {
	{ "encoding", 1, NULL, 'e' }, { "rate", 1, NULL, 'r' },
	{ "realtime", 0, NULL, O_REALTIME },
	{ "language", 1, NULL, 'l' }, { "alt-language", 1, NULL, O_ALT },
	{ "model", 1, NULL, 'm' }, { "enhanced", 0, NULL, O_ENHANCED },
	{ "interim", 0, NULL, O_INTERIM },
	{ "no-interim", 0, NULL, O_NO_INTERIM },
	{ "punctuation", 0, NULL, O_PUNCT },
	{ "no-punctuation", 0, NULL, O_NO_PUNCT },
	{ "words", 0, NULL, O_WORDS }, { "phrase", 1, NULL, O_PHRASE },
	{ "phrases", 1, NULL, O_PHRASES }, { "boost", 1, NULL, O_BOOST },
	{ "profanity-filter", 0, NULL, O_PROFANITY },
	{ "alternatives", 1, NULL, O_ALTS },
	{ "single-utterance", 0, NULL, O_SINGLE },
	{ "endpoint", 1, NULL, O_ENDPOINT },
	{ "insecure", 0, NULL, O_INSECURE }, { "tls", 0, NULL, O_TLS },
	{ "adc", 0, NULL, O_ADC },
	{ "call-sid", 1, NULL, O_CALL }, { "stream-sid", 1, NULL, O_STREAM },
	{ "track", 1, NULL, O_TRACK },
	{ "restart-after", 1, NULL, O_RESTART },
	{ "max-replay", 1, NULL, O_REPLAY }, { "buffer", 1, NULL, O_BUFFER },
	{ "idle-close", 1, NULL, O_IDLE }, { "give-up", 1, NULL, O_GIVEUP },
	{ "eof-timeout", 1, NULL, O_EOFTMO },
	{ "channel-tracks", 1, NULL, O_CHTRACKS }, { "mix", 0, NULL, O_MIX },
	{ "verbose", 0, NULL, 'v' }, { "quiet", 0, NULL, 'q' },
	{ "help", 0, NULL, 'h' }, { "version", 0, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static struct {
	int mulaw, rate, realtime;
	const char *language, *model, *alt[MAX_ALT_LANGS];
	int nalt, enhanced, interim, punctuation, words, profanity;
	int alternatives, single;
	char **phrases;
	size_t nphrases;
	double boost;
	const char *endpoint;
	int insecure, tls, adc;
	long long restart_ms, replay_ms, buffer_ms, idle_ms, giveup_ms;
	long long eof_ms;
	const char *call_sid, *stream_sid, *track;
	char *names[MAX_TRACKS];	/* --channel-tracks */
	int nnames, mix;
} opt = {
	.mulaw = 1, .rate = 8000, .language = "en-US",
	.model = "phone_call", .interim = 1, .punctuation = 1,
	.alternatives = 1, .restart_ms = 290000, .replay_ms = 60000,
	.buffer_ms = 300000, .idle_ms = 8000, .eof_ms = 30000,
};

enum why { WHY_NONE, WHY_RESTART, WHY_IDLE, WHY_EOF, WHY_EOSU };
static const char *const why_name[] = {
	"server", "restart", "idle input", "end of input", "end of utterance"
};

/* Completion tags: the track's index above the operation. */
enum { TAG_START = 1, TAG_MD, TAG_RECV, TAG_SEND, TAG_CLOSE, TAG_STATUS };
#define TAG_BITS 3

/* The stream of a track now open, if any. */
struct stream {
	grpc_call *call;
	int outstanding;	/* batches started, not completed */
	int send_busy, closing, close_started, status_done, cancelled;
	int gave_up;		/* cancelled: 1 silent, 2 answering long */
	enum why why;
	grpc_byte_buffer *sbuf, *rbuf;
	grpc_metadata_array imd, tmd;
	grpc_status_code code;
	grpc_slice details;
	const char *error_string;
	int64_t opened, send_since, close_at, last_resp;
	int progress;		/* got a response */
};

/* A track: what it sends, what it heard, how its streams fare. */
struct track {
	int k;			/* its ring in the input, its tags */
	char who[48];		/* "inbound: " to begin its messages */
	struct stream st;
	struct timeline tl;
	struct out out;
	int64_t retry_at, idle_mark, outage_since, eof_since;
	int64_t heard;		/* the service heard all before this */
	int64_t drop_report;
	int backoff_n, eof_done;
	int done, rc;		/* finished, with this exit status */
	uint64_t dropped_seen, capped;
};

static struct track tracks[MAX_TRACKS];
static int ntracks;
static grpc_completion_queue *cq;
static grpc_channel *channel;
static grpc_metadata md[3];
static size_t nmd;
static struct input in;
static grpc_byte_buffer *config_msg;
static int out_failed;
static volatile sig_atomic_t signalled;

static int write_stdout(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	if (out_failed)
		return -1;
	if (write_all(1, line, len) < 0) {
		log_error("cannot write to standard output: %s",
			  strerror(errno));
		out_failed = 1;
		return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	signalled++;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

static void add_phrase(const char *p)
{
	opt.phrases = realloc(opt.phrases,
			      (opt.nphrases + 1) * sizeof *opt.phrases);
	if (!opt.phrases || !(opt.phrases[opt.nphrases] = strdup(p)))
		die(1, "out of memory");
	opt.nphrases++;
}

static void add_phrases_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		die(1, "cannot open '%s': %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n > 0)
			add_phrase(line);
	}
	if (ferror(f))
		die(1, "cannot read '%s': %s", path, strerror(errno));
	free(line);
	fclose(f);
}

/* --channel-tracks inbound,outbound */
static void split_names(const char *arg)
{
	char *copy = strdup(arg), *p, *save = NULL;
	int i;

	if (!copy)
		die(1, "out of memory");
	opt.nnames = 0;
	for (p = strtok_r(copy, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		if (opt.nnames == MAX_TRACKS)
			cli_usage_error("--channel-tracks: at most %d names",
					MAX_TRACKS);
		for (i = 0; i < opt.nnames; i++)
			if (strcmp(opt.names[i], p) == 0)
				cli_usage_error("--channel-tracks: '%s' twice",
						p);
		opt.names[opt.nnames++] = p;
	}
	if (opt.nnames == 0)
		cli_usage_error("--channel-tracks needs a name per channel");
}

static void parse_options(int argc, char **argv)
{
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "e:r:l:m:vqhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'e':
			if (strcmp(optarg, "mulaw") == 0)
				opt.mulaw = 1;
			else if (strcmp(optarg, "linear16") == 0)
				opt.mulaw = 0;
			else
				cli_usage_error("invalid encoding '%s': "
						"expected mulaw or linear16",
						optarg);
			break;
		case 'r':
			opt.rate = (int)cli_int("--rate", optarg, 8000, 48000);
			break;
		case O_REALTIME: opt.realtime = 1; break;
		case 'l': opt.language = optarg; break;
		case O_ALT:
			if (opt.nalt == MAX_ALT_LANGS)
				cli_usage_error("at most %d --alt-language",
						MAX_ALT_LANGS);
			opt.alt[opt.nalt++] = optarg;
			break;
		case 'm': opt.model = optarg; break;
		case O_ENHANCED: opt.enhanced = 1; break;
		case O_INTERIM: opt.interim = 1; break;
		case O_NO_INTERIM: opt.interim = 0; break;
		case O_PUNCT: opt.punctuation = 1; break;
		case O_NO_PUNCT: opt.punctuation = 0; break;
		case O_WORDS: opt.words = 1; break;
		case O_PHRASE: add_phrase(optarg); break;
		case O_PHRASES: add_phrases_file(optarg); break;
		case O_BOOST:
			errno = 0;
			opt.boost = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(opt.boost >= 0 && opt.boost <= 20))
				cli_usage_error("invalid value '%s' for "
						"--boost: expected 0 to 20",
						optarg);
			break;
		case O_PROFANITY: opt.profanity = 1; break;
		case O_ALTS:
			opt.alternatives = (int)cli_int("--alternatives",
							optarg, 1, 30);
			break;
		case O_SINGLE: opt.single = 1; break;
		case O_ENDPOINT: opt.endpoint = optarg; break;
		case O_INSECURE: opt.insecure = 1; break;
		case O_TLS: opt.tls = 1; break;
		case O_ADC: opt.adc = 1; break;
		case O_CALL: opt.call_sid = optarg; break;
		case O_STREAM: opt.stream_sid = optarg; break;
		case O_TRACK: opt.track = optarg; break;
		case O_CHTRACKS: split_names(optarg); break;
		case O_MIX: opt.mix = 1; break;
		case O_RESTART:
			opt.restart_ms = cli_ms("--restart-after", optarg,
						300000);
			if (opt.restart_ms < 1000)
				cli_usage_error("--restart-after: at least 1 "
						"second");
			break;
		case O_REPLAY:
			opt.replay_ms = cli_ms("--max-replay", optarg, 300000);
			break;
		case O_BUFFER:
			opt.buffer_ms = cli_ms("--buffer", optarg, 3600000);
			if (opt.buffer_ms < 120000)
				cli_usage_error("--buffer: at least 120 "
						"seconds");
			break;
		case O_IDLE:
			opt.idle_ms = cli_ms("--idle-close", optarg, 3600000);
			break;
		case O_GIVEUP:
			opt.giveup_ms = cli_ms("--give-up", optarg, 86400000);
			break;
		case O_EOFTMO:
			opt.eof_ms = cli_ms("--eof-timeout", optarg, 3600000);
			break;
		case 'v': log_level++; break;
		case 'q': log_level = LOG_ERROR; break;
		case 'h': cli_help(usage);
		case 'V': cli_version();
		default:
			cli_try_help();
		}
	}
	if (opt.replay_ms * 2 > opt.buffer_ms)
		cli_usage_error("--max-replay must be at most half of "
				"--buffer");
	if (opt.language[0] == '\0')
		cli_usage_error("--language must not be empty");
	if (opt.boost > 0 && opt.nphrases == 0)
		cli_usage_error("--boost needs --phrase or --phrases");
	if (opt.mix && opt.nnames > 0)
		cli_usage_error("--mix and --channel-tracks exclude each "
				"other");
}

/* The first request of every stream: the recognition config. */
static void build_config(void)
{
	static Google__Cloud__Speech__V1__RecognitionConfig rc =
		GOOGLE__CLOUD__SPEECH__V1__RECOGNITION_CONFIG__INIT;
	static Google__Cloud__Speech__V1__StreamingRecognitionConfig sc =
		GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNITION_CONFIG__INIT;
	static Google__Cloud__Speech__V1__SpeechContext ctx =
		GOOGLE__CLOUD__SPEECH__V1__SPEECH_CONTEXT__INIT;
	static Google__Cloud__Speech__V1__SpeechContext *ctxp = &ctx;
	Google__Cloud__Speech__V1__StreamingRecognizeRequest rq =
		GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_REQUEST__INIT;

	rc.encoding = in.mulaw ? ENC(MULAW) : ENC(LINEAR16);
	rc.sample_rate_hertz = in.rate;
	rc.audio_channel_count = 1;
	rc.language_code = (char *)opt.language;
	rc.n_alternative_language_codes = (size_t)opt.nalt;
	rc.alternative_language_codes = (char **)opt.alt;
	rc.max_alternatives = opt.alternatives;
	rc.profanity_filter = opt.profanity;
	if (opt.nphrases > 0) {
		ctx.n_phrases = opt.nphrases;
		ctx.phrases = opt.phrases;
		ctx.boost = (float)opt.boost;
		rc.n_speech_contexts = 1;
		rc.speech_contexts = &ctxp;
	}
	rc.enable_word_time_offsets = opt.words;
	rc.enable_automatic_punctuation = opt.punctuation;
	rc.model = (char *)opt.model;
	rc.use_enhanced = opt.enhanced;
	sc.config = &rc;
	sc.single_utterance = opt.single;
	sc.interim_results = opt.interim;
	rq.streaming_request_case = REQ(STREAMING_CONFIG);
	rq.streaming_config = &sc;
	config_msg = pb_to_buffer(&rq.base);
}

static void add_md(const char *key, const char *value)
{
	md[nmd].key = grpc_slice_from_static_string(key);
	md[nmd].value = grpc_slice_from_copied_string(value);
	nmd++;
}

/*
 * A key file named by GOOGLE_APPLICATION_CREDENTIALS must be readable
 * JSON of a kind grpc knows; grpc itself would only say it found nothing.
 */
static int check_key_file(const char *path)
{
	static const char *const kinds[] = {
		"service_account", "authorized_user", "external_account"
	};
	json_error_t jerr;
	const char *type;
	json_t *j;
	FILE *f;
	size_t i;

	f = fopen(path, "r");
	if (!f) {
		log_error("cannot read credentials '%s' "
			  "(GOOGLE_APPLICATION_CREDENTIALS): %s", path,
			  strerror(errno));
		return -1;
	}
	j = json_loadf(f, 0, &jerr);
	fclose(f);
	if (!j) {
		log_error("cannot use credentials '%s': not JSON (line %d: "
			  "%s)", path, jerr.line, jerr.text);
		return -1;
	}
	type = json_string_value(json_object_get(j, "type"));
	for (i = 0; type && i < sizeof kinds / sizeof *kinds; i++)
		if (strcmp(type, kinds[i]) == 0)
			break;
	if (!type || i == sizeof kinds / sizeof *kinds) {
		log_error("cannot use credentials '%s': not a service account "
			  "or user key (\"type\" is %s)", path,
			  type ? type : "missing");
		json_decref(j);
		return -1;
	}
	json_decref(j);
	return 0;
}

static int adc_file_exists(void)
{
	const char *home = env("HOME");
	char path[4096];

	if (!home)
		return 0;
	snprintf(path, sizeof path,
		 "%s/.config/gcloud/application_default_credentials.json",
		 home);
	return access(path, R_OK) == 0;
}

/* The channel and its credentials; 0, or an exit status. */
static int make_channel(void)
{
	const char *ep = opt.endpoint ? opt.endpoint : env("GSTT_ENDPOINT");
	const char *key = env("GSTT_API_KEY");
	const char *token = env("GSTT_ACCESS_TOKEN");
	const char *project = env("GOOGLE_CLOUD_PROJECT");
	const char *gac = env("GOOGLE_APPLICATION_CREDENTIALS");
	grpc_channel_credentials *creds;
	grpc_arg args[4];
	grpc_channel_args ca = { 4, args };
	char host[1024];
	int port, google = 0, insecure;

	if (!ep) {
		ep = GOOGLE;
		google = 1;
	}
	if (cli_hostport(ep, host, sizeof host, &port) < 0) {
		log_error("invalid endpoint '%s': expected HOST:PORT or "
			  "unix:PATH", ep);
		return EXIT_USAGE;
	}
	insecure = opt.insecure ||
		   (!opt.tls && !google && cli_is_loopback(host));
	if (insecure) {
		/* call credentials need TLS: keys go as plain metadata */
		creds = grpc_insecure_credentials_create();
		if (token) {
			char bearer[4096];

			snprintf(bearer, sizeof bearer, "Bearer %s", token);
			add_md("authorization", bearer);
		}
	} else if (token) {
		creds = grpc_composite_channel_credentials_create(
			grpc_ssl_credentials_create(NULL, NULL, NULL, NULL),
			grpc_access_token_credentials_create(token, NULL),
			NULL);
	} else if (key || (!google && !gac && !opt.adc)) {
		creds = grpc_ssl_credentials_create(NULL, NULL, NULL, NULL);
	} else {
		if (gac && check_key_file(gac) < 0)
			return EXIT_AUTH;
		if (!gac && !opt.adc && !adc_file_exists()) {
			log_error("no credentials for %s: set "
				  "GOOGLE_APPLICATION_CREDENTIALS to a key "
				  "file, or GSTT_API_KEY, or "
				  "GSTT_ACCESS_TOKEN, or use --endpoint", ep);
			return EXIT_AUTH;
		}
		creds = grpc_google_default_credentials_create(NULL);
		if (!creds) {
			log_error("cannot use credentials '%s': grpc does not "
				  "accept them", gac ? gac :
				  "(application default)");
			return EXIT_AUTH;
		}
	}
	if (key)
		add_md("x-goog-api-key", key);
	if (project)
		add_md("x-goog-user-project", project);
	log_info("endpoint %s (%s)", ep, insecure ? "plaintext" : "TLS");

	/* retry connecting fast: we keep our own backoff */
	memset(args, 0, sizeof args);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
	args[0].value.integer = 100;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
	args[1].value.integer = 100;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
	args[2].value.integer = 10000;
	args[3].type = GRPC_ARG_STRING;
	args[3].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
	args[3].value.string = (char *)"tapline-gstt-stream/" TAPLINE_VERSION;
	channel = grpc_channel_create(ep, creds, &ca);
	grpc_channel_credentials_release(creds);
	return channel ? 0 : 1;
}

static void start(struct track *t, int tag, grpc_op *ops, size_t n)
{
	void *tp = (void *)(intptr_t)(t->k << TAG_BITS | tag);
	grpc_call_error e = grpc_call_start_batch(t->st.call, ops, n, tp,
						  NULL);

	if (e != GRPC_CALL_OK)
		die(1, "internal error: grpc batch %d refused (%d)", tag, e);
	t->st.outstanding++;
}

static int64_t backoff(struct track *t)
{
	int64_t d = 100LL << (t->backoff_n < 7 ? t->backoff_n : 7);

	if (d > 10000)
		d = 10000;
	t->backoff_n++;
	return d / 2 + (int64_t)(random() % (d / 2 + 1));
}

static int64_t frame_bytes(const struct timeline *tl)
{
	int64_t f = tl->bps / 10;

	return f - f % tl->align;
}

/*
 * Open a stream at the end of the last final result, so it replays what
 * no final covered yet.  The replay of audio the service heard is capped:
 * with no final in a whole stream it would otherwise never shrink.  What
 * it did not hear (sent on a stream that failed before reaching it) goes
 * again in full.
 */
static void open_stream(struct track *t, const struct input_state *is,
			int64_t now)
{
	struct timeline *tl = &t->tl;
	struct stream *st = &t->st;
	int64_t from = tl->fin, cap = opt.replay_ms * tl->bps / 1000;
	grpc_op ops[2];

	if (from < is->tail)
		from = is->tail;	/* lost to the buffer limit */
	if (t->heard - from > cap) {
		int64_t to = t->heard - cap;

		to -= to % tl->align;
		t->capped += (uint64_t)(to - from);
		log_warn("%sreplay capped at %lld s: %.3f s of audio not "
			 "transcribed", t->who, opt.replay_ms / 1000,
			 (double)(to - from) / (double)tl->bps);
		event_error(&t->out, "DATA_LOSS", "replay capped at %lld s: "
			    "audio from %.3f s to %.3f s not transcribed",
			    opt.replay_ms / 1000,
			    (double)from / (double)tl->bps,
			    (double)to / (double)tl->bps);
		from = to;
	}
	tl->fin = tl->base = tl->sent = tl->heard = from;
	input_release(&in, t->k, from);

	memset(st, 0, sizeof *st);
	grpc_metadata_array_init(&st->imd);
	grpc_metadata_array_init(&st->tmd);
	/*
	 * No deadline: a stream sends for at most --restart-after (or until
	 * a message is not taken for SEND_STALL_MS), then its results are
	 * awaited while they keep coming (step() bounds both).  A deadline
	 * fixed at the start would cut off a slow service still answering.
	 */
	st->call = grpc_channel_create_call(channel, NULL,
		GRPC_PROPAGATE_DEFAULTS, cq,
		grpc_slice_from_static_string(METHOD), NULL,
		gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	st->opened = now;
	t->idle_mark = -1;
	log_info("%sstream opened at %.3f s (%.3f s to replay)",
		 t->who,
		 (double)from / (double)tl->bps,
		 (double)(t->heard > from ? t->heard - from : 0) /
		 (double)tl->bps);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	st->sbuf = grpc_byte_buffer_copy(config_msg);
	ops[1].data.send_message.send_message = st->sbuf;
	start(t, TAG_START, ops, 2);
	st->send_busy = 1;
	st->send_since = now;

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &st->imd;
	start(t, TAG_MD, ops, 1);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_MESSAGE;
	ops[0].data.recv_message.recv_message = &st->rbuf;
	start(t, TAG_RECV, ops, 1);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &st->tmd;
	ops[0].data.recv_status_on_client.status = &st->code;
	ops[0].data.recv_status_on_client.status_details = &st->details;
	ops[0].data.recv_status_on_client.error_string = &st->error_string;
	start(t, TAG_STATUS, ops, 1);
}

static void send_audio(struct track *t, const struct input_state *is,
		       int64_t now)
{
	static uint8_t buf[MAX_REQUEST];	/* copied into sbuf at once */
	Google__Cloud__Speech__V1__StreamingRecognizeRequest rq =
		GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_REQUEST__INIT;
	struct timeline *tl = &t->tl;
	int64_t head = is->head - is->head % tl->align;
	int64_t avail = head - tl->sent, n = frame_bytes(tl);
	grpc_op op;

	if (n > MAX_REQUEST)
		n = MAX_REQUEST - MAX_REQUEST % tl->align;
	if (tl->sent < is->tail || avail <= 0 || (avail < n && !is->eof))
		return;
	if (avail < n)
		n = avail;
	if (input_copy(&in, t->k, tl->sent, buf, (size_t)n) != (size_t)n)
		return;
	rq.streaming_request_case = REQ(AUDIO_CONTENT);
	rq.audio_content.data = buf;
	rq.audio_content.len = (size_t)n;
	t->st.sbuf = pb_to_buffer(&rq.base);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = t->st.sbuf;
	start(t, TAG_SEND, &op, 1);
	t->st.send_busy = 1;
	t->st.send_since = now;
	tl->sent += n;
}

static void half_close(struct track *t, enum why why, int64_t now)
{
	if (t->st.closing)
		return;
	t->st.closing = 1;
	t->st.why = why;
	t->st.close_at = now;
	log_info("%sclosing stream at %.3f s: %s",
		 t->who,
		 (double)t->tl.sent / (double)t->tl.bps, why_name[why]);
}

static void on_complete(struct track *t, int tag, int ok)
{
	struct stream *st = &t->st;

	st->outstanding--;
	switch (tag) {
	case TAG_START:
	case TAG_SEND:
		grpc_byte_buffer_destroy(st->sbuf);
		st->sbuf = NULL;
		st->send_busy = 0;
		break;
	case TAG_RECV:
		if (ok && st->rbuf) {
			grpc_byte_buffer_reader r;
			grpc_slice s;
			grpc_op op;
			int f = RESP_BAD;

			if (grpc_byte_buffer_reader_init(&r, st->rbuf)) {
				s = grpc_byte_buffer_reader_readall(&r);
				grpc_byte_buffer_reader_destroy(&r);
				f = resp_handle(&t->out, &t->tl,
						GRPC_SLICE_START_PTR(s),
						GRPC_SLICE_LENGTH(s));
				grpc_slice_unref(s);
			}
			grpc_byte_buffer_destroy(st->rbuf);
			st->rbuf = NULL;
			st->progress = 1;
			st->last_resp = mono_ms();
			if (f & RESP_BAD)
				log_warn("cannot parse a response: ignored");
			if (f & RESP_FINAL)
				input_release(&in, t->k, t->tl.fin);
			if (f & RESP_EOSU)
				half_close(t, WHY_EOSU, mono_ms());
			memset(&op, 0, sizeof op);
			op.op = GRPC_OP_RECV_MESSAGE;
			op.data.recv_message.recv_message = &st->rbuf;
			start(t, TAG_RECV, &op, 1);
		}
		break;
	case TAG_STATUS:
		st->status_done = 1;
		break;
	}
}

static int retryable(grpc_status_code c)
{
	switch (c) {
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_INTERNAL:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
	case GRPC_STATUS_ABORTED:
	case GRPC_STATUS_UNKNOWN:
	case GRPC_STATUS_CANCELLED:
		return 1;
	default:
		return 0;
	}
}

/*
 * "Exceeded maximum allowed stream duration of 305 seconds.": the service
 * heard that much, and later streams restart before that limit.
 */
static void stream_limit(struct timeline *tl, const char *details)
{
	const char *p = strstr(details, "stream duration of ");
	long long lim;
	int64_t lim_end;
	char *end;

	if (!p)
		return;
	p += strlen("stream duration of ");
	errno = 0;
	lim = strtoll(p, &end, 10);
	if (errno || end == p || lim < 2 || lim > 86400)
		return;
	lim_end = tl->base + lim * tl->bps;
	if (lim_end < tl->sent && lim_end > tl->heard)
		tl->heard = lim_end;
	if (lim * 950 < opt.restart_ms) {
		opt.restart_ms = lim * 950;
		log_info("streams restart after %.1f s from now on",
			 (double)opt.restart_ms / 1000);
	}
}

/* Release what grpc filled in for the stream, and the call. */
static void stream_free(struct stream *st)
{
	grpc_slice_unref(st->details);
	gpr_free((void *)st->error_string);
	grpc_metadata_array_destroy(&st->imd);
	grpc_metadata_array_destroy(&st->tmd);
	grpc_call_unref(st->call);
	st->call = NULL;
}

/*
 * The stream is over and every batch is back: decide what comes next.
 * Returns an exit status, or -1 to go on.
 */
static int stream_end(struct track *t, int64_t now)
{
	struct stream *st = &t->st;
	struct timeline *tl = &t->tl;
	grpc_status_code code = st->code;
	char details[512];
	size_t n = GRPC_SLICE_LENGTH(st->details);
	const char *name = grpc_code_name(code);
	int progress = st->progress || now - st->opened >= HEALTHY_MS;
	enum why why = st->why;
	int cancelled = st->cancelled, gave_up = st->gave_up;

	if (n >= sizeof details)
		n = sizeof details - 1;
	memcpy(details, GRPC_SLICE_START_PTR(st->details), n);
	details[n] = '\0';
	log_info("%sstream ended: %s%s%s",
		 t->who,
		 name, n ? ": " : "", details);
	/* after a half-close, an OK status means all was heard */
	if (code == GRPC_STATUS_OK && st->close_started)
		tl->heard = tl->sent;
	stream_free(st);
	if (code == GRPC_STATUS_OUT_OF_RANGE)
		stream_limit(tl, details);
	if (tl->heard > t->heard)
		t->heard = tl->heard;
	if (out_failed)
		return 1;
	if (progress) {
		t->backoff_n = 0;
		if (t->outage_since >= 0)
			log_info("%sservice back", t->who);
		t->outage_since = -1;
	}
	if (code == GRPC_STATUS_OK ||
	    (cancelled && code == GRPC_STATUS_CANCELLED)) {
		if (cancelled && why == WHY_EOF) {
			char m[160];

			if (gave_up == 2)
				snprintf(m, sizeof m, "results still coming "
					 "%lld s after the end of input",
					 (long long)(now - st->close_at) /
					 1000);
			else
				snprintf(m, sizeof m, "no result within %lld "
					 "s at the end of input",
					 opt.eof_ms / 1000);
			log_error("%s%s", t->who, m);
			event_error(&t->out, "DEADLINE_EXCEEDED", "%s", m);
			return EXIT_GAVE_UP;
		}
		switch (why) {
		case WHY_EOF:
			t->eof_done = 1;
			break;
		case WHY_EOSU:
			return 0;
		case WHY_IDLE:
			t->idle_mark = tl->sent;
			break;
		case WHY_RESTART:
			t->retry_at = now;
			break;
		case WHY_NONE:
			t->retry_at = now + (progress ? 0 : backoff(t));
			break;
		}
		return -1;
	}
	if (code == GRPC_STATUS_OUT_OF_RANGE) {
		/* 305 s, or an audio timeout: go on where the finals end */
		log_info("%sstream limit: %s", t->who, details);
		t->retry_at = now + (progress ? 0 : backoff(t));
		return -1;
	}
	if (code == GRPC_STATUS_UNAUTHENTICATED ||
	    code == GRPC_STATUS_PERMISSION_DENIED) {
		log_error("%sservice refused the credentials: %s: %s", t->who,
			  name, details);
		event_error(&t->out, name, "%s", details);
		return EXIT_AUTH;
	}
	if (code == GRPC_STATUS_INVALID_ARGUMENT) {
		log_error("%sservice rejected the request: %s", t->who,
			  details);
		event_error(&t->out, name, "%s", details);
		return EXIT_INVALID;
	}
	if (retryable(code)) {
		if (t->outage_since < 0) {
			t->outage_since = now;
			log_warn("%sservice error: %s: %s; reconnecting",
				 t->who, name, details);
			event_error(&t->out, name, "%s; reconnecting, audio "
				    "buffered from %.3f s", details,
				    (double)tl->fin / (double)tl->bps);
		}
		t->retry_at = now + backoff(t);
		return -1;
	}
	log_error("%sservice error: %s: %s", t->who, name, details);
	event_error(&t->out, name, "%s", details);
	return 1;
}

static void report_dropped(struct track *t, uint64_t dropped)
{
	double s = (double)dropped / (double)t->tl.bps;

	log_warn("%sbuffer full: %.3f s of audio dropped so far", t->who,
		 s);
	event_error(&t->out, "DATA_LOSS", "buffer full: %.3f s of audio "
		    "dropped so far", s);
	t->dropped_seen = dropped;
}

static int give_up(struct track *t, const char *why)
{
	log_error("%sgiving up: %s", t->who, why);
	event_error(&t->out, "UNAVAILABLE", "giving up: %s", why);
	return EXIT_GAVE_UP;
}

/*
 * After a half-close the last results may take long (a service that
 * lags behind audio sent fast): wait while they keep coming, up to idle
 * between two, and at most twice the stream's audio and a minute more.
 */
static void check_close(struct track *t, int64_t now)
{
	struct stream *st = &t->st;
	int64_t idle = st->why == WHY_EOF ? opt.eof_ms : CLOSE_IDLE_MS;
	int64_t last = st->last_resp > st->close_at ? st->last_resp :
		       st->close_at;
	int64_t audio_ms = (t->tl.sent - t->tl.base) * 1000 / t->tl.bps;

	if (now - last >= idle)
		st->gave_up = 1;
	else if (now - st->close_at >= idle + CLOSE_MAX_MS + 2 * audio_ms)
		st->gave_up = 2;
	else
		return;
	log_warn("%sstream %s: cancelled",
		 t->who,
		 st->gave_up == 1 ? "not answering" : "answering too long");
	grpc_call_cancel(st->call, NULL);
	st->cancelled = 1;
}

/* One turn of a track after any completion; an exit status, or -1. */
static int step(struct track *t)
{
	struct input_state is;
	struct stream *st = &t->st;
	struct timeline *tl = &t->tl;
	int64_t now = mono_ms(), pending;

	input_get(&in, t->k, &is);
	if (is.eof && t->eof_since < 0)
		t->eof_since = now;
	/* at most one report in 5 s while a flood lasts; the rest at exit */
	if (is.dropped > t->dropped_seen && now - t->drop_report >= 5000) {
		report_dropped(t, is.dropped);
		t->drop_report = now;
	}
	if (out_failed)
		return 1;
	if (st->call) {
		if (st->status_done && st->outstanding == 0)
			return stream_end(t, now);
		if (!st->closing && !st->status_done) {
			int64_t sent_all = is.head - is.head % tl->align;

			if (!st->send_busy)
				send_audio(t, &is, now);
			if (is.eof && tl->sent >= sent_all)
				half_close(t, WHY_EOF, now);
			else if (tl->sent - tl->base >= opt.restart_ms *
				 tl->bps / 1000 ||
				 now - st->opened >= opt.restart_ms ||
				 tl->sent < is.tail ||
				 (is.full && !in.live && tl->sent >= sent_all))
				half_close(t, WHY_RESTART, now);
			else if (opt.idle_ms > 0 && !is.eof &&
				 tl->sent >= is.head &&
				 now - is.last_ms >= opt.idle_ms &&
				 now - st->opened >= opt.idle_ms)
				half_close(t, WHY_IDLE, now);
		}
		if (st->closing && !st->close_started && !st->send_busy &&
		    !st->status_done) {
			grpc_op op;

			memset(&op, 0, sizeof op);
			op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
			start(t, TAG_CLOSE, &op, 1);
			st->close_started = 1;
		}
		if (!st->cancelled && !st->status_done) {
			if (st->closing && !st->send_busy) {
				check_close(t, now);
			} else if (st->send_busy &&
				   now - st->send_since >= SEND_STALL_MS) {
				log_warn("%sstream not answering: "
					 "cancelled", t->who);
				grpc_call_cancel(st->call, NULL);
				st->cancelled = 1;
			}
		}
		return -1;
	}

	/* no stream: open one when there is audio no final covers */
	pending = is.head - (tl->fin > is.tail ? tl->fin : is.tail);
	if (is.eof && (t->eof_done || pending <= 0 ||
		       (t->idle_mark >= 0 && is.head <= t->idle_mark)))
		return in.error[0] ? (log_error("%s", in.error), 1) : 0;
	if (is.eof && t->outage_since >= 0 &&
	    now - t->eof_since >= opt.eof_ms)
		return give_up(t, "service unavailable at the end of input");
	if (opt.giveup_ms > 0 && t->outage_since >= 0 &&
	    now - t->outage_since >= opt.giveup_ms)
		return give_up(t, "service unavailable too long");
	if (pending <= 0 || now < t->retry_at ||
	    (t->idle_mark >= 0 && is.head <= t->idle_mark))
		return -1;
	open_stream(t, &is, now);
	return -1;
}

/*
 * The labels of a recording from its file name (the first file's):
 * a Twilio call SID (CA and 32 hex digits) or stream SID (MZ...) found
 * in it, else the name without its directory and last extension.
 */
static const char *sid_in(const char *name, const char *prefix)
{
	static char found[2][35];
	char *f = found[prefix[0] == 'M'];
	const char *p;
	size_t i;

	for (p = name; (p = strstr(p, prefix)) != NULL; p++) {
		for (i = 2; i < 34; i++)
			if (!strchr("0123456789abcdefABCDEF", p[i]) ||
			    p[i] == '\0')
				break;
		if (i == 34) {
			memcpy(f, p, 34);
			f[34] = '\0';
			return f;
		}
	}
	return NULL;
}

static const char *file_stem(const char *path)
{
	static char stem[256];
	const char *base = strrchr(path, '/');
	char *dot;

	base = base ? base + 1 : path;
	snprintf(stem, sizeof stem, "%s", base);
	dot = strrchr(stem, '.');
	if (dot && dot != stem)
		*dot = '\0';
	return stem;
}

/*
 * Which tracks, named how, and whether the output is framed as a call
 * (call.start, call.stop); returns the framing.
 */
static int setup_tracks(int files, const char *first)
{
	static const char *const twilio[] = { "inbound", "outbound" };
	const char *names[MAX_TRACKS];
	const char *call = opt.call_sid ? opt.call_sid :
			   env("TAPLINE_CALL_SID");
	const char *stream = opt.stream_sid ? opt.stream_sid :
			     env("TAPLINE_STREAM_SID");
	const char *track = opt.track ? opt.track : env("TAPLINE_TRACK");
	int i, n = 0, framed;

	if (opt.nnames > 0 && !files)
		cli_usage_error("--channel-tracks needs files");
	if (opt.nnames > 0 && opt.nnames != in.channels) {
		log_error("cannot read '%s': %d channel%s, where "
			  "--channel-tracks names %d", first, in.channels,
			  in.channels == 1 ? "" : "s", opt.nnames);
		exit(1);
	}
	if (opt.nnames > 0) {
		n = opt.nnames;
		for (i = 0; i < n; i++)
			names[i] = opt.names[i];
	} else if (files && in.channels == 2 && !opt.mix) {
		n = 2;
		for (i = 0; i < n; i++)
			names[i] = twilio[i];
	}
	if (n > 0 && opt.track)
		cli_usage_error("--track labels the audio of stdin or a mix: "
				"use --channel-tracks");
	/* under mulaw-split, it frames the call: never twice */
	framed = n > 0 && !env("TAPLINE_CALL_SID") &&
		 !env("TAPLINE_STREAM_SID");
	if (framed) {
		const char *stem = file_stem(first);

		if (!call)
			call = sid_in(stem, "CA");
		if (!stream)
			stream = sid_in(stem, "MZ");
		/* copies: sid_in and file_stem reuse their buffers */
		call = strdup(call ? call : stem);
		stream = strdup(stream ? stream : stem);
		if (!call || !stream)
			die(1, "out of memory");
	}
	ntracks = n > 0 ? n : 1;
	for (i = 0; i < ntracks; i++) {
		struct track *t = &tracks[i];

		t->k = i;
		t->idle_mark = t->outage_since = t->eof_since = -1;
		t->drop_report = -5000;
		t->tl.bps = in.bps;
		t->tl.align = in.align;
		t->out.call_sid = call;
		t->out.stream_sid = stream;
		t->out.track = n > 0 ? names[i] : track;
		t->out.words = opt.words;
		t->out.alternatives = opt.alternatives;
		t->out.languages = opt.nalt > 0;
		t->out.write_line = write_stdout;
		if (n > 1)
			snprintf(t->who, sizeof t->who, "%s: ", names[i]);
	}
	return framed;
}

/* Cancel every open stream and wait for all its batches. */
static void cancel_all(void)
{
	int i, left;

	for (i = 0; i < ntracks; i++)
		if (tracks[i].st.call && !tracks[i].st.status_done)
			grpc_call_cancel(tracks[i].st.call, NULL);
	for (;;) {
		grpc_event ev;

		for (left = 0, i = 0; i < ntracks; i++)
			left += tracks[i].st.call ?
				tracks[i].st.outstanding : 0;
		if (left == 0)
			break;
		ev = grpc_completion_queue_next(cq,
			gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_OP_COMPLETE) {
			intptr_t tag = (intptr_t)ev.tag;

			on_complete(&tracks[tag >> TAG_BITS],
				    (int)(tag & ((1 << TAG_BITS) - 1)), 0);
		}
	}
	for (i = 0; i < ntracks; i++)
		if (tracks[i].st.call)
			stream_free(&tracks[i].st);
}

int main(int argc, char **argv)
{
	const char *names[MAX_TRACKS];
	struct sigaction sa;
	int rc = 0, stopping = 0, framed, i;
	int64_t stop_ms = 0;

	log_init(argv[0]);
	parse_options(argc, argv);

	if (optind < argc) {
		if (input_files(&in, argv + optind, argc - optind, opt.mulaw,
				opt.rate) < 0)
			return 1;
	} else {
		input_raw(&in, 0, opt.mulaw, opt.rate);
	}
	framed = setup_tracks(optind < argc, argv[optind < argc ? optind :
						   0]);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)mono_us() ^ (unsigned)getpid());

	grpc_init();
	rc = make_channel();
	if (rc != 0) {
		grpc_shutdown();
		return rc;
	}
	build_config();
	cq = grpc_completion_queue_create_for_next(NULL);
	if (input_start(&in, ntracks, (double)opt.buffer_ms / 1000,
			opt.realtime) < 0)
		exit(1);
	for (i = 0; i < ntracks; i++)
		names[i] = tracks[i].out.track;
	if (framed)
		event_call_start(&tracks[0].out, names, ntracks);

	for (;;) {
		gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				gpr_time_from_millis(20, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(cq, dl, NULL);
		int running = 0;

		if (ev.type == GRPC_OP_COMPLETE) {
			intptr_t tag = (intptr_t)ev.tag;

			on_complete(&tracks[tag >> TAG_BITS],
				    (int)(tag & ((1 << TAG_BITS) - 1)),
				    ev.success);
		}
		if (signalled && !stopping) {
			stopping = signalled;
			stop_ms = mono_ms();
			log_info("signal: finishing");
			input_stop(&in);
		} else if (stopping && signalled > stopping) {
			/*
			 * One signal can come twice at once: timeout(1), for
			 * one, sends it to the child and to its group.
			 */
			if (mono_ms() - stop_ms >= SECOND_SIGNAL_MS) {
				rc = 1;
				break;
			}
			stopping = signalled;
		}
		for (i = 0; i < ntracks; i++) {
			struct track *t = &tracks[i];

			if (t->done)
				continue;
			t->rc = step(t);
			if (t->rc >= 0)
				t->done = 1;
			else
				running++;
		}
		if (out_failed) {
			rc = 1;
			break;
		}
		if (!running)
			break;
	}

	/* streams left open (an early exit) are cancelled and drained */
	cancel_all();
	for (i = 0; i < ntracks; i++) {
		struct track *t = &tracks[i];
		struct input_state last;

		if (rc == 0 && t->done && t->rc > 0)
			rc = t->rc;	/* the first track that failed */
		input_get(&in, i, &last);	/* the reader may still run */
		if (last.dropped > t->dropped_seen)
			report_dropped(t, last.dropped);
		if (t->capped > 0 || t->dropped_seen > 0)
			log_warn("%saudio not transcribed: %.3f s over "
				 "the replay cap, %.3f s over the buffer",
				 t->who,
				 (double)t->capped / (double)t->tl.bps,
				 (double)t->dropped_seen / (double)t->tl.bps);
		log_info("%s%llu final and %llu interim results",
			 t->who, t->tl.finals,
			 t->tl.interims);
	}
	/* after the last transcript of every track (DESIGN.md) */
	if (framed && !out_failed)
		event_call_stop(&tracks[0].out, "eof");
	grpc_byte_buffer_destroy(config_msg);
	for (size_t j = 0; j < nmd; j++)
		grpc_slice_unref(md[j].value);
	grpc_channel_destroy(channel);
	cq_destroy_drained(cq);
	grpc_shutdown();
	return rc;
}
