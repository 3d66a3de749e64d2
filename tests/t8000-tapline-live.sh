#!/bin/bash
test_description='tapline-live and tapline-dial end to end: tl-faketwilio and tw-simcall play Twilio'
. "$(dirname "$0")/test-lib.sh"

CALLED="hello this is the front desk how can i help"
AGENT="i would like to book a table for two people tomorrow evening"

export TAPLINE_NO_BUILD=1 TAPLINE_BIN=$TAPLINE_BUILD/bin TAPLINE_WEB=$TOP/web
export TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000
export TWILIO_AUTH_TOKEN=tl-fake-token TWILIO_CALLER_ID=+15550001111
unset GOOGLE_APPLICATION_CREDENTIALS TAPLINE_PUBLIC_URL TWILIO_API_KEY

# live: start tapline-live on free ports; sets live_pid, mport, bport
live() {
	three_ports && mport=$port1 bport=$port2 gport=$port3 &&
	export TAPLINE_MEDIA_LISTEN=127.0.0.1:$mport \
		TAPLINE_BROADCAST_LISTEN=127.0.0.1:$bport \
		TAPLINE_SPEECH_LISTEN=127.0.0.1:$gport \
		TAPLINE_STATE_DIR=$PWD/state &&
	rm -rf live.out live.err state &&
	run_bg sh -c "exec tapline-live \"\$@\" >live.out 2>live.err" \
		tapline-live "$@" &&
	live_pid=$! &&
	test_when_finished "kill_tree $live_pid" &&
	wait_for live.out "^tapline is live" 600
}

# fake_twilio [options]: the REST stand-in; sets TWILIO_API_BASE
fake_twilio() {
	rport=$(free_port) &&
	run_bg "$TEST_DIR/helpers/tl-faketwilio" --port $rport --log rest.log \
		--progress "queued:0.2,ringing:0.3,in-progress" "$@" &&
	wait_port $rport &&
	export TWILIO_API_BASE=http://127.0.0.1:$rport
}

# The called party answers: tw-simcall plays both sides of the call, with
# the call's SID and the parameters of its TwiML, to the stream URL.
cat >answer.sh <<'EOF'
set -- --call-sid "$TL_CALL_SID" --inbound called.ul --outbound agent.ul
while IFS= read -r p; do
	[ -n "$p" ] && set -- "$@" --param "$p"
done <<PARAMS
$TL_PARAMS
PARAMS
# signed as Twilio signs: the wss:// URL a TLS proxy would forward here
exec tw-simcall --pace "${PACE:-fast}" --sign-url "wss://${TL_STREAM_URL#ws://}" \
	"$@" "$TL_STREAM_URL" >>answer.out 2>&1
EOF

test_expect_success 'setup: the two voices' '
	say_ul rms "$CALLED" called.ul &&
	say_ul awb "$AGENT" agent.ul &&
	cat called.ul called.ul called.ul called.ul called.ul >long.ul
'

test_expect_success 'tapline-live --check prints the pipeline and the URLs' '
	TAPLINE_PUBLIC_URL=https://calls.example.com TAPLINE_STATE_DIR=st \
		tapline-live --check >out &&
	grep -q "^gstt-serve --listen 127.0.0.1:50051" out &&
	grep -q "^tw-mediasrv --listen 127.0.0.1:8080 --public-url wss://calls.example.com/media | mulaw-split --exec .gstt-stream --language en-US --endpoint 127.0.0.1:50051" out &&
	grep -q "ts-broadcast --listen 127.0.0.1:8090 --journal st/journal.ndjson" out &&
	grep -q "voice webhook: *https://calls.example.com/twiml" out &&
	grep -q "status callback: *https://calls.example.com/status" out &&
	test ! -e st &&
	TAPLINE_ON_CALL="say:Hello there" tapline-live --check >out &&
	grep -q "^tw-mediasrv --listen 127.0.0.1:8080 --on-call say:Hello there |" out
'

test_expect_success 'the configuration file, and the environment over it' '
	cat >my.env <<-EOF &&
	# a comment
	TAPLINE_MEDIA_LISTEN=127.0.0.1:9999
	TAPLINE_LANGUAGE=fr-FR
	GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/key.json
	EOF
	TAPLINE_LANGUAGE=de-DE tapline-live -c my.env --check >out &&
	grep -q "^tw-mediasrv --listen 127.0.0.1:9999 " out &&
	grep -q "gstt-stream --language de-DE" out &&
	! grep -q "^gstt-serve" out &&
	expect_status 1 tapline-live -c no-such.env --check 2>err &&
	grep -q "cannot read .no-such.env." err
