#!/bin/bash
test_description='mulaw-split --exec: a child per track, lines merged whole'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DATA/media-lib.sh"

S1=MZ11111111111111111111111111111111
S2=MZ22222222222222222222222222222222
C1=CA11111111111111111111111111111111
C2=CA22222222222222222222222222222222

# A child that writes 150 lines of 9000 bytes as fast as it can: more than
# a pipe takes in one write, so its lines reach us in pieces.
cat >chatty.sh <<'EOF'
awk 'BEGIN {
	s = "x"; while (length(s) < 9000) s = s s; s = substr(s, 1, 9000)
	for (i = 0; i < 150; i++)
		printf "{\"s\":\"%s\",\"t\":\"%s\",\"i\":%d,\"p\":\"%s\"}\n",
			ENVIRON["TAPLINE_STREAM_SID"], ENVIRON["TAPLINE_TRACK"], i, s
}'
cat >/dev/null
EOF

test_expect_success 'setup: calls' '
	tone a.ul 1 440 && tone b.ul 1.3 300 && tone long.ul 20 500 &&
	stream $S1 $C1 a.ul b.ul >one.ndjson &&
	stream $S2 $C2 long.ul long.ul >long.ndjson
'

test_expect_success 'children get who they are in the environment' '
	{
		start_line $S1 $C1 "[\"inbound\",\"outbound\"]" \
			"{\"agent\":\"bob\",\"x-y z\":\"1\",\"n\":5,\"../e\":\"v\"}"
		stop_line $S1 $C1
	} >p.ndjson &&
	TAPLINE_TRACK=bogus TAPLINE_PARAM_old=1 timeout 20 mulaw-split \
		--exec "env | grep -E ^TAPLINE_\(CALL\|STREAM\|TRACK\|ACCOUNT\|PARAM\) |
		sort >env.\$TAPLINE_TRACK" \
		<p.ndjson >ev &&
	cat >expect <<-EOF &&
	TAPLINE_ACCOUNT_SID=$ACCT
	TAPLINE_CALL_SID=$C1
	TAPLINE_PARAM____e=v
	TAPLINE_PARAM_agent=bob
	TAPLINE_PARAM_n=5
	TAPLINE_PARAM_x_y_z=1
	TAPLINE_STREAM_SID=$S1
	TAPLINE_TRACK=inbound
	EOF
	test_cmp expect env.inbound &&
	sed s/=inbound/=outbound/ expect >expect.out &&
	test_cmp expect.out env.outbound
'

test_expect_success 'each child reads its track; with --out too' '
	timeout 20 mulaw-split --out "o.%t.ul" \
		--exec "cat >x.\$TAPLINE_STREAM_SID.\$TAPLINE_TRACK" \
		<one.ndjson >ev &&
	test_cmp a.ul x.$S1.inbound && test_cmp b.ul x.$S1.outbound &&
	test_cmp a.ul o.inbound.ul && test_cmp b.ul o.outbound.ul &&
	timeout 20 mulaw-split --format s16le --exec "cat >s.\$TAPLINE_TRACK" \
		<one.ndjson >ev &&
	sox -t ul -r 8000 -c 1 a.ul -t s16 -e signed -L a.s16 &&
	test_cmp a.s16 s.inbound
'

test_expect_success 'the signals a child gets are the defaults' '
	timeout 20 mulaw-split --exec "awk \"/^SigIgn/ { print \\\$2 }\" \
		/proc/self/status >ign.\$TAPLINE_TRACK" <one.ndjson >ev &&
	test $(( 0x$(cat ign.inbound) & (1 << 12) )) = 0
'

