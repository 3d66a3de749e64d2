/*
 * gstt-stream: transcribe audio of any length with Google Speech-to-Text
 * v1 StreamingRecognize, writing events NDJSON.
 *
 * The main thread owns every grpc object: one completion queue, one
 * stream at a time, one message in flight each way.  Google ends a stream
 * at 305 s, after some errors, and after a silence; each time, the next
 * stream starts at the end of the last final result and replays the audio
 * after it, so the timeline runs on exactly, byte for byte (see the
 * DESCRIPTION of gstt-stream(1)).
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
#define CLOSE_TIMEOUT_MS 10000	/* for the last results of a restart */
#define SEND_STALL_MS 30000	/* a message not taken: the link is dead */
#define HEALTHY_MS 10000	/* a stream this old ends an outage */

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
"labels:\n"
"      --call-sid SID, --stream-sid SID, --track NAME\n"
"streams:\n"
"      --restart-after SEC restart streams after this much audio (290)\n"
"      --max-replay SEC    replay at most this much on a restart (60)\n"
"      --buffer SEC        audio held while the service is away (300)\n"
"      --idle-close SEC    close a stream when input stalls this long (8)\n"
"      --give-up SEC       exit 5 after failing this long (0: never)\n"
"      --eof-timeout SEC   wait this long for results at the end (30)\n"
"  -v, --verbose           more messages\n"
"  -q, --quiet             errors only\n"
"  -h, --help, -V, --version\n";

enum {
	O_REALTIME = 256, O_ALT, O_ENHANCED, O_INTERIM, O_NO_INTERIM,
	O_PUNCT, O_NO_PUNCT, O_WORDS, O_PHRASE, O_PHRASES, O_BOOST,
	O_PROFANITY, O_ALTS, O_SINGLE, O_ENDPOINT, O_INSECURE, O_TLS, O_ADC,
	O_CALL, O_STREAM, O_TRACK, O_RESTART, O_REPLAY, O_BUFFER, O_IDLE,
	O_GIVEUP, O_EOFTMO
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

enum { TAG_START = 1, TAG_MD, TAG_RECV, TAG_SEND, TAG_CLOSE, TAG_STATUS };

/* The stream now open, if any. */
static struct {
	grpc_call *call;
	int outstanding;	/* batches started, not completed */
	int send_busy, closing, close_started, status_done, cancelled;
	enum why why;
	grpc_byte_buffer *sbuf, *rbuf;
	grpc_metadata_array imd, tmd;
	grpc_status_code code;
	grpc_slice details;
	const char *error_string;
	int64_t opened, send_since, close_at;
	int progress;		/* got a response */
} st;

static grpc_completion_queue *cq;
static grpc_channel *channel;
static grpc_metadata md[3];
static size_t nmd;
static struct input in;
static struct timeline tl;
static struct out out;
static grpc_byte_buffer *config_msg;

static int64_t retry_at, idle_mark = -1, outage_since = -1, eof_since = -1;
static int64_t heard;	/* the service heard everything before this */
static int backoff_n, eof_done, out_failed;
static uint64_t dropped_seen, capped;
static int64_t drop_report = -5000;
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
		case O_CALL: out.call_sid = optarg; break;
		case O_STREAM: out.stream_sid = optarg; break;
		case O_TRACK: out.track = optarg; break;
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
			fprintf(stderr, "Try '%s --help' for more "
				"information.\n", log_prog);
			exit(EXIT_USAGE);
		}
	}
	if (opt.replay_ms * 2 > opt.buffer_ms)
		cli_usage_error("--max-replay must be at most half of "
				"--buffer");
	if (opt.language[0] == '\0')
		cli_usage_error("--language must not be empty");
	if (opt.boost > 0 && opt.nphrases == 0)
		cli_usage_error("--boost needs --phrase or --phrases");
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

static void start(int tag, grpc_op *ops, size_t n)
{
	grpc_call_error e = grpc_call_start_batch(st.call, ops, n,
						  (void *)(intptr_t)tag, NULL);

	if (e != GRPC_CALL_OK)
		die(1, "internal error: grpc batch %d refused (%d)", tag, e);
	st.outstanding++;
}

