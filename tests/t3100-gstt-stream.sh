#!/bin/bash
test_description='gstt-stream against a stand-in Speech service'
. "$(dirname "$0")/test-lib.sh"

unset GSTT_ENDPOINT GSTT_API_KEY GSTT_ACCESS_TOKEN GOOGLE_CLOUD_PROJECT \
	GOOGLE_APPLICATION_CREDENTIALS GRPC_DEFAULT_SSL_ROOTS_FILE_PATH \
	TAPLINE_CALL_SID TAPLINE_STREAM_SID TAPLINE_TRACK

# Start tl-fakespeech on a free port ($PORT), logging to a new fake.log.
fake() {
	rm -f fake.log &&
	PORT=$(free_port) &&
	run_bg tl-fakespeech --listen 127.0.0.1:$PORT --log fake.log "$@" &&
	wait_port $PORT
}


# gstt-stream at the fake, bounded in time.
gstt() {
	timeout 120 gstt-stream --endpoint 127.0.0.1:$PORT "$@"
}

# check_finals EVENTS N [K]: the final transcripts list blocks bK..bN-1
# (K is 0 unless given) once each, in order; seq runs 0, 1, 2...; each final starts where the one
# before ended, at its first block, and ends one block past its last
# (80 blocks a second): one timeline, no gap, no overlap.
check_finals() {
	jq -r 'select(.type == "transcript" and .final) |
		"\(.seq)\t\(.start)\t\(.end)\t\(.text)"' "$1" >finals.tsv &&
	awk -F '\t' -v n="$2" -v k="${3:-0}" '
	{
		if ($1 != NR - 1) { print "seq " $1 " at final " NR; bad = 1 }
		if (NR > 1 && $2 != prev) {
			print "final " NR " starts at " $2 ", the one before " \
				"ended at " prev; bad = 1
		}
		m = split($4, w, " ")
		for (i = 1; i <= m; i++) {
			if (w[i] != "b" k) {
				print "final " NR ": " w[i] " where b" k \
					" was due"; bad = 1; exit 1
			}
			if (i == 1 && $2 * 80 != k) {
				print "final " NR " starts at " $2 \
					", its first block is " k; bad = 1
			}
			k++
		}
		if ($3 * 80 != k) {
			print "final " NR " ends at " $3 ", its blocks end at " k
			bad = 1
		}
		prev = $3
	}
	END {
		if (!bad && k != n) {
			print "finals end at block " k ", not " n; bad = 1
		}
		exit bad
	}' finals.tsv
}

# The streams that ended, from fake.log.
streams() { grep -c '^stream=.* status=' fake.log; }

# all_true FILE SELECT COND: some events pass SELECT, and COND holds for
# every one.
all_true() {
	test "$(jq -s "[.[] | $2 | $3] | length > 0 and all" "$1")" = true
}

test_expect_success 'setup: block-numbered audio' '
	tl-fakespeech --gen-blocks 28800 >six.ul &&
	test $(wc -c <six.ul) = 2880000 &&
	tl-fakespeech --gen-blocks 800 >ten.ul &&
	head -c 40000 ten.ul >five.ul &&
	tl-fakespeech --gen-blocks 400 --first 400 >second.ul &&
	tail -c 40000 ten.ul | cmp - second.ul
'

test_expect_success 'stdin: finals cover the audio, interims between' '
	fake &&
	gstt <five.ul >ev 2>err &&
	check_finals ev 400 &&
	test $(jq -s "map(select(.final == false)) | length" ev) -gt 5 &&
	all_true ev "select(.final == false)" \
		".stability == 0.5 and .start >= 0" &&
	all_true ev "select(.final)" ".confidence == 0.875" &&
	test -z "$(jq -r .ts ev | grep -Ev "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$")" &&
	grep -q "config stream=1 encoding=3 rate=8000 channels=1 lang=en-US alts= model=phone_call enhanced=0 interim=1 punct=1 words=0 profanity=0 maxalt=1 single=0 phrases= boost=0" fake.log &&
	test $(streams) = 1 && test ! -s err
'

