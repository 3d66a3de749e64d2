#!/bin/bash
test_description='tw-mediasrv answers Twilio webhooks: /twiml and /status'
. "$(dirname "$0")/test-lib.sh"

# post PATH [curl args...]: POST to the server; the answer's status code
# on stdout, headers in hdr, body in body.
post() {
	_path=$1; shift
	curl -s -o body -D hdr -w "%{http_code}" -X POST "$@" \
		"http://127.0.0.1:$port$_path"
}

# sign URL [NAME=VALUE]...: Twilio's signature of a POST to URL with these
# (decoded) form fields: the URL, then each name and value, sorted.
sign() {
	_url=$1; shift
	{
		printf '%s' "$_url"
		for kv in "$@"; do printf '%s\n' "$kv"; done | sort |
			while IFS= read -r kv; do
				printf '%s%s' "${kv%%=*}" "${kv#*=}"
			done
	} | openssl dgst -sha1 -hmac "$TWILIO_AUTH_TOKEN" -binary | base64
}

# form NAME=VALUE...: FORM holds curl arguments posting these fields.
form() {
	FORM=()
	for kv in "$@"; do FORM+=(--data-urlencode "$kv"); done
}

# twiml FILE: the TwiML document, one line per element (path, attributes
# in order, text), or a failure if it is not well-formed XML.
twiml() {
	python3 -c '
import sys, xml.etree.ElementTree as ET
def walk(e, path):
    p = path + "/" + e.tag
    a = "".join(" %s=%s" % kv for kv in e.attrib.items())
    t = (e.text or "").strip()
    print(p + a + (" [" + t + "]" if t else ""))
    for c in e:
        walk(c, p)
walk(ET.parse(sys.argv[1]).getroot(), "")
' "$1"
}

CALL=CA0123456789abcdef0123456789abcdef
ACCT=AC0123456789abcdef0123456789abcdef
STREAM=MZ0123456789abcdef0123456789abcdef

test_expect_success 'bad options are usage errors' '
	expect_status 2 tw-mediasrv --public-url calls.example.com 2>err &&
	grep -q "invalid --public-url" err &&
	expect_status 2 tw-mediasrv --public-url "https://h/?x=1" 2>err &&
	expect_status 2 tw-mediasrv --on-call dial:5551234 2>err &&
	grep -q "E.164" err &&
	expect_status 2 tw-mediasrv --on-call pause:0 2>err &&
	expect_status 2 tw-mediasrv --on-call play:file.wav 2>err &&
	expect_status 2 tw-mediasrv --on-call dance 2>err &&
	grep -q "unknown --on-call action .dance." err &&
	echo "<Response/>" >t.xml &&
	expect_status 2 tw-mediasrv --on-call hangup --twiml-template t.xml \
		2>err &&
	expect_status 2 tw-mediasrv --status-path /media 2>err &&
	expect_status 2 tw-mediasrv --twiml-path /x --status-path /x 2>err &&
	expect_status 1 tw-mediasrv --public-url https://h \
		--twiml-template nosuch.xml 2>err &&
	grep -q "cannot open .nosuch.xml.: No such file" err
'

test_expect_success 'without --public-url the webhooks are off (404)' '
	start_server &&
	test "$(post /twiml -d CallSid=$CALL)" = 404 &&
	test "$(post /status -d CallSid=$CALL -d CallStatus=ringing)" = 404 &&
	stop_server &&
	test_must_fail test -s srv.out
'

