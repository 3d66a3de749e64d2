#!/bin/bash
test_description='ts-broadcast fans events out to WebSocket clients'
. "$(dirname "$0")/test-lib.sh"

CA1=CA11111111111111111111111111111111
CA2=CA22222222222222222222222222222222
CA3=CA33333333333333333333333333333333

# A page of our own, so these cases do not depend on web/.
mkdir -p web &&
printf '<!doctype html><title>t</title>\n' >web/index.html &&
printf 'console.log(1);\n' >web/app.js &&
printf 'secret\n' >.hidden &&
cp .hidden web/.hidden

# Two producers on feed.sock, one per file, a line of each in turn,
# each line cut in two writes: their pieces interleave on the server.
cat >producers.pl <<'EOF'
use IO::Socket::UNIX;
use Time::HiRes qw(usleep);
my @s = map { IO::Socket::UNIX->new(Peer => 'feed.sock')
	      or die "connect: $!" } 0, 1;
my @f = map { open(my $h, '<', $_) or die "$_: $!"; [<$h>] } @ARGV;
while (@{$f[0]} || @{$f[1]}) {
	my @l = map { shift @{$f[$_]} } 0, 1;
	for my $part (0, 1) {
		for my $i (0, 1) {
			next unless defined $l[$i];
			my $h = int(length($l[$i]) / 2);
			syswrite($s[$i], $part ? substr($l[$i], $h)
					       : substr($l[$i], 0, $h));
			usleep(300);
		}
	}
}
close($_) for @s;
EOF

# A producer at a bounded pace: lines of FILE, N a second, to feed.sock.
cat >paced.pl <<'EOF'
use IO::Socket::UNIX;
use Time::HiRes qw(usleep);
my ($file, $rate) = @ARGV;
my $s = IO::Socket::UNIX->new(Peer => 'feed.sock') or die "connect: $!";
open(my $h, '<', $file) or die "$file: $!";
my $n = 0;
while (my $l = <$h>) {
	my $off = 0;
	while ($off < length($l)) {
		my $w = syswrite($s, $l, length($l) - $off, $off);
		die "write: $!" unless defined $w;
		$off += $w;
	}
	usleep(100 * 1000000 / $rate) if ++$n % 100 == 0;
}
close($s);
EOF

# call_events CALL N: a call of N utterances per track, each as two
# interims and a final, then call.stop.
call_events() {
	awk -v call="$1" -v n="$2" 'BEGIN {
		ms = "MZ" substr(call, 3)
		printf "{\"type\":\"call.start\",\"ts\":\"2026-01-01T00:00:00.000Z\",\"call_sid\":\"%s\",\"stream_sid\":\"%s\",\"account_sid\":\"AC1\",\"tracks\":[\"inbound\",\"outbound\"],\"params\":{\"agent\":\"bob\"}}\n", call, ms
		for (i = 0; i < n; i++)
			for (t = 0; t < 2; t++) {
				tr = t ? "outbound" : "inbound"
				for (k = 1; k <= 2; k++)
					printf "{\"type\":\"transcript\",\"ts\":\"2026-01-01T00:00:01.000Z\",\"call_sid\":\"%s\",\"stream_sid\":\"%s\",\"track\":\"%s\",\"seq\":%d,\"final\":false,\"text\":\"%s %d part %d\",\"stability\":0.8,\"start\":%d.1,\"end\":%d.5}\n", call, ms, tr, i, tr, i, k, i, i
				printf "{\"type\":\"transcript\",\"ts\":\"2026-01-01T00:00:02.000Z\",\"call_sid\":\"%s\",\"stream_sid\":\"%s\",\"track\":\"%s\",\"seq\":%d,\"final\":true,\"text\":\"%s %d done\",\"confidence\":0.9,\"start\":%d.1,\"end\":%d.9}\n", call, ms, tr, i, tr, i, i, i
			}
		printf "{\"type\":\"call.stop\",\"ts\":\"2026-01-01T00:01:00.000Z\",\"call_sid\":\"%s\",\"stream_sid\":\"%s\",\"reason\":\"stop\"}\n", call, ms
	}'
}

