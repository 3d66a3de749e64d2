#!/bin/bash
test_description='a call end to end: tw-simcall | tw-mediasrv | mulaw-split --exec gstt-stream, into gstt-serve'
. "$(dirname "$0")/test-lib.sh"

# Two speakers (flite voices), on the phone path: 8 kHz mu-law.
CALLER="i would like to book a table for two people tomorrow evening"
AGENT="of course what time would you like to arrive"
say_ul rms "$CALLER" caller.ul
say_ul awb "$AGENT" agent.ul

test_expect_success 'both sides of a call are transcribed and labelled' '
	gport=$(free_port) &&
	run_bg gstt-serve --listen 127.0.0.1:$gport --max-streams 2 \
		2>serve.err &&
	wait_port $gport &&
	port=$(free_port) &&
	mkfifo pipe &&
	run_bg sh -c "exec tw-mediasrv --listen 127.0.0.1:$port >pipe 2>srv.err" &&
	srv_pid=$! &&
	run_bg_in pipe mulaw-split \
		--exec "gstt-stream --endpoint 127.0.0.1:$gport" \
		>events 2>split.err &&
	split_pid=$! &&
	wait_port $port &&
	tw-simcall --pace fast --param agent=bob --inbound caller.ul \
		--outbound agent.ul ws://127.0.0.1:$port/media >sim.json &&
	wait_for events "\"type\":\"call.stop\"" 600 &&
	kill -TERM $srv_pid && wait $srv_pid && wait $split_pid &&
	call=$(jq -r "select(.type == \"call.start\") | .call_sid" events) &&
	stream=$(jq -r "select(.type == \"call.start\") | .stream_sid" events) &&
	for t in inbound outbound; do
		jq -r "select(.type == \"transcript\" and .final and
			.track == \"$t\" and .call_sid == \"$call\" and
			.stream_sid == \"$stream\") | .text" events |
			tr "A-Z\n" "a-z " >text.$t || return 1
	done &&
	cat text.inbound text.outbound &&
	# most words of each side, on the right side
	test $(words_found "$CALLER" text.inbound) -ge 8 &&
	test $(words_found "$AGENT" text.outbound) -ge 5 &&
	test $(words_found "table tomorrow evening" text.outbound) = 0 &&
	# the call ends after its last transcript
	tail -n 1 events | grep -q "\"type\":\"call.stop\""
'

test_done
