#!/bin/bash
test_description='tw-mediasrv receives streams and writes every message'
. "$(dirname "$0")/test-lib.sh"

# stream_lines SID CALL N: a Twilio stream of N media messages per track,
# one message per line, as Twilio sends them.
stream_lines() {
	local i seq t p
	printf '{"event":"connected","protocol":"Call","version":"1.0.0"}\n'
	printf '{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC%s","streamSid":"%s","callSid":"%s","tracks":["inbound","outbound"],"customParameters":{"agent":"bob"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"%s"}\n' \
		00000000000000000000000000000001 "$1" "$2" "$1"
	i=1; seq=2
	while [ $i -le "$3" ]; do
		for t in inbound outbound; do
			p=$(head -c 160 /dev/urandom | base64 -w0)
			printf '{"event":"media","sequenceNumber":"%d","media":{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"},"streamSid":"%s"}\n' \
				$seq $t $i $(( (i - 1) * 20 )) "$p" "$1"
			seq=$((seq + 1))
		done
		i=$((i + 1))
	done
	printf '{"event":"stop","sequenceNumber":"%d","stop":{"accountSid":"AC00000000000000000000000000000001","callSid":"%s"},"streamSid":"%s"}\n' \
		$seq "$2" "$1"
}

# as_script FILE: tl-wsclient commands sending each line as a text frame.
as_script() {
	sed 's/^/text /' "$1"
}

SID1=MZ11111111111111111111111111111111
SID2=MZ22222222222222222222222222222222
CALL1=CA11111111111111111111111111111111
CALL2=CA22222222222222222222222222222222


test_expect_success 'refuses a public address without a token' '
	expect_status 1 tw-mediasrv --listen 0.0.0.0:$(free_port) 2>err &&
	grep -q "refusing to listen on .*TWILIO_AUTH_TOKEN" err
'

test_expect_success 'bad --listen and --path are usage errors' '
	expect_status 2 tw-mediasrv --listen nowhere 2>err &&
	grep -q "invalid --listen" err &&
	expect_status 2 tw-mediasrv --path media 2>err
'

test_expect_success '/healthz and /metrics answer, other paths 404' '
	start_server &&
	curl -sf http://127.0.0.1:$port/healthz >h &&
	echo ok >expect && test_cmp expect h &&
	curl -sf http://127.0.0.1:$port/metrics >m &&
	grep -q "^tw_mediasrv_streams 0$" m &&
	grep -q "^# TYPE tw_mediasrv_messages_total counter$" m &&
	test "$(curl -s -o /dev/null -w "%{http_code}" \
		http://127.0.0.1:$port/nothing)" = 404 &&
	stop_server
'

test_expect_success 'one stream: every message out, unchanged, in order' '
	stream_lines $SID1 $CALL1 50 >in.ndjson &&
	start_server &&
	as_script in.ndjson | tl-wsclient $URL >client.out &&
	grep -q "^connected$" client.out &&
	stop_server &&
	test_cmp in.ndjson srv.out
'

test_expect_success 'line breaks between tokens are removed, nothing else' '
	start_server &&
	printf "{\"event\":\r\n \"connected\",\n\"protocol\":\"Call\", \"version\":\"1.0.0\"}" >pretty.json &&
	echo "textfile pretty.json" | tl-wsclient $URL >client.out &&
	stop_server &&
	printf "{\"event\": \"connected\",\"protocol\":\"Call\", \"version\":\"1.0.0\"}\n" >expect &&
	test_cmp expect srv.out
'

test_expect_success 'a message in fragments is reassembled' '
	stream_lines $SID1 $CALL1 2 >in.ndjson &&
	start_server &&
	{
		sed -n 1,2p in.ndjson | sed "s/^/text /" &&
		sed -n 3p in.ndjson | sed "s/^/frag 7 /" &&
		sed -n "4,\$p" in.ndjson | sed "s/^/text /"
	} | tl-wsclient $URL >client.out &&
	stop_server &&
	test_cmp in.ndjson srv.out
'

test_expect_success 'twenty concurrent streams are kept whole and apart' '
	start_server &&
	i=10 && pids= &&
	while [ $i -lt 30 ]; do
		stream_lines MZ000000000000000000000000000000$i \
			CA000000000000000000000000000000$i 25 >in.$i &&
		(as_script in.$i | tl-wsclient $URL >/dev/null) &
		pids="$pids $!" && i=$((i + 1))
	done &&
	for p in $pids; do wait $p || return 1; done &&
	stop_server &&
	test $(wc -l <srv.out) = $((20 * 53)) &&
	i=10 &&
	while [ $i -lt 30 ]; do
		grep "MZ000000000000000000000000000000$i" srv.out \
			>got.$i || return 1
		tail -n +2 in.$i >want.$i &&
		test_cmp want.$i got.$i || return 1
		i=$((i + 1))
	done
