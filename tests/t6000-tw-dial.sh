#!/bin/bash
test_description='tw-dial against a stand-in for the Twilio REST API'
. "$(dirname "$0")/test-lib.sh"

# libcurl would send loopback requests through a proxy set by the caller
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
	no_proxy NO_PROXY TWILIO_API_BASE TWILIO_REGION TWILIO_EDGE \
	TWILIO_CALLER_ID

FAKE=$TEST_DIR/helpers/tl-faketwilio
ACCT=AC0123456789abcdef0123456789abcdef
OTHER=ACfedcba9876543210fedcba9876543210
TOKEN=tok-7Hq2Zr9Xw4Kp1Vd8
KEY=SK00112233445566778899aabbccddeeff
SECRET=sec-Mn3Bv6Cx0Lz5Qa2W
SIDRE='^CA[0-9a-f]{32}$'
CALLS=/2010-04-01/Accounts/$ACCT/Calls.json
NEVER=CA0123456789abcdef0123456789abcdef

# start_fake [tl-faketwilio options]: on a free port, requests logged in
# req.log; sets API.
start_fake() {
	: >req.log &&
	fport=$(free_port) &&
	run_bg "$FAKE" --port "$fport" --log req.log --account $ACCT \
		--token "$TOKEN" --key "$KEY:$SECRET" "$@" &&
	wait_port "$fport" &&
	API=http://127.0.0.1:$fport
}

# dial ARGS: tw-dial with the account's token, against the fake
dial() {
	TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=$TOKEN \
		tw-dial --api-base "$API" "$@"
}

# dial_bg ARGS: the same in the background, as its own process ($!)
dial_bg() {
	run_bg dial_exec "$@"
}
dial_exec() {
	TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=$TOKEN \
		exec tw-dial --api-base "$API" "$@"
}

# requests [FILTER]: the logged requests, one compact JSON per line
requests() {
	jq -c "${1:-.}" req.log
}

count() {
	requests "$1" | wc -l | tr -d ' '
}

# elapsed_since T0: whole tenths of a second since $T0 (date +%s%N)
elapsed() {
	echo $(( ($(date +%s%N) - $1) / 100000000 ))
}

test_expect_success 'help, version, usage errors' '
	tw-dial --help >out && grep -q "^usage: tw-dial" out &&
	tw-dial --version >out && grep -q "^tw-dial (tapline) " out &&
	expect_status 2 tw-dial 2>err && grep -q "missing TO" err &&
	expect_status 2 tw-dial --bogus 2>err &&
	grep -q "unknown option" err &&
	expect_status 2 tw-dial -f +15550001111 +15552223333 2>err &&
	grep -q "nothing for the call to do" err &&
	expect_status 2 tw-dial -f +15550001111 -s wss://h/m +15552223333 \
		2>err && grep -q "hang up at once" err &&
	expect_status 2 tw-dial -f +15550001111 -S hi -u https://h/t \
		+15552223333 2>err && grep -q "not two" err &&
	expect_status 2 tw-dial -s ws://h/m -S hi --print-twiml 2>err &&
	grep -q "not a wss:// URL" err &&
	expect_status 2 tw-dial -s ws://127.0.0.1.example/m -S hi \
		--print-twiml 2>err && grep -q "not a wss:// URL" err &&
	tw-dial -s ws://127.0.0.1:8080/m -S hi --print-twiml >out &&
	grep -q "<Stream url=\"ws://127.0.0.1:8080/m\"" out &&
	tw-dial -s ws://[::1]:8080/m -S hi --print-twiml >out &&
	expect_status 2 tw-dial -s "wss://h/m?token=1" -S hi --print-twiml \
		2>err && grep -q "query string" err &&
	expect_status 2 tw-dial -P a=b -S hi --print-twiml 2>err &&
	grep -q "param goes with --stream" err &&
	expect_status 2 tw-dial --pause 0 --print-twiml 2>err &&
	expect_status 2 tw-dial --timeout 601 -S hi -f +15550001111 \
		+15552223333 2>err &&
	expect_status 2 tw-dial --status CA123 2>err &&
	grep -q "not a call SID" err &&
	expect_status 2 tw-dial --hangup $NEVER --wait 2>err &&
	expect_status 2 tw-dial --status $NEVER -S hi 2>err &&
	grep -q "call options go with TO only" err &&
	expect_status 2 tw-dial -q --wait -S hi -f +15550001111 \
		+15552223333 2>err &&
	expect_status 2 tw-dial --status-events ringing -S hi \
		-f +15550001111 +15552223333 2>err &&
	grep -q "goes with --status-callback" err &&
	expect_status 2 tw-dial --machine-detection=maybe -S hi \
		-f +15550001111 +15552223333 2>err
