#!/bin/bash
test_description='gstt-serve recognizes speech over Google Speech v1 gRPC'
. "$(dirname "$0")/test-lib.sh"

# Start gstt-serve on a free port ($PORT) with the given options; its
# pid in $SRV, its stderr in srv.err.
serve() {
	PORT=$(free_port) &&
	run_bg gstt-serve --listen 127.0.0.1:$PORT "$@" 2>>srv.err &&
	SRV=$! &&
	wait_port $PORT
}

gsttc() {
	timeout 60 tl-gsttc --addr 127.0.0.1:$PORT "$@"
}


# The final transcripts of a response log, one per line.
finals() {
	grep '^{' "$1" | jq -r '.results[]? | select(.final) |
		.alternatives[0].transcript'
}

test_expect_success 'setup: ten sentences of phone speech' '
	cat >ref.txt <<-\EOF &&
	hello thank you for calling how can i help you today
	i would like to book a table for two people tonight at seven
	my account number is four five six seven eight nine
	please call me back tomorrow morning after ten
	the weather is going to be cold and rainy this weekend
	can you send the invoice to my email address
	we need to change the delivery date to next monday
	i am sorry but the manager is not available right now
	the meeting has been moved to the large conference room
	thank you very much for your help have a nice day
	EOF
	test $(wc -l <ref.txt) = 10 &&
	say_lines rms ref.txt ten.wav &&
	sox -R ten.wav -r 8000 -e u-law -t raw ten.ul &&
	sox -R ten.wav -t raw -e signed -b 16 -L ten.s16 &&
	sox -R sil.wav s1.wav sil.wav s4.wav sil.wav two.wav &&
	sox -R two.wav -r 8000 -e u-law -t raw two.ul &&
	sox -R two.wav -r 8000 -t raw -e signed -b 16 -L two8.s16 &&
	head -n 1 ref.txt >ref1.txt && sed -n 4p ref.txt >ref4.txt &&
	cat ref1.txt ref4.txt >ref14.txt &&
	test $(wc -c <ten.ul) -gt 300000
'

test_expect_success '--help, --version and usage errors' '
	gstt-serve --help >out && grep -q "^usage: gstt-serve" out &&
	gstt-serve --version >out && grep -q "^gstt-serve (tapline) " out &&
	expect_status 2 gstt-serve --listen 0.0.0.0:50051 2>err &&
	grep -q "allow-remote" err &&
	expect_status 2 gstt-serve --listen nonsense 2>err &&
	expect_status 2 gstt-serve --pool 5 --max-streams 2 2>err &&
	expect_status 2 gstt-serve --audio-timeout -1 2>err &&
	expect_status 2 gstt-serve extra 2>err &&
	expect_status 1 gstt-serve --model /nonexistent 2>err &&
	grep -q "cannot open model" err
'

test_expect_success 'phone speech: word error under 15%, well-formed' '
	serve --metrics 127.0.0.1:$(free_port) &&
	gsttc --interim --events --words ten.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	finals out >hyp.txt &&
	test $(wc -l <hyp.txt) = 10 &&
	w=$(wer ref.txt hyp.txt) && diag "phone path WER $w%" &&
	test "$w" -lt 15 &&
	grep "^{" out >resp &&
	# exactly one of error, event, results in each response
	jq -e "[has(\"error\"), has(\"event\"), has(\"results\")] |
		map(select(.)) | length == 1" resp >/dev/null &&
	! jq -e "[has(\"error\"), has(\"event\"), has(\"results\")] |
		map(select(.)) | length != 1" resp | grep -q true &&
	# total_billed_time on the last response only (if that was not sent
	# before the end of the input was known), the audio rounded up
	test $(grep -c billed resp) -le 1 &&
	{ ! grep -q billed resp ||
	  tail -n 1 resp | jq -e ".billed == 44" >/dev/null; }
'

