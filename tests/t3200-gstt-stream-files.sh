#!/bin/bash
test_description='gstt-stream on recordings: a track per channel, as a call'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DATA/media-lib.sh"

unset GSTT_ENDPOINT GSTT_API_KEY GSTT_ACCESS_TOKEN GOOGLE_CLOUD_PROJECT \
	TAPLINE_CALL_SID TAPLINE_STREAM_SID TAPLINE_TRACK TAPLINE_ACCOUNT_SID

CA=CA0123456789abcdef0123456789abcdef
MZ=MZfedcba9876543210fedcba9876543210

# Start tl-fakespeech on a free port ($PORT), logging to a new fake.log.
fake() {
	rm -f fake.log &&
	PORT=$(free_port) &&
	run_bg tl-fakespeech --listen 127.0.0.1:$PORT --log fake.log "$@" &&
	wait_port $PORT
}

# Start gstt-serve on a free port ($PORT).
serve() {
	PORT=$(free_port) &&
	run_bg gstt-serve --listen 127.0.0.1:$PORT --workers 1 "$@" \
		2>>serve.err &&
	wait_port $PORT
}

gstt() {
	timeout 300 gstt-stream --endpoint 127.0.0.1:$PORT "$@"
}

# check_track EVENTS TRACK FIRST N: the final transcripts of TRACK list
# blocks bFIRST.. in order, N of them, once each, with seq from 0, each
# starting where the one before ended (80 blocks a second, times counted
# from the start of the recording).
check_track() {
	jq -r --arg t "$2" 'select(.type == "transcript" and .final and
		.track == $t) | "\(.seq)\t\(.start)\t\(.end)\t\(.text)"' \
		"$1" >finals.tsv &&
	awk -F '\t' -v first="$3" -v n="$4" '
	BEGIN { k = first }
	{
		if ($1 != NR - 1) { print "seq " $1 " at final " NR; bad = 1 }
		if (NR > 1 && $2 != prev) { print "gap at final " NR; bad = 1 }
		m = split($4, w, " ")
		for (i = 1; i <= m; i++) {
			if (w[i] != "b" k) {
				print "final " NR ": " w[i] " where b" k \
					" was due"; bad = 1; exit 1
			}
			k++
		}
		if ($3 * 80 != k - first) {
			print "final " NR " ends at " $3; bad = 1
		}
		prev = $3
	}
	END {
		if (!bad && k - first != n) {
			print "finals end at block " k; bad = 1
		}
		exit bad
	}' finals.tsv
}

# wer REF HYP: word error rate in percent
wer() { awk -v ref="$1" -v hyp="$2" -f "$TEST_DIR/wer.awk"; }

# types EVENTS: the event types, one a line.
types() { jq -r .type "$1"; }

# framed EVENTS: call.start first, call.stop last, one of each, and
# nothing but transcripts of the call between.
framed() {
	types "$1" >types &&
	test "$(head -n 1 types)" = call.start &&
	test "$(tail -n 1 types)" = call.stop &&
	test $(grep -c "^call\." types) = 2 &&
	test -z "$(sed "1d;\$d" types | grep -v "^transcript$")" &&
	test "$(tail -n 1 "$1" | jq -r .reason)" = eof
}

test_expect_success 'setup: block-numbered stereo, mu-law and PCM' '
	tl-fakespeech --gen-blocks 800 >left.ul &&
	tl-fakespeech --gen-blocks 800 --first 5000 >right.ul &&
	sox -M -t ul -r 8000 -c 1 left.ul -t ul -r 8000 -c 1 right.ul \
		-e mu-law st.wav &&
	test "$(soxi -c st.wav)" = 2 &&
	tl-fakespeech --gen-blocks 28800 >six.l.ul &&
	tl-fakespeech --gen-blocks 28800 --first 40000 >six.r.ul &&
	sox -M -t ul -r 8000 -c 1 six.l.ul -t ul -r 8000 -c 1 six.r.ul \
		-e mu-law six.wav
'

test_expect_success 'stereo: channel 1 is inbound, channel 2 outbound, exact' '
	fake &&
	cp st.wav call-42.wav &&
	gstt call-42.wav >ev 2>err &&
	check_track ev inbound 0 800 &&
	check_track ev outbound 5000 800 &&
	test $(grep -c "^config stream=.* encoding=3 rate=8000 channels=1 " \
		fake.log) = 2 &&
	test ! -s err
'

