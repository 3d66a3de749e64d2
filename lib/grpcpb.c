#include <math.h>
#include <stdlib.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "grpcpb.h"

grpc_byte_buffer *pb_to_buffer(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *b;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	b = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return b;
}

ProtobufCMessage *pb_from_buffer(grpc_byte_buffer *b,
				 const ProtobufCMessageDescriptor *d)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	ProtobufCMessage *m;

	if (!b || !grpc_byte_buffer_reader_init(&r, b))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s),
				      GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

int64_t duration_us(const Google__Protobuf__Duration *d)
{
	if (!d)
		return 0;
	return d->seconds * 1000000 + d->nanos / 1000;
}

void duration_set_us(Google__Protobuf__Duration *d, int64_t us)
{
	d->seconds = us / 1000000;
	d->nanos = (int32_t)(us % 1000000 * 1000);
}

double duration_seconds(const Google__Protobuf__Duration *d)
{
	if (!d)
		return 0;
	return (double)d->seconds + d->nanos / 1e9;
}

void duration_set(Google__Protobuf__Duration *d, double seconds)
{
	double whole = trunc(seconds);
	long long nanos = llround((seconds - whole) * 1e9);

	d->seconds = (int64_t)whole;
	if (nanos >= 1000000000) {
		d->seconds++;
		nanos -= 1000000000;
	} else if (nanos <= -1000000000) {
		d->seconds--;
		nanos += 1000000000;
	}
	d->nanos = (int32_t)nanos;
}

void cq_destroy_drained(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq,
		gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

const char *grpc_code_name(grpc_status_code code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};

	if ((unsigned)code < sizeof names / sizeof *names)
		return names[code];
	return "UNKNOWN";
}