test_expect_success 'interim results come before each final and agree' '
	grep "^{" out | jq -r "
		if .event then \"E \" + .event
		elif .results[0].final then \"F \" +
			.results[0].alternatives[0].transcript
		else \"I \" + (.results[0].stability | tostring) + \" \" +
			.results[0].alternatives[0].transcript end" >seq &&
	awk "
	\$1 == \"I\" { ni++; last = \$0; sub(/^I [^ ]* /, \"\", last)
		if (\$2 <= 0 || \$2 > 1) bad++ }
	\$1 == \"F\" { nf++; if (!ni) bad++
		f = \$0; sub(/^F /, \"\", f)
		n = split(last, a, \" \"); split(f, b, \" \"); same = 0
		for (i = 1; i <= n; i++) if (a[i] == b[i]) same++
		if (n && same / n >= 0.5) agree++
		ni = 0 }
	\$2 == \"SPEECH_ACTIVITY_BEGIN\" { if (open) bad++; open = 1 }
	\$2 == \"SPEECH_ACTIVITY_END\" { if (!open || ni == 0) bad++; open = 0 }
	END { print nf, agree, bad + 0; exit !(nf == 10 && agree >= 8 &&
		!bad && !open) }" seq
'

test_expect_success 'word offsets are ordered and inside the audio' '
	dur=$(( $(wc -c <ten.ul) )) &&
	grep "^{" out | jq -c ".results[]? | select(.final)" >fin &&
	jq -e --argjson d "$dur" "
		(.alternatives[0].words | length) > 0 and
		(.alternatives[0].words | all(.start < .end and .start >= 0
			and .end <= (\$d / 8000 + 0.05))) and
		([.alternatives[0].words[].start] | . == sort) and
		(.end == .alternatives[0].words[-1].end) and
		(.alternatives[0].confidence > 0 and
		 .alternatives[0].confidence <= 1) and .lang == \"en-us\"
		" fin >ok && ! grep -q false ok &&
	jq -s "[.[].alternatives[0].words[]] | . as \$w |
		[range(1; length) | \$w[.].start >= \$w[. - 1].end] | all" \
		fin | grep -qx true &&
	# the first sentence is spoken at 0.8 s in
	head -n 1 fin | jq -e ".alternatives[0].words[0].start | . > 0.6 and
		. < 1.2" >/dev/null
'

test_expect_success 'LINEAR16 at 16 kHz and at 8 kHz' '
	serve &&
	gsttc --encoding LINEAR16 --rate 16000 ten.s16 >out16 &&
	tail -n 1 out16 | grep -qx "status OK " &&
	finals out16 >hyp16.txt &&
	w=$(wer ref.txt hyp16.txt) && diag "16 kHz LINEAR16 WER $w%" &&
	test "$w" -lt 15 &&
	gsttc --encoding LINEAR16 --rate 8000 --chunk-bytes 1601 two8.s16 \
		>out8 &&
	finals out8 >hyp8.txt &&
	test "$(wer ref14.txt hyp8.txt)" -lt 40
'

# Each on a server of its own: a decoder's noise estimate carries over
# from the streams it decoded before, and a stream that starts while the
# last one is still ending gets a new decoder; either would make two runs
# differ for reasons other than the split.
test_expect_success 'results do not depend on how audio is split' '
	serve --pool 1 --max-streams 1 &&
	gsttc --words two.ul >a &&
	kill $SRV && serve --pool 1 --max-streams 1 &&
	gsttc --words --interim --events --chunk-bytes 333 two.ul >b &&
	kill $SRV && serve --pool 1 --max-streams 1 &&
	gsttc --words --chunk-bytes 8000 two.ul >c &&
	# words and times exactly; confidence (a lattice posterior, which
	# partial hypotheses along the way nudge) within 0.05
	for x in a b c; do
		grep "^{" $x | jq -c ".results[]? | select(.final) |
			del(.alternatives[].confidence)" >f$x &&
		grep "^{" $x | jq ".results[]? | select(.final) |
			.alternatives[0].confidence" >conf.$x || return 1
	done &&
	test $(wc -l <fa) = 2 && test_cmp fa fb && test_cmp fa fc &&
	paste conf.a conf.b conf.c | awk "{
		for (i = 2; i <= 3; i++)
			if (\$i - \$1 > 0.05 || \$1 - \$i > 0.05) exit 1
	}"
'

test_expect_success 'listens on a unix socket' '
	run_bg gstt-serve --listen "unix:$PWD/speech.sock" 2>>srv.err &&
	wait_for speech.sock &&
	timeout 60 tl-gsttc --addr "unix:$PWD/speech.sock" two.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	finals out >hyp.txt && test "$(wer ref14.txt hyp.txt)" -lt 40
'