'

# Bad input: each case runs beside a healthy stream that must come out
# whole, and the server must stay up.
bad_n=0
bad_case() {
	bad_n=$((bad_n + 1))
	printf '%s\n' "$2" >"$TRASH/bad.script.$bad_n"
	printf '%s\n' "$3" >"$TRASH/bad.check.$bad_n"
	test_expect_success "bad input: $1" "run_bad_case $bad_n"
}
run_bad_case() {
	start_server --max-frame 4k --start-timeout 2 &&
	stream_lines $SID2 $CALL2 100 >healthy.ndjson &&
	{ (sed 's/^/sleep 5\ntext /' healthy.ndjson |
		tl-wsclient --timeout 30 $URL >healthy.out) & } &&
	hpid=$! &&
	tl-wsclient --timeout 10 $URL <bad.script.$1 >bad.out
	wait $hpid &&
	curl -sf http://127.0.0.1:$port/metrics >metrics &&
	stop_server &&
	grep $SID2 srv.out >healthy.got &&
	tail -n +2 healthy.ndjson >healthy.want &&
	test_cmp healthy.want healthy.got &&
	eval "$(cat bad.check.$1)"
}

START1=$(stream_lines $SID1 $CALL1 1 | sed -n 2p)
MEDIA1=$(stream_lines $SID1 $CALL1 1 | sed -n 3p)
STOP1=$(stream_lines $SID1 $CALL1 1 | sed -n 5p)

