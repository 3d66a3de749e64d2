#!/bin/bash
test_description='mulaw-split places chunks by their timestamps'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DATA/media-lib.sh"

S=MZ11111111111111111111111111111111
C=CA11111111111111111111111111111111

# split_inbound OUT [mulaw-split options] <media: one inbound-only call
split_inbound() {
	out=$1
	shift
	{ start_line $S $C "[\"inbound\"]" && cat && stop_line $S $C; } \
		>call.ndjson &&
	timeout 20 mulaw-split -v --tracks inbound --out "$out" "$@" \
		<call.ndjson >ev 2>err
}

# bytes FILE FROM COUNT: COUNT bytes of FILE from offset FROM
bytes() {
	tail -c +$(($2 + 1)) "$1" | head -c "$3"
}

test_expect_success 'setup: 1 s of tone, 50 chunks' '
	tone a.ul 1 440 && test $(wc -c <a.ul) = 8000 &&
	tone b.ul 0.5 300
'

test_expect_success 'a missing chunk becomes exactly 160 bytes of silence' '
	media_lines $S inbound a.ul -v drop=10 | split_inbound o.ul &&
	{ bytes a.ul 0 1600 && silence 160 && bytes a.ul 1760 8000; } \
		>expect &&
	test_cmp expect o.ul &&
	grep -q "filled 1 gaps (20 ms)" err
'

test_expect_success 'three missing chunks in a row: 480 bytes of silence' '
	media_lines $S inbound a.ul -v drop="20 21 22" | split_inbound o.ul &&
	{ bytes a.ul 0 3200 && silence 480 && bytes a.ul 3680 8000; } \
		>expect &&
	test_cmp expect o.ul
'

test_expect_success 'duplicates are dropped' '
	media_lines $S inbound a.ul -v dup="0 5 20 49" | split_inbound o.ul &&
	test_cmp a.ul o.ul &&
	grep -q "dropped 0 late and 4 duplicate chunks" err
'

test_expect_success 'swapped chunks are put back in order' '
	media_lines $S inbound a.ul -v swap="0 4 15 30" | split_inbound o.ul &&
	test_cmp a.ul o.ul &&
	grep -q "filled 0 gaps" err
'

test_expect_success 'timestamps jittered by up to 3 ms: still bit-exact' '
	media_lines $S inbound a.ul -v jitter=3 >m &&
	test $(jq -r .media.timestamp m | awk "\$1 % 20" | wc -l) -gt 35 &&
	split_inbound o.ul <m &&
	test_cmp a.ul o.ul
'

test_expect_success 'jitter, duplicates and swaps together' '
	media_lines $S inbound a.ul -v jitter=3 -v dup="3 17" \
		-v swap="8 26" | split_inbound o.ul &&
	test_cmp a.ul o.ul
'

test_expect_success 'chunks of any length: 80, 240, 33 and 160 bytes' '
	media_lines $S inbound a.ul -v size=80,240,33,160 >m &&
	test $(jq -r .media.payload m | head -n 3 | base64 -d | wc -c) = 353 &&
	split_inbound o.ul <m &&
	test_cmp a.ul o.ul
'

test_expect_success 'a track that starts late is preceded by silence' '
	media_lines $S inbound a.ul >in.m &&
	media_lines $S outbound b.ul -v t0=500 >out.m &&
	{ start_line $S $C && interleave in.m out.m && stop_line $S $C; } \
		>late.ndjson &&
	timeout 20 mulaw-split --out "l.%t.ul" <late.ndjson >ev &&
	test_cmp a.ul l.inbound.ul &&
	{ silence 4000 && cat b.ul; } >expect &&
	test_cmp expect l.outbound.ul
'

test_expect_success 'a chunk later than --reorder is dropped, its hole silent' '
	media_lines $S inbound a.ul >m &&
	{ sed -n "1,10p;12,30p" m && sed -n 11p m && sed -n "31,\$p" m; } \
		>moved &&
	split_inbound o.ul <moved &&
	{ bytes a.ul 0 1600 && silence 160 && bytes a.ul 1760 8000; } \
		>expect &&
	test_cmp expect o.ul &&
	grep -q "dropped 1 late" err &&
	split_inbound o2.ul --reorder 500 <moved &&
	test_cmp a.ul o2.ul
'

test_expect_success 'timestamps running 5 ms ahead: absorbed as jitter' '
	media_lines $S inbound a.ul -v shift=25:5 | split_inbound o.ul &&
	test_cmp a.ul o.ul
'

test_expect_success '--jitter 0 fills even 5 ms' '
	media_lines $S inbound a.ul -v shift=25:5 |
	split_inbound o.ul --jitter 0 &&
	{ bytes a.ul 0 4000 && silence 40 && bytes a.ul 4000 8000; } \
		>expect &&
	test_cmp expect o.ul
'

test_expect_success 'a chunk overlapping what is written: only its tail' '
	media_lines $S inbound a.ul -v shift=25:-15 | split_inbound o.ul &&
	{ bytes a.ul 0 4000 && bytes a.ul 4120 8000; } >expect &&
	test_cmp expect o.ul &&
	grep -q "120 bytes overlapping" err
'

test_expect_success 'a jump past --max-gap is not filled' '
	media_lines $S inbound a.ul -v shift=25:3000 >m &&
	split_inbound o.ul <m &&
	{ bytes a.ul 0 4000 && silence 24000 && bytes a.ul 4000 8000; } \
		>expect &&
	test_cmp expect o.ul &&
	split_inbound o2.ul --max-gap 2 <m &&
	test_cmp a.ul o2.ul &&
	grep -q "jumps by 3000 ms" err &&
	grep -q "1 resyncs" err
'

test_expect_success 'timestamps going back past --max-gap resync too' '
	media_lines $S inbound a.ul -v t0=10000 -v shift=25:-9000 >m &&
	split_inbound o.ul --max-gap 5 <m &&
	test_cmp a.ul o.ul &&
	grep -q "2 resyncs" err
'

test_expect_success 'held chunks are flushed at the end of the stream' '
	media_lines $S inbound a.ul -v drop=48 | split_inbound o.ul &&
	{ bytes a.ul 0 7680 && silence 160 && bytes a.ul 7840 160; } \
		>expect &&
	test_cmp expect o.ul
'

test_done
