#!/bin/bash
test_description='mulaw-split formats, FIFOs and stereo files'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DATA/media-lib.sh"

S=MZ11111111111111111111111111111111
C=CA11111111111111111111111111111111

# column N FILE: byte N (1 or 2) of each 2-byte frame, as decimal lines
column() {
	od -An -v -tu1 -w2 "$2" | awk -v n=$1 "{ print \$n }"
}

# decimal FILE: each byte as a decimal line
decimal() {
	od -An -v -tu1 -w1 "$1" | tr -d " "
}

# le32 FILE OFFSET: the little-endian 32-bit number at OFFSET
le32() {
	od -An -tu4 -j "$2" -N 4 --endian=little "$1" | tr -d " "
}

test_expect_success 'setup: every mu-law code, and two tones' '
	printf "$(printf "\\\\%03o" $(seq 0 255))" >codes.ul &&
	test $(wc -c <codes.ul) = 256 &&
	tone a.ul 1 440 && tone b.ul 1.5 300 &&
	cat codes.ul a.ul >ca.ul &&
	stream $S $C ca.ul b.ul >call.ndjson &&
	sox -t ul -r 8000 -c 1 ca.ul -t s16 -e signed -L ca.s16 &&
	sox -t ul -r 8000 -c 1 b.ul -t s16 -e signed -L b.s16
'

test_expect_success '--format s16le is the G.711 decode sox makes' '
	timeout 20 mulaw-split --format s16le --out "o.%t.s16" \
		<call.ndjson >ev &&
	test_cmp ca.s16 o.inbound.s16 && test_cmp b.s16 o.outbound.s16
'

test_expect_success '--format wav into files: 8 kHz mono PCM, right length' '
	timeout 20 mulaw-split --format wav --out "o.%t.wav" \
		<call.ndjson >ev &&
	test "$(sox --i -r o.inbound.wav)" = 8000 &&
	test "$(sox --i -c o.inbound.wav)" = 1 &&
	test "$(sox --i -b o.inbound.wav)" = 16 &&
	test "$(sox --i -s o.inbound.wav)" = 8256 &&
	test "$(sox --i -s o.outbound.wav)" = 12000 &&
	test $(le32 o.inbound.wav 40) = 16512 &&
	sox o.inbound.wav -t s16 -e signed -L got.s16 &&
	test_cmp ca.s16 got.s16
'

test_expect_success 'WAV into a FIFO: a streaming header, then the samples' '
	mkfifo inbound.wav outbound.wav &&
	run_bg sh -c "exec cat inbound.wav >got.in.wav" &&
	run_bg sh -c "exec sox -t wav outbound.wav -t s16 -e signed -L \
		got.out.s16 2>/dev/null" &&
	timeout 20 mulaw-split --format wav --out "%t.wav" \
		<call.ndjson >ev 2>err &&
	wait_for got.out.s16 && sleep 0.5 &&
	head -c 4 got.in.wav | grep -q RIFF &&
	test $(le32 got.in.wav 4) = 4294967295 &&
	test $(le32 got.in.wav 40) = 4294967295 &&
	test $(od -An -tu2 -j 22 -N 2 got.in.wav | tr -d " ") = 1 &&
	tail -c +45 got.in.wav >got.in.s16 &&
	test_cmp ca.s16 got.in.s16 &&
	n=0; while ! cmp -s b.s16 got.out.s16 && test $n -lt 50; do
		sleep 0.1; n=$((n + 1)); done &&
	test_cmp b.s16 got.out.s16 &&
	test ! -s err
'

test_expect_success 'a FIFO whose reader comes late gets every byte' '
	mkfifo late.inbound late.outbound &&
	run_bg sh -c "exec mulaw-split --out late.%t <call.ndjson >ev 2>err" &&
	pid=$! &&
	sleep 0.5 &&
	kill -0 $pid &&
	run_bg sh -c "exec cat late.inbound >got.in" && p1=$! &&
	run_bg sh -c "exec cat late.outbound >got.out" && p2=$! &&
	wait $pid && wait $p1 && wait $p2 &&
	test_cmp ca.ul got.in && test_cmp b.ul got.out &&
	events call.stop ev | jq -e ".reason == \"stop\""
'

test_expect_success 'a FIFO nobody opens: given up after --stop-timeout' '
	mkfifo never &&
	timeout 20 mulaw-split --tracks inbound --out never \
		--stop-timeout 0.5 <call.ndjson >ev 2>err &&
	grep -q "never. found no reader within" err &&
	events call.stop ev | jq -e ".reason == \"stop\""
'

