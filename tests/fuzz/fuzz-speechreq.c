/*
 * Fuzz gstt-serve's request decoding and validation: any bytes, read as a
 * StreamingRecognizeRequest (first message or later) and as a
 * RecognizeRequest, must give either a config the decoder can take or
 * INVALID_ARGUMENT with a message, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../cmd/gstt-serve/request.c"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void check_conf(const struct sconf *c)
{
	CHECK(c->encoding == ENCODING_MULAW ||
	      c->encoding == ENCODING_LINEAR16);
	CHECK(c->rate == 8000 || c->rate == 16000);
	CHECK(strlen(c->lang) < sizeof c->lang);
	CHECK(strncasecmp(c->lang, "en", 2) == 0);
	CHECK(req_bytes_per_second(c) >= 8000);
}

static void check_error(grpc_status_code code, const char *msg)
{
	CHECK(code == GRPC_STATUS_INVALID_ARGUMENT);
	CHECK(msg[0] != '\0');
	CHECK(strlen(msg) < MSG_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SpStreamReq *r;
	SpUnaryReq *u;
	struct sconf c;
	char msg[MSG_MAX];
	grpc_status_code code;
	int first;

	r = req_unpack_stream(data, size);
	for (first = 0; first < 2; first++) {
		memset(&c, 0xa5, sizeof c);
		msg[0] = '\0';
		code = req_check_stream(r, first, &c, msg, sizeof msg);
		if (code != GRPC_STATUS_OK) {
			check_error(code, msg);
		} else if (first) {
			check_conf(&c);
		} else {
			CHECK((int)r->streaming_request_case != REQ_AUDIO ||
			      r->audio_content.len <= MAX_AUDIO_PER_MSG);
		}
	}
	req_free(r);

	u = req_unpack_unary(data, size);
	memset(&c, 0xa5, sizeof c);
	msg[0] = '\0';
	code = req_check_unary(u, &c, msg, sizeof msg);
	if (code != GRPC_STATUS_OK) {
		check_error(code, msg);
	} else {
		check_conf(&c);
		CHECK(c.interim == 0 && c.single == 0 && c.vad_events == 0);
		CHECK(u->audio->content.len / (size_t)req_bytes_per_second(&c)
		      < MAX_UNARY_SECONDS);
	}
	req_free(u);
	return 0;
}