test_expect_success 'lines of many children never interleave' '
	for i in 1 2 3; do
		stream MZ00$i CA00$i a.ul b.ul >s$i.ndjson || return 1
	done &&
	interleave s1.ndjson s2.ndjson >s12 && interleave s12 s3.ndjson >s123 &&
	timeout 60 mulaw-split --exec "sh ./chatty.sh" <s123 >ev &&
	jq -c "select(.p) | {s, t, i, n: (.p | length)}" ev >lines &&
	test $(wc -l <lines) = 900 && test $(grep -c . ev) = 906 &&
	test $(jq -r .n lines | sort -u) = 9000 &&
	for s in MZ001 MZ002 MZ003; do
		for t in inbound outbound; do
			jq -r --arg s $s --arg t $t \
				"select(.s == \$s and .t == \$t) | .i" lines \
				>got && seq 0 149 >want && test_cmp want got ||
			return 1
		done
	done
'

test_expect_success 'a slow reader of our output loses no line' '
	timeout 60 mulaw-split --exec "sh ./chatty.sh" <s123 |
	{ sleep 1 && cat; } >ev &&
	test $(grep -c "\"p\"" ev) = 900 &&
	test $(grep -c "\"call.stop\"" ev) = 3
'

test_expect_success 'a child that exits 3: error event, the other track whole' '
	timeout 20 mulaw-split --exec "test \$TAPLINE_TRACK = outbound &&
		exit 3; cat >in.ul" <one.ndjson >ev 2>err &&
	test_cmp a.ul in.ul &&
	events error ev | jq -e --arg s $S1 --arg c $C1 "
		.code == \"CHILD_EXIT\" and .track == \"outbound\" and
		.stream_sid == \$s and .call_sid == \$c and
		.source == \"mulaw-split\" and
		(.message | test(\"exited with status 3\"))" &&
	test $(events error ev | wc -l) = 1 &&
	events call.stop ev | jq -e ".reason == \"stop\"" &&
	grep -q "exited with status 3" err
'

test_expect_success 'call.stop comes after the last line of both children' '
	timeout 20 mulaw-split --exec "cat >/dev/null; sleep 0.5;
		echo \"{\\\"type\\\":\\\"last\\\",\\\"track\\\":\\\"\$TAPLINE_TRACK\\\"}\"" \
		<one.ndjson >ev &&
	jq -r .type ev >types &&
	printf "call.start\nlast\nlast\ncall.stop\n" >expect &&
	test_cmp expect types
'

test_expect_success 'EOF waits for the children, then exits 0' '
	grep -v "\"stop\"" one.ndjson >nostop.ndjson &&
	timeout 20 mulaw-split --exec "cat >/dev/null; sleep 1; echo late" \
		<nostop.ndjson >ev &&
	printf "late\nlate\n" >expect && grep late ev >got &&
	test_cmp expect got &&
	events call.stop ev | jq -e ".reason == \"eof\""
'

test_expect_success 'a slow child does not hold up the other track' '
	# paced a little, so that the fast child is reading while we write
	awk "{ print; fflush() } NR % 200 == 0 { system(\"sleep 0.05\") }" \
		long.ndjson |
	timeout 30 mulaw-split --buffer 16k --exec "
		if test \$TAPLINE_TRACK = outbound; then
			sleep 2; cat >out.ul; echo done-out
		else
			cat >in.ul; echo done-in
		fi" >ev 2>err &&
	test_cmp long.ul in.ul &&
	test $(wc -c <out.ul) -lt $(wc -c <long.ul) &&
	grep done ev >order && printf "done-in\ndone-out\n" >expect &&
	test_cmp expect order &&
	events error ev | jq -e ".code == \"OVERFLOW\" and
		.track == \"outbound\"" &&
	grep -q "track outbound: .* [1-9][0-9]* bytes not written" err
'

test_expect_success '--wait reads no faster than the slowest child' '
	timeout 30 mulaw-split --wait --buffer 16k --exec "
		test \$TAPLINE_TRACK = outbound && sleep 1; cat >w.\$TAPLINE_TRACK
		" <long.ndjson >ev 2>err &&
	test_cmp long.ul w.inbound && test_cmp long.ul w.outbound &&
	test $(events error ev | wc -l) = 0
'

test_expect_success 'a child that closes its stdin early is reported' '
	timeout 20 mulaw-split --tracks inbound --exec "exec 0<&-; sleep 1" \
		<long.ndjson >ev 2>err &&
	events error ev | jq -e ".code == \"CHILD_EXIT\" and
		(.message | test(\"closed its standard input\"))" &&
	test $(events error ev | wc -l) = 1
'

test_expect_success 'a child that does not exit: SIGTERM, then SIGKILL' '
	timeout 30 mulaw-split --tracks inbound --stop-timeout 0.3 \
		--exec "cat >/dev/null; exec sleep 30" <one.ndjson >ev 2>err &&
	grep -q "did not exit within 0.3 s" err &&
	events error ev | jq -e ".message | test(\"killed by signal 15\")" &&
	timeout 30 mulaw-split --tracks inbound --stop-timeout 0.3 \
		--exec "cat >/dev/null; trap \"\" TERM; exec sleep 30" \
		<one.ndjson >ev 2>err &&
	grep -q "ignored SIGTERM: sending SIGKILL" err &&
	events error ev | jq -e ".message | test(\"killed by signal 9\")"
'

test_expect_success 'a line longer than 1 MiB is dropped, the next one kept' '
	timeout 20 mulaw-split --tracks inbound --exec "
		head -c 1100000 /dev/zero | tr \"\\0\" x; echo; echo next;
		cat >/dev/null" <one.ndjson >ev 2>err &&
	test $(grep -cx next ev) = 1 && test $(grep -c xxxx ev) = 0 &&
	grep -vx next ev | jq -r .code | grep -q LINE_TOO_LONG
'

test_expect_success 'a command that does not exist: status 127 reported' '
	timeout 20 mulaw-split --tracks inbound --exec "no-such-command-x" \
		<one.ndjson >ev 2>err &&
	events error ev | jq -e ".message | test(\"status 127\")"
'

test_expect_success 'a command of plain words runs without the shell' '
	# cat prints its own /proc stat: field 4 is its parent, which is
	# mulaw-split itself only if no shell came between
	timeout 20 sh -c "echo \$\$ >split.pid; exec mulaw-split --tracks inbound \
		--exec \"cat /proc/self/stat\"" <one.ndjson >ev 2>err &&
	grep -v "^{" ev >stat &&
	test $(wc -l <stat) = 1 &&
	test "$(cut -d" " -f4 stat)" = "$(cat split.pid)" &&
	# words the shell would not touch arrive as they are
	timeout 20 mulaw-split --tracks inbound \
		--exec "echo a=b c%d e,f:g @h+i ./j" <one.ndjson >ev 2>err &&
	grep -qx "a=b c%d e,f:g @h+i ./j" ev &&
	# a builtin goes to the shell
	timeout 20 mulaw-split --tracks inbound --exec "exec cat /proc/self/stat" \
		<one.ndjson >ev 2>err &&
	grep -v "^{" ev >stat &&
	test $(wc -l <stat) = 1
'

test_expect_success 'twenty calls at once, forty children, every byte' '
	for i in $(seq 10 29); do
		stream MZ0$i CA0$i a.ul b.ul >c$i.ndjson || return 1
	done &&
	paste -d "\n" c[12][0-9].ndjson | grep . >many.ndjson &&
	test $(head -n 40 many.ndjson | grep -c "\"start\"") = 20 &&
	timeout 60 mulaw-split --exec "cat >m.\$TAPLINE_CALL_SID.\$TAPLINE_TRACK;
		echo \$TAPLINE_CALL_SID" <many.ndjson >ev &&
	for i in $(seq 10 29); do
		test_cmp a.ul m.CA0$i.inbound &&
		test_cmp b.ul m.CA0$i.outbound || return 1
	done &&
	test $(grep -c "\"call.stop\"" ev) = 20 &&
	test $(grep -c "^CA0" ev) = 40
'

test_done