# What a late joiner should get of call_events: all but the interims.
no_interims() {
	grep -v '"final":false'
}

# start_bc [options]: ts-broadcast on a free port, stdin from $BC_IN
# (default /dev/null; a FIFO is held open on fd 3, for the case to write
# to and close); stderr in bc.err.
start_bc() {
	port=$(free_port) &&
	run_bg_in "${BC_IN:-/dev/null}" ts-broadcast -v \
		--listen 127.0.0.1:$port --web "$TRASH/web" "$@" 2>>bc.err &&
	bc_pid=$! &&
	{ [ ! -p "${BC_IN:-/dev/null}" ] || exec 3>"$BC_IN"; } &&
	wait_port $port &&
	WS=ws://127.0.0.1:$port/ws &&
	HTTP=http://127.0.0.1:$port
}

stop_bc() {
	kill -TERM $bc_pid &&
	wait $bc_pid &&
	test_bg_pids=$(echo $test_bg_pids | tr " " "\n" | grep -vx $bc_pid || :)
}

# events FILE: the events a client printed (not hello or sync), as sent.
events() {
	sed -n 's/^text //p' "$1" | grep -v '^{"type":"\(hello\|sync\)"'
}

# strip_ids: events as their producer wrote them.
strip_ids() {
	sed 's/,"id":[0-9]*}$/}/'
}

# ids_increase FILE: the ids in FILE's events go strictly up.
ids_increase() {
	events "$1" | sed 's/.*,"id":\([0-9]*\)}$/\1/' |
		awk 'NR > 1 && $1 <= last { bad = 1 } { last = $1 } END { exit bad }'
}

metric() {
	curl -sf $HTTP/metrics | awk -v m="$1" '$1 == m { print $2 }'
}

# wait_metric NAME VALUE: bounded (10 s) wait for a metric to reach VALUE.
wait_metric() {
	_w=0
	while [ $_w -lt 100 ]; do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1; _w=$((_w + 1))
	done
	say "metric $1 is $(metric "$1"), not $2"; return 1
}

# feed FILE...: each file to the feed socket as a producer, in turn.
feed() {
	for f in "$@"; do
		nc -N -U feed.sock <"$f" || return 1
	done
}

test_expect_success 'usage errors; a public address needs a token' '
	expect_status 2 ts-broadcast --listen nowhere 2>err &&
	grep -q "invalid --listen" err &&
	expect_status 2 ts-broadcast --bogus 2>err &&
	expect_status 2 ts-broadcast --dial-cmd relative/path 2>err &&
	expect_status 1 ts-broadcast --listen 0.0.0.0:$(free_port) \
		</dev/null 2>err &&
	grep -q "refusing to listen on .*TAPLINE_BROADCAST_TOKEN" err &&
	ts-broadcast --help >out && grep -q "^usage: ts-broadcast" out &&
	ts-broadcast --version >out && grep -q "0.1.0" out
'

test_expect_success 'the page, /healthz and /metrics; only plain names' '
	start_bc &&
	curl -sf $HTTP/healthz >h && echo ok >expect && test_cmp expect h &&
	curl -sf -D hdr $HTTP/ >page && test_cmp web/index.html page &&
	grep -qi "^content-type: text/html" hdr &&
	curl -sf -D hdr $HTTP/app.js >js && test_cmp web/app.js js &&
	grep -qi "^content-type: text/javascript" hdr &&
	for p in /.hidden /nothing.html /../.hidden /%2e%2e/.hidden \
		 /web/app.js /app.exe; do
		code=$(curl -s -o body -w "%{http_code}" --path-as-is $HTTP$p) &&
		{ [ "$code" = 404 ] || { say "$p: $code"; return 1; }; } &&
		! grep -q secret body || return 1
	done &&
	curl -sf $HTTP/metrics >m &&
	grep -q "^ts_broadcast_clients 0$" m &&
	grep -q "^# TYPE ts_broadcast_events_in_total counter$" m &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST \
		-d "{\"to\":\"+15551234567\"}" $HTTP/api/calls)" = 404 &&
	stop_bc