test_expect_success '/twiml streams both tracks back, then --on-call' '
	start_server --public-url https://calls.example.com/ \
		--on-call dial:+15551234567 --on-call "say:Tom & Jerry <3" \
		--on-call pause:2 --on-call dial:client:agent_1 \
		--on-call dial:sip:bob@example.com --on-call hangup &&
	form From=+14155550100 To=+14155550199 \
		"CallerName=O'\''Brien \"Bo\"" CallSid=$CALL AccountSid=$ACCT &&
	test "$(post /twiml "${FORM[@]}")" = 200 &&
	grep -qi "^content-type: text/xml" hdr &&
	head -n 1 body | grep -q "^<?xml version=\"1.0\" encoding=\"UTF-8\"?>" &&
	twiml body >got &&
	cat >expect <<-\EOF &&
	/Response
	/Response/Start
	/Response/Start/Stream url=wss://calls.example.com/media track=both_tracks statusCallback=https://calls.example.com/status
	/Response/Start/Stream/Parameter name=caller value=+14155550100
	/Response/Start/Stream/Parameter name=called value=+14155550199
	/Response/Start/Stream/Parameter name=caller_name value=O'\''Brien "Bo"
	/Response/Dial
	/Response/Dial/Number [+15551234567]
	/Response/Say [Tom & Jerry <3]
	/Response/Pause length=2
	/Response/Dial
	/Response/Dial/Client [agent_1]
	/Response/Dial
	/Response/Dial/Sip [sip:bob@example.com]
	/Response/Hangup
	EOF
	test_cmp expect got &&
	grep -q "&amp; Jerry &lt;3" body &&
	stop_server &&
	test_must_fail test -s srv.out
'

test_expect_success '/twiml without --on-call holds the call open' '
	start_server --public-url wss://calls.example.com/app/media &&
	test "$(post /twiml -d CallSid=$CALL)" = 200 &&
	twiml body >got &&
	grep -qx "/Response/Start/Stream url=wss://calls.example.com/app/media track=both_tracks statusCallback=https://calls.example.com/app/status" got &&
	grep -qx "/Response/Pause length=3600" got &&
	! grep -q Parameter got &&
	stop_server
'