test_expect_success 'interims share the seq of their final' '
	fake &&
	gstt <ten.ul >ev &&
	jq -r "select(.type == \"transcript\") | \"\(.seq) \(.final)\"" ev |
		awk "{ if (\$1 != s) { print \"seq \" \$1 \" after \" s; exit 1 }
			if (\$2 == \"true\") s++ }"
'

test_expect_success '6 minutes, 60 s stream limit: one exact timeline' '
	fake --max-stream-seconds 60 --final-every 700 &&
	gstt -v <six.ul >ev 2>err &&
	check_finals ev 28800 &&
	grep -q "OUT_OF_RANGE" fake.log &&
	test $(streams) -ge 6 &&
	test $(jq -s "map(select(.type == \"error\")) | length" ev) = 0 &&
	grep "stream=2 .*first=4760 " fake.log
'

test_expect_success 'restarts of its own keep the timeline (--restart-after)' '
	fake --final-every 1500 &&
	gstt --restart-after 20 <six.ul >ev &&
	check_finals ev 28800 &&
	test $(streams) = 18 &&
	! grep -q OUT_OF_RANGE fake.log
'

test_expect_success 'the last final after the half-close is read' '
	fake --close-delay 1500 --final-every 1000 &&
	head -c 44000 ten.ul >5.5.ul &&
	gstt <5.5.ul >ev &&
	check_finals ev 440 &&
	test "$(jq -r "select(.final) | .end" ev | tail -n 1)" = 5.5
'

test_expect_success 'UNAVAILABLE mid-stream: reconnect, nothing lost' '
	fake --unavailable-after-bytes 123456 &&
	gstt <six.ul >ev 2>err &&
	check_finals ev 28800 &&
	grep -q "^stream=1 bytes=123456 .*status=UNAVAILABLE" fake.log &&
	test $(streams) -ge 2 &&
	all_true ev "select(.type == \"error\")" ".code == \"UNAVAILABLE\" and
		.source == \"gstt-stream\" and (.message | length > 0)" &&
	test $(jq -s "map(select(.type == \"error\")) | length" ev) = 1
'

test_expect_success 'dropped connection: reconnect with backoff, nothing lost' '
	PORT=$(free_port) &&
	run_bg tl-fakespeech --listen 127.0.0.1:$PORT --log fake.log \
		--drop-after-bytes 200000 &&
	fakepid=$! &&
	wait_port $PORT &&
	run_bg_in six.ul timeout 120 gstt-stream --endpoint 127.0.0.1:$PORT \
		>ev 2>err &&
	gpid=$! &&
	wait_for fake.log " drop" &&
	n=0 && while kill -0 $fakepid 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.1; n=$((n + 1)); done &&
	sleep 1 &&
	run_bg tl-fakespeech --listen 127.0.0.1:$PORT --log fake.log &&
	wait $gpid &&
	check_finals ev 28800 &&
	grep -q "^stream=1 bytes=200000 drop" fake.log &&
	all_true ev "select(.type == \"error\")" ".code == \"UNAVAILABLE\""
'

test_expect_success 'files: 8 kHz mu-law WAV goes as its bytes; two in a row' '
	fake &&
	sox -t ul -r 8000 -c 1 five.ul -e mu-law a.wav &&
	sox -t ul -r 8000 -c 1 second.ul -e mu-law b.au &&
	gstt a.wav b.au >ev &&
	check_finals ev 800 &&
	grep -q "encoding=3 rate=8000 channels=1" fake.log
'

test_expect_success 'files: linear PCM goes as LINEAR16 at its rate, --mix' '
	fake &&
	sox -n -r 16000 -c 2 -b 16 st.wav synth 3.25 sine 300 sine 500 &&
	gstt --mix st.wav >ev &&
	test $(streams) = 1 &&
	grep -q "encoding=1 rate=16000 channels=1" fake.log &&
	grep -q "^stream=1 bytes=104000 " fake.log &&
	jq -r "select(.final) | \"\(.start) \(.end)\"" ev >t &&
	printf "0 1\n1 2\n2 3\n3 3.25\n" >expect &&
	test_cmp expect t
'

test_expect_success 'stdin: --encoding linear16 --rate 16000' '
	fake &&
	sox -n -r 16000 -c 1 -b 16 -e signed -t raw - synth 2 sine 440 >s.raw &&
	gstt --encoding linear16 --rate 16000 <s.raw >ev &&
	grep -q "encoding=1 rate=16000 channels=1" fake.log &&
	test "$(jq -r "select(.final) | .end" ev | tail -n 1)" = 2
'

test_expect_success 'a file that is not audio, a missing file: exit 1' '
	echo "not audio" >bad.wav &&
	expect_status 1 gstt-stream --endpoint 127.0.0.1:9 bad.wav 2>err &&
	grep -q "^gstt-stream: cannot open .bad.wav.: " err &&
	expect_status 1 gstt-stream --endpoint 127.0.0.1:9 nope.wav 2>err &&
	grep -q "^gstt-stream: cannot open .nope.wav.: " err
'

test_expect_success '--realtime paces at the speed of the audio' '
	fake &&
	head -c 16000 ten.ul >2s.ul &&
	t0=$(date +%s%N) &&
	gstt --realtime 2s.ul >ev &&
	t1=$(date +%s%N) &&
	test $(( (t1 - t0) / 1000000 )) -ge 1800 &&
	check_finals ev 160
'

test_expect_success 'labels from the environment, flags override them' '
	fake &&
	TAPLINE_CALL_SID=CA1 TAPLINE_STREAM_SID=MZ1 TAPLINE_TRACK=inbound \
		gstt <five.ul >ev &&
	all_true ev . ".call_sid == \"CA1\" and .stream_sid == \"MZ1\" and
		.track == \"inbound\"" &&
	TAPLINE_CALL_SID=CA1 TAPLINE_STREAM_SID=MZ1 TAPLINE_TRACK=inbound \
		gstt --call-sid CA2 --track outbound <five.ul >ev &&
	jq -c "[.type, .call_sid, .stream_sid, .track]" ev | sort -u >t &&
	echo "[\"transcript\",\"CA2\",\"MZ1\",\"outbound\"]" >expect &&
	test_cmp expect t &&
	gstt <five.ul >ev &&
	test "$(jq -c "[.call_sid, .stream_sid, .track]" ev | sort -u)" = \
		"[null,null,null]"
'

test_expect_success 'recognition options go on the wire' '
	fake &&
	printf "alpha beta\n\ngamma\n" >ph &&
	gstt --language fr-FR --alt-language en-GB --alt-language de-DE \
		--model video --enhanced --no-interim --no-punctuation \
		--words --phrase one --phrases ph --boost 7.5 \
		--profanity-filter --alternatives 3 <five.ul >ev &&
	grep -q "lang=fr-FR alts=en-GB,de-DE model=video enhanced=1 interim=0 punct=0 words=1 profanity=1 maxalt=3 single=0 phrases=one|alpha beta|gamma boost=7.5" fake.log &&
	test $(jq -s "map(select(.final == false)) | length" ev) = 0 &&
	check_finals ev 400
'

test_expect_success '--words: word times on the whole timeline' '
	fake --max-stream-seconds 7 &&
	gstt --words <ten.ul >ev &&
	check_finals ev 800 &&
	jq -r "select(.final) | .words[] | \"\(.word) \(.start) \(.end)\"" \
		ev >w &&
	test $(wc -l <w) = 800 &&
	awk "{ k = substr(\$1, 2) + 0
		if (\$2 * 80 != k || \$3 * 80 != k + 1) { print; exit 1 } }" w