static int64_t backoff(void)
{
	int64_t d = 100LL << (backoff_n < 7 ? backoff_n : 7);

	if (d > 10000)
		d = 10000;
	backoff_n++;
	return d / 2 + (int64_t)(random() % (d / 2 + 1));
}

static int64_t frame_bytes(void)
{
	int64_t f = tl.bps / 10;

	return f - f % tl.align;
}

/*
 * Open a stream at the end of the last final result, so it replays what
 * no final covered yet.  The replay of audio the service heard is capped:
 * with no final in a whole stream it would otherwise never shrink.  What
 * it did not hear (sent on a stream that failed before reaching it) goes
 * again in full.
 */
static void open_stream(const struct input_state *is, int64_t now)
{
	int64_t from = tl.fin, cap = opt.replay_ms * tl.bps / 1000;
	grpc_op ops[2];
	gpr_timespec dl;

	if (from < is->tail)
		from = is->tail;	/* lost to the buffer limit */
	if (heard - from > cap) {
		int64_t to = heard - cap;

		to -= to % tl.align;
		capped += (uint64_t)(to - from);
		log_warn("replay capped at %lld s: %.3f s of audio not "
			 "transcribed", opt.replay_ms / 1000,
			 (double)(to - from) / (double)tl.bps);
		event_error(&out, "DATA_LOSS", "replay capped at %lld s: "
			    "audio from %.3f s to %.3f s not transcribed",
			    opt.replay_ms / 1000,
			    (double)from / (double)tl.bps,
			    (double)to / (double)tl.bps);
		from = to;
	}
	tl.fin = tl.base = tl.sent = tl.heard = from;
	input_release(&in, from);

	memset(&st, 0, sizeof st);
	grpc_metadata_array_init(&st.imd);
	grpc_metadata_array_init(&st.tmd);
	dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			  gpr_time_from_millis(opt.restart_ms + 120000,
					       GPR_TIMESPAN));
	st.call = grpc_channel_create_call(channel, NULL,
		GRPC_PROPAGATE_DEFAULTS, cq,
		grpc_slice_from_static_string(METHOD), NULL, dl, NULL);
	st.opened = now;
	idle_mark = -1;
	log_info("stream opened at %.3f s (%.3f s to replay)",
		 (double)from / (double)tl.bps,
		 (double)(heard > from ? heard - from : 0) /
		 (double)tl.bps);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	st.sbuf = grpc_byte_buffer_copy(config_msg);
	ops[1].data.send_message.send_message = st.sbuf;
	start(TAG_START, ops, 2);
	st.send_busy = 1;
	st.send_since = now;

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &st.imd;
	start(TAG_MD, ops, 1);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_MESSAGE;
	ops[0].data.recv_message.recv_message = &st.rbuf;
	start(TAG_RECV, ops, 1);

	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &st.tmd;
	ops[0].data.recv_status_on_client.status = &st.code;
	ops[0].data.recv_status_on_client.status_details = &st.details;
	ops[0].data.recv_status_on_client.error_string = &st.error_string;
	start(TAG_STATUS, ops, 1);
}

static void send_audio(const struct input_state *is, int64_t now)
{
	static uint8_t buf[MAX_REQUEST];
	Google__Cloud__Speech__V1__StreamingRecognizeRequest rq =
		GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_REQUEST__INIT;
	int64_t head = is->head - is->head % tl.align;
	int64_t avail = head - tl.sent, n = frame_bytes();
	grpc_op op;

	if (n > MAX_REQUEST)
		n = MAX_REQUEST - MAX_REQUEST % tl.align;
	if (tl.sent < is->tail || avail <= 0 || (avail < n && !is->eof))
		return;
	if (avail < n)
		n = avail;
	if (input_copy(&in, tl.sent, buf, (size_t)n) != (size_t)n)
		return;
	rq.streaming_request_case = REQ(AUDIO_CONTENT);
	rq.audio_content.data = buf;
	rq.audio_content.len = (size_t)n;
	st.sbuf = pb_to_buffer(&rq.base);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = st.sbuf;
	start(TAG_SEND, &op, 1);
	st.send_busy = 1;
	st.send_since = now;
	tl.sent += n;
}

