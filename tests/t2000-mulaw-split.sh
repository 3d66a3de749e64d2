#!/bin/bash
test_description='mulaw-split writes each track and speaks events'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DATA/media-lib.sh"

S1=MZ11111111111111111111111111111111
S2=MZ22222222222222222222222222222222
C1=CA11111111111111111111111111111111
C2=CA22222222222222222222222222222222

test_expect_success 'setup: two calls of tones' '
	tone a.ul 1.02 440 && tone b.ul 1.3 300 &&
	tone c.ul 0.7 700 && tone d.ul 0.9 1000 &&
	stream $S1 $C1 a.ul b.ul >one.ndjson &&
	stream $S2 $C2 c.ul d.ul >two.ndjson
'

test_expect_success '--help, --version and usage errors' '
	mulaw-split --help >out && grep -q "^usage: mulaw-split" out &&
	mulaw-split --version >out && grep -q "^mulaw-split (tapline) " out &&
	expect_status 2 mulaw-split --format mp3 </dev/null 2>err &&
	grep -q "invalid format" err &&
	expect_status 2 mulaw-split --out x.ul </dev/null 2>err &&
	grep -q "has no %t" err &&
	expect_status 2 mulaw-split --out "x%q" </dev/null 2>err &&
	grep -q "unknown %q" err &&
	expect_status 2 mulaw-split --stereo "x%t" </dev/null 2>err &&
	expect_status 2 mulaw-split --tracks sideways </dev/null 2>err &&
	expect_status 2 mulaw-split --jitter -1 </dev/null 2>err &&
	expect_status 2 mulaw-split extra </dev/null 2>err
'