'

test_expect_success 'input that stalls: idle close, then a new stream' '
	fake --audio-timeout 3 &&
	head -c 12000 ten.ul >p1 && tail -c +12001 ten.ul >p2 &&
	{ cat p1; sleep 5; cat p2; } | gstt --idle-close 1 -v >ev 2>err &&
	check_finals ev 800 &&
	grep -q "idle input" err &&
	test $(streams) = 2 &&
	! grep -q OUT_OF_RANGE fake.log
'

test_expect_success 'the replay cap drops what no final covered, and says so' '
	fake --no-close-final --final-every 100000 &&
	head -c 160000 six.ul >20s.ul &&
	gstt --restart-after 10 --max-replay 2 <20s.ul >ev 2>err &&
	test $(streams) = 3 &&
	all_true ev "select(.type == \"error\")" ".code == \"DATA_LOSS\"" &&
	test $(grep -c DATA_LOSS ev) = 2 &&
	grep -q "replay capped at 2 s: 8.000 s of audio not transcribed" err &&
	grep -q "^stream=2 bytes=80000 first=640 " fake.log &&
	grep -q "^stream=3 bytes=32000 first=1280 " fake.log
'

test_expect_success 'a live pipe over --buffer loses its oldest audio, and says' '
	PORT=$(free_port) && rm -f fake.log &&
	tl-fakespeech --gen-blocks 12000 >150s.ul &&
	mkfifo flood &&
	exec 7<>flood &&
	test_when_finished "exec 7>&-" &&
	run_bg_in flood timeout 60 gstt-stream --endpoint 127.0.0.1:$PORT \
		--buffer 120 >ev 2>err 7>&- &&
	gpid=$! &&
	cat 150s.ul >&7 &&
	sleep 1 &&
	run_bg tl-fakespeech --listen 127.0.0.1:$PORT --log fake.log 7>&- &&
	wait_port $PORT &&
	exec 7>&- &&
	expect_status 0 wait $gpid &&
	check_finals ev 12000 2400 &&
	grep -q "30.000 s over the buffer" err &&
	grep -q "^stream=1 bytes=960000 first=2400 " fake.log &&
	all_true ev "select(.code == \"DATA_LOSS\")" \
		".message | startswith(\"buffer full\")"
