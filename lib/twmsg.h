/*
 * Twilio Media Streams messages.  twmsg_scan validates a whole message as
 * JSON (RFC 8259) without building a tree and picks out the fields the
 * media hot path uses; everything else is read with jansson.
 */
#ifndef TAPLINE_TWMSG_H
#define TAPLINE_TWMSG_H

#include <stddef.h>

enum tw_event {
	TW_NONE,	/* no "event" member */
	TW_OTHER,	/* an event name not listed here */
	TW_CONNECTED, TW_START, TW_MEDIA, TW_MARK, TW_DTMF, TW_STOP,
	/* tapline's own events (tw-mediasrv), names Twilio does not use */
	TW_DISCONNECT, TW_DROPPED, TW_STATUS,
};

/* A JSON string's contents as they appear in the text (still escaped). */
struct tw_str {
	const char *p;
	size_t n;
	int escaped;	/* contains a backslash escape */
};

struct twmsg {
	enum tw_event event;
	struct tw_str event_name;
	struct tw_str stream_sid;	/* top-level "streamSid" */
	long long seq;			/* "sequenceNumber", -1 if absent */
	/* media only (-1 / empty when absent) */
	struct tw_str track;		/* media.track */
	struct tw_str payload;		/* media.payload, base64 */
	long long chunk;		/* media.chunk */
	long long timestamp;		/* media.timestamp, ms */
	int has_newline;	/* CR or LF between tokens (to be removed) */
};

/*
 * Scan one message of len bytes.  Returns 0 and fills m, or -1 with *why
 * set to a short static description ("invalid JSON at byte 12" style text
 * is written into why_buf when given) if the text is not one JSON object,
 * a tracked member has the wrong type or appears twice ("media" may be
 * of any type: only an object has members to track), or a number-valued
 * string ("sequenceNumber", "chunk", "timestamp") is not a decimal number.
 */
int twmsg_scan(const char *buf, size_t len, struct twmsg *m,
	       char *why_buf, size_t why_size);

/*
 * For a TW_MEDIA message: check that stream_sid, track and payload are
 * present and plain (unescaped) and that timestamp is present.  Returns 0,
 * or -1 with a short description in *why.
 */
int twmsg_media_ok(const struct twmsg *m, const char **why);

/* Compare a plain (unescaped) tw_str with a C string. */
int tw_str_eq(struct tw_str s, const char *c);

/* Whether s (n bytes) is acceptable as a SID: 1 to 64 of [A-Za-z0-9_-]. */
int sid_ok(const char *s, size_t n);

/* Copy buf to out without CR and LF outside strings; returns the length. */
size_t twmsg_strip_newlines(char *out, const char *buf, size_t len);

#endif