'

test_expect_success 'numbers are checked as E.164 before anything is sent' '
	start_fake &&
	for n in 15552223333 +0555222333 +1555 +1555222333344445 \
		"+1 555 222 3333" +1555abc1234 ""; do
		expect_status 2 dial -f +15550001111 -S hi "$n" 2>err &&
		grep -q "E.164" err || return 1
	done &&
	expect_status 2 dial -f 5550001111 -S hi +15552223333 2>err &&
	grep -q "E.164" err &&
	expect_status 2 dial -f +15550001111 -b 12345 -S hi +15552223333 \
		2>err && grep -q "bridge" err &&
	expect_status 2 dial -S hi +15552223333 2>err &&
	grep -q "missing --from (or TWILIO_CALLER_ID)" err &&
	test ! -s req.log
'

test_expect_success '--print-twiml: the stream, then the verbs in order' '
	tw-dial --print-twiml -s wss://calls.example.com/media \
		-P agent=bob -P "note=a<b & \"c\" '\''d'\''>" \
		--say "Hello & welcome" --pause 2 -b +15559998888 \
		--play "https://e.example/a.mp3?x=1&y=2" >out &&
	cat >expect <<-\EOF &&
	<Response><Start><Stream url="wss://calls.example.com/media" track="both_tracks"><Parameter name="agent" value="bob"/><Parameter name="note" value="a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"/></Stream></Start><Say>Hello &amp; welcome</Say><Pause length="2"/><Dial>+15559998888</Dial><Play>https://e.example/a.mp3?x=1&amp;y=2</Play></Response>
	EOF
	test_cmp expect out &&
	cat >parse.py <<-\EOF &&
	import xml.dom.minidom
	d = xml.dom.minidom.parse("out")
	v = d.getElementsByTagName("Parameter")[1].getAttribute("value")
	assert v == "a<b & \"c\" \x27d\x27>", v
	EOF
	python3 parse.py
'

test_expect_success '--print-twiml refuses what XML cannot carry' '
	expect_status 2 tw-dial --print-twiml -S "$(printf "a\001b")" 2>err &&
	grep -q "control characters" err &&
	expect_status 2 tw-dial --print-twiml -S "$(printf "a\377b")" 2>err &&
	grep -q "UTF-8" err
'

test_expect_success 'TwiML over 4000 characters is refused before sending' '
	start_fake &&
	# <Response><Say> + text + </Say></Response> is the text + 32
	ok=$(head -c 3968 /dev/zero | tr "\0" a) &&
	dial -f +15550001111 -S "$ok" +15552223333 >out &&
	test $(count "select(.method == \"POST\")") = 1 &&
	test $(requests ".form[2][1] | length") = 4000 &&
	expect_status 2 dial -f +15550001111 -S "${ok}a" +15552223333 2>err &&
	grep -q "4001 characters" err &&
	# an & is five characters once escaped
	expect_status 2 tw-dial --print-twiml -S "${ok%aaaa}&" 2>err &&
	grep -q "4001 characters" err &&
	# characters, not bytes
	wide=$(for i in $(seq 3968); do printf "\303\251"; done) &&
	tw-dial --print-twiml -S "$wide" >out &&
	test $(wc -c <out) = $((3968 * 2 + 32 + 1)) &&
	test $(count ".") = 1
'