'

test_expect_success 'SIGTERM: what was read is transcribed, exit 0' '
	fake &&
	mkfifo in &&
	exec 7<>in &&
	test_when_finished "exec 7>&-" &&
	run_bg_in in timeout 60 gstt-stream --endpoint 127.0.0.1:$PORT \
		>ev 2>err 7>&- &&
	gpid=$! &&
	head -c 12000 ten.ul >&7 &&
	wait_for ev "\"end\":1.3" &&
	kill -TERM $gpid &&
	expect_status 0 wait $gpid &&
	# all that reached the service, and only that, is in the finals
	n=$(sed -n "s/^stream=1 bytes=\([0-9]*\) .*status=OK$/\1/p" fake.log) &&
	test $n -ge 10400 &&
	check_finals ev $((n / 100))
'

test_expect_success 'auth: refused credentials exit 3, with an event' '
	fake --auth s3cret &&
	expect_status 3 gstt <five.ul >ev 2>err &&
	grep -q "^gstt-stream: service refused the credentials: UNAUTHENTICATED" err &&
	all_true ev "select(.type == \"error\")" ".code == \"UNAUTHENTICATED\"" &&
	(export GSTT_API_KEY=wrong && expect_status 3 gstt <five.ul >ev)
'

test_expect_success 'auth: API key, access token, quota project as metadata' '
	fake --auth s3cret &&
	(export GSTT_API_KEY=s3cret GOOGLE_CLOUD_PROJECT=proj-1 &&
	 gstt <five.ul >ev) &&
	check_finals ev 400 &&
	grep -q "^open stream=1 project=proj-1 key=s3cret bearer=$" fake.log &&
	(export GSTT_ACCESS_TOKEN=s3cret && gstt <five.ul >ev) &&
	check_finals ev 400 &&
	grep -q "^open stream=2 project= key= bearer=s3cret$" fake.log
'