test_expect_success 'stereo: call.start first, call.stop last, labels' '
	framed ev &&
	head -n 1 ev | jq -e ".tracks == [\"inbound\", \"outbound\"] and
		.params == {} and (has(\"track\") | not)" &&
	tail -n 1 ev | jq -e "has(\"track\") | not" &&
	jq -c "[.call_sid, .stream_sid]" ev | sort -u >t &&
	echo "[\"call-42\",\"call-42\"]" >expect &&
	test_cmp expect t
'

test_expect_success 'stereo: the two tracks are transcribed at the same time' '
	fake &&
	head -c 16000 left.ul >l2.ul && head -c 16000 right.ul >r2.ul &&
	sox -M -t ul -r 8000 -c 1 l2.ul -t ul -r 8000 -c 1 r2.ul \
		-e mu-law two.wav &&
	t0=$(date +%s%N) &&
	gstt --realtime two.wav >ev &&
	t1=$(date +%s%N) &&
	check_track ev inbound 0 160 &&
	check_track ev outbound 5000 160 &&
	# both streams were open before either ended
	awk "/^open stream=/ { o++ } / status=/ { print o; exit }" \
		fake.log >opened &&
	test "$(cat opened)" = 2 &&
	# and the channels were read at the pace of the audio
	test $(( (t1 - t0) / 1000000 )) -ge 1800
'

test_expect_success 'sids: a CA and an MZ in the name, or the options' '
	fake &&
	cp st.wav "rec_${CA}_x.wav" &&
	gstt "rec_${CA}_x.wav" >ev &&
	jq -c "[.call_sid, .stream_sid]" ev | sort -u >t &&
	echo "[\"$CA\",\"rec_${CA}_x\"]" >expect &&
	test_cmp expect t &&
	cp st.wav "$MZ.$CA.wav" &&
	gstt "$MZ.$CA.wav" >ev &&
	jq -c "[.call_sid, .stream_sid]" ev | sort -u >t &&
	echo "[\"$CA\",\"$MZ\"]" >expect &&
	test_cmp expect t &&
	gstt --call-sid CAx --stream-sid MZy "$MZ.$CA.wav" >ev &&
	framed ev &&
	jq -c "[.call_sid, .stream_sid]" ev | sort -u >t &&
	echo "[\"CAx\",\"MZy\"]" >expect &&
	test_cmp expect t
'

test_expect_success '--channel-tracks names the tracks; a wrong count fails' '
	fake &&
	gstt --channel-tracks agent,customer st.wav >ev &&
	framed ev &&
	check_track ev agent 0 800 &&
	check_track ev customer 5000 800 &&
	head -n 1 ev | jq -e ".tracks == [\"agent\", \"customer\"]" &&
	expect_status 1 gstt --channel-tracks a,b,c st.wav >ev 2>err &&
	msg="2 channels, where --channel-tracks names 3" &&
	grep -q "^gstt-stream: cannot read .st.wav.: $msg$" err &&
	test ! -s ev &&
	expect_status 2 gstt --channel-tracks a,a st.wav 2>err &&
	expect_status 2 gstt --mix --channel-tracks a,b st.wav 2>err &&
	expect_status 2 gstt --track x st.wav 2>err &&
	expect_status 2 gstt --channel-tracks a <left.ul 2>err
'

test_expect_success 'stereo then mono in a row: refused' '
	expect_status 1 gstt-stream --endpoint 127.0.0.1:9 st.wav left.ul \
		2>err &&
	grep -q "cannot read .left.ul.: 1 channel, where 2 tracks" err
'

test_expect_success '--mix: one track of both channels, as before' '
	fake &&
	gstt --mix st.wav >ev &&
	test $(grep -c "^open stream=" fake.log) = 1 &&
	! grep -q "call\." ev &&
	test "$(jq -c "[.call_sid, .stream_sid, .track]" ev | sort -u)" = \
		"[null,null,null]" &&
	test "$(jq -r "select(.final) | .end" ev | tail -n 1)" = 10
'

test_expect_success 'mono file: unchanged, no call events, no labels' '
	fake &&
	sox -t ul -r 8000 -c 1 left.ul -e mu-law mono.wav &&
	gstt mono.wav >ev &&
	! grep -q "call\." ev &&
	test "$(jq -c "[.call_sid, .stream_sid, .track]" ev | sort -u)" = \
		"[null,null,null]" &&
	jq -r "select(.final) | .text" ev | tr " " "\n" >w &&
	test $(wc -l <w) = 800 && test "$(head -n 1 w)" = b0 &&
	test $(grep -c "^open stream=" fake.log) = 1 &&
	gstt --channel-tracks inbound mono.wav >ev &&
	framed ev && check_track ev inbound 0 800 &&
	test "$(head -n 1 ev | jq -c .tracks)" = "[\"inbound\"]"
'

test_expect_success 'TAPLINE_* set (under mulaw-split): no call events' '
	fake &&
	TAPLINE_CALL_SID=CA1 TAPLINE_STREAM_SID=MZ1 gstt st.wav >ev &&
	! grep -q "call\." ev &&
	check_track ev inbound 0 800 && check_track ev outbound 5000 800 &&
	test "$(jq -c "[.call_sid, .stream_sid]" ev | sort -u)" = \
		"[\"CA1\",\"MZ1\"]"
'

test_expect_success 'mulaw-split --exec gstt-stream: its call.start only' '
	fake &&
	stream $MZ $CA left.ul right.ul >call.ndjson &&
	timeout 120 mulaw-split \
		--exec "gstt-stream --endpoint 127.0.0.1:$PORT" \
		<call.ndjson >ev 2>err &&
	test $(grep -c "\"type\":\"call.start\"" ev) = 1 &&
	test $(grep -c "\"type\":\"call.stop\"" ev) = 1 &&
	test "$(head -n 1 ev | jq -r .type)" = call.start &&
	test "$(tail -n 1 ev | jq -r .type)" = call.stop &&
	grep "\"type\":\"transcript\"" ev >tr &&
	check_track tr inbound 0 800 && check_track tr outbound 5000 800
'

test_expect_success 'long stereo, 60 s stream limit: both tracks exact' '
	fake --max-stream-seconds 60 --final-every 700 &&
	gstt -v six.wav >ev 2>err &&
	framed ev &&
	check_track ev inbound 0 28800 &&
	check_track ev outbound 40000 28800 &&
	test $(grep -c "status=OUT_OF_RANGE" fake.log) -ge 2 &&
	test $(grep -c "^open stream=" fake.log) -ge 14 &&
	test $(jq -s "map(select(.type == \"error\")) | length" ev) = 0
'

test_expect_success 'tracks that fail: an error each, still call.stop last' '
	fake --auth s3cret &&
	expect_status 3 gstt st.wav >ev 2>err &&
	errs=$(jq -r "select(.type == \"error\") | .track" ev |
		sort | tr "\n" " ") &&
	test "$errs" = "inbound outbound " &&
	test "$(head -n 1 ev | jq -r .type)" = call.start &&
	test "$(tail -n 1 ev | jq -r .type)" = call.stop
'

# Speech: the two voices of a call, one per channel, as a dual-channel
# recording of a phone call (16-bit PCM at 8 kHz).
test_expect_success 'setup: a two-voice call recording (flite)' '
	cat >in.txt <<-\EOF &&
	hello i would like to book a table for two people tonight
	my account number is four five six seven eight nine
	please call me back tomorrow morning after ten
	EOF
	cat >out.txt <<-\EOF &&
	thank you for calling how can i help you today
	can you send the invoice to my email address
	the meeting has been moved to the large conference room
	EOF
	sox -R -n -r 16000 -c 1 gap.wav trim 0 1 &&
	i=0 && lp="" && rp="" &&
	while read -r a && read -r b <&3; do
		i=$((i + 1)) &&
		flite -voice kal16 -t "$a" -o x.wav &&
		sox -R x.wav -r 16000 a$i.wav &&
		flite -voice rms -t "$b" -o x.wav &&
		sox -R x.wav -r 16000 b$i.wav &&
		# the agent (outbound) speaks, then the caller (inbound)
		sox -R -n -r 16000 -c 1 sa$i.wav trim 0 $(soxi -D b$i.wav) &&
		sox -R -n -r 16000 -c 1 sb$i.wav trim 0 $(soxi -D a$i.wav) &&
		lp="$lp sa$i.wav a$i.wav gap.wav" &&
		rp="$rp b$i.wav sb$i.wav gap.wav" || return 1
	done <in.txt 3<out.txt &&
	test $i = 3 &&
	sox -R $lp left.wav && sox -R $rp right.wav &&
	sox -R -M left.wav right.wav -r 8000 -b 16 -e signed talk.wav &&
	test "$(soxi -c talk.wav)" = 2 && test "$(soxi -r talk.wav)" = 8000
'

test_expect_success 'gstt-serve: each voice on its own track' '
	serve &&
	gstt --no-interim talk.wav >ev 2>err &&
	framed ev &&
	for t in inbound outbound; do
		jq -r --arg t $t "select(.final and .track == \$t) | .text" \
			ev >$t.hyp || return 1
	done &&
	w_ii=$(wer in.txt inbound.hyp) && w_io=$(wer out.txt inbound.hyp) &&
	w_oo=$(wer out.txt outbound.hyp) && w_oi=$(wer in.txt outbound.hyp) &&
	diag "WER inbound $w_ii% (vs the other voice $w_io%)," \
		"outbound $w_oo% (vs $w_oi%)" &&
	awk "BEGIN { exit !($w_ii < 35 && $w_oo < 35 &&
		$w_io > 70 && $w_oi > 70) }"
'

test_expect_success 'results still coming after the end: waited for' '
	# gstt-serve takes audio faster than it decodes it: after the
	# half-close, results of a long file keep coming for seconds, each
	# soon after the one before.  --eof-timeout bounds the silence
	# between them, not the whole wait.
	sox -R talk.wav -c 1 -e u-law -t raw m.ul remix 1 &&
	for i in 1 2 3 4 5 6 7 8; do cat m.ul; done >long.ul &&
	serve &&
	t0=$(date +%s%N) &&
	gstt -v --eof-timeout 2 long.ul >ev 2>err &&
	t1=$(date +%s%N) &&
	grep -q "closing stream at .*: end of input" err &&
	! grep -q cancelled err &&
	diag "$(( (t1 - t0) / 1000000 )) ms for" \
		"$(( $(stat -c %s long.ul) / 8000 )) s of audio" &&
	test $(( (t1 - t0) / 1000000 )) -gt 3000 &&
	last=$(jq -r "select(.final) | .end" ev | tail -n 1) &&
	len=$(( $(stat -c %s long.ul) / 8000 )) &&
	awk "BEGIN { exit !($last > $len - 5) }"
'

test_done
