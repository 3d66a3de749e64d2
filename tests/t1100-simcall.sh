#!/bin/bash
test_description='tw-simcall plays audio files as Twilio Media Streams'
. "$(dirname "$0")/test-lib.sh"

CONNECTED='{"event":"connected","protocol":"Call","version":"1.0.0"}'


# payloads TRACK [SID] < capture: the track's audio, base64-decoded
payloads() {
	jq -r --arg t "$1" --arg s "${2:-}" \
		'select(.event == "media" and .media.track == $t and
			($s == "" or .streamSid == $s)) | .media.payload' |
	perl -MMIME::Base64 -ne 'print decode_base64($_)'
}

# summary KEY < stdout of tw-simcall: that number of the summary line
summary() {
	jq -e ".$1"
}

# The shape of one stream in a capture; --argjson nin/nout: media per track.
cat >stream.jq <<'EOF'
def check(c; m): if c then . else error(m) end;
[.[] | select(.event != "connected")] as $m
| $m[0] as $start
| check($start.event == "start" and $start.sequenceNumber == "1";
	"the first message after connected is not start 1")
| check($m[-1].event == "stop"; "the last message is not stop")
| check([$m[] | .sequenceNumber] ==
	[range(1; ($m | length) + 1) | tostring]; "sequence numbers skip")
| check([$m[] | .streamSid] | unique == [$start.start.streamSid];
	"streamSid differs between messages")
| check($m[-1].stop.callSid == $start.start.callSid and
	$m[-1].stop.accountSid == $start.start.accountSid;
	"stop names another call")