test_expect_success 'create: path, Basic auth, form, 201 and the call JSON' '
	start_fake &&
	dial -f +15550001111 -s wss://h.example/media -P agent=bob \
		-S "Hi there" +15552223333 >out 2>err &&
	test ! -s err &&
	test $(wc -l <out) = 1 &&
	jq -e --arg re "$SIDRE" ".sid | test(\$re)" out &&
	jq -e ".status == \"queued\" and .to == \"+15552223333\" and
		.from == \"+15550001111\" and .account_sid == \"$ACCT\" and
		.direction == \"outbound-api\" and
		(.sid as \$s | .uri | endswith(\"/Calls/\" + \$s + \".json\"))" out &&
	test $(count .) = 1 &&
	requests ".method, .path, .auth_user, .auth_ok,
		.headers[\"content-type\"], .headers.accept" >got &&
	cat >expect <<-EOF &&
	"POST"
	"$CALLS"
	"$ACCT"
	true
	"application/x-www-form-urlencoded"
	"application/json"
	EOF
	test_cmp expect got &&
	requests .form >got &&
	cat >expect <<-\EOF &&
	[["To","+15552223333"],["From","+15550001111"],["Twiml","<Response><Start><Stream url=\"wss://h.example/media\" track=\"both_tracks\"><Parameter name=\"agent\" value=\"bob\"/></Stream></Start><Say>Hi there</Say></Response>"]]
	EOF
	test_cmp expect got
'

test_expect_success 'the Authorization header is Basic SID:token' '
	start_fake &&
	dial -f +15550001111 -S hi +15552223333 >/dev/null &&
	requests ".headers.authorization" >got &&
	printf "\"Basic %s\"\n" \
		"$(printf "%s:%s" $ACCT "$TOKEN" | base64 -w0)" >expect &&
	test_cmp expect got
'

test_expect_success '-q prints the SID alone; TWILIO_CALLER_ID is the From' '
	start_fake &&
	TWILIO_CALLER_ID=+15550004444 dial -q -S hi +15552223333 >out &&
	test $(wc -l <out) = 1 && grep -Eq "$SIDRE" out &&
	test "$(requests ".form[1]")" = "[\"From\",\"+15550004444\"]" &&
	dial --status "$(cat out)" >st &&
	test "$(jq -r .sid st)" = "$(cat out)"
'

test_expect_success 'every call option is in the request body' '
	start_fake &&
	dial -f +15550001111 --url "https://app.example/twiml?a=1&b=2" \
		--status-callback https://app.example/status --record \
		--timeout 30 --time-limit 600 --machine-detection \
		+15552223333 >/dev/null &&
	dial -f +15550001111 -S hi \
		--status-callback https://app.example/s \
		--status-events ringing,completed \
		--machine-detection=DetectMessageEnd +15552223333 >/dev/null &&
	requests .form >got &&
	cat >expect <<-\EOF &&
	[["To","+15552223333"],["From","+15550001111"],["Url","https://app.example/twiml?a=1&b=2"],["StatusCallback","https://app.example/status"],["StatusCallbackEvent","initiated"],["StatusCallbackEvent","ringing"],["StatusCallbackEvent","answered"],["StatusCallbackEvent","completed"],["Timeout","30"],["TimeLimit","600"],["Record","true"],["MachineDetection","Enable"]]
	[["To","+15552223333"],["From","+15550001111"],["Twiml","<Response><Say>hi</Say></Response>"],["StatusCallback","https://app.example/s"],["StatusCallbackEvent","ringing"],["StatusCallbackEvent","completed"],["MachineDetection","DetectMessageEnd"]]
	EOF
	test_cmp expect got &&
	expect_status 2 dial -f +15550001111 -S hi --status-callback \
		https://app.example/s --status-events ringing,rung \
		+15552223333 2>err && grep -q "unknown event .rung." err
'

test_expect_success '--twiml FILE and --twiml - send the file as it is' '
	start_fake &&
	printf "<Response><Say>from a file</Say></Response>\n" >call.xml &&
	dial -f +15550001111 --twiml call.xml +15552223333 >/dev/null &&
	printf "<Response><Hangup/></Response>" |
		dial -f +15550001111 --twiml - +15552223333 >/dev/null &&
	requests ".form[2]" >got &&
	cat >expect <<-\EOF &&
	["Twiml","<Response><Say>from a file</Say></Response>"]
	["Twiml","<Response><Hangup/></Response>"]
	EOF
	test_cmp expect got &&
	expect_status 1 dial -f +15550001111 --twiml nosuch.xml \
		+15552223333 2>err &&
	grep -q "cannot open .nosuch.xml.: No such file" err &&
	head -c 5000 /dev/zero | tr "\0" x >big.xml &&
	expect_status 2 dial -f +15550001111 --twiml big.xml +15552223333 \
		2>err && grep -q "5000 characters" err &&
	test $(count .) = 2
'

test_expect_success 'API key and secret: Basic with the key, path with the account' '
	start_fake &&
	TWILIO_ACCOUNT_SID=$ACCT TWILIO_API_KEY=$KEY TWILIO_API_SECRET=$SECRET \
		tw-dial --api-base "$API" -q -f +15550001111 -S hi \
		+15552223333 >out &&
	grep -Eq "$SIDRE" out &&
	requests "[.path, .auth_user, .auth_ok]" >got &&
	echo "[\"$CALLS\",\"$KEY\",true]" >expect &&
	test_cmp expect got
'

test_expect_success 'missing or malformed credentials: exit 2, nothing sent' '
	start_fake &&
	expect_status 2 tw-dial --api-base "$API" --status $NEVER 2>err &&
	grep -q "TWILIO_ACCOUNT_SID is not set" err &&
	TWILIO_ACCOUNT_SID=$ACCT expect_status 2 \
		tw-dial --api-base "$API" --status $NEVER 2>err &&
	grep -q "TWILIO_AUTH_TOKEN is not set" err &&
	TWILIO_ACCOUNT_SID=$ACCT TWILIO_API_KEY=$KEY expect_status 2 \
		tw-dial --api-base "$API" --status $NEVER 2>err &&
	grep -q "go together" err &&
	TWILIO_ACCOUNT_SID=$TOKEN TWILIO_AUTH_TOKEN=$TOKEN expect_status 2 \
		tw-dial --api-base "$API" --status $NEVER 2>err &&
	grep -q "not an account SID" err && ! grep -F "$TOKEN" err &&
	test ! -s req.log
'

test_expect_success 'a wrong token: 401, exit 3, Twilio'\''s message' '
	start_fake &&
	TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=wrong expect_status 3 \
		tw-dial --api-base "$API" -f +15550001111 -S hi +15552223333 \
		>out 2>err &&
	test ! -s out &&
	echo "tw-dial: 20003: Authenticate (https://www.twilio.com/docs/errors/20003)" >expect &&
	test_cmp expect err &&
	test "$(requests "[.status, .auth_ok]")" = "[401,false]"
'

test_expect_success 'another account'\''s path with a valid key: 403, exit 3' '
	start_fake &&
	TWILIO_ACCOUNT_SID=$OTHER TWILIO_API_KEY=$KEY TWILIO_API_SECRET=$SECRET \
		expect_status 3 tw-dial --api-base "$API" --status $NEVER \
		2>err &&
	grep -q "^tw-dial: 20003: Permission Denied (https://www.twilio.com/docs/errors/20003)$" err &&
	test "$(requests .status)" = 403
'

test_expect_success 'Twilio refuses the number: exit 4 with code, message, link' '
	start_fake &&
	expect_status 4 dial -f +15550001111 -S hi +15005550001 >out 2>err &&
	test ! -s out &&
	echo "tw-dial: 21211: The '\''To'\'' number +15005550001 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)" >expect &&
	test_cmp expect err &&
	expect_status 4 dial -f +15005550001 -S hi +15552223333 2>err &&
	grep -q "^tw-dial: 21212: " err &&
	expect_status 4 dial -f +15550001111 -S hi +15005550003 2>err &&
	grep -q "^tw-dial: 21215: " err &&
	test $(count "select(.status == 400)") = 3
'

test_expect_success '--status of an unknown call: 404, 20404, exit 4' '
	start_fake &&
	expect_status 4 dial --status $NEVER 2>err &&
	grep -q "^tw-dial: 20404: The requested resource .*$NEVER.json was not found (https://www.twilio.com/docs/errors/20404)$" err &&
	expect_status 4 dial --hangup $NEVER 2>err &&
	grep -q "^tw-dial: 20404: " err
'

test_expect_success '--status and --hangup: GET, then POST Status=completed' '
	start_fake --progress "queued:0.1,ringing:0.2,in-progress" &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	sleep 0.5 &&
	dial -q --status $sid >st &&
	echo in-progress >expect && test_cmp expect st &&
	dial --hangup $sid >out &&
	jq -e ".sid == \"$sid\" and .status == \"completed\"" out &&
	dial --status $sid | jq -e ".status == \"completed\"" &&
	requests "select(.path | contains(\"/Calls/\")) |
		[.method, .path, .form]" >got &&
	cat >expect <<-EOF &&
	["GET","/2010-04-01/Accounts/$ACCT/Calls/$sid.json",[]]
	["POST","/2010-04-01/Accounts/$ACCT/Calls/$sid.json",[["Status","completed"]]]
	["GET","/2010-04-01/Accounts/$ACCT/Calls/$sid.json",[]]
	EOF
	test_cmp expect got &&
	expect_status 4 dial --hangup $sid 2>err &&
	grep -q "^tw-dial: 21220: " err
'

test_expect_success '--wait prints call.status events until completed, exit 0' '
	start_fake --progress "queued:0.3,ringing:0.4,in-progress:0.6,completed" &&
	dial -f +15550001111 -S hi --wait --poll 0.1 +15552223333 >ev &&
	jq -r .status ev >got &&
	printf "%s\n" queued ringing in-progress completed >expect &&
	test_cmp expect got &&
	sid=$(jq -r .call_sid ev | sort -u) &&
	echo "$sid" | grep -Eq "$SIDRE" &&
	jq -e -s "all(.[]; .type == \"call.status\" and
		(.ts | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]{3}Z$\"))
		and (keys == [\"call_sid\", \"status\", \"ts\", \"type\"]))" ev &&
	test $(count "select(.method == \"GET\" and
		(.path | endswith(\"/Calls/$sid.json\")))") -ge 3
'

test_expect_success '--wait: the exit status says how the call ended' '
	for end in busy:6 no-answer:7 failed:9 completed:0; do
		start_fake --progress "queued:0.1,ringing:0.2,${end%:*}" &&
		expect_status ${end#*:} dial -f +15550001111 -S hi --wait \
			--poll 0.1 +15552223333 >ev &&
		test "$(tail -n 1 ev | jq -r .status)" = ${end%:*} &&
		test_kill_bg || return 1
	done
'

test_expect_success '--status SID --wait follows a call; a hangup ends it canceled' '
	start_fake --progress "queued:0.2,ringing" &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	dial_bg --status $sid --wait --poll 0.1 >ev &&
	wpid=$! &&
	wait_for ev "\"ringing\"" &&
	dial --hangup $sid >/dev/null &&
	expect_status 8 wait $wpid &&
	jq -r .status ev >got &&
	printf "%s\n" queued ringing canceled >expect &&
	test_cmp expect got
'

test_expect_success '--wait: SIGTERM hangs up the call it placed, then waits' '
	start_fake --progress "queued:0.2,ringing" &&
	dial_bg -f +15550001111 -S hi --wait --poll 0.1 +15552223333 \
		>ev 2>err &&
	wpid=$! &&
	wait_for ev "\"ringing\"" &&
	kill -TERM $wpid &&
	expect_status 8 wait $wpid &&
	jq -r .status ev >got &&
	printf "%s\n" queued ringing canceled >expect &&
	test_cmp expect got &&
	grep -q "interrupted: hanging up CA" err &&
	test "$(requests "select(.method == \"POST\") | .form" | tail -n 1)" = \
		"[[\"Status\",\"completed\"]]" &&
	test_kill_bg &&
	start_fake --progress "queued:0.1,in-progress" &&
	dial_bg -f +15550001111 -S hi --wait --poll 0.1 +15552223333 \
		>ev 2>err &&
	wpid=$! &&
	wait_for ev "\"in-progress\"" &&
	kill -TERM $wpid &&
	expect_status 0 wait $wpid &&
	test "$(tail -n 1 ev | jq -r .status)" = completed
'

test_expect_success '--status SID --wait: SIGTERM only stops following, exit 0' '
	start_fake --progress "queued:0.1,in-progress" &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	dial_bg --status $sid --wait --poll 0.1 >ev &&
	wpid=$! &&
	wait_for ev "\"in-progress\"" &&
	kill -TERM $wpid &&
	expect_status 0 wait $wpid &&
	test $(count "select(.method == \"POST\")") = 1 &&
	dial -q --status $sid >st &&
	echo in-progress >expect && test_cmp expect st
'

test_expect_success '429 with Retry-After: the create is retried after it' '
	start_fake --fail "method=POST,count=2,status=429,retry_after=1" &&
	t0=$(date +%s%N) &&
	dial -f +15550001111 -S hi +15552223333 >out 2>err &&
	t=$(elapsed $t0) &&
	jq -r .sid out | grep -Eq "$SIDRE" &&
	test $t -ge 19 && test $t -lt 60 &&
	test $(count "select(.method == \"POST\")") = 3 &&
	test "$(requests .status | tr "\n" " ")" = "429 429 201 " &&
	test $(grep -c "20429: Too Many Requests.*retrying in 1.0 s" err) = 2 &&
	requests "select(.status == 429) | .form" | sort -u >forms &&
	test $(wc -l <forms) = 1
'

test_expect_success '20429 in the body is retried like 429' '
	start_fake --fail "method=POST,count=1,status=503,code=20429,retry_after=0" &&
	dial -q -f +15550001111 -S hi +15552223333 >out &&
	grep -Eq "$SIDRE" out &&
	test $(count "select(.method == \"POST\")") = 2
'

test_expect_success '429 retries are bounded: count and total time' '
	start_fake --fail "count=10,status=429,retry_after=0" &&
	expect_status 5 dial --retries 2 -f +15550001111 -S hi \
		+15552223333 2>err &&
	grep -q "giving up after 3 attempts" err &&
	test $(count .) = 3 &&
	test_kill_bg &&
	start_fake --fail "count=10,status=429,retry_after=30" &&
	t0=$(date +%s%N) &&
	expect_status 5 dial --retry-time 5 -f +15550001111 -S hi \
		+15552223333 2>err &&
	test $(elapsed $t0) -lt 30 &&
	grep -q "giving up: waiting 30.0 s more would pass --retry-time" err &&
	test $(count .) = 1
'

test_expect_success 'a 5xx on the create is not retried: no second call' '
	start_fake --fail "method=POST,count=1,status=503" &&
	expect_status 5 dial -f +15550001111 -S hi +15552223333 >out 2>err &&
	test ! -s out &&
	grep -q "^tw-dial: 20503: Service Unavailable" err &&
	grep -q "may have been placed" err &&
	test $(count .) = 1
'

test_expect_success 'a 5xx on a GET is retried' '
	start_fake --fail "method=GET,count=2,status=500" &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	dial --status $sid >st 2>err &&
	test "$(jq -r .status st)" = queued &&
	test $(count "select(.method == \"GET\")") = 3 &&
	test $(grep -c "20500: Internal Server Error.*retrying" err) = 2 &&
	test_kill_bg &&
	start_fake --fail "method=GET,count=1,status=200,raw=<html>hello</html>" \
		--fail "method=GET,count=9,status=502,raw=<html>bad gateway</html>" &&
	expect_status 1 dial --status $NEVER 2>err &&
	grep -q "^tw-dial: unexpected answer from .* (HTTP 200): not a call$" err &&
	expect_status 5 dial --retries 1 --status $NEVER 2>err &&
	grep -q "HTTP 502 from .* (not a Twilio error)" err &&
	grep -q "giving up after 2 attempts" err
'

test_expect_success 'a hangup is retried after a 5xx: ending a call twice is safe' '
	start_fake --fail "path=/Calls/,method=POST,count=1,status=503" &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	dial -q --hangup $sid >st &&
	echo canceled >expect && test_cmp expect st &&
	test $(count "select(.path | contains(\"/Calls/\"))") = 2
'

test_expect_success 'a connection closed without an answer: create not retried, GET retried' '
	start_fake --fail "method=POST,count=1,drop=1" \
		--fail "method=GET,count=1,drop=1" &&
	expect_status 5 dial -f +15550001111 -S hi +15552223333 2>err &&
	grep -q "connection to .* lost" err &&
	grep -q "may have been placed" err &&
	test $(count .) = 1 &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	dial -q --status $sid >st 2>err &&
	echo queued >expect && test_cmp expect st &&
	test $(count "select(.method == \"GET\")") = 2
'

test_expect_success 'a timeout: clear message; create not retried, GET retried' '
	start_fake --fail "count=1,delay=3" &&
	t0=$(date +%s%N) &&
	expect_status 5 dial --request-timeout 0.5 -f +15550001111 -S hi \
		+15552223333 2>err &&
	test $(elapsed $t0) -lt 25 &&
	grep -q "request to .http://127.0.0.1:$fport. timed out after 0.5 s" err &&
	grep -q "may have been placed" err &&
	sleep 3 &&
	test $(count "select(.method == \"POST\")") = 1 &&
	test_kill_bg &&
	start_fake --fail "method=GET,count=1,delay=2" &&
	sid=$(dial -q -f +15550001111 -S hi +15552223333) &&
	dial --request-timeout 0.5 --status $sid >st 2>err &&
	test "$(jq -r .status st)" = queued &&
	grep -q "timed out.*retrying" err
'

test_expect_success 'connection refused: the create is retried (nothing was sent)' '
	port=$(free_port) &&
	API=http://127.0.0.1:$port &&
	expect_status 5 dial --retries 0 -f +15550001111 -S hi +15552223333 \
		2>err &&
	grep -q "^tw-dial: cannot connect to .http://127.0.0.1:$port.: Connection refused$" err &&
	! grep -q "may have been placed" err &&
	dial_bg --retries 5 -f +15550001111 -S hi +15552223333 >out 2>err &&
	dpid=$! &&
	wait_for err "Connection refused; retrying" &&
	: >req.log &&
	run_bg "$FAKE" --port $port --log req.log --account $ACCT \
		--token "$TOKEN" &&
	wait $dpid &&
	jq -r .sid out | grep -Eq "$SIDRE" &&
	grep -q "Connection refused; retrying" err &&
	test $(count .) = 1
'

test_expect_success 'TLS: a plain server and an untrusted certificate' '
	start_fake &&
	expect_status 5 dial --api-base "https://127.0.0.1:$fport" \
		--status $NEVER 2>err &&
	grep -q "^tw-dial: TLS handshake with .https://127.0.0.1:$fport. failed" err &&
	test_kill_bg &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
		-out cert.pem -days 2 -subj /CN=127.0.0.1 2>/dev/null &&
	start_fake --cert cert.pem --keyfile key.pem &&
	expect_status 5 dial --api-base "https://127.0.0.1:$fport" \
		-f +15550001111 -S hi +15552223333 2>err &&
	grep -q "^tw-dial: cannot verify the TLS certificate of .https://127.0.0.1:$fport." err &&
	! grep -q "may have been placed" err &&
	! grep -q retrying err
'

# A label over 63 characters fails inside the resolver, before any query
# leaves this machine.
test_expect_success 'a name that does not resolve: clear message, no retry' '
	long=$(head -c 70 /dev/zero | tr "\0" a) &&
	expect_status 5 dial --api-base "https://$long.invalid" \
		-f +15550001111 -S hi +15552223333 2>err &&
	echo "tw-dial: cannot resolve the host of '\''https://$long.invalid'\''" \
		>expect &&
	test_cmp expect err
'

test_expect_success '--api-base: plain http only to this machine, no credentials' '
	expect_status 2 dial --api-base http://api.example.com --status $NEVER \
		2>err && grep -q "plain http is only for this machine" err &&
	expect_status 2 dial --api-base "https://u:p@api.example.com" \
		--status $NEVER 2>err && grep -q "credentials do not belong" err &&
	expect_status 2 dial --api-base ftp://127.0.0.1/ --status $NEVER \
		2>err && grep -q "not an http(s) URL" err
'

test_expect_success 'TWILIO_API_BASE is used without --api-base' '
	start_fake &&
	TWILIO_API_BASE=$API/ TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=$TOKEN \
		tw-dial -q -f +15550001111 -S hi +15552223333 >out &&
	grep -Eq "$SIDRE" out &&
	test "$(requests .path)" = "\"$CALLS\""
'

# The host tw-dial wants is seen through a proxy that refuses every
# CONNECT: nothing leaves this machine.
test_expect_success 'TWILIO_REGION and TWILIO_EDGE choose the host' '
	start_fake &&
	for env in "-:api.twilio.com" "TWILIO_REGION=ie1:api.dublin.ie1.twilio.com" \
		"TWILIO_REGION=au1 TWILIO_EDGE=sydney:api.sydney.au1.twilio.com" \
		"TWILIO_EDGE=frankfurt:api.frankfurt.us1.twilio.com" \
		"TWILIO_REGION=jp1:api.tokyo.jp1.twilio.com"; do
		: >req.log &&
		vars=${env%:*} && host=${env#*:} &&
		{ [ "$vars" = - ] && vars=; :; } &&
		expect_status 5 env $vars https_proxy=$API \
			TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=$TOKEN \
			tw-dial --retries 0 --status $NEVER 2>err &&
		test "$(requests "[.method, .path]")" = \
			"[\"CONNECT\",\"$host:443\"]" || return 1
	done &&
	TWILIO_REGION=xx9 TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=$TOKEN \
		expect_status 2 tw-dial --status $NEVER 2>err &&
	grep -q "set TWILIO_EDGE" err &&
	TWILIO_REGION=IE1/x TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=$TOKEN \
		expect_status 2 tw-dial --status $NEVER 2>err
'

test_expect_success 'secrets never appear in arguments or output' '
	start_fake --fail "method=POST,count=1,delay=2" &&
	TWILIO_API_KEY=$KEY TWILIO_API_SECRET=$SECRET \
		dial_bg -vv -f +15550001111 -S hi +15552223333 >out1 2>err1 &&
	dpid=$! &&
	# until the background shell has become tw-dial (the POST takes 2 s)
	n=0 &&
	until tr "\0" " " </proc/$dpid/cmdline | grep -q "^tw-dial "; do
		[ $n -lt 50 ] || return 1
		sleep 0.1; n=$((n + 1))
	done &&
	tr "\0" " " </proc/$dpid/cmdline >cmdline &&
	ps -ww -o args= -p $dpid >>cmdline &&
	wait $dpid &&
	dial_bg -vv -f +15550001111 -S hi --wait --poll 0.1 +15552223333 \
		>out2 2>err2 &&
	wpid=$! &&
	wait_for out2 "call.status" &&
	tr "\0" " " </proc/$wpid/cmdline >>cmdline &&
	sid=$(jq -r .call_sid out2 | head -n 1) &&
	dial -vv --hangup $sid >out3 2>err3 &&
	expect_status 8 wait $wpid &&
	TWILIO_ACCOUNT_SID=$ACCT TWILIO_AUTH_TOKEN=wrong-$TOKEN \
		expect_status 3 tw-dial --api-base "$API" -vv --status $sid \
		>out4 2>err4 &&
	grep -q "POST http://127.0.0.1:$fport$CALLS: 201" err1 &&
	b64tok=$(printf "%s:%s" $ACCT "$TOKEN" | base64 -w0) &&
	b64key=$(printf "%s:%s" $KEY "$SECRET" | base64 -w0) &&
	for s in "$TOKEN" "$SECRET" "$b64tok" "$b64key"; do
		! grep -F -e "$s" cmdline out1 err1 out2 err2 out3 err3 \
			out4 err4 || return 1
	done &&
	requests .auth_ok | grep -q true
'

test_expect_success 'standard output closed or full: exit 1 with a message' '
	start_fake &&
	expect_status 1 dial -f +15550001111 -S hi +15552223333 >&- 2>err &&
	grep -q "standard output is closed" err &&
	test ! -s req.log &&
	expect_status 1 dial -f +15550001111 -S hi +15552223333 \
		>/dev/full 2>err &&
	grep -q "cannot write to standard output: No space left" err
'

test_done