'

# tl-wsclient without fd 3, the FIFO that feeds ts-broadcast's stdin in
# some cases: a client must not keep that input open.  (Run in the
# background subshell of run_bg_in, where exec keeps its pid.)
wsc() {
	exec tl-wsclient "$@" 3>&-
}

# client OUT [URL-SUFFIX] N [tl-wsclient options]: a client in the
# background that waits for N messages, then closes; its pid in cl_pid.
client() {
	_out=$1 _sfx=$2 _n=$3
	shift 3
	echo "wait-recv $_n" >"$_out.script" &&
	run_bg_in "$_out.script" wsc --timeout 30 "$@" "$WS$_sfx" \
		>"$_out" &&
	cl_pid=$!
}

# get OUT [URL-SUFFIX] N [options]: the same in the foreground.
get() {
	_out=$1 _sfx=$2 _n=$3
	shift 3
	echo "wait-recv $_n" | tl-wsclient --timeout 20 "$@" "$WS$_sfx" \
		>"$_out"
}

test_expect_success 'live events from stdin: whole, in order, ids added' '
	call_events $CA1 30 >in && call_events $CA2 5 >>in &&
	nev=$(wc -l <in) &&
	mkfifo in.fifo &&
	BC_IN=in.fifo start_bc &&
	test_when_finished "exec 3>&-" &&
	client c1 "" $((nev + 2)) && c1=$cl_pid &&
	client c2 "" $((nev + 2)) && c2=$cl_pid &&
	wait_for c1 "\"type\":\"sync\"" && wait_for c2 "\"type\":\"sync\"" &&
	grep -q "^text {\"type\":\"hello\",.*\"calls\":\[\]}$" c1 &&
	cat in >&3 &&
	wait $c1 && wait $c2 &&
	events c1 | strip_ids >got1 && test_cmp in got1 &&
	events c2 | strip_ids >got2 && test_cmp in got2 &&
	ids_increase c1 &&
	test "$(metric ts_broadcast_events_in_total)" = $nev &&
	exec 3>&- &&
	sleep 0.3 && curl -sf $HTTP/healthz >/dev/null &&
	grep -q "end of standard input, still serving" bc.err &&
	stop_bc
'

test_expect_success 'two feed producers: lines whole, each in its order' '
	call_events $CA1 40 >p1 && call_events $CA2 40 >p2 &&
	start_bc --feed feed.sock &&
	test -S feed.sock &&
	nev=$(cat p1 p2 | wc -l) &&
	client f1 "" $((nev + 2)) &&
	wait_for f1 "\"type\":\"sync\"" &&
	perl "$TRASH/producers.pl" p1 p2 &&
	wait $cl_pid &&
	events f1 | strip_ids >fgot &&
	grep $CA1 fgot >fgot1 && test_cmp p1 fgot1 &&
	grep $CA2 fgot >fgot2 && test_cmp p2 fgot2 &&
	wait_metric ts_broadcast_feeds 0 &&
	stop_bc &&
	test ! -e feed.sock
'

