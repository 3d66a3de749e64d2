/*
 * Validation of StreamingRecognize and Recognize requests, with the
 * status codes Google gives.  No state: the fuzzer calls these directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gstt-serve.h"

#define STREAM_REQ \
	google__cloud__speech__v1__streaming_recognize_request__descriptor
#define UNARY_REQ google__cloud__speech__v1__recognize_request__descriptor

/* Model names of the v1 API; this server has one model for all. */
static const char *const models[] = {
	"", "default", "latest_long", "latest_short", "command_and_search",
	"phone_call", "video", "telephony", "telephony_short",
	"medical_conversation", "medical_dictation",
};

static const char *encoding_name(int e)
{
	static const char *const names[] = {
		"ENCODING_UNSPECIFIED", "LINEAR16", "FLAC", "MULAW", "AMR",
		"AMR_WB", "OGG_OPUS", "SPEEX_WITH_HEADER_BYTE", "MP3",
		"WEBM_OPUS",
	};

	if (e >= 0 && (size_t)e < sizeof names / sizeof *names)
		return names[e];
	return "unknown";
}

/* "en", "en-US", "EN-gb": English is all the model knows. */
static int english(const char *lang)
{
	return strncasecmp(lang, "en", 2) == 0 &&
	       (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_');
}

static grpc_status_code bad(char *msg, size_t msgsz, const char *what)
{
	snprintf(msg, msgsz, "Invalid recognition 'config': %s", what);
	return GRPC_STATUS_INVALID_ARGUMENT;
}

/* Characters, not bytes, as Google counts them: UTF-8 lead bytes. */
static size_t chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Google's limits on speech_contexts: phrases, and their lengths. */
static grpc_status_code check_phrases(const SpConf *c, char *msg,
				      size_t msgsz)
{
	char why[160];
	size_t i, j, n = 0, total = 0;

	for (i = 0; i < c->n_speech_contexts; i++) {
		const Google__Cloud__Speech__V1__SpeechContext *sc;

		sc = c->speech_contexts[i];
		n += sc->n_phrases;
		if (n > MAX_PHRASES) {
			snprintf(why, sizeof why, "speech_contexts may hold "
				 "at most %d phrases.", MAX_PHRASES);
			return bad(msg, msgsz, why);
		}
		for (j = 0; j < sc->n_phrases; j++) {
			size_t k = sc->phrases[j] ? chars(sc->phrases[j]) : 0;

			if (k > MAX_PHRASE_CHARS) {
				snprintf(why, sizeof why, "speech_contexts"
					 "[%zu].phrases[%zu] is %zu characters"
					 " long, the limit is %d.", i, j, k,
					 MAX_PHRASE_CHARS);
				return bad(msg, msgsz, why);
			}
			total += k;
		}
	}
	if (total > MAX_PHRASES_CHARS) {
		snprintf(why, sizeof why, "the phrases of speech_contexts "
			 "hold %zu characters, the limit is %d.", total,
			 MAX_PHRASES_CHARS);
		return bad(msg, msgsz, why);
	}
	return GRPC_STATUS_OK;
}

grpc_status_code req_check_config(const SpConf *c, struct sconf *out,
				  char *msg, size_t msgsz)
{
	char why[160];
	size_t i;

	if (!c)
		return bad(msg, msgsz, "'config' is required.");
	if ((int)c->encoding != ENCODING_MULAW &&
	    (int)c->encoding != ENCODING_LINEAR16) {
		snprintf(why, sizeof why, "encoding %s (%d) is not supported, "
			 "use MULAW or LINEAR16.", encoding_name(c->encoding),
			 (int)c->encoding);
		return bad(msg, msgsz, why);
	}
	if (c->sample_rate_hertz != 8000 && c->sample_rate_hertz != 16000) {
		snprintf(why, sizeof why, "sample_rate_hertz %d is not "
			 "supported, use 8000 or 16000.",
			 (int)c->sample_rate_hertz);
		return bad(msg, msgsz, why);
	}
	if (c->audio_channel_count > 1) {
		snprintf(why, sizeof why, "audio_channel_count %d is not "
			 "supported, audio must be mono.",
			 (int)c->audio_channel_count);
		return bad(msg, msgsz, why);
	}
	if (c->audio_channel_count < 0)
		return bad(msg, msgsz, "audio_channel_count must not be "
			   "negative.");
	if (!c->language_code || !*c->language_code)
		return bad(msg, msgsz, "language_code is required.");
	if (strlen(c->language_code) >= sizeof out->lang ||
	    !english(c->language_code)) {
		snprintf(why, sizeof why, "language_code '%.40s' is not "
			 "supported, this server recognizes English (en-*).",
			 c->language_code);
		return bad(msg, msgsz, why);
	}
	if (c->max_alternatives < 0 || c->max_alternatives > 30)
		return bad(msg, msgsz, "max_alternatives must be between 0 "
			   "and 30.");
	for (i = 0; i < sizeof models / sizeof *models; i++)
		if (c->model && strcmp(c->model, models[i]) == 0)
			break;
	if (c->model && i == sizeof models / sizeof *models) {
		snprintf(why, sizeof why, "model '%.40s' does not exist.",
			 c->model);
		return bad(msg, msgsz, why);
	}
	if (check_phrases(c, msg, msgsz) != GRPC_STATUS_OK)
		return GRPC_STATUS_INVALID_ARGUMENT;
	memset(out, 0, sizeof *out);
	out->encoding = c->encoding;
	out->rate = c->sample_rate_hertz;
	out->word_times = c->enable_word_time_offsets;
	out->word_conf = c->enable_word_confidence;
	memcpy(out->lang, c->language_code, strlen(c->language_code) + 1);
	return GRPC_STATUS_OK;
}

grpc_status_code req_check_stream(const SpStreamReq *r, int first,
				  struct sconf *out, char *msg, size_t msgsz)
{
	const SpStreamConf *sc;
	grpc_status_code code;

	if (!r) {
		snprintf(msg, msgsz, "Invalid request: the message is not a "
			 "StreamingRecognizeRequest.");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (first) {
		if ((int)r->streaming_request_case != REQ_CONFIG) {
			snprintf(msg, msgsz, "Invalid request: the first "
				 "message must carry 'streaming_config' and "
				 "no audio.");
			return GRPC_STATUS_INVALID_ARGUMENT;
		}
		sc = r->streaming_config;
		code = req_check_config(sc->config, out, msg, msgsz);
		if (code != GRPC_STATUS_OK)
			return code;
		if (sc->voice_activity_timeout &&
		    !sc->enable_voice_activity_events) {
			snprintf(msg, msgsz, "Invalid request: "
				 "'voice_activity_timeout' requires "
				 "'enable_voice_activity_events'.");
			return GRPC_STATUS_INVALID_ARGUMENT;
		}
		if (sc->voice_activity_timeout) {
			const Google__Protobuf__Duration *a, *b;

			a = sc->voice_activity_timeout->speech_start_timeout;
			b = sc->voice_activity_timeout->speech_end_timeout;
			if ((a && (a->seconds < 0 || a->nanos < 0 ||
				   a->seconds > 3600)) ||
			    (b && (b->seconds < 0 || b->nanos < 0 ||
				   b->seconds > 3600))) {
				snprintf(msg, msgsz, "Invalid request: "
					 "'voice_activity_timeout' must be "
					 "between 0 and 3600 seconds.");
				return GRPC_STATUS_INVALID_ARGUMENT;
			}
			out->start_timeout_us = a ? a->seconds * 1000000 +
						a->nanos / 1000 : 0;
			out->end_timeout_us = b ? b->seconds * 1000000 +
					      b->nanos / 1000 : 0;
		}
		out->interim = sc->interim_results;
		out->single = sc->single_utterance;
		out->vad_events = sc->enable_voice_activity_events;
		return GRPC_STATUS_OK;
	}
	if ((int)r->streaming_request_case == REQ_CONFIG) {
		snprintf(msg, msgsz, "Invalid request: 'streaming_config' may "
			 "only be sent in the first message, later messages "
			 "carry audio_content.");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if ((int)r->streaming_request_case == REQ_AUDIO &&
	    r->audio_content.len > MAX_AUDIO_PER_MSG) {
		snprintf(msg, msgsz, "Invalid request: audio_content of %zu "
			 "bytes is over the limit of %d bytes per request.",
			 r->audio_content.len, MAX_AUDIO_PER_MSG);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	return GRPC_STATUS_OK;
}

grpc_status_code req_check_unary(const SpUnaryReq *r, struct sconf *out,
				 char *msg, size_t msgsz)
{
	grpc_status_code code;

	if (!r) {
		snprintf(msg, msgsz, "Invalid request: the message is not a "
			 "RecognizeRequest.");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	code = req_check_config(r->config, out, msg, msgsz);
	if (code != GRPC_STATUS_OK)
		return code;
	if (!r->audio || (int)r->audio->audio_source_case != AUDIO_CONTENT) {
		snprintf(msg, msgsz, "Invalid recognition 'audio': this "
			 "server needs the audio in 'content' ('uri' is not "
			 "supported).");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (r->audio->content.len / req_bytes_per_second(out) >=
	    MAX_UNARY_SECONDS) {
		snprintf(msg, msgsz, "Invalid recognition 'audio': audio "
			 "longer than %d seconds needs a streaming request.",
			 MAX_UNARY_SECONDS);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	return GRPC_STATUS_OK;
}

SpStreamReq *req_unpack_stream(const uint8_t *p, size_t n)
{
	return (SpStreamReq *)protobuf_c_message_unpack(&STREAM_REQ, NULL,
							 n, p);
}

SpUnaryReq *req_unpack_unary(const uint8_t *p, size_t n)
{
	return (SpUnaryReq *)protobuf_c_message_unpack(&UNARY_REQ, NULL, n,
							p);
}

void req_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

/* Google ignores a negative boost; past 20 is not meant to help. */
static float boost_of(float b)
{
	if (!(b > 0))
		return 0;
	return b > MAX_BOOST ? MAX_BOOST : b;
}

int req_hints(const SpConf *c, struct hints **out)
{
	struct hints *h;
	size_t i, j, n = 0, len = 0;
	char *p;

	*out = NULL;
	for (i = 0; i < c->n_speech_contexts; i++) {
		const Google__Cloud__Speech__V1__SpeechContext *sc;

		sc = c->speech_contexts[i];
		for (j = 0; j < sc->n_phrases; j++) {
			if (sc->phrases[j] && *sc->phrases[j]) {
				n++;
				len += strlen(sc->phrases[j]) + 1;
			}
		}
	}
	if (n == 0)
		return 0;
	h = malloc(sizeof *h + n * sizeof h->v[0] + len);
	if (!h)
		return -1;
	h->n = 0;
	p = (char *)&h->v[n];
	for (i = 0; i < c->n_speech_contexts; i++) {
		const Google__Cloud__Speech__V1__SpeechContext *sc;

		sc = c->speech_contexts[i];
		for (j = 0; j < sc->n_phrases; j++) {
			size_t k;

			if (!sc->phrases[j] || !*sc->phrases[j])
				continue;
			k = strlen(sc->phrases[j]) + 1;
			memcpy(p, sc->phrases[j], k);
			h->v[h->n].text = p;
			h->v[h->n].boost = boost_of(sc->boost);
			h->n++;
			p += k;
		}
	}
	*out = h;
	return 0;
}

int req_bytes_per_second(const struct sconf *c)
{
	return c->encoding == ENCODING_MULAW ? c->rate : 2 * c->rate;
}