| check($start.start.mediaFormat ==
	{"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1};
	"bad mediaFormat")
| [$m[] | select(.event == "media")] as $media
| check([$media[] | [(.media.chunk | tonumber),
		     (if .media.track == "inbound" then 0 else 1 end)]]
	| . == sort; "tracks out of order within a tick")
| ["inbound", "outbound"] as $tracks
| [$nin, $nout] as $want
| reduce (0, 1) as $i (.;
	[$media[] | select(.media.track == $tracks[$i]) | .media] as $t
	| check(($t | length) == $want[$i];
		"\($tracks[$i]): \($t | length) chunks, not \($want[$i])")
	| check([$t[] | .chunk] == [range(1; $want[$i] + 1) | tostring];
		"\($tracks[$i]): chunks not numbered 1, 2, ...")
	| check([$t[] | .timestamp] ==
		[range(0; $want[$i]) | . * 20 | tostring];
		"\($tracks[$i]): timestamps are not (chunk-1)*20"))
| "ok"
EOF

# check_stream NIN NOUT < capture of one stream
check_stream() {
	jq -e -s -r --argjson nin "$1" --argjson nout "$2" -f stream.jq
}

test_expect_success 'make test audio' '
	sox -n -r 8000 -c 1 -e u-law -t raw in.ul synth 1 sine 440 &&
	sox -n -r 8000 -c 1 -e u-law -t raw out.ul synth 1 sine 300 &&
	sox -n -r 8000 -c 1 -e u-law -t raw short.ulaw synth 0.51 sine 500 &&
	sox -n -r 8000 -c 1 -e u-law -t raw loop.raw synth 0.3 sine 700 &&
	sox -n -r 8000 -c 1 -e u-law ulaw.wav synth 0.7 sine 600 &&
	sox -n -r 8000 -c 1 -e u-law ulaw.au synth 0.3 sine 650 &&
	sox -n -r 16000 -c 2 -b 16 stereo16k.wav synth 2 sine 440 &&
	test $(wc -c <in.ul) = 8000 &&
	: >empty.ul &&
	echo "not audio at all" >text.wav
'

test_expect_success 'usage errors exit 2' '
	expect_status 2 tw-simcall 2>err &&
	grep -q "missing URL" err &&
	expect_status 2 tw-simcall ws://127.0.0.1:1/media 2>err &&
	grep -q "inbound" err &&
	expect_status 2 tw-simcall -i in.ul http://127.0.0.1:1/ 2>err &&
	grep -q "not a ws:// or wss:// URL" err &&
	expect_status 2 tw-simcall -i in.ul ws://a/ ws://b/ 2>err &&
	expect_status 2 tw-simcall -i in.ul --pace slow ws://a/ 2>err &&
	grep -q "invalid value .slow. for --pace" err &&
	expect_status 2 tw-simcall -i in.ul --chunk 0 ws://a/ 2>err &&
	expect_status 2 tw-simcall -i in.ul --duration 0 ws://a/ 2>err &&
	expect_status 2 tw-simcall -i in.ul --param novalue ws://a/ 2>err &&
	expect_status 2 tw-simcall -i in.ul ws://127.0.0.1:99999/ 2>err &&
	grep -q "bad port" err &&
	expect_status 2 tw-simcall -i 2>err &&
	grep -q "needs a value" err &&
	grep -q "Try .tw-simcall --help." err
'

test_expect_success 'a file that cannot be read: exit 1, nothing sent' '
	expect_status 1 tw-simcall -i nosuch.wav ws://127.0.0.1:1/ >out 2>err &&
	grep -q "^tw-simcall: cannot open .nosuch.wav.: No such file" err &&
	test ! -s out &&
	expect_status 1 tw-simcall -o nosuch.ul ws://127.0.0.1:1/ 2>err &&
	grep -q "cannot open .nosuch.ul." err &&
	expect_status 1 tw-simcall -i text.wav ws://127.0.0.1:1/ 2>err &&
	grep -q "cannot read .text.wav.: " err &&
	expect_status 1 tw-simcall -i empty.ul ws://127.0.0.1:1/ 2>err &&
	grep -q "empty.ul.: no audio" err
'

test_expect_success 'connection refused: exit 1, failed=1 in the summary' '
	port=$(free_port) &&
	URL=ws://127.0.0.1:$port/media &&
	expect_status 1 tw-simcall -i in.ul --pace fast $URL >out 2>err &&
	test $(summary calls <out) = 1 &&
	test $(summary failed <out) = 1 &&
	test $(summary completed <out) = 0 &&
	test $(summary media <out) = 0 &&
	sid="MZ[0-9a-f]{32}" &&
	grep -Eq "^tw-simcall: call 0 $sid: .$URL.: cannot connect" err
'

test_expect_success 'one call, two tracks: every message as Twilio sends it' '
	start_server &&
	tw-simcall -i in.ul -o out.ul --pace fast -P agent=bob \
		-P "greeting=hello world" $URL >out 2>err &&
	stop_server &&
	test ! -s err &&
	check_stream 50 50 <srv.out &&
	head -n 1 srv.out >first &&
	echo "$CONNECTED" >expect &&
	test_cmp expect first &&
	jq -e -s ".[1].start.tracks == [\"inbound\", \"outbound\"] and
		.[1].start.customParameters ==
			{\"agent\": \"bob\", \"greeting\": \"hello world\"}" \
		srv.out &&
	jq -e -s "[.[] | select(.event == \"start\") | .start |
		(.accountSid, .callSid, .streamSid)] |
		map(test(\"^(AC|CA|MZ)[0-9a-f]{32}$\")) == [true, true, true]" \
		srv.out &&
	payloads inbound <srv.out >got.in && test_cmp in.ul got.in &&
	payloads outbound <srv.out >got.out && test_cmp out.ul got.out &&
	test $(summary completed <out) = 1 &&
	test $(summary failed <out) = 0 &&
	test $(summary messages <out) = 103 &&
	test $(summary media <out) = 100 &&
	test $(summary bytes <out) = 16000
'

test_expect_success 'a shorter track ends early; its last chunk is short' '
	start_server &&
	tw-simcall -i in.ul -o short.ulaw --pace fast $URL >out &&
	stop_server &&
	check_stream 50 26 <srv.out &&
	payloads outbound <srv.out >got.out && test_cmp short.ulaw got.out &&
	jq -r "select(.event == \"media\" and .media.chunk == \"26\" and
		.media.track == \"outbound\") | .media.payload" srv.out >last &&
	test $(perl -MMIME::Base64 -ne "print length decode_base64(\$_)" \
		last) = 80 &&
	test $(summary bytes <out) = $((8000 + 4080))
'

test_expect_success 'one track only: start lists only that track' '
	start_server &&
	tw-simcall -o out.ul --pace fast $URL >out &&
	stop_server &&
	check_stream 0 50 <srv.out &&
	jq -e -s ".[1].start.tracks == [\"outbound\"]" srv.out
'

test_expect_success 'mu-law WAV and AU files are sent byte for byte' '
	sox ulaw.wav -t raw ulaw.wav.raw && sox ulaw.au -t raw ulaw.au.raw &&
	start_server &&
	tw-simcall -i ulaw.wav -o ulaw.au --pace fast $URL >out &&
	stop_server &&
	check_stream 35 15 <srv.out &&
	payloads inbound <srv.out >got.in && test_cmp ulaw.wav.raw got.in &&
	payloads outbound <srv.out >got.out && test_cmp ulaw.au.raw got.out
'

test_expect_success 'other audio is mixed down and resampled to 8 kHz' '
	start_server &&
	tw-simcall -i stereo16k.wav --pace fast $URL >out &&
	stop_server &&
	check_stream 100 0 <srv.out &&
	test $(summary bytes <out) = 16000 &&
	payloads inbound <srv.out >got.in &&
	sox -t raw -r 8000 -e u-law -c 1 got.in -n stat 2>stat &&
	freq=$(sed -n "s/^Rough   frequency: *//p" stat) &&
	test $freq -gt 420 && test $freq -lt 460
'

test_expect_success '--duration loops the audio, --chunk sets the size' '
	start_server &&
	tw-simcall -i loop.raw --duration 1 --chunk 40 --pace fast $URL >out &&
	stop_server &&
	jq -e -s "[.[] | select(.event == \"media\") | .media.timestamp] ==
		[range(0; 25) | . * 40 | tostring]" srv.out &&
	payloads inbound <srv.out >got.in &&
	cat loop.raw loop.raw loop.raw >expect &&
	head -c 800 loop.raw >>expect &&
	test_cmp expect got.in
'

test_expect_success 'several calls: each its own stream and SIDs' '
	start_server &&
	tw-simcall -i in.ul -o out.ul --pace fast --calls 5 $URL >out &&
	stop_server &&
	test $(summary calls <out) = 5 &&
	test $(summary completed <out) = 5 &&
	test $(summary media <out) = 500 &&
	test $(grep -c "\"event\":\"connected\"" srv.out) = 5 &&
	jq -r "select(.event == \"start\") | .streamSid" srv.out >sids &&
	test $(sort -u sids | wc -l) = 5 &&
	jq -r "select(.event == \"start\") | .start.callSid" srv.out |
		sort -u >calls && test $(wc -l <calls) = 5 &&
	jq -r "select(.event == \"start\") | .start.accountSid" srv.out |
		sort -u >accounts && test $(wc -l <accounts) = 1 &&
	while read sid; do
		jq -c --arg s $sid "select(.streamSid == \$s)" srv.out |
			check_stream 50 50 &&
		payloads inbound $sid <srv.out >got.in &&
		test_cmp in.ul got.in || return 1
	done <sids
'

test_expect_success 'realtime pacing takes as long as the audio' '
	start_server &&
	tw-simcall -i in.ul -o out.ul --calls 2 $URL >out &&
	tw-simcall -i in.ul --pace 4 $URL >out4 &&
	stop_server &&
	test $(summary completed <out) = 2 &&
	jq -e ".seconds >= 0.97" out &&
	jq -e ".seconds >= 0.24 and .seconds < 0.9" out4
'

test_expect_success '--stamp puts the send time in the first 8 bytes' '
	start_server &&
	tw-simcall -i in.ul --stamp --pace 10 $URL >out &&
	stop_server &&
	jq -r "select(.event == \"media\") | .media.payload" srv.out |
	perl -MMIME::Base64 -ne "
		my \$b = decode_base64(\$_);
		my (\$lo, \$hi) = unpack(q(VV), \$b);
		print \$hi * 4294967296 + \$lo, qq( ), unpack(q(H*), substr(\$b, 8)), qq(\n);
	" >stamps &&
	test $(wc -l <stamps) = 50 &&
	cut -d " " -f 1 stamps >times && sort -n -c times &&
	first=$(head -n 1 times) && last=$(tail -n 1 times) &&
	test $((last - first)) -ge 95000 &&
	test_must_fail grep -qx 0 times &&
	i=0 && while read t rest; do
		dd if=in.ul bs=1 skip=$((i * 160 + 8)) count=152 2>/dev/null |
			od -An -tx1 -v | tr -d " \n" >want &&
		test "$rest" = "$(cat want)" || return 1
		i=$((i + 1))
	done <stamps
'

test_expect_success '--no-stop closes with 1000 and no stop message' '
	start_server &&
	tw-simcall -i in.ul --pace fast --no-stop $URL >out &&
	stop_server &&
	test_must_fail grep -q "\"event\":\"stop\"" srv.out &&
	test $(grep -c "\"event\":\"media\"" srv.out) = 50 &&
	jq -e -s "[.[] | select(.event == \"disconnect\")] | length == 1 and
		.[0].disconnect.code == 1000" srv.out &&
	test $(summary completed <out) = 1
'

test_expect_success '--disconnect-after drops the connection mid-stream' '
	start_server &&
	tw-simcall -i in.ul -o out.ul --pace fast --disconnect-after 3 \
		$URL >out &&
	stop_server &&
	test $(grep -c "\"event\":\"media\"" srv.out) = 3 &&
	test_must_fail grep -q "\"event\":\"stop\"" srv.out &&
	jq -e -s "[.[] | select(.event == \"disconnect\")] | length == 1 and
		.[0].disconnect.code == 1006" srv.out &&
	test $(summary media <out) = 3
'

test_expect_success 'signs the upgrade when TWILIO_AUTH_TOKEN is set' '
	TWILIO_AUTH_TOKEN=secret1 &&
	export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN TWILIO_ACCOUNT_SID" &&
	start_server --public-url wss://calls.example.com/media &&
	TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef \
	tw-simcall -i in.ul --pace fast \
		--sign-url wss://calls.example.com/media $URL >out &&
	test $(summary completed <out) = 1 &&
	expect_status 1 tw-simcall -i in.ul --pace fast $URL >out2 2>err2 &&
	grep -q "handshake refused: 403" err2 &&
	test $(summary failed <out2) = 1 &&
	TWILIO_AUTH_TOKEN=wrong expect_status 1 tw-simcall -i in.ul \
		--pace fast --sign-url wss://calls.example.com/media \
		$URL >out3 2>err3 &&
	grep -q "handshake refused: 403" err3 &&
	stop_server &&
	test $(grep -c "\"event\":\"start\"" srv.out) = 1 &&
	jq -e -s "[.[] | select(.event == \"start\")][0].start.accountSid ==
		\"AC0123456789abcdef0123456789abcdef\"" srv.out
'

test_expect_success 'wss: a self-signed certificate needs --insecure' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
		-out cert.pem -days 2 -subj /CN=localhost 2>/dev/null &&
	start_server --cert cert.pem --key key.pem &&
	expect_status 1 tw-simcall -i in.ul --pace fast \
		wss://127.0.0.1:$port/media >out 2>err &&
	grep -q "cannot connect" err &&
	tw-simcall -i in.ul --pace fast --insecure \
		wss://127.0.0.1:$port/media >out &&
	stop_server &&
	check_stream 50 0 <srv.out &&
	payloads inbound <srv.out >got.in && test_cmp in.ul got.in
'

test_expect_success 'SIGTERM ends every stream with stop, exit 0' '
	start_server &&
	run_bg tw-simcall -i in.ul -o out.ul --duration 60 --calls 3 \
		$URL >out 2>err &&
	sim=$! &&
	wait_for srv.out "\"chunk\":\"5\"" &&
	kill -TERM $sim &&
	wait $sim &&
	stop_server &&
	test $(summary completed <out) = 3 &&
	test $(grep -c "\"event\":\"stop\"" srv.out) = 3 &&
	test $(summary media <out) -lt 3000
'

test_expect_success 'a server that closes early: exit 1, the code named' '
	start_server --drain 0.2 &&
	run_bg tw-simcall -i in.ul --duration 60 $URL >out 2>err &&
	sim=$! &&
	wait_for srv.out "\"chunk\":\"3\"" &&
	kill -TERM $srv_pid && wait $srv_pid;
	expect_status 1 wait $sim &&
	grep -Eq "call 0 MZ[0-9a-f]{32}: .*closed by the server: 1001" err &&
	test $(summary failed <out) = 1
'

test_expect_success 'tl-wsclient: connected, refused, closed' '
	start_server &&
	echo "text {\"event\":\"connected\"}" |
		tl-wsclient $URL >client.out &&
	echo connected >expect && test_cmp expect client.out &&
	echo close | expect_status 1 tl-wsclient \
		ws://127.0.0.1:$port/elsewhere >client.out &&
	echo "refused 404" >expect && test_cmp expect client.out &&
	printf "binary 0001\nwait-close\n" | tl-wsclient $URL >client.out &&
	printf "connected\nclosed 1003\n" >expect && test_cmp expect client.out &&
	stop_server
'

test_done
