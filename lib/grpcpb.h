/* protobuf-c messages over grpc core, and google.protobuf.Duration. */
#ifndef TAPLINE_GRPCPB_H
#define TAPLINE_GRPCPB_H

#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "google/protobuf/duration.pb-c.h"

/* Serialize m into a new byte buffer (grpc_byte_buffer_destroy it). */
grpc_byte_buffer *pb_to_buffer(const ProtobufCMessage *m);
/*
 * Parse a received byte buffer as a message of descriptor d; NULL if it
 * does not parse.  Free with protobuf_c_message_free_unpacked(m, NULL).
 */
ProtobufCMessage *pb_from_buffer(grpc_byte_buffer *b,
				 const ProtobufCMessageDescriptor *d);

/* Seconds as a double <-> Duration (nanoseconds rounded). */
double duration_seconds(const Google__Protobuf__Duration *d);
void duration_set(Google__Protobuf__Duration *d, double seconds);
/* Exact conversions through microseconds. */
int64_t duration_us(const Google__Protobuf__Duration *d);
void duration_set_us(Google__Protobuf__Duration *d, int64_t us);

/* Shut cq down, drain it to GRPC_QUEUE_SHUTDOWN, and destroy it. */
void cq_destroy_drained(grpc_completion_queue *cq);

/* The canonical name of a grpc status code ("UNAVAILABLE", ...). */
const char *grpc_code_name(grpc_status_code code);

#endif