'

test_expect_success 'tapline-dial: a call placed, streamed, transcribed, kept' '
	fake_twilio --answer "sh $PWD/answer.sh" &&
	live &&
	timeout 180 tapline-dial --bridge +15552223333 --out tr \
		+15551234567 >dial.out 2>dial.err &&
	cat dial.out &&
	sid=$(sed -n "s/^calling +15551234567: \(CA[0-9a-f]*\).*/\1/p" dial.out) &&
	test -n "$sid" &&
	# what tw-dial asked Twilio for
	jq -s -e --arg ws "ws://127.0.0.1:$mport/media" "
		map(select(.method == \"POST\" and
			(.path | endswith(\"Calls.json\")))) | .[0]
		| .form | map({(.[0]): .[1]}) | add
		| .To == \"+15551234567\" and .From == \"+15550001111\" and
		  (.Twiml | contains(\"<Stream url=\\\"\" + \$ws + \"\\\"\")) and
		  (.Twiml | contains(\"<Dial>+15552223333</Dial>\"))" rest.log &&
	# the transcript files, both sides in them
	for f in txt srt json ndjson; do test -s tr/$sid.$f || return 1; done &&
	test "$(jq -r "select(.type == \"call.start\") | .call_sid" \
		tr/$sid.ndjson)" = $sid &&
	jq -r "select(.type == \"transcript\" and .final and
		.track == \"inbound\") | .text" tr/$sid.ndjson >in.txt &&
	jq -r "select(.type == \"transcript\" and .final and
		.track == \"outbound\") | .text" tr/$sid.ndjson >out.txt &&
	cat in.txt out.txt &&
	test $(words_found "$CALLED" in.txt) -ge 5 &&
	test $(words_found "$AGENT" out.txt) -ge 6 &&
	tail -n 1 tr/$sid.ndjson | grep -q "\"type\":\"call.stop\"" &&
	# the terminal showed the conversation, labelled
	grep -q "+15551234567: " dial.out && grep -q "Agent: " dial.out &&
	grep -q "call $sid ended" dial.out &&
	# and the page has the call too
	curl -sf http://127.0.0.1:$bport/ | grep -qi "<html" &&
	kill -TERM $live_pid && wait $live_pid
'

test_expect_success 'tapline-dial: Ctrl-C hangs up, the transcript is kept' '
	fake_twilio --answer "PACE=realtime sh $PWD/answer.sh" &&
	live &&
	cp long.ul called.ul &&
	run_bg sh -c "exec timeout 120 tapline-dial --out tr2 +15551234567 \
		>dial2.out 2>dial2.err" &&
	dial_pid=$! &&
	wait_for dial2.out "^calling " 100 &&
	sid=$(sed -n "s/^calling +15551234567: \(CA[0-9a-f]*\).*/\1/p" dial2.out) &&
	wait_for state/events.ndjson \
		"\"type\":\"transcript\".*\"call_sid\":\"$sid\"" 300 &&
	kill -INT $dial_pid &&
	wait $dial_pid &&
	jq -s -e --arg sid $sid "map(select(.method == \"POST\" and
		(.path | endswith(\"/Calls/\" + \$sid + \".json\")))) |
		.[0].form | map({(.[0]): .[1]}) | add |
		.Status == \"completed\"" rest.log &&
	grep -q "hanging up $sid" dial2.err &&
	test -s tr2/$sid.txt &&
	grep -q "\"type\":\"call.stop\"" tr2/$sid.ndjson &&
	kill -TERM $live_pid && wait $live_pid
'

test_expect_success 'a stage that dies is named, and the rest are stopped' '
	live &&
	split=$(pgrep -P $live_pid -x mulaw-split) &&
	test -n "$split" &&
	kids=$(pgrep -P $live_pid | tr "\n" " ") &&
	kill -KILL $split &&
	expect_status 1 wait $live_pid &&
	grep -q "mulaw-split exited" live.err &&
	for p in $kids; do
		! kill -0 $p 2>/dev/null || { ps -o pid,args -p $p; return 1; }
	done &&
	! tl-freeport --check $mport && ! tl-freeport --check $bport
'

test_expect_success 'SIGTERM: every stage ends, exit 0' '
	live &&
	kids=$(pgrep -P $live_pid | tr "\n" " ") &&
	test $(echo $kids | wc -w) -ge 5 &&
	kill -TERM $live_pid &&
	wait $live_pid &&
	for p in $kids; do
		! kill -0 $p 2>/dev/null || { ps -o pid,args -p $p; return 1; }
	done &&
	test ! -e state/tapline-live.pid
'

test_done