# b64url FIELD: decode one base64url field of a JWT (padded or not)
b64url() {
	_s=$(printf %s "$1" | tr -- '-_' '+/' | tr -d =) &&
	while [ $((${#_s} % 4)) != 0 ]; do _s="$_s="; done &&
	printf %s "$_s" | base64 -d
}

test_expect_success 'TLS: setup a CA, a server certificate and a service account' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
		-days 2 -subj "/CN=tapline test CA" 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
		-subj "/CN=localhost" 2>/dev/null &&
	echo "subjectAltName=DNS:localhost" >srv.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -out srv.pem -days 2 -extfile srv.ext \
		2>/dev/null &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out sa.key 2>/dev/null &&
	openssl pkey -in sa.key -pubout -out sa.pub &&
	jq -n --rawfile k sa.key "{type: \"service_account\",
		project_id: \"tapline-test\", private_key_id: \"0123abcd\",
		private_key: \$k, client_id: \"1234567890\",
		client_email: \"stt@tapline-test.iam.gserviceaccount.com\"}" \
		>sa.json
'

test_expect_success 'TLS: a service-account key file signs a JWT for the service' '
	fake --cert srv.pem --key srv.key &&
	(export GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=$PWD/ca.pem \
		GOOGLE_APPLICATION_CREDENTIALS=$PWD/sa.json \
		GOOGLE_CLOUD_PROJECT=proj-2 &&
	 timeout 60 gstt-stream --tls --endpoint localhost:$PORT <five.ul >ev) &&
	check_finals ev 400 &&
	jwt=$(sed -n "s/^open stream=1 project=proj-2 key= bearer=//p" \
		fake.log) &&
	test -n "$jwt" &&
	IFS=. read -r h p sig <<-EOF &&
	$jwt
	EOF
	b64url "$h" | jq -e ".alg == \"RS256\" and .kid == \"0123abcd\"" &&
	b64url "$p" | jq -e --arg aud "https://localhost:$PORT/" "
		.iss == \"stt@tapline-test.iam.gserviceaccount.com\" and
		.sub == .iss and .aud == \$aud and
		.exp > .iat and .exp - .iat <= 3600 and
		(.iat - now | fabs) < 300" &&
	b64url "$sig" >sig.bin &&
	printf %s "$h.$p" |
		openssl dgst -sha256 -verify sa.pub -signature sig.bin
'

test_expect_success 'TLS: an API key over TLS, nothing in the clear' '
	fake --cert srv.pem --key srv.key --auth s3cret &&
	(export GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=$PWD/ca.pem \
		GSTT_API_KEY=s3cret &&
	 timeout 60 gstt-stream --tls --endpoint localhost:$PORT <five.ul >ev) &&
	check_finals ev 400 &&
	grep -q "^open stream=1 project= key=s3cret bearer=$" fake.log
'

test_expect_success 'TLS: a server the CA did not sign gets no audio' '
	fake --cert srv.pem --key srv.key &&
	# the system roots, not ours: the handshake must fail, and the
	# error say why; gstt-stream goes on trying as for any outage,
	# until --give-up
	(export GSTT_API_KEY=s3cret &&
	 expect_status 5 timeout 60 gstt-stream --tls --give-up 2 \
		--endpoint localhost:$PORT <five.ul >ev 2>err) &&
	jq -s -e "any(.[]; .type == \"error\" and .code == \"UNAVAILABLE\"
		and (.message | test(\"certificate verify failed\")))" ev &&
	! grep -q "^open stream" fake.log
'

test_expect_success 'GSTT_ENDPOINT sets the endpoint, plaintext on loopback' '
	fake &&
	GSTT_ENDPOINT=127.0.0.1:$PORT timeout 60 gstt-stream <five.ul >ev &&
	check_finals ev 400
'

test_expect_success 'invalid argument from the service: exit 4' '
	fake &&
	expect_status 4 gstt --language "en_US!" <five.ul >ev 2>err &&
	grep -q "rejected the request: Invalid recognition .config.: bad language code." err &&
	all_true ev "select(.type == \"error\")" ".code == \"INVALID_ARGUMENT\""
'

test_expect_success 'nothing listening: exit 5 after --give-up, or at EOF' '
	PORT=$(free_port) &&
	mkfifo live &&
	exec 7<>live &&
	test_when_finished "exec 7>&-" &&
	run_bg_in live timeout 60 gstt-stream --endpoint 127.0.0.1:$PORT \
		--give-up 1 >ev 2>err 7>&- &&
	gpid=$! &&
	cat five.ul >&7 &&
	expect_status 5 wait $gpid &&
	grep -q "giving up: service unavailable too long" err &&
	all_true ev "select(.type == \"error\")" ".code == \"UNAVAILABLE\"" &&
	expect_status 5 gstt --eof-timeout 1 <five.ul >ev 2>err &&
	grep -q "giving up: service unavailable at the end of input" err
'

test_expect_success 'credentials: none, a missing or a bad key file: exit 3' '
	mkdir -p home &&
	HOME=$PWD/home expect_status 3 gstt-stream </dev/null 2>err &&
	grep -q "^gstt-stream: no credentials for speech.googleapis.com:443: set GOOGLE_APPLICATION_CREDENTIALS" err &&
	GOOGLE_APPLICATION_CREDENTIALS=$PWD/none.json \
		expect_status 3 gstt-stream </dev/null 2>err &&
	grep -q "^gstt-stream: cannot read credentials .*none.json. (GOOGLE_APPLICATION_CREDENTIALS): No such file or directory" err &&
	echo "{\"type\": \"nonsense\"}" >k.json &&
	GOOGLE_APPLICATION_CREDENTIALS=$PWD/k.json \
		expect_status 3 gstt-stream </dev/null 2>err &&
	grep -q "not a service account or user key" err &&
	echo "{" >k.json &&
	GOOGLE_APPLICATION_CREDENTIALS=$PWD/k.json \
		expect_status 3 gstt-stream </dev/null 2>err &&
	grep -q "not JSON" err
'

test_expect_success 'usage errors exit 2' '
	expect_status 2 gstt-stream --encoding alaw </dev/null 2>err &&
	grep -q "invalid encoding" err &&
	expect_status 2 gstt-stream --buffer 60 </dev/null 2>err &&
	expect_status 2 gstt-stream --alt-language a --alt-language b \
		--alt-language c --alt-language d </dev/null 2>err &&
	expect_status 2 gstt-stream --endpoint nonsense </dev/null 2>err &&
	grep -q "invalid endpoint" err &&
	gstt-stream --help >out && grep -q "^usage: gstt-stream" out &&
	gstt-stream --version >out && grep -q "^gstt-stream (tapline) " out
'

test_done