test_expect_success '--twiml-template: placeholders replaced, escaped' '
	cat >tpl.xml <<-\EOF &&
	<?xml version="1.0" encoding="UTF-8"?>
	<Response>{{stream}}<Say>Hello {{CallerName}}, {{Nobody}}from {{From}}</Say><Play>{{stream_url}}</Play><Redirect>{{status_url}}</Redirect><Say>{{ not a field }} {{From</Say></Response>
	EOF
	start_server --public-url https://h.example --twiml-template tpl.xml \
		--status-path /cb &&
	form "CallerName=<Ann & Co>" From=+15550001 &&
	test "$(post /twiml "${FORM[@]}")" = 200 &&
	twiml body >got &&
	cat >expect <<-\EOF &&
	/Response
	/Response/Start
	/Response/Start/Stream url=wss://h.example/media track=both_tracks statusCallback=https://h.example/cb
	/Response/Start/Stream/Parameter name=caller value=+15550001
	/Response/Start/Stream/Parameter name=caller_name value=<Ann & Co>
	/Response/Say [Hello <Ann & Co>, from +15550001]
	/Response/Play [wss://h.example/media]
	/Response/Redirect [https://h.example/cb]
	/Response/Say [{{ not a field }} {{From]
	EOF
	test_cmp expect got &&
	stop_server
'

test_expect_success '/status: call and stream callbacks become status lines' '
	start_server --public-url https://calls.example.com &&
	form AccountSid=$ACCT CallSid=$CALL \
		CallStatus=completed CallDuration=42 Duration=1 \
		"Timestamp=Wed, 25 Nov 2026 14:00:00 +0000" SequenceNumber=3 \
		CalledCity=SPRINGFIELD ApiVersion=2010-04-01 &&
	test "$(post /status "${FORM[@]}")" = 204 &&
	test "$(post /status --data-raw "AccountSid=$ACCT&CallSid=$CALL&StreamSid=$STREAM&StreamName=$STREAM&StreamEvent=stream-error&StreamError=Stream+-+WebSocket+-+Connection+Refused%3A+31902%2Fx&Timestamp=2026-11-25T14%3A00%3A00.000Z")" = 204 &&
	test "$(post /status -d CallSid=$CALL)" = 400 &&
	test "$(post /status -d CallSid=CA%2F.. -d CallStatus=ringing)" = 400 &&
	test "$(post /status -d "CallSid=$CALL&CallStatus=%zz")" = 400 &&
	curl -sf http://127.0.0.1:$port/metrics >m &&
	stop_server &&
	cat >expect <<-EOF &&
	{"event":"status","status":{"AccountSid":"$ACCT","CallSid":"$CALL","CallStatus":"completed","CallDuration":"42","Timestamp":"Wed, 25 Nov 2026 14:00:00 +0000","SequenceNumber":"3"}}
	{"event":"status","status":{"AccountSid":"$ACCT","CallSid":"$CALL","Timestamp":"2026-11-25T14:00:00.000Z","StreamSid":"$STREAM","StreamName":"$STREAM","StreamEvent":"stream-error","StreamError":"Stream - WebSocket - Connection Refused: 31902/x"}}
	EOF
	test_cmp expect srv.out &&
	grep -q "webhooks_total{path=\"/status\",code=\"204\"} 2" m &&
	grep -q "webhooks_total{path=\"/status\",code=\"400\"} 3" m
'

test_expect_success 'status lines become call.status events in mulaw-split' '
	timeout 20 mulaw-split <srv.out >ev &&
	test $(wc -l <ev) = 2 &&
	sed -n 1p ev | jq -e --arg c $CALL "
		.type == \"call.status\" and .call_sid == \$c and
		.status == \"completed\" and .duration == 42 and
		(.ts | test(\"^[0-9-]+T[0-9:.]+Z$\"))" &&
	sed -n 2p ev | jq -e --arg c $CALL --arg s $STREAM "
		.type == \"call.status\" and .call_sid == \$c and
		.stream_sid == \$s and .status == \"stream-error\" and
		(.stream_error | test(\"31902\"))"
'

test_expect_success 'method, type, size and length are checked' '
	start_server --public-url https://calls.example.com &&
	test "$(curl -s -o body -D hdr -w "%{http_code}" \
		http://127.0.0.1:$port/twiml)" = 405 &&
	grep -qi "^allow: POST" hdr &&
	test "$(post /status -H "Content-Type: application/json" \
		-d "{\"CallSid\":\"$CALL\"}")" = 415 &&
	test "$(post /status -H "Content-Type: application/x-www-form-urlencoded; charset=utf-8" \
		-d "CallSid=$CALL&CallStatus=ringing")" = 204 &&
	head -c 70000 /dev/zero | tr "\0" a >big &&
	test "$(post /status --data-binary @big)" = 413 &&
	grep -qi "^connection: close" hdr &&
	head -c 65000 /dev/zero | tr "\0" a >fits &&
	test "$(post /status --data-binary "CallSid=$CALL&CallStatus=busy&x=" --data-binary @fits)" = 204 &&
	test "$(post /status -H "Transfer-Encoding: chunked" \
		-d "CallSid=$CALL&CallStatus=ringing")" = 411 &&
	curl -sf http://127.0.0.1:$port/healthz &&
	stop_server &&
	test $(grep -c "\"event\":\"status\"" srv.out) = 2
'

test_expect_success 'keep-alive: several webhooks on one connection' '
	start_server --public-url https://calls.example.com &&
	w="%{http_code} %{num_connects}\n" &&
	curl -s -o /dev/null -w "$w" -d "CallSid=$CALL&CallStatus=ringing" \
		http://127.0.0.1:$port/status --next \
		-s -o /dev/null -w "$w" -d "CallSid=$CALL" \
		http://127.0.0.1:$port/twiml --next \
		-s -o /dev/null -w "$w" -d "CallSid=$CALL&CallStatus=in-progress" \
		http://127.0.0.1:$port/status >codes &&
	printf "204 1\n200 0\n204 0\n" >expect &&
	test_cmp expect codes &&
	stop_server &&
	test $(grep -c "\"event\":\"status\"" srv.out) = 2
'

# --- signatures -------------------------------------------------------
# Twilio's published vectors, token 12345 (reference/twilio.md 6.5).
SEC_FORM="CallSid=CA1234567890ABCDE Caller=+14158675310 Digits=1234 From=+14158675310 To=+18005551212"
TN_FORM="CallSid=CA1234567890ABCDE Caller=+14158675309 Digits=1234 From=+14158675309 To=+18005551212"

test_expect_success 'signatures: Twilio security page example is accepted' '
	TWILIO_AUTH_TOKEN=12345 && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	start_server --public-url https://example.com --twiml-path /myapp.php &&
	form $SEC_FORM &&
	test "$(post "/myapp.php?foo=1&bar=2" "${FORM[@]}" \
		-H "X-Twilio-Signature: L/OH5YylLD5NRKLltdqwSvS0BnU=")" = 200 &&
	twiml body | grep -qx "/Response/Start/Stream/Parameter name=caller value=+14158675310" &&
	form $(echo $SEC_FORM | sed s/Digits=1234/Digits=1235/) &&
	test "$(post "/myapp.php?foo=1&bar=2" "${FORM[@]}" \
		-H "X-Twilio-Signature: L/OH5YylLD5NRKLltdqwSvS0BnU=")" = 403 &&
	form $SEC_FORM &&
	test "$(post "/myapp.php?foo=1&bar=3" "${FORM[@]}" \
		-H "X-Twilio-Signature: L/OH5YylLD5NRKLltdqwSvS0BnU=")" = 403 &&
	form $SEC_FORM &&
	test "$(post "/myapp.php?foo=1&bar=2" "${FORM[@]}")" = 403 &&
	stop_server &&
	grep -q "bad X-Twilio-Signature for .https://example.com/myapp.php?foo=1&bar=3." srv.err &&
	grep -q "no X-Twilio-Signature" srv.err &&
	! grep -q 12345 srv.err
'

test_expect_success 'signatures: twilio-node vectors, with and without ports' '
	TWILIO_AUTH_TOKEN=12345 && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	for u in https://mycompany.com https://mycompany.com:1234 \
		 https://mycompany.com:443; do
		start_server --public-url $u --twiml-path /myapp.php &&
		form $TN_FORM &&
		test "$(post "/myapp.php?foo=1&bar=2" "${FORM[@]}" \
			-H "X-Twilio-Signature: RSOYDt4T1cUTdK1PDd93/VVr8B8=")" = 200 &&
		stop_server || return 1
	done &&
	start_server --public-url http://mycompany.com:1234 \
		--twiml-path /myapp.php &&
	form $TN_FORM &&
	test "$(post "/myapp.php?foo=1&bar=2" "${FORM[@]}" \
		-H "X-Twilio-Signature: Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")" = 200 &&
	form $TN_FORM &&
	test "$(post "/myapp.php?foo=1&bar=2" "${FORM[@]}" \
		-H "X-Twilio-Signature: RSOYDt4T1cUTdK1PDd93/VVr8B8=")" = 403 &&
	stop_server
'

test_expect_success 'signatures: /status signed by openssl, right and wrong' '
	TWILIO_AUTH_TOKEN=s3cret && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	start_server --public-url https://calls.example.com &&
	set -- AccountSid=$ACCT CallSid=$CALL CallStatus=ringing \
		"Timestamp=Wed, 25 Nov 2026 14:00:00 +0000" "Caller=+1 (555) & co" &&
	good=$(sign https://calls.example.com/status "$@") &&
	form "$@" &&
	test "$(post /status "${FORM[@]}" -H "X-Twilio-Signature: $good")" = 204 &&
	other=$(TWILIO_AUTH_TOKEN=other sign https://calls.example.com/status "$@") &&
	form "$@" &&
	test "$(post /status "${FORM[@]}" -H "X-Twilio-Signature: $other")" = 403 &&
	wrongurl=$(sign https://calls.example.com/twiml "$@") &&
	form "$@" &&
	test "$(post /status "${FORM[@]}" -H "X-Twilio-Signature: $wrongurl")" = 403 &&
	form "$@" Extra=1 &&
	test "$(post /status "${FORM[@]}" -H "X-Twilio-Signature: $good")" = 403 &&
	form "$@" &&
	test "$(post /status "${FORM[@]}")" = 403 &&
	curl -sf http://127.0.0.1:$port/metrics >m &&
	stop_server &&
	test $(wc -l <srv.out) = 1 &&
	grep -q "\"CallStatus\":\"ringing\"" srv.out &&
	grep -q "webhooks_total{path=\"/status\",code=\"403\"} 4" m &&
	! grep -q s3cret srv.err
'

test_expect_success 'webhooks beside a media stream leave it whole' '
	start_server --public-url https://calls.example.com &&
	{
		printf "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}\n"
		printf "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"%s\",\"streamSid\":\"%s\",\"callSid\":\"%s\",\"tracks\":[\"inbound\",\"outbound\"],\"customParameters\":{},\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}},\"streamSid\":\"%s\"}\n" $ACCT $STREAM $CALL $STREAM
		i=2
		while [ $i -lt 202 ]; do
			printf "{\"event\":\"media\",\"sequenceNumber\":\"%d\",\"media\":{\"track\":\"inbound\",\"chunk\":\"%d\",\"timestamp\":\"%d\",\"payload\":\"%s\"},\"streamSid\":\"%s\"}\n" \
				$i $i $((i * 20)) "$(head -c 160 /dev/urandom | base64 -w0)" $STREAM
			i=$((i + 1))
		done
		printf "{\"event\":\"stop\",\"sequenceNumber\":\"202\",\"stop\":{\"accountSid\":\"%s\",\"callSid\":\"%s\"},\"streamSid\":\"%s\"}\n" $ACCT $CALL $STREAM
	} >stream.ndjson &&
	{ (sed "s/^/sleep 5\ntext /" stream.ndjson |
		tl-wsclient --timeout 30 $URL >client.out) & } &&
	cpid=$! &&
	wait_for srv.out "\"event\":\"start\"" &&
	n=0 &&
	while [ $n -lt 20 ]; do
		test "$(post /status -d "CallSid=$CALL&CallStatus=in-progress&SequenceNumber=$n")" = 204 &&
		test "$(post /twiml -d "CallSid=$CALL")" = 200 &&
		test "$(post /status --data-binary @/dev/null -H "Content-Type: text/plain")" = 415 ||
			return 1
		n=$((n + 1))
	done &&
	wait $cpid &&
	stop_server &&
	grep -v "\"event\":\"status\"" srv.out >got &&
	test_cmp stream.ndjson got &&
	test $(grep -c "^{\"event\":\"status\"" srv.out) = 20
'

test_expect_success 'over TLS: HTTP/1.1 even when h2 is asked, signed' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
		-out cert.pem -days 2 -subj /CN=localhost 2>/dev/null &&
	TWILIO_AUTH_TOKEN=12345 && export TWILIO_AUTH_TOKEN &&
	test_when_finished "unset TWILIO_AUTH_TOKEN" &&
	start_server --cert cert.pem --key key.pem \
		--public-url https://mycompany.com --status-path /myapp.php &&
	form $TN_FORM CallStatus=ringing &&
	sig=$(sign "https://mycompany.com/myapp.php?foo=1&bar=2" $TN_FORM \
		CallStatus=ringing) &&
	for v in --http1.1 --http2; do
		u="https://127.0.0.1:$port/myapp.php?foo=1&bar=2" &&
		curl -sk $v -o /dev/null -w "%{http_version} %{http_code}\n" \
			"${FORM[@]}" -H "X-Twilio-Signature: $sig" "$u" &&
		curl -sk $v -o /dev/null -w "%{http_version} %{http_code}\n" \
			"${FORM[@]}" "$u" &&
		curl -sk $v -o /dev/null -w "%{http_version} %{http_code}\n" \
			--data-binary @big "$u" || return 1
	done >codes &&
	printf "%s\n" "1.1 204" "1.1 403" "1.1 413" \
		"1.1 204" "1.1 403" "1.1 413" >expect &&
	test_cmp expect codes &&
	stop_server &&
	test $(grep -c "\"CallStatus\":\"ringing\"" srv.out) = 2
'

test_expect_success 'while draining, /twiml is 503 and /status still taken' '
	start_server --public-url https://calls.example.com --drain 10 &&
	START=$(sed -n 2p stream.ndjson) &&
	{ printf "text %s\nwait-close\n" "$START" |
		tl-wsclient --timeout 20 $URL >client.out & } &&
	cpid=$! &&
	wait_for srv.out "\"start\"" &&
	kill -TERM $srv_pid &&
	n=0 &&
	until curl -s http://127.0.0.1:$port/healthz | grep -q draining; do
		test $n -lt 50 || return 1
		sleep 0.1; n=$((n + 1))
	done &&
	test "$(post /twiml -d CallSid=$CALL)" = 503 &&
	test "$(post /status -d "CallSid=$CALL&CallStatus=completed")" = 204 &&
	test "$(post /status -d "CallSid=$CALL")" = 400 &&
	wait_for srv.out "\"CallStatus\":\"completed\"" &&
	kill -KILL $cpid; wait $cpid;
	stop_server
'

test_done