static void half_close(enum why why, int64_t now)
{
	if (st.closing)
		return;
	st.closing = 1;
	st.why = why;
	st.close_at = now;
	log_info("closing stream at %.3f s: %s",
		 (double)tl.sent / (double)tl.bps, why_name[why]);
}

static void on_complete(int tag, int ok)
{
	st.outstanding--;
	switch (tag) {
	case TAG_START:
	case TAG_SEND:
		grpc_byte_buffer_destroy(st.sbuf);
		st.sbuf = NULL;
		st.send_busy = 0;
		break;
	case TAG_RECV:
		if (ok && st.rbuf) {
			grpc_byte_buffer_reader r;
			grpc_slice s;
			grpc_op op;
			int f = RESP_BAD;

			if (grpc_byte_buffer_reader_init(&r, st.rbuf)) {
				s = grpc_byte_buffer_reader_readall(&r);
				grpc_byte_buffer_reader_destroy(&r);
				f = resp_handle(&out, &tl,
						GRPC_SLICE_START_PTR(s),
						GRPC_SLICE_LENGTH(s));
				grpc_slice_unref(s);
			}
			grpc_byte_buffer_destroy(st.rbuf);
			st.rbuf = NULL;
			st.progress = 1;
			if (f & RESP_BAD)
				log_warn("cannot parse a response: ignored");
			if (f & RESP_FINAL)
				input_release(&in, tl.fin);
			if (f & RESP_EOSU)
				half_close(WHY_EOSU, mono_ms());
			memset(&op, 0, sizeof op);
			op.op = GRPC_OP_RECV_MESSAGE;
			op.data.recv_message.recv_message = &st.rbuf;
			start(TAG_RECV, &op, 1);
		}
		break;
	case TAG_STATUS:
		st.status_done = 1;
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
static void stream_limit(const char *details)
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
	lim_end = tl.base + lim * tl.bps;
	if (lim_end < tl.sent && lim_end > tl.heard)
		tl.heard = lim_end;
	if (lim * 950 < opt.restart_ms) {
		opt.restart_ms = lim * 950;
		log_info("streams restart after %.1f s from now on",
			 (double)opt.restart_ms / 1000);
	}
}

/*
 * The stream is over and every batch is back: decide what comes next.
 * Returns an exit status, or -1 to go on.
 */
static int stream_end(int64_t now)
{
	grpc_status_code code = st.code;
	char details[512];
	size_t n = GRPC_SLICE_LENGTH(st.details);
	const char *name = grpc_code_name(code);
	int progress = st.progress || now - st.opened >= HEALTHY_MS;
	enum why why = st.why;
	int cancelled = st.cancelled;

	if (n >= sizeof details)
		n = sizeof details - 1;
	memcpy(details, GRPC_SLICE_START_PTR(st.details), n);
	details[n] = '\0';
	grpc_slice_unref(st.details);
	gpr_free((void *)st.error_string);
	grpc_metadata_array_destroy(&st.imd);
	grpc_metadata_array_destroy(&st.tmd);
	grpc_call_unref(st.call);
	st.call = NULL;
	log_info("stream ended: %s%s%s", name, n ? ": " : "", details);
	/* after a half-close, an OK status means all was heard */
	if (code == GRPC_STATUS_OK && st.close_started)
		tl.heard = tl.sent;
	if (code == GRPC_STATUS_OUT_OF_RANGE)
		stream_limit(details);
	if (tl.heard > heard)
		heard = tl.heard;
	if (out_failed)
		return 1;
	if (progress) {
		backoff_n = 0;
		if (outage_since >= 0)
			log_info("service back");
		outage_since = -1;
	}
	if (code == GRPC_STATUS_OK ||
	    (cancelled && code == GRPC_STATUS_CANCELLED)) {
		if (cancelled && why == WHY_EOF) {
			log_error("no end of results within %lld s after the "
				  "end of input", opt.eof_ms / 1000);
			event_error(&out, "DEADLINE_EXCEEDED", "no end of "
				    "results within %lld s after the end of "
				    "input", opt.eof_ms / 1000);
			return EXIT_GAVE_UP;
		}
		switch (why) {
		case WHY_EOF:
			eof_done = 1;
			break;
		case WHY_EOSU:
			return 0;
		case WHY_IDLE:
			idle_mark = tl.sent;
			break;
		case WHY_RESTART:
			retry_at = now;
			break;
		case WHY_NONE:
			retry_at = now + (progress ? 0 : backoff());
			break;
		}
		return -1;
	}
	if (code == GRPC_STATUS_OUT_OF_RANGE) {
		/* 305 s, or an audio timeout: go on where the finals end */
		log_info("stream limit: %s", details);
		retry_at = now + (progress ? 0 : backoff());
		return -1;
	}
	if (code == GRPC_STATUS_UNAUTHENTICATED ||
	    code == GRPC_STATUS_PERMISSION_DENIED) {
		log_error("service refused the credentials: %s: %s", name,
			  details);
		event_error(&out, name, "%s", details);
		return EXIT_AUTH;
	}
	if (code == GRPC_STATUS_INVALID_ARGUMENT) {
		log_error("service rejected the request: %s", details);
		event_error(&out, name, "%s", details);
		return EXIT_INVALID;
	}
	if (retryable(code)) {
		if (outage_since < 0) {
			outage_since = now;
			log_warn("service error: %s: %s; reconnecting", name,
				 details);
			event_error(&out, name, "%s; reconnecting, audio "
				    "buffered from %.3f s", details,
				    (double)tl.fin / (double)tl.bps);
		}
		retry_at = now + backoff();
		return -1;
	}
	log_error("service error: %s: %s", name, details);
	event_error(&out, name, "%s", details);
	return 1;
}

static void report_dropped(uint64_t dropped)
{
	log_warn("buffer full: %.3f s of audio dropped so far",
		 (double)dropped / (double)tl.bps);
	event_error(&out, "DATA_LOSS", "buffer full: %.3f s of audio "
		    "dropped so far", (double)dropped / (double)tl.bps);
	dropped_seen = dropped;
}

static int give_up(const char *why)
{
	log_error("giving up: %s", why);
	event_error(&out, "UNAVAILABLE", "giving up: %s", why);
	return EXIT_GAVE_UP;
}

/* One turn of the loop after any completion; an exit status, or -1. */
static int step(void)
{
	struct input_state is;
	int64_t now = mono_ms(), pending;

	input_get(&in, &is);
	if (is.eof && eof_since < 0)
		eof_since = now;
	/* at most one report in 5 s while a flood lasts; the rest at exit */
	if (is.dropped > dropped_seen && now - drop_report >= 5000) {
		report_dropped(is.dropped);
		drop_report = now;
	}
	if (out_failed)
		return 1;
	if (st.call) {
		if (st.status_done && st.outstanding == 0)
			return stream_end(now);
		if (!st.closing && !st.status_done) {
			int64_t sent_all = is.head - is.head % tl.align;

			if (!st.send_busy)
				send_audio(&is, now);
			if (is.eof && tl.sent >= sent_all)
				half_close(WHY_EOF, now);
			else if (tl.sent - tl.base >= opt.restart_ms *
				 tl.bps / 1000 ||
				 now - st.opened >= opt.restart_ms ||
				 tl.sent < is.tail ||
				 (is.full && !in.live && tl.sent >= sent_all))
				half_close(WHY_RESTART, now);
			else if (opt.idle_ms > 0 && !is.eof &&
				 tl.sent >= is.head &&
				 now - is.last_ms >= opt.idle_ms &&
				 now - st.opened >= opt.idle_ms)
				half_close(WHY_IDLE, now);
		}
		if (st.closing && !st.close_started && !st.send_busy &&
		    !st.status_done) {
			grpc_op op;

			memset(&op, 0, sizeof op);
			op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
			start(TAG_CLOSE, &op, 1);
			st.close_started = 1;
		}
		if (!st.cancelled && !st.status_done &&
		    ((st.closing && now - st.close_at >=
		      (st.why == WHY_EOF ? opt.eof_ms : CLOSE_TIMEOUT_MS)) ||
		     (st.send_busy && now - st.send_since >= SEND_STALL_MS))) {
			log_warn("stream not answering: cancelled");
			grpc_call_cancel(st.call, NULL);
			st.cancelled = 1;
		}
		return -1;
	}

	/* no stream: open one when there is audio no final covers */
	pending = is.head - (tl.fin > is.tail ? tl.fin : is.tail);
	if (is.eof && (eof_done || pending <= 0 ||
		       (idle_mark >= 0 && is.head <= idle_mark)))
		return in.error[0] ? (log_error("%s", in.error), 1) : 0;
	if (is.eof && outage_since >= 0 && now - eof_since >= opt.eof_ms)
		return give_up("service unavailable at the end of input");
	if (opt.giveup_ms > 0 && outage_since >= 0 &&
	    now - outage_since >= opt.giveup_ms)
		return give_up("service unavailable too long");
	if (pending <= 0 || now < retry_at ||
	    (idle_mark >= 0 && is.head <= idle_mark))
		return -1;
	open_stream(&is, now);
	return -1;
}

int main(int argc, char **argv)
{
	struct input_state last;
	struct sigaction sa;
	int rc, stopping = 0;

	log_init(argv[0]);
	out.call_sid = env("TAPLINE_CALL_SID");
	out.stream_sid = env("TAPLINE_STREAM_SID");
	out.track = env("TAPLINE_TRACK");
	parse_options(argc, argv);
	out.words = opt.words;
	out.alternatives = opt.alternatives;
	out.languages = opt.nalt > 0;
	out.write_line = write_stdout;

	if (optind < argc) {
		if (input_files(&in, argv + optind, argc - optind, opt.mulaw,
				opt.rate) < 0)
			return 1;
	} else {
		input_raw(&in, 0, opt.mulaw, opt.rate);
	}
	tl.bps = in.bps;
	tl.align = in.align;

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
	if (input_start(&in, (double)opt.buffer_ms / 1000, opt.realtime) < 0)
		die(1, "cannot start reading: %s", strerror(errno));

	for (;;) {
		gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				gpr_time_from_millis(20, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(cq, dl, NULL);

		if (ev.type == GRPC_OP_COMPLETE)
			on_complete((int)(intptr_t)ev.tag, ev.success);
		if (signalled && !stopping) {
			stopping = 1;
			log_info("signal: finishing");
			input_stop(&in);
		} else if (signalled > 1) {
			rc = 1;
			break;
		}
		rc = step();
		if (rc >= 0)
			break;
	}

	/* a stream left open (an early exit) is cancelled and drained */
	if (st.call) {
		grpc_call_cancel(st.call, NULL);
		while (st.outstanding > 0) {
			grpc_event ev = grpc_completion_queue_next(cq,
				gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);

			if (ev.type == GRPC_OP_COMPLETE)
				on_complete((int)(intptr_t)ev.tag, ev.success);
		}
		grpc_slice_unref(st.details);
		gpr_free((void *)st.error_string);
		grpc_metadata_array_destroy(&st.imd);
		grpc_metadata_array_destroy(&st.tmd);
		grpc_call_unref(st.call);
	}
	input_get(&in, &last);		/* the reader may still run */
	if (last.dropped > dropped_seen)
		report_dropped(last.dropped);
	if (capped > 0 || dropped_seen > 0)
		log_warn("audio not transcribed: %.3f s over the replay cap, "
			 "%.3f s over the buffer",
			 (double)capped / (double)tl.bps,
			 (double)dropped_seen / (double)tl.bps);
	log_info("%llu final and %llu interim results",
		 tl.finals, tl.interims);
	grpc_byte_buffer_destroy(config_msg);
	for (size_t i = 0; i < nmd; i++)
		grpc_slice_unref(md[i].value);
	grpc_channel_destroy(channel);
	cq_destroy_drained(cq);
	grpc_shutdown();
	return rc;
}