bad_case 'invalid JSON is skipped, the stream goes on' \
"text $START1
text {\"event\":\"media\",
text $MEDIA1
text $STOP1
close" \
'grep -c "^{\"event\":\"media\"" srv.out | grep -q 201 &&
 grep -q "invalid message" srv.err &&
 grep -q "tw_mediasrv_bad_messages_total{kind=\"json\"} 1" metrics'

bad_case 'invalid base64 payload is skipped' \
"text $START1
text $(printf '%s' "$MEDIA1" | sed 's/"payload":"/"payload":"*/')
text $STOP1
close" \
'test $(grep -c $SID1 srv.out) = 2 &&
 grep -q "kind=\"base64\"} 1" metrics'

bad_case 'media before start is skipped' \
"text $MEDIA1
text $START1
text $STOP1
close" \
'test $(grep -c $SID1 srv.out) = 2 &&
 grep -q "before .start." srv.err &&
 grep -q "kind=\"order\"} 1" metrics'

bad_case 'a second start is skipped' \
"text $START1
text $START1
text $STOP1
close" \
'test $(grep -c "\"event\":\"start\".*$SID1" srv.out) = 1 &&
 grep -q "second .start." srv.err'

bad_case 'media naming another stream is skipped' \
"text $START1
text $(printf '%s' "$MEDIA1" | sed "s/$SID1/$SID2/")
text $STOP1
close" \
'grep -q "kind=\"sid\"} 1" metrics'

bad_case 'a reserved event name is refused; unknown events pass' \
"text $START1
text {\"event\":\"disconnect\",\"streamSid\":\"$SID1\"}
text {\"event\":\"future\",\"streamSid\":\"$SID1\"}
text $STOP1
close" \
'! grep -q "\"event\":\"disconnect\",\"streamSid\":\"$SID1\"}" srv.out &&
 grep -q "\"event\":\"future\"" srv.out &&
 grep -q "kind=\"reserved\"} 1" metrics'

bad_case 'a binary frame closes the stream with 1003' \
"text $START1
binary 0102ff
wait-close" \
'grep -q "^closed 1003$" bad.out &&
 grep -q "\"event\":\"disconnect\",\"streamSid\":\"$SID1\".*\"reason\":\"bad input\",\"code\":1003" srv.out'

bad_case 'a message over --max-frame closes with 1009' \
"text $START1
text {\"event\":\"mark\",\"streamSid\":\"$SID1\",\"mark\":{\"name\":\"$(head -c 5000 /dev/zero | tr '\0' x)\"}}
wait-close" \
'grep -q "^closed 1009$" bad.out &&
 grep -q "kind=\"too_big\"} 1" metrics'

bad_case 'a second stream with the same streamSid is closed' \
"sleep 300
text $(printf '%s' "$START1" | sed "s/$SID1/$SID2/g")
wait-close" \
'grep -q "^closed 1008$" bad.out &&
 grep -q "kind=\"duplicate_stream\"} 1" metrics'

bad_case 'a socket closed without stop gives a disconnect event' \
"text $START1
text $MEDIA1
close" \
'grep -q "^{\"event\":\"disconnect\",\"streamSid\":\"$SID1\",\"disconnect\":{\"callSid\":\"$CALL1\",\"accountSid\":\"AC00000000000000000000000000000001\",\"reason\":\"closed\",\"code\":1000}}$" srv.out'

bad_case 'no start within --start-timeout: closed' \
"sleep 3500
wait-close" \
'grep -q "^closed" bad.out && grep -q "kind=\"no_start\"} 1" metrics'

test_expect_success 'a handshake that never finishes is closed' '
	start_server --handshake-timeout 1 &&
	exec 3<>/dev/tcp/127.0.0.1/$port &&
	printf "GET /media HTTP/1.1\r\n" >&3 &&
	timeout 8 cat <&3 >/dev/null &&
	exec 3<&- &&
	curl -sf http://127.0.0.1:$port/healthz &&
	stop_server
'

# --- signatures -----------------------------------------------------
sign() {	# sign URL: Twilio's signature of a URL with no parameters
	printf '%s' "$1" | openssl dgst -sha1 -hmac "$TWILIO_AUTH_TOKEN" \
		-binary | base64
}

test_expect_success 'signatures: unsigned and wrongly signed refused (403)' '
	TWILIO_AUTH_TOKEN=s3cret && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	start_server --public-url wss://calls.example.com/media &&
	echo close | tl-wsclient $URL >out1;
	grep -q "^refused 403$" out1 &&
	echo close | tl-wsclient --header "X-Twilio-Signature: $(TWILIO_AUTH_TOKEN=other sign wss://calls.example.com/media)" $URL >out2;
	grep -q "^refused 403$" out2 &&
	curl -sf http://127.0.0.1:$port/metrics >m &&
	grep -q "refused_total{reason=\"signature\"} 2" m &&
	! grep -q s3cret srv.err &&
	stop_server
'

test_expect_success 'signatures: the variants Twilio signs are accepted' '
	TWILIO_AUTH_TOKEN=s3cret && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	start_server --public-url wss://calls.example.com/media &&
	for u in wss://calls.example.com/media wss://calls.example.com/media/ \
		 wss://calls.example.com:443/media; do
		echo close | tl-wsclient --header "X-Twilio-Signature: $(sign $u)" \
			$URL >out || return 1
		grep -q "^connected$" out || return 1
	done &&
	stop_server
'

test_expect_success 'signatures: tw-simcall signs, and its stream gets in' '
	TWILIO_AUTH_TOKEN=s3cret && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	start_server &&
	sox -n -r 8000 -c 1 -e u-law -t raw in.ul synth 0.2 sine 300 &&
	tw-simcall --pace fast --inbound in.ul \
		--sign-url wss://127.0.0.1:$port/media $URL >sum &&
	stop_server &&
	grep -q "\"completed\":1" sum &&
	test $(grep -c "\"event\":\"media\"" srv.out) = 10
'

# --- shutdown and back-pressure ----------------------------------------
test_expect_success 'SIGTERM drains: open streams end as disconnects (1001)' '
	start_server --drain 0.5 &&
	{ printf "text %s\nwait-close\n" "$START1" |
		tl-wsclient --timeout 10 $URL >client.out & } &&
	cpid=$! &&
	wait_for srv.out "\"start\"" &&
	stop_server &&
	wait $cpid;
	grep -q "^closed 1001$" client.out &&
	tail -n 1 srv.out | grep -q "\"reason\":\"shutdown\",\"code\":1001"
'

test_expect_success 'a stalled reader: drops are counted and reported' '
	mkfifo fifo &&
	port=$(free_port) &&
	run_bg sh -c "exec tw-mediasrv --listen 127.0.0.1:$port --buffer 4k >fifo 2>srv.err" &&
	srv_pid=$! &&
	exec 4<fifo &&
	wait_port $port &&
	stream_lines $SID1 $CALL1 400 >in.ndjson &&
	as_script in.ndjson | tl-wsclient --timeout 30 ws://127.0.0.1:$port/media >/dev/null &&
	n=0 &&
	until curl -sf http://127.0.0.1:$port/metrics >metrics &&
	      grep -q "messages_total{event=\"stop\"} 1" metrics; do
		test $n -lt 100 || return 1
		sleep 0.1; n=$((n + 1))
	done &&
	{ cat <&4 >srv.out & } &&
	rpid=$! &&
	stop_server &&
	wait $rpid && exec 4<&- &&
	grep -q "^{\"event\":\"dropped\",\"streamSid\":\"$SID1\",\"dropped\":{\"messages\":[1-9]" srv.out &&
	grep -q "output full" srv.err &&
	dropped=$(sed -n "s/^tw_mediasrv_dropped_messages_total //p" metrics) &&
	test "$dropped" -gt 0 &&
	test $(($(grep -vc "\"event\":\"dropped\"" srv.out) + dropped)) = \
		$(wc -l <in.ndjson)
'

test_done