test_expect_success 'unary Recognize' '
	serve &&
	gsttc --unary --words two.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	test $(grep -c "^{" out) = 1 &&
	head -n 1 out | jq -e ".billed > 0 and (.results | length) == 2" &&
	finals out >hyp.txt &&
	test "$(wer ref14.txt hyp.txt)" -lt 40 &&
	gsttc --unary --lang de-DE two.ul >out &&
	tail -n 1 out | grep -q "^status INVALID_ARGUMENT .*language_code"
'

test_expect_success 'invalid requests: INVALID_ARGUMENT with a reason' '
	serve &&
	head -c 1600 two.ul >short.ul &&
	check() {
		want=$1; shift
		gsttc "$@" >out &&
		test "$(grep -c "^{" out)" = 0 &&
		tail -n 1 out >st &&
		{ grep -qxF "status INVALID_ARGUMENT $want" st ||
		  { cat st; return 1; }; }
	} &&
	check "Invalid request: the first message must carry '\''streaming_config'\'' and no audio." --no-config short.ul &&
	check "Invalid request: '\''streaming_config'\'' may only be sent in the first message, later messages carry audio_content." --config-twice short.ul &&
	check "Invalid request: audio_content of 30000 bytes is over the limit of 25600 bytes per request." --chunk-bytes 30000 two.ul &&
	check "Invalid recognition '\''config'\'': encoding FLAC (2) is not supported, use MULAW or LINEAR16." --encoding FLAC short.ul &&
	check "Invalid recognition '\''config'\'': encoding ENCODING_UNSPECIFIED (0) is not supported, use MULAW or LINEAR16." --encoding 0 short.ul &&
	check "Invalid recognition '\''config'\'': sample_rate_hertz 44100 is not supported, use 8000 or 16000." --rate 44100 short.ul &&
	check "Invalid recognition '\''config'\'': language_code '\''fr-FR'\'' is not supported, this server recognizes English (en-*)." --lang fr-FR short.ul &&
	check "Invalid recognition '\''config'\'': language_code is required." --lang "" short.ul &&
	check "Invalid recognition '\''config'\'': audio_channel_count 2 is not supported, audio must be mono." --channels 2 short.ul &&
	check "Invalid recognition '\''config'\'': model '\''nonesuch'\'' does not exist." --model nonesuch short.ul &&
	check "Invalid request: the message is not a StreamingRecognizeRequest." --garbage short.ul &&
	gsttc --lang en-GB --chunk-bytes 25600 --model phone_call short.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	m=/google.cloud.speech.v1.Speech/LongRunningRecognize &&
	gsttc --deadline 5 --method $m short.ul >out &&
	tail -n 1 out | grep -qxF "status UNIMPLEMENTED Method not found: $m"
'

test_expect_success 'a stream longer than --max-stream-seconds' '
	serve --max-stream-seconds 3 &&
	gsttc two.ul >out &&
	tail -n 1 out | grep -qxF "status OUT_OF_RANGE Exceeded maximum allowed stream duration of 3 seconds." &&
	finals out >hyp.txt &&
	test $(wc -l <hyp.txt) = 1 && grep -q "^hello" hyp.txt &&
	grep "^{" out | jq -e ".results[]?.end <= 3" >ok && ! grep -q false ok
'

test_expect_success 'no audio for --audio-timeout seconds' '
	serve --audio-timeout 0.5 &&
	msg="Audio Timeout Error: Long duration elapsed without audio. Audio should be sent close to real time." &&
	start=$(date +%s) &&
	gsttc --stall 5 short.ul >out &&
	tail -n 1 out | grep -qxF "status OUT_OF_RANGE $msg" &&
	test $(( $(date +%s) - start )) -lt 4 &&
	: >empty &&
	gsttc --stall 5 empty >out &&
	tail -n 1 out | grep -qxF "status OUT_OF_RANGE $msg"
'

test_expect_success 'single_utterance ends after the first utterance' '
	serve &&
	gsttc --single --interim two.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	grep "^{" out >resp &&
	test $(grep -c END_OF_SINGLE_UTTERANCE resp) = 1 &&
	finals out >hyp.txt && test $(wc -l <hyp.txt) = 1 &&
	grep -q "^hello .* help you today$" hyp.txt &&
	# the event, then the final, which is the last response
	tail -n 2 resp | head -n 1 | grep -q END_OF_SINGLE_UTTERANCE &&
	tail -n 1 resp | jq -e ".results[0].final and .billed > 0"
'

test_expect_success 'voice_activity_timeout: SPEECH_ACTIVITY_TIMEOUT' '
	serve &&
	sox -R -n -r 8000 -c 1 -e u-law -t raw quiet.ul trim 0 3 &&
	cat quiet.ul two.ul >late.ul &&
	gsttc --events --start-timeout 1.5 late.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	test $(grep -c "^{" out) = 1 &&
	head -n 1 out | jq -e ".event == \"SPEECH_ACTIVITY_TIMEOUT\" and
		.time >= 1.5 and .time < 1.7" &&
	gsttc --events --end-timeout 0.2 two.ul >out &&
	tail -n 1 out | grep -qx "status OK " &&
	grep "^{" out | jq -r ".event // \"final\"" >seq &&
	printf "%s\n" SPEECH_ACTIVITY_BEGIN SPEECH_ACTIVITY_END final \
		SPEECH_ACTIVITY_TIMEOUT >expect &&
	test_cmp expect seq &&
	gsttc --start-timeout 1 short.ul >out &&
	tail -n 1 out | grep -qxF "status INVALID_ARGUMENT Invalid request: '\''voice_activity_timeout'\'' requires '\''enable_voice_activity_events'\''."
'

test_expect_success 'two streams at once, both right; a third is refused' '
	serve --max-streams 2 --pool 2 &&
	sox -R sil.wav s6.wav sil.wav s7.wav sil.wav bb.wav &&
	sox -R bb.wav -r 8000 -e u-law -t raw bb.ul &&
	sed -n 6,7p ref.txt >ref67.txt &&
	{ gsttc --realtime two.ul >o1 & p1=$!; } &&
	{ gsttc --realtime bb.ul >o2 & p2=$!; } &&
	sleep 1 &&
	gsttc two.ul >o3 &&
	tail -n 1 o3 | grep -qx "status RESOURCE_EXHAUSTED Too many concurrent streams: this server decodes at most 2 at once." &&
	wait $p1 && wait $p2 &&
	tail -n 1 o1 | grep -qx "status OK " &&
	tail -n 1 o2 | grep -qx "status OK " &&
	finals o1 >h1 && finals o2 >h2 &&
	test "$(wer ref14.txt h1)" -lt 40 && test "$(wer ref67.txt h2)" -lt 40
'

test_expect_success 'SIGTERM: streams finish, then exit 0' '
	serve --drain 20 &&
	{ gsttc --realtime two.ul >o1 & p1=$!; } &&
	sleep 1 && kill -TERM $SRV &&
	wait $p1 && tail -n 1 o1 | grep -qx "status OK " &&
	finals o1 >h1 && test "$(wer ref14.txt h1)" -lt 40 &&
	wait $SRV
'

test_expect_success 'SIGTERM: past --drain, streams are cancelled' '
	serve --drain 0.5 &&
	{ gsttc --realtime ten.ul >o1 & p1=$!; } &&
	sleep 1 && kill -TERM $SRV &&
	start=$(date +%s) &&
	wait $SRV &&
	test $(( $(date +%s) - start )) -lt 5 &&
	wait $p1 && tail -n 1 o1 | grep -q "^status \(CANCELLED\|UNAVAILABLE\)"
'

test_expect_success '/metrics counts calls, audio, results and statuses' '
	mp=$(free_port) &&
	serve --metrics 127.0.0.1:$mp --max-streams 1 &&
	gsttc two.ul >out && gsttc --lang xx short.ul >out2 &&
	curl -sf http://127.0.0.1:$mp/metrics >m &&
	grep -qx "gstt_calls_total{method=\"StreamingRecognize\"} 2" m &&
	grep -qx "gstt_status_total{code=\"OK\"} 1" m &&
	grep -qx "gstt_status_total{code=\"INVALID_ARGUMENT\"} 1" m &&
	grep -qx "gstt_results_total{final=\"true\"} 2" m &&
	grep -qx "gstt_streams_active 0" m &&
	grep -qx "gstt_decoders{state=\"idle\"} 1" m &&
	a=$(sed -n "s/^gstt_audio_seconds_total //p" m) &&
	test "$a" = "$(awk -v n=$(wc -c <two.ul) "BEGIN{printf \"%.3f\", n/8000}")" &&
	! curl -sf http://127.0.0.1:$mp/other
'

test_done