test_expect_success 'a late joiner gets the history, interims replaced' '
	call_events $CA1 3 >in &&
	# an utterance left unfinished: only its newest interim stays
	cat >>in <<-EOF &&
	{"type":"transcript","ts":"t","call_sid":"$CA1","stream_sid":"MZ1","track":"inbound","seq":9,"final":false,"text":"a"}
	{"type":"transcript","ts":"t","call_sid":"$CA1","stream_sid":"MZ1","track":"inbound","seq":9,"final":false,"text":"a b"}
	{"type":"server.note","ts":"t","text":"about no call"}
	EOF
	call_events $CA2 2 | head -n 4 >>in &&
	BC_IN=in start_bc --journal j5 &&
	wait_metric ts_broadcast_events_in_total $(wc -l <in) &&
	{ no_interims <in | grep -v server.note &&
	  grep "\"seq\":9,.*\"a b\"" in; } |
		sort >expect &&
	nh=$(wc -l <expect) &&
	get late "" $((nh + 2)) &&
	events late | strip_ids | sort >got &&
	test_cmp expect got &&
	ids_increase late &&
	grep -q "^text {\"type\":\"sync\",\"id\":$(wc -l <in)}$" late &&
	hello=$(sed -n "s/^text \({\"type\":\"hello\".*\)/\1/p" late) &&
	echo "$hello" | jq -e ".resumed == false and .dial == false and
		(.calls | length) == 2 and
		.calls[0].call_sid == \"$CA1\" and .calls[0].live == false and
		.calls[0].reason == \"stop\" and
		.calls[0].stop_ts == \"2026-01-01T00:01:00.000Z\" and
		.calls[0].params.agent == \"bob\" and
		.calls[1].call_sid == \"$CA2\" and .calls[1].live == true and
		.calls[1].stop_ts == null and
		.calls[1].tracks == [\"inbound\",\"outbound\"]" &&
	stop_bc
'

test_expect_success '?call= watches one call, history and live' '
	call_events $CA1 2 >in && call_events $CA2 2 >>in &&
	BC_IN=in start_bc --feed feed.sock &&
	wait_metric ts_broadcast_events_in_total $(wc -l <in) &&
	grep $CA2 in | no_interims >expect2 &&
	n2=$(wc -l <expect2) &&
	client w2 "?call=$CA2" $((n2 + 2 + 3)) &&
	wait_for w2 "\"type\":\"sync\"" &&
	call_events $CA3 0 >live3 && call_events $CA1 0 >live1 &&
	grep call.start live1 >l1 &&
	printf "{\"type\":\"note\",\"ts\":\"t\"}\n" >lnone &&
	grep -h $CA2 in | head -n 3 >l2 &&
	feed live3 l1 lnone l2 &&
	wait $cl_pid &&
	cat expect2 l2 >expect &&
	events w2 | strip_ids >got &&
	test_cmp expect got &&
	sed -n "s/^text \({\"type\":\"hello\".*\)/\1/p" w2 |
		jq -e "[.calls[].call_sid] == [\"$CA2\"]" &&
	stop_bc
'

test_expect_success 'since= resumes with no gap and no duplicate' '
	call_events $CA1 3 >b1 && call_events $CA2 3 >b2 &&
	BC_IN=b1 start_bc --journal j7 --feed feed.sock &&
	wait_metric ts_broadcast_events_in_total $(wc -l <b1) &&
	nh=$(no_interims <b1 | wc -l) &&
	get first "" $((nh + 2)) &&
	last=$(sed -n "s/^text {\"type\":\"sync\",\"id\":\([0-9]*\)}$/\1/p" first) &&
	test "$last" = $(wc -l <b1) &&
	feed b2 &&
	nb2=$(no_interims <b2 | wc -l) &&
	get again "?since=$last" $((nb2 + 2)) &&
	grep -q "\"resumed\":true" again &&
	events again | strip_ids >got && no_interims <b2 >expect &&
	test_cmp expect got &&
	events first >all && events again >>all &&
	get fresh "" $((nh + nb2 + 2)) &&
	events fresh >fresh.ev && test_cmp all fresh.ev &&
	# nothing new: resumed, no events, sync says where the client is
	get same "?since=$(( $(wc -l <b1) + $(wc -l <b2) ))" 2 &&
	grep -q "\"resumed\":true" same &&
	test -z "$(events same)" &&
	grep -q "^text {\"type\":\"sync\",\"id\":$(( $(wc -l <b1) + $(wc -l <b2) ))}$" same &&
	# ids from the future (another journal): start over
	get future "?since=999999" $((nh + nb2 + 2)) &&
	grep -q "\"resumed\":false" future &&
	events future >future.ev && test_cmp all future.ev &&
	stop_bc
'

test_expect_success 'since= before events that left the history: start over' '
	call_events $CA1 1 >b1 && call_events $CA2 1 >>b1 &&
	BC_IN=b1 start_bc --journal j8 --history-calls 1 &&
	wait_metric ts_broadcast_events_in_total $(wc -l <b1) &&
	test "$(metric ts_broadcast_history_calls)" = 1 &&
	nh=$(grep $CA2 b1 | no_interims | wc -l) &&
	get r "?since=2" $((nh + 2)) &&
	grep -q "\"resumed\":false" r &&
	events r | strip_ids >got && grep $CA2 b1 | no_interims >expect &&
	test_cmp expect got &&
	stop_bc
'

test_expect_success 'the journal keeps ids and history across a restart' '
	call_events $CA1 3 >b1 && call_events $CA2 2 >b2 &&
	BC_IN=b1 start_bc --journal j9 &&
	wait_metric ts_broadcast_events_in_total $(wc -l <b1) &&
	stop_bc &&
	test $(wc -l <j9) = $(wc -l <b1) &&
	strip_ids <j9 >jin && test_cmp b1 jin &&
	nh=$(no_interims <b1 | wc -l) &&
	get before "" $((nh + 2)) 2>/dev/null; : &&
	# a crash in the middle of a write: a torn last line
	printf "{\"type\":\"transcript\",\"call_sid\":\"$CA1\",\"te" >>j9 &&
	BC_IN=b2 start_bc --journal j9 &&
	wait_metric ts_broadcast_events_in_total $(wc -l <b2) &&
	grep -q "ignoring a torn last line" bc.err &&
	nh2=$(cat b1 b2 | no_interims | wc -l) &&
	get after "" $((nh2 + 2)) &&
	events after >ev &&
	sed "s/.*,\"id\":\([0-9]*\)}$/\1/" ev >ids &&
	cat b1 b2 | awk "!/\"final\":false/ { print NR }" >expect.ids &&
	test_cmp expect.ids ids &&
	strip_ids <ev >got && cat b1 b2 | no_interims >expect &&
	test_cmp expect got &&
	stop_bc &&
	test $(wc -l <j9) = $(cat b1 b2 | wc -l) &&
	strip_ids <j9 >jin && cat b1 b2 >expect && test_cmp expect jin
'

test_expect_success 'malformed lines are logged, counted and skipped' '
	good="{\"type\":\"call.status\",\"ts\":\"t\",\"call_sid\":\"$CA1\",\"status\":\"ringing\"}" &&
	long=$(head -c 400 /dev/zero | tr "\\0" x) &&
	cat >in <<-EOF &&
	$good
	not json
	[1,2]
	{"ts":"no type"}
	{"type":"x","call_sid":"CA../../etc"}
	{"type":"x","call_sid":42}
	{"type":"transcript","call_sid":"$CA1","track":"inbound","seq":1}
	{"type":"transcript","call_sid":"$CA1","final":false,"seq":1}
	{"type":"x","dup":1,"dup":2}
	{"type":"x","text":"$long"}
	{"type":"x"} trailing

	$good
	EOF
	printf "\\377\\376{}\\n%s\\n" "$good" >>in &&
	BC_IN=in start_bc --max-line 256 &&
	wait_metric ts_broadcast_malformed_lines_total 11 &&
	test "$(metric ts_broadcast_events_in_total)" = 3 &&
	test "$(metric ts_broadcast_long_lines_total)" = 1 &&
	test $(grep -c "stdin, line [0-9]*: .*: skipped" bc.err) = 11 &&
	get h "" 5 &&
	test $(events h | grep -c ringing) = 3 &&
	stop_bc
'

metric_auth() {
	curl -sf -H "Authorization: Bearer $TAPLINE_BROADCAST_TOKEN" \
		$HTTP/metrics | awk -v m="$1" '$1 == m { print $2 }'
}

code() {
	curl -s -o body -w "%{http_code}" "$@"
}

test_expect_success 'token: refused without it, accepted by bearer or cookie' '
	TAPLINE_BROADCAST_TOKEN=s3cr3t &&
	export TAPLINE_BROADCAST_TOKEN &&
	test_when_finished "unset TAPLINE_BROADCAST_TOKEN" &&
	start_bc &&
	test $(code $HTTP/) = 401 && grep -q unauthorized body &&
	test $(code $HTTP/metrics) = 401 &&
	test $(code $HTTP/healthz) = 200 &&
	test $(code -H "Authorization: Bearer wrong" $HTTP/) = 401 &&
	test $(code -H "Cookie: tapline_token=wrong" $HTTP/) = 401 &&
	test $(code -H "Authorization: Bearer s3cr3t" $HTTP/) = 200 &&
	test_cmp web/index.html body &&
	test $(code -H "Authorization: Bearer s3cr3t" $HTTP/metrics) = 200 &&
	test $(code "$HTTP/?token=wrong") = 401 &&
	test $(code -D hdr -c jar "$HTTP/?token=s3cr3t") = 303 &&
	grep -qi "^location: /" hdr &&
	grep -qi "^set-cookie: tapline_token=s3cr3t; Path=/; HttpOnly; SameSite=Strict" hdr &&
	test $(code -b jar $HTTP/app.js) = 200 &&
	test_cmp web/app.js body &&
	get no "" 1; grep -q "^refused 401$" no &&
	test $(code -H "Upgrade: websocket" -H "Connection: Upgrade" \
		-H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" \
		-H "Sec-WebSocket-Version: 13" $HTTP/ws) = 401 &&
	echo unauthorized >expect && test_cmp expect body &&
	get bad "" 1 -H "Cookie: tapline_token=nope"; grep -q "^refused 401$" bad &&
	get ok1 "" 2 -H "Cookie: other=1; tapline_token=s3cr3t" &&
	grep -q "\"type\":\"sync\"" ok1 &&
	get ok2 "" 2 -H "Authorization: Bearer s3cr3t" &&
	grep -q "\"type\":\"sync\"" ok2 &&
	test "$(metric_auth ts_broadcast_refused_total{reason=\"token\"})" = 8 &&
	stop_bc
'

test_expect_success 'token: a public address is then allowed' '
	TAPLINE_BROADCAST_TOKEN=s3cr3t &&
	export TAPLINE_BROADCAST_TOKEN &&
	test_when_finished "unset TAPLINE_BROADCAST_TOKEN" &&
	p=$(free_port) &&
	run_bg ts-broadcast --listen 0.0.0.0:$p --web web 2>err &&
	wait_port $p &&
	test "$(curl -s http://127.0.0.1:$p/healthz)" = ok
'

test_expect_success 'Origin: own origin or --allow-origin, else 403' '
	start_bc &&
	get o1 "" 2 -H "Origin: http://127.0.0.1:$port" &&
	grep -q "\"type\":\"sync\"" o1 &&
	get o2 "" 1 -H "Origin: http://evil.example"; grep -q "^refused 403$" o2 &&
	get o3 "" 1 -H "Origin: http://127.0.0.1:1"; grep -q "^refused 403$" o3 &&
	test "$(metric ts_broadcast_refused_total{reason=\"origin\"})" = 2 &&
	stop_bc &&
	start_bc --allow-origin http://app.example/ \
		--allow-origin https://other.example &&
	get o4 "" 2 -H "Origin: http://app.example" &&
	grep -q "\"type\":\"sync\"" o4 &&
	get o5 "" 2 -H "Origin: https://other.example" &&
	grep -q "\"type\":\"sync\"" o5 &&
	get o6 "" 1 -H "Origin: http://127.0.0.1:$port"; grep -q "^refused 403$" o6 &&
	get o7 "" 1 "" ; : &&
	stop_bc
'

cat >dial-ok <<'EOF'
#!/bin/sh
[ $# -eq 1 ] || { echo "want one argument, got $#" >&2; exit 9; }
read -r line && { echo "stdin is not empty" >&2; exit 8; }
printf '{\n  "sid": "CA0123",\n  "to": "%s",\n  "status": "queued"\n}\n' "$1"
EOF
cat >dial-fail <<'EOF'
#!/bin/sh
echo "trying $1"
echo "first problem" >&2
echo "account has no credit" >&2
exit 3
EOF
printf '#!/bin/sh\nexit 4\n' >dial-quiet
printf '#!/bin/sh\necho "not json"\n' >dial-text
printf '#!/bin/sh\nexec sleep 30\n' >dial-slow
chmod +x dial-ok dial-fail dial-quiet dial-text dial-slow

dial() {
	curl -s -o body -w "%{http_code}" -X POST \
		-H "Content-Type: application/json" -d "$1" $HTTP/api/calls
}

test_expect_success 'dial: E.164 checked, 201 with the output, else 502' '
	start_bc --dial-cmd "$TRASH/dial-ok" &&
	get hello "" 1 && grep -q "\"dial\":true" hello &&
	for bad in "{\"to\":\"15551234567\"}" "{\"to\":\"+05551234567\"}" \
		   "{\"to\":\"+1\"}" "{\"to\":\"+1234567890123456\"}" \
		   "{\"to\":\"+1555 1234\"}" "{\"to\":\"+1555;rm\"}" \
		   "{\"to\":15551234567}" "{}" "not json" "[1]"; do
		test "$(dial "$bad")" = 400 || { say "$bad accepted"; return 1; }
		jq -e ".error | length > 0" body >/dev/null || return 1
	done &&
	test "$(dial "{\"to\":\"+15551234567\"}")" = 201 &&
	echo "{\"sid\":\"CA0123\",\"to\":\"+15551234567\",\"status\":\"queued\"}" >expect &&
	test_cmp expect body &&
	test "$(curl -s -o /dev/null -w "%{http_code}" $HTTP/api/calls)" = 405 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST \
		-H "Origin: http://evil.example" -d "{\"to\":\"+15551234567\"}" \
		$HTTP/api/calls)" = 403 &&
	test "$(metric ts_broadcast_dial_total{status=\"400\"})" = 10 &&
	test "$(metric ts_broadcast_dial_total{status=\"201\"})" = 1 &&
	stop_bc &&
	start_bc --dial-cmd "$TRASH/dial-fail" &&
	test "$(dial "{\"to\":\"+15551234567\"}")" = 502 &&
	echo "{\"error\":\"account has no credit\"}" >expect && test_cmp expect body &&
	stop_bc &&
	start_bc --dial-cmd "$TRASH/dial-quiet" &&
	test "$(dial "{\"to\":\"+15551234567\"}")" = 502 &&
	echo "{\"error\":\"exited with status 4\"}" >expect && test_cmp expect body &&
	stop_bc &&
	start_bc --dial-cmd "$TRASH/dial-text" &&
	test "$(dial "{\"to\":\"+15551234567\"}")" = 502 &&
	stop_bc &&
	start_bc --dial-cmd "$TRASH/dial-slow" --dial-timeout 1 &&
	test "$(dial "{\"to\":\"+15551234567\"}")" = 502 &&
	grep -q "timed out" body &&
	stop_bc &&
	start_bc --dial-cmd "$TRASH/missing" &&
	test "$(dial "{\"to\":\"+15551234567\"}")" = 502 &&
	grep -q "cannot run" body &&
	stop_bc
'

# big_events CALL N: N events of about 4 KiB each.
big_events() {
	awk -v call="$1" -v n="$2" "BEGIN {
		pad = sprintf(\"%4000s\", \"\"); gsub(/ /, \"x\", pad)
		for (i = 0; i < n; i++)
			printf \"{\\\"type\\\":\\\"call.status\\\",\\\"ts\\\":\\\"t\\\",\\\"call_sid\\\":\\\"%s\\\",\\\"n\\\":%d,\\\"pad\\\":\\\"%s\\\"}\\n\", call, i, pad
	}"
}

test_expect_success 'a stalled client is cut (1008); the others get all' '
	big_events $CA1 6000 >big &&
	nev=$(wc -l <big) &&
	start_bc --feed feed.sock --client-queue 4M --client-queue-soft 2M \
		--slow-timeout 60 --history-bytes 1M &&
	printf "stall\nsleep 60000\n" >stall.script &&
	run_bg_in stall.script tl-wsclient --timeout 70 $WS >stalled &&
	wait_for stalled "^connected" &&
	client f1 "" $((nev + 2)) && c1=$cl_pid &&
	client f2 "?call=$CA1" $((nev + 2)) && c2=$cl_pid &&
	wait_for f1 "\"type\":\"sync\"" && wait_for f2 "\"type\":\"sync\"" &&
	perl "$TRASH/paced.pl" big 2000 &&
	wait $c1 && wait $c2 &&
	events f1 | strip_ids >got && test_cmp big got &&
	events f2 | strip_ids >got && test_cmp big got &&
	test "$(metric ts_broadcast_clients_cut_total{reason=\"queue_full\"})" = 1 &&
	grep -q "queue full, disconnecting (1008)" bc.err &&
	stop_bc
'

test_expect_success 'a client over the soft limit too long is cut (1013)' '
	big_events $CA1 3000 >big &&
	start_bc --feed feed.sock --client-queue 64M --client-queue-soft 256k \
		--slow-timeout 1 --history-bytes 1M &&
	printf "stall\nsleep 60000\n" >stall.script &&
	run_bg_in stall.script tl-wsclient --timeout 70 $WS >stalled &&
	wait_for stalled "^connected" &&
	feed big &&
	wait_metric ts_broadcast_clients_cut_total{reason=\"slow\"} 1 &&
	grep -q "too slow, disconnecting (1013)" bc.err &&
	wait_metric ts_broadcast_queue_bytes 0 &&
	stop_bc
'

test_expect_success 'a client frame over 4 KiB closes it with 1009' '
	start_bc &&
	{ printf "text %05000d\nwait-close\n" 1 |
	  tl-wsclient $WS >big.out || :; } &&
	grep -q "^closed 1009$" big.out &&
	printf "text {\"hello\":1}\nwait-recv 2\n" | tl-wsclient $WS >small.out &&
	grep -q "\"type\":\"sync\"" small.out &&
	stop_bc
'

test_expect_success 'SIGTERM: clients see 1001, exit 0, then no upgrades' '
	call_events $CA1 2 >in &&
	BC_IN=in start_bc --journal j17 &&
	wait_metric ts_broadcast_events_in_total $(wc -l <in) &&
	printf "wait-close\n" >wc.script &&
	run_bg_in wc.script tl-wsclient --timeout 20 $WS >w1 && w1=$! &&
	run_bg_in wc.script tl-wsclient --timeout 20 "$WS?call=$CA1" >w2 &&
	w2=$! &&
	wait_for w1 "\"type\":\"sync\"" && wait_for w2 "\"type\":\"sync\"" &&
	stop_bc &&
	wait $w1 && wait $w2 &&
	grep -q "^closed 1001$" w1 && grep -q "^closed 1001$" w2
'

test_expect_success '--exit-on-eof: all sent, 1001, exit 0; else serving' '
	call_events $CA1 5 >in &&
	mkfifo eof.fifo &&
	BC_IN=eof.fifo start_bc --exit-on-eof &&
	test_when_finished "exec 3>&-" &&
	printf "wait-close\n" >wc.script &&
	run_bg_in wc.script wsc --timeout 20 $WS >w1 && w1=$! &&
	wait_for w1 "\"type\":\"sync\"" &&
	cat in >&3 && exec 3>&- &&
	wait $w1 &&
	wait $bc_pid &&
	events w1 | strip_ids >got && test_cmp in got &&
	grep -q "^closed 1001$" w1
'

test_done
