#!/bin/bash
test_description='the media leg end to end: tw-simcall | tw-mediasrv | mulaw-split'
. "$(dirname "$0")/test-lib.sh"

# Two different signals, as raw 8 kHz mu-law, so bytes must arrive as sent.
sox -n -r 8000 -c 1 -e u-law -t raw caller.ul synth 3 sine 300-900 \
	vol 0.5 2>/dev/null
sox -n -r 8000 -c 1 -e u-law -t raw agent.ul synth 2.5 pinknoise \
	vol 0.3 2>/dev/null

# leg SPLIT-OPTIONS...: tw-mediasrv into mulaw-split, joined by a FIFO so
# both pids are known; events in split.out.
leg() {
	port=$(free_port) &&
	rm -f pipe && mkfifo pipe &&
	run_bg sh -c "exec tw-mediasrv --listen 127.0.0.1:$port >pipe 2>srv.err" &&
	srv_pid=$! &&
	run_bg sh -c 'exec mulaw-split "$@" <pipe >split.out 2>split.err' \
		mulaw-split "$@" &&
	split_pid=$! &&
	wait_port $port &&
	URL=ws://127.0.0.1:$port/media
}

# end_leg: SIGTERM the server; mulaw-split ends at EOF; both exit 0.
end_leg() {
	kill -TERM $srv_pid && wait $srv_pid && wait $split_pid &&
	test_bg_pids=
}

# sids: the stream SIDs of the call.start events, one per line
sids() {
	jq -r 'select(.type == "call.start") | .stream_sid' split.out | sort
}

test_expect_success '20 concurrent calls: every track byte-identical' '
	mkdir out &&
	leg --out "out/%s.%t.ul" &&
	tw-simcall --calls 20 --pace fast --inbound caller.ul \
		--outbound agent.ul $URL >sim.json &&
	jq -e ".calls == 20 and .completed == 20 and .failed == 0" sim.json &&
	end_leg &&
	test $(sids | wc -l) = 20 &&
	test $(jq -r "select(.type == \"call.stop\") | .reason" split.out |
		grep -c "^stop$") = 20 &&
	for s in $(sids); do
		cmp caller.ul out/$s.inbound.ul &&
		cmp agent.ul out/$s.outbound.ul || return 1
	done
'

test_expect_success 'real-time pace: audio arrives whole and on time' '
	mkdir rt &&
	leg --out "rt/%s.%t.ul" &&
	start=$(date +%s%N) &&
	tw-simcall --calls 5 --pace realtime --inbound caller.ul \
		--outbound agent.ul $URL >sim.json &&
	elapsed=$(( ($(date +%s%N) - start) / 1000000 )) &&
	end_leg &&
	test $elapsed -ge 2900 && test $elapsed -lt 6000 &&
	for s in $(sids); do
		cmp caller.ul rt/$s.inbound.ul &&
		cmp agent.ul rt/$s.outbound.ul || return 1
	done
'

test_expect_success '--format wav: PCM WAV files that decode to the audio' '
	mkdir wav &&
	leg --out "wav/%c.%t.wav" --format wav &&
	tw-simcall --calls 2 --pace fast --inbound caller.ul \
		--outbound agent.ul $URL >/dev/null &&
	end_leg &&
	sox -t ul -r 8000 -c 1 caller.ul -t s16 -e signed -L want.s16 &&
	for f in wav/*.inbound.wav; do
		test "$(soxi -r $f) $(soxi -c $f) $(soxi -b $f)" = "8000 1 16" &&
		sox $f -t s16 -e signed -L got.s16 &&
		cmp want.s16 got.s16 || return 1
	done
'

test_expect_success '--stereo: inbound left, outbound right' '
	leg --stereo "%s.stereo.wav" --format wav &&
	tw-simcall --calls 1 --pace fast --inbound caller.ul \
		--outbound agent.ul $URL >/dev/null &&
	end_leg &&
	f=$(sids).stereo.wav &&
	test "$(soxi -c $f)" = 2 &&
	sox $f -t s16 -e signed -L left.s16 remix 1 &&
	sox $f -t s16 -e signed -L right.s16 remix 2 &&
	sox -t ul -r 8000 -c 1 caller.ul -t s16 -e signed -L in.s16 &&
	sox -t ul -r 8000 -c 1 agent.ul -t s16 -e signed -L out.s16 &&
	cmp in.s16 left.s16 &&
	# the shorter side is padded with silence to the longer one
	cmp -n $(stat -c %s out.s16) out.s16 right.s16 &&
	test $(stat -c %s right.s16) = $(stat -c %s in.s16)
'

cat >child.sh <<'EOF2'
cat >"ex/$TAPLINE_STREAM_SID.$TAPLINE_TRACK.ul" || return 1
printf '{"type":"done","stream_sid":"%s","track":"%s","agent":"%s"}\n' \
	"$TAPLINE_STREAM_SID" "$TAPLINE_TRACK" "$TAPLINE_PARAM_agent"
EOF2

test_expect_success '--exec: a child per track, labelled, fed its audio' '
	mkdir ex &&
	leg --exec "sh ./child.sh" &&
	tw-simcall --calls 3 --pace fast --param agent=bob \
		--inbound caller.ul --outbound agent.ul $URL >/dev/null &&
	end_leg &&
	test $(grep -c "\"type\":\"done\".*\"agent\":\"bob\"" split.out) = 6 &&
	for s in $(sids); do
		cmp caller.ul ex/$s.inbound.ul &&
		cmp agent.ul ex/$s.outbound.ul || return 1
		# call.stop comes after the last line of both children
		last_done=$(grep -n "\"done\",\"stream_sid\":\"$s\"" split.out |
			tail -1 | cut -d: -f1) &&
		stop=$(grep -n "\"call.stop\".*\"$s\"" split.out | cut -d: -f1) &&
		test $(grep -c "\"done\",\"stream_sid\":\"$s\"" split.out) = 2 &&
		test "$last_done" -lt "$stop" || return 1
	done
'

test_expect_success 'a call cut off mid-stream is closed by a disconnect' '
	mkdir cut &&
	leg --out "cut/%s.%t.ul" &&
	tw-simcall --calls 1 --pace fast --disconnect-after 40 \
		--inbound caller.ul --outbound agent.ul $URL >/dev/null;
	end_leg &&
	jq -e "select(.type == \"call.stop\") | .reason == \"disconnect\"" \
		split.out &&
	s=$(sids) &&
	test $(stat -c %s cut/$s.inbound.ul) = 3200 &&
	cmp -n 3200 caller.ul cut/$s.inbound.ul
'

test_done