test_expect_success 'one stream: each track byte-identical, events' '
	timeout 20 mulaw-split --out "o.%s.%t.ul" <one.ndjson >ev 2>err &&
	test_cmp a.ul o.$S1.inbound.ul &&
	test_cmp b.ul o.$S1.outbound.ul &&
	test $(wc -l <ev) = 2 &&
	events call.start ev | jq -e --arg s $S1 --arg c $C1 --arg a $ACCT "
		.stream_sid == \$s and .call_sid == \$c and
		.account_sid == \$a and .tracks == [\"inbound\",\"outbound\"]
		and .params == {} and
		(.ts | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]{3}Z$\"))
	" &&
	events call.stop ev | jq -e --arg s $S1 "
		.stream_sid == \$s and .reason == \"stop\"" &&
	head -n 1 ev | grep -q call.start &&
	test ! -s err
'

test_expect_success 'two interleaved streams are separated' '
	interleave one.ndjson two.ndjson >both.ndjson &&
	timeout 20 mulaw-split --out "o.%c.%t.ul" <both.ndjson >ev &&
	test_cmp a.ul o.$C1.inbound.ul && test_cmp b.ul o.$C1.outbound.ul &&
	test_cmp c.ul o.$C2.inbound.ul && test_cmp d.ul o.$C2.outbound.ul &&
	test $(events call.start ev | wc -l) = 2 &&
	test $(events call.stop ev | wc -l) = 2
'

test_expect_success '%% in a pattern is a percent sign' '
	timeout 20 mulaw-split --tracks inbound --out "p%%%s" <one.ndjson \
		>/dev/null &&
	test_cmp a.ul "p%$S1"
'

test_expect_success '--tracks inbound writes and announces only inbound' '
	timeout 20 mulaw-split --tracks inbound --out "t.%t.ul" \
		<one.ndjson >ev &&
	test_cmp a.ul t.inbound.ul && test ! -e t.outbound.ul &&
	events call.start ev | jq -e ".tracks == [\"inbound\"]"
'

test_expect_success 'media before start is skipped, the other stream intact' '
	{
		media_lines $S2 inbound c.ul | head -n 5
		cat one.ndjson
	} >early.ndjson &&
	timeout 20 mulaw-split --out "e.%s.%t.ul" <early.ndjson >ev 2>err &&
	test_cmp a.ul e.$S1.inbound.ul && test_cmp b.ul e.$S1.outbound.ul &&
	test ! -e e.$S2.inbound.ul &&
	grep -q "line 1: media for stream .$S2. before its start" err &&
	test $(grep -c "$S2" err) = 2 &&
	test $(events call.start ev | wc -l) = 1
'

test_expect_success 'a line that is not JSON is skipped with its number' '
	sed -n 5p one.ndjson | jq -e ".media.track == \"inbound\" and
		.media.chunk == \"2\"" &&
	sed "5s/.*/{\"event\":\"media\", oops/" one.ndjson >bad.ndjson &&
	timeout 20 mulaw-split --out "b.%t.ul" <bad.ndjson >ev 2>err &&
	grep -q "line 5: not valid JSON" err &&
	{ head -c 160 a.ul && silence 160 && tail -c +321 a.ul; } >expect &&
	test_cmp expect b.inbound.ul &&
	test_cmp b.ul b.outbound.ul &&
	test $(events call.stop ev | wc -l) = 1
'

test_expect_success 'unknown events pass through; connected and mark do not' '
	{
		start_line $S1 $C1
		echo "{\"event\":\"mark\",\"streamSid\":\"$S1\",\"mark\":{\"name\":\"m\"}}"
		echo "{\"event\":\"surprise\",\"x\":[1,2]}"
		echo "{\"type\":\"transcript\",\"ts\":\"t\",\"text\":\"hi\"}"
		echo "  {\"no_event\" : true}"
		stop_line $S1 $C1
	} >other.ndjson &&
	timeout 20 mulaw-split <other.ndjson >ev &&
	sed -n "3,5p" other.ndjson >expect &&
	grep -v "call\.st" ev >actual &&
	test_cmp expect actual &&
	test $(wc -l <ev) = 5
'

test_expect_success 'dtmf, status, dropped and disconnect become events' '
	{
		start_line $S1 $C1 "[\"inbound\"]" "{\"agent\":\"bob\"}"
		echo "{\"event\":\"dtmf\",\"streamSid\":\"$S1\",\"sequenceNumber\":\"5\",\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"7\"}}"
		echo "{\"event\":\"status\",\"status\":{\"CallSid\":\"$C1\",\"CallStatus\":\"ringing\",\"CallDuration\":\"0\",\"Odd key\":\"x\"}}"
		echo "{\"event\":\"dropped\",\"streamSid\":\"$S1\",\"dropped\":{\"messages\":3,\"bytes\":1200}}"
		echo "{\"event\":\"disconnect\",\"streamSid\":\"$S1\"}"
	} >ev.ndjson &&
	timeout 20 mulaw-split <ev.ndjson >ev &&
	events call.start ev | jq -e ".params == {\"agent\":\"bob\"}" &&
	events dtmf ev | jq -e --arg s $S1 --arg c $C1 "
		.stream_sid == \$s and .call_sid == \$c and
		.track == \"inbound\" and .digit == \"7\"" &&
	events call.status ev | jq -e --arg c $C1 "
		.call_sid == \$c and .status == \"ringing\" and
		.call_duration == \"0\" and has(\"odd key\") == false" &&
	events error ev | jq -e --arg s $S1 "
		.code == \"DROPPED\" and .stream_sid == \$s and
		(.message | test(\"3 messages\"))" &&
	events call.stop ev | jq -e ".reason == \"disconnect\"" &&
	test $(wc -l <ev) = 5
'

test_expect_success 'EOF ends open streams with reason eof' '
	grep -v "\"stop\"" one.ndjson >nostop.ndjson &&
	timeout 20 mulaw-split --out "n.%t.ul" <nostop.ndjson >ev &&
	test_cmp a.ul n.inbound.ul && test_cmp b.ul n.outbound.ul &&
	events call.stop ev | jq -e ".reason == \"eof\""
'

test_expect_success 'a last line without a newline is read' '
	printf "%s" "$(cat one.ndjson)" >nonl.ndjson &&
	timeout 20 mulaw-split <nonl.ndjson >ev &&
	events call.stop ev | jq -e ".reason == \"stop\""
'

test_expect_success 'a second start for a live stream is ignored' '
	{
		start_line $S1 $C1
		start_line $S1 $C2
		sed 1,2d one.ndjson
	} >twice.ndjson &&
	timeout 20 mulaw-split --out "w.%c.%t.ul" <twice.ndjson >ev 2>err &&
	grep -q "second start for stream .$S1. ignored" err &&
	test_cmp a.ul w.$C1.inbound.ul && test ! -e w.$C2.inbound.ul &&
	test $(events call.start ev | wc -l) = 1
'

test_expect_success 'sids that are not sids never reach a path' '
	mkdir -p deep/er &&
	{
		start_line "../../x" $C1
		start_line $S1 "../../y"
		start_line "MZ/evil" $C1
		media_lines "../../x" inbound a.ul | head -n 3
	} >evil.ndjson &&
	(cd deep/er && timeout 20 mulaw-split --out "%s.%c.%t" \
		<../../evil.ndjson >../ev 2>../err) &&
	test "$(ls -A deep/er)" = "" && test "$(echo $(ls deep))" = "er err ev" &&
	test $(grep -c "start with a missing or invalid streamSid" \
		deep/err) = 2 &&
	grep -q "start of stream .$S1. with a missing or invalid callSid" \
		deep/err &&
	test $(grep -c "media skipped: missing or invalid streamSid" \
		deep/err) = 3 &&
	test ! -s deep/ev
'

test_expect_success 'an output that cannot be opened: error event, rest goes on' '
	timeout 20 mulaw-split --out "nodir/%t.ul" --stereo st.ul \
		<one.ndjson >ev 2>err &&
	test $(events error ev | jq -r .code | sort -u) = OUTPUT &&
	test $(events error ev | wc -l) = 2 &&
	grep -q "cannot open .nodir/inbound.ul.: No such file" err &&
	test -s st.ul &&
	events call.stop ev | jq -e ".reason == \"stop\""
'

test_expect_success 'two tracks writing one file: the second is refused' '
	{
		start_line $S1 $C1 "[\"inbound\"]"
		start_line $S2 $C1 "[\"inbound\"]"
	} >same.ndjson &&
	timeout 20 mulaw-split --tracks inbound --out "s.%c" \
		<same.ndjson >ev 2>err &&
	grep -q "already written for stream .$S1." err &&
	events error ev | jq -e --arg s $S2 ".stream_sid == \$s"
'

test_expect_success 'SIGTERM drains and exits 0' '
	mkfifo in.fifo &&
	exec 8<>in.fifo &&
	test_when_finished "exec 8>&-" &&
	# (a background job gets /dev/null as stdin unless its own command
	# redirects it: hence sh -c)
	run_bg sh -c "exec mulaw-split --out g.%t.ul <in.fifo >ev 2>err" &&
	pid=$! &&
	sed "\$d" one.ndjson >&8 &&
	wait_for ev "call.start" 50 &&
	sleep 0.3 &&
	kill -TERM $pid && wait $pid &&
	test_cmp a.ul g.inbound.ul && test_cmp b.ul g.outbound.ul &&
	events call.stop ev | jq -e ".reason == \"eof\""
'

test_expect_success 'stream status callbacks and call durations: call.status' '
	{
		echo "{\"event\":\"status\",\"status\":{\"AccountSid\":\"AC1\",\"CallSid\":\"$C1\",\"StreamSid\":\"$S1\",\"StreamName\":\"$S1\",\"StreamEvent\":\"stream-started\",\"Timestamp\":\"2026-11-25T14:00:00.000Z\"}}"
		echo "{\"event\":\"status\",\"status\":{\"CallSid\":\"$C1\",\"CallStatus\":\"completed\",\"CallDuration\":\"61\",\"Duration\":\"2\"}}"
		echo "{\"event\":\"status\",\"status\":{\"CallSid\":\"$C1\",\"CallStatus\":\"busy\",\"CallDuration\":\"x1\"}}"
		echo "{\"event\":\"status\",\"status\":{\"CallSid\":\"$C1\",\"StreamEvent\":\"\"}}"
	} >st.ndjson &&
	timeout 20 mulaw-split <st.ndjson >ev &&
	test $(wc -l <ev) = 4 &&
	sed -n 1p ev | jq -e --arg c $C1 --arg s $S1 "
		.type == \"call.status\" and .call_sid == \$c and
		.stream_sid == \$s and .status == \"stream-started\" and
		.stream_name == \$s and (has(\"duration\") | not)" &&
	sed -n 2p ev | jq -e "
		.status == \"completed\" and .duration == 61 and
		.call_duration == \"61\" and (has(\"stream_sid\") | not)" &&
	sed -n 3p ev | jq -e ".status == \"busy\" and (has(\"duration\") | not)" &&
	sed -n 4p st.ndjson >expect && sed -n 4p ev >actual &&
	test_cmp expect actual
'

test_done