test_expect_success 'a FIFO that is never read: bounded queue, counted drops' '
	tone long.ul 20 500 &&
	stream $S $C long.ul b.ul >long.ndjson &&
	mkfifo stuck &&
	exec 7<>stuck &&
	test_when_finished "exec 7>&-" &&
	timeout 20 mulaw-split --tracks inbound --out stuck --buffer 16k \
		--stop-timeout 0.5 <long.ndjson >ev 2>err &&
	events error ev | jq -e ".code == \"OVERFLOW\" and
		.track == \"inbound\"" &&
	grep -q "stuck. is not read fast enough" err &&
	grep -q "stuck. was not read within" err &&
	grep -q "dropped [1-9][0-9]* ms of audio" err
'

test_expect_success 'a FIFO whose reader goes away: an OUTPUT error' '
	mkfifo gone &&
	run_bg sh -c "exec head -c 1000 gone >/dev/null" &&
	timeout 20 mulaw-split --tracks inbound --out gone \
		<long.ndjson >ev 2>err &&
	events error ev | jq -e ".code == \"OUTPUT\" and
		(.message | test(\"gone.*Broken pipe\"))" &&
	grep -q "cannot write to .gone.: Broken pipe" err &&
	events call.stop ev | jq -e ".reason == \"stop\""
'

test_expect_success '--stereo ulaw: inbound left, outbound right, padded' '
	timeout 20 mulaw-split --stereo "st.%s.ul" <call.ndjson >ev &&
	test $(wc -c <st.$S.ul) = 24000 &&
	column 1 st.$S.ul >left && column 2 st.$S.ul >right &&
	{ cat ca.ul && silence 3744; } >expect.left &&
	decimal expect.left >expect && test_cmp expect left &&
	decimal b.ul >expect && test_cmp expect right
'

test_expect_success '--stereo with one track absent: the other side silent' '
	media_lines $S inbound a.ul >in.m &&
	{ start_line $S $C "[\"inbound\"]" && cat in.m && stop_line $S $C; } \
		>mono.ndjson &&
	timeout 20 mulaw-split --stereo st.ul <mono.ndjson >ev &&
	test $(wc -c <st.ul) = 16000 &&
	column 1 st.ul >left && column 2 st.ul >right &&
	decimal a.ul >expect && test_cmp expect left &&
	silence 8000 >s && decimal s >expect && test_cmp expect right
'

test_expect_success '--stereo with --tracks inbound pads the right side' '
	timeout 20 mulaw-split --tracks inbound --stereo st2.ul \
		<call.ndjson >ev &&
	column 2 st2.ul | sort -u >right && echo 255 >expect &&
	test_cmp expect right && test $(wc -c <st2.ul) = 16512
'

test_expect_success '--stereo: an outbound track 2 s late is placed right' '
	media_lines $S inbound a.ul >in.m &&
	media_lines $S outbound b.ul -v t0=2000 >out.m &&
	{ start_line $S $C && by_time in.m out.m && stop_line $S $C; } \
		>late.ndjson &&
	timeout 20 mulaw-split -v --stereo st3.ul <late.ndjson >ev 2>err &&
	test $(wc -c <st3.ul) = $((2 * 28000)) &&
	column 1 st3.ul >left && column 2 st3.ul >right &&
	{ cat a.ul && silence 20000; } >e && decimal e >expect &&
	test_cmp expect left &&
	{ silence 16000 && cat b.ul; } >e && decimal e >expect &&
	test_cmp expect right
'

test_expect_success '--stereo wav and s16le: 2 channels, the same samples' '
	timeout 20 mulaw-split --format wav --stereo st.wav <call.ndjson &&
	timeout 20 mulaw-split --format s16le --stereo st.s16 <call.ndjson &&
	test "$(sox --i -c st.wav)" = 2 &&
	test "$(sox --i -s st.wav)" = 12000 &&
	sox st.wav -t s16 -e signed -L got.s16 &&
	test_cmp st.s16 got.s16 &&
	sox -t s16 -e signed -L -r 8000 -c 2 st.s16 -t s16 -e signed -L \
		left.s16 remix 1 &&
	head -c $((2 * 8256)) left.s16 >left.head &&
	test_cmp ca.s16 left.head
'

test_expect_success '--stereo wav into a FIFO: a 2-channel streaming header' '
	mkfifo st.fifo &&
	run_bg sh -c "exec cat st.fifo >got.wav" &&
	timeout 20 mulaw-split --format wav --stereo st.fifo \
		<call.ndjson >ev &&
	n=0; while test $(wc -c <got.wav) -lt 48044 && test $n -lt 50; do
		sleep 0.1; n=$((n + 1)); done &&
	test $(wc -c <got.wav) = 48044 &&
	test $(od -An -tu2 -j 22 -N 2 got.wav | tr -d " ") = 2 &&
	test $(le32 got.wav 28) = 32000
'

test_done
