#!/bin/bash
test_description='gstt-serve favours the phrases of speech_contexts'
. "$(dirname "$0")/test-lib.sh"

unset GSTT_ENDPOINT GSTT_API_KEY GSTT_ACCESS_TOKEN GOOGLE_CLOUD_PROJECT \
	TAPLINE_CALL_SID TAPLINE_STREAM_SID TAPLINE_TRACK

# Start gstt-serve on a free port ($PORT) with the given options, its
# pid in $SRV, its stderr (at -v) in srv.err.  One decoder: every stream
# on a server uses the same one, one after the other.
serve() {
	rm -f srv.err &&
	PORT=$(free_port) &&
	run_bg gstt-serve -v --listen 127.0.0.1:$PORT --pool 1 \
		--max-streams 2 --workers 1 "$@" 2>srv.err &&
	SRV=$! &&
	wait_port $PORT
}

# SIGTERM: gstt-serve must exit 0, its decoders freed (under ASan, a
# leak is an error).
stop() {
	kill -TERM $SRV && wait $SRV
}

# gstt-stream FILE [options]: the final transcripts, one line each.
finals() {
	_f=$1; shift
	timeout 60 gstt-stream --endpoint 127.0.0.1:$PORT --no-interim \
		"$@" <"$_f" >events &&
	jq -r 'select(.type == "transcript" and .final) | .text' events
}

# Place and product names that are in the dictionary but that the
# language model finds unlikely: without a hint each comes out as other
# words ("jim tech", "check in check", "two but").  With the hint all
# four came out even at a thirtieth of the bias of boost 0.
WORDS="zantac piscataway hackensack timbuktu"
HINTS='--phrase Zantac --phrase PISCATAWAY, --phrase Hackensack!
	--phrase timbuktu'

test_expect_success 'setup: three sentences of phone speech' '
	cat >ref.txt <<-\EOF &&
	please refill my prescription for prozac and zantac
	the package for piscataway was sent to hackensack by mistake
	my cousin moved from timbuktu to katmandu
	EOF
	say_lines rms ref.txt three.wav &&
	sox -R three.wav -r 8000 -e u-law -t raw three.ul &&
	sox -R sil.wav s1.wav sil.wav one.wav &&
	sox -R one.wav -r 8000 -e u-law -t raw one.ul &&
	test $(wc -c <three.ul) -gt 80000
'

test_expect_success 'the hinted words come out with the hints, not without' '
	serve &&
	finals three.ul >plain.txt &&
	test $(words_found "$WORDS" plain.txt) = 0 &&
	finals three.ul $HINTS >hinted.txt &&
	test $(words_found "$WORDS" hinted.txt) = 4 &&
	grep -q "stream [0-9]*: 4 phrases, boost 0" srv.err &&
	finals three.ul $HINTS --boost 20 >b20.txt &&
	test $(words_found "$WORDS" b20.txt) = 4 &&
	grep -q "4 phrases, boost 20" srv.err &&
	stop
'

test_expect_success 'after a stream with phrases, the decoder is unbiased' '
	serve &&
	finals three.ul >fresh.txt &&
	finals three.ul $HINTS --boost 20 >hinted.txt &&
	test $(words_found "$WORDS" hinted.txt) = 4 &&
	finals three.ul >after.txt &&
	test_cmp fresh.txt after.txt &&
	! grep -q "creating a decoder" srv.err &&
	stop
'

test_expect_success 'unary Recognize takes the hints too' '
	serve &&
	timeout 60 tl-gsttc --unary --addr 127.0.0.1:$PORT three.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	head -n 1 out | jq -r ".results[].alternatives[0].transcript" \
		>plain.txt &&
	test $(words_found "$WORDS" plain.txt) = 0 &&
	timeout 60 tl-gsttc --unary --addr 127.0.0.1:$PORT --phrase Zantac \
		--phrase PISCATAWAY, --phrase Hackensack! --phrase timbuktu \
		three.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	head -n 1 out | jq -r ".results[].alternatives[0].transcript" \
		>hinted.txt &&
	test $(words_found "$WORDS" hinted.txt) = 4 &&
	stop
'

test_expect_success 'an unrelated hint leaves other speech alone' '
	serve &&
	finals three.ul >plain.txt &&
	finals three.ul --phrase "spreadsheet macros" --phrase rutabaga \
		--boost 20 >other.txt &&
	test_cmp plain.txt other.txt
'

test_expect_success 'a word not in the dictionary is skipped, not fatal' '
	serve &&
	finals one.ul --phrase "Zantac Qzxvbnkt" --phrase "" \
		--phrase "@#!" >hinted.txt &&
	test $(words_found zantac hinted.txt) = 1 &&
	grep -q "skipped: .qzxvbnkt." srv.err &&
	! jq -e "select(.type == \"error\")" events >/dev/null &&
	stop
'

test_expect_success 'past Google'\''s limits: INVALID_ARGUMENT, exit 4' '
	serve &&
	head -c 8000 one.ul >short.ul &&
	seq 5001 | sed "s/^/phrase /" >many.txt &&
	expect_status 4 gstt-stream --endpoint 127.0.0.1:$PORT \
		--phrases many.txt <short.ul >out 2>err &&
	grep -q "at most 5000 phrases" err &&
	long=$(printf "%0101d" 0 | tr 0 a) &&
	expect_status 4 gstt-stream --endpoint 127.0.0.1:$PORT \
		--phrase "$long" <short.ul >out 2>err &&
	grep -q "101 characters long, the limit is 100" err &&
	seq 5000 | sed "s/^/$(printf "%025d" 0 | tr 0 b) /" >chars.txt &&
	expect_status 4 gstt-stream --endpoint 127.0.0.1:$PORT \
		--phrases chars.txt <short.ul >out 2>err &&
	grep -q "characters, the limit is 100000" err &&
	seq 5000 | sed "s/^/zantac /" >ok.txt &&
	gstt-stream --endpoint 127.0.0.1:$PORT --phrases ok.txt <short.ul \
		>out 2>err &&
	grep -q "5000 phrases, boost 0" srv.err &&
	stop
'

test_done
