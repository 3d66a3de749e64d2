#!/bin/bash
test_description='ts-format: events NDJSON to txt, srt, vtt, json and md'
. "$(dirname "$0")/test-lib.sh"

D=$TEST_DATA/ts-format

# cues FMT FILE [awk -v options]: the independent structure check
cues() {
	_f=$1 _file=$2
	shift 2
	awk -v fmt="$_f" "$@" -f "$D/cues.awk" "$_file"
}

for f in txt srt vtt json md; do
	test_expect_success "one call to $f, as expected" "
		ts-format --to $f $D/call.ndjson >out.$f &&
		test_cmp $D/call.$f out.$f
	"
done

test_expect_success 'txt is the default; stdin is read' '
	ts-format <$D/call.ndjson >out &&
	test_cmp $D/call.txt out &&
	ts-format - <$D/call.ndjson >out &&
	test_cmp $D/call.txt out
'

test_expect_success 'the expected subtitles pass the structure check' '
	cues srt $D/call.srt &&
	cues vtt $D/call.vtt &&
	cues vtt $D/two-calls-CA202.vtt &&
	cues srt $D/nolabel.srt
'

test_expect_success 'the checker catches what it should' '
	sed "s/^3\$/4/" $D/call.srt >bad.srt &&
	test_must_fail cues srt bad.srt &&
	sed "s/00:00:15,000 -->/00:00:14,000 -->/" $D/call.srt >bad.srt &&
	test_must_fail cues srt bad.srt &&
	sed "s/00:00:01,800/00:00:00,400/" $D/call.srt >bad.srt &&
	test_must_fail cues srt bad.srt &&
	test_must_fail cues vtt $D/call.srt &&
	test_must_fail cues srt $D/call.vtt &&
	test_must_fail cues srt $D/call.srt -v chars=30
'

test_expect_success 'interim results are left out' '
	grep -q "\"final\":false" $D/call.ndjson &&
	! grep -q "thank you for\$" out.txt &&
	! grep -q "hi i.d like" out.txt out.srt out.vtt out.md &&
	test $(jq "[.utterances[]] | length" out.json) = 7
'

test_expect_success 'a final replaces an earlier final of its utterance' '
	grep -q Smyth $D/call.ndjson &&
	! grep -q Smyth out.txt out.srt out.json &&
	grep -q "Caller: Smith. S M I T H." out.txt
'

test_expect_success 'both tracks in order of time, whatever the input order' '
	# input: outbound seq 0, inbound 0, outbound 1, inbound 1...
	grep -v Smyth $D/call.ndjson | tac | ts-format >rev.txt &&
	test_cmp $D/call.txt rev.txt &&
	sed -n "s/^\[\([0-9:]*\)\].*/\1/p" out.txt >times &&
	sort -c times &&
	test $(wc -l <times) = 7
'

test_expect_success 'labels: --label beats the call parameter beats the default' '
	ts-format --label inbound=Customer -l outbound=Luigi \
		$D/call.ndjson >out &&
	test_cmp $D/call-labels.txt out &&
	grep -q "\"outbound_label\":\"Agent Bob\"" $D/call.ndjson &&
	grep -q "Agent Bob: Thank you" out.txt &&
	grep -q "Caller: Hi" out.txt &&
	ts-format -l inbound=Customer $D/call.ndjson | grep -q "Agent Bob:" &&
	jq -e ".speakers == {\"inbound\":\"Caller\",\"outbound\":\"Agent Bob\"}" \
		out.json
'

test_expect_success 'two calls: one section or document each' '
	for f in txt md json; do
		ts-format -t $f $D/two-calls.ndjson >two.$f &&
		test_cmp $D/two-calls.$f two.$f || return 1
	done &&
	test $(jq -s length two.json) = 2 &&
	jq -r .call_sid two.json >sids &&
	printf "CA201\nCA202\n" >want &&
	test_cmp want sids
'

test_expect_success 'two calls: srt and vtt want --call' '
	expect_status 1 ts-format -t srt $D/two-calls.ndjson >out 2>err &&
	grep -q "holds 2 calls: choose one with --call" err &&
	test ! -s out &&
	ts-format -t vtt --call CA202 $D/two-calls.ndjson >out &&
	test_cmp $D/two-calls-CA202.vtt out &&
	ts-format -t txt -c CA201 $D/two-calls.ndjson >out &&
	! grep -q CA202 out && grep -q "Alice: Morning" out &&
	expect_status 1 ts-format -t txt -c CA9 $D/two-calls.ndjson 2>err &&
	grep -q "no call .CA9. in the input" err
'

test_expect_success 'calls may span files' '
	head -n 4 $D/call.ndjson >part1 &&
	tail -n +5 $D/call.ndjson >part2 &&
	ts-format -t json part1 part2 >out &&
	test_cmp $D/call.json out
'

test_expect_success 'malformed lines: warned with their number, skipped, exit 1' '
	expect_status 1 ts-format $D/bad.ndjson >out 2>err &&
	test_cmp $D/bad.txt out &&
	sed "s|$D/||" err >err.rel &&
	test_cmp $D/bad.err err.rel
'

test_expect_success 'a file that cannot be read: the others still, exit 1' '
	expect_status 1 ts-format nosuch $D/nolabel.ndjson >out 2>err &&
	grep -q "cannot open .nosuch." err &&
	grep -q "Speaker: a recording with no labels" out
'

test_expect_success 'usage errors exit 2' '
	expect_status 2 ts-format -t doc </dev/null &&
	expect_status 2 ts-format --label inbound </dev/null &&
	expect_status 2 ts-format --max-chars 3 </dev/null &&
	expect_status 2 ts-format --bogus </dev/null &&
	ts-format --help | grep -q "^usage: ts-format" &&
	ts-format --version | grep -q "^ts-format (tapline) "
'

test_expect_success 'no input: empty txt and srt, a bare WebVTT header' '
	ts-format </dev/null >out && test ! -s out &&
	ts-format -t srt </dev/null >out && test ! -s out &&
	ts-format -t vtt </dev/null >out &&
	printf "WEBVTT\n" >want && test_cmp want out
'

test_expect_success 'a full disk is an error' '
	test -w /dev/full &&
	expect_status 1 ts-format $D/call.ndjson >/dev/full 2>err &&
	grep -q "cannot write to standard output" err
'

# A long generated call: both tracks talking over each other, words on
# some finals, long utterances, interims, lines in a scrambled order.
gen_call() {
	awk -v seed="$1" '
	BEGIN {
		srand(seed)
		split("yes no well the a table for two people tomorrow " \
		      "evening seven o'"'"'clock please thank you could we " \
		      "book birthday chocolate & <cake> reservation " \
		      "unbelievably-long-hyphenated-word okay.", dict, " ")
		nd = 0; for (k in dict) nd++
		print "{\"type\":\"call.start\",\"ts\":\"2026-11-25T10:00:00.000Z\",\"call_sid\":\"CAX\",\"stream_sid\":\"MZX\",\"tracks\":[\"inbound\",\"outbound\"],\"params\":{}}"
		for (tr = 0; tr < 2; tr++) {
			track = tr ? "outbound" : "inbound"
			t = tr * 0.7
			for (seq = 0; seq < 60; seq++) {
				n = 1 + int(rand() * (rand() < 0.2 ? 40 : 9))
				start = t
				t += 0.2 + rand() * 2
				text = ""; words = ""
				for (w = 0; w < n; w++) {
					word = dict[1 + int(rand() * nd)]
					ws = t; t += 0.1 + rand() * 0.6
					text = text (w ? " " : "") word
					words = words (w ? "," : "") \
					    sprintf("{\"word\":\"%s\",\"start\":%.2f,\"end\":%.2f}",
						    word, ws, t)
				}
				t += rand() * 3
				printf "{\"type\":\"transcript\",\"call_sid\":\"CAX\",\"track\":\"%s\",\"seq\":%d,\"final\":false,\"text\":\"x\",\"start\":%.2f,\"end\":%.2f}\n", track, seq, start, t
				printf "{\"type\":\"transcript\",\"call_sid\":\"CAX\",\"track\":\"%s\",\"seq\":%d,\"final\":true,\"text\":\"%s\",\"start\":%.2f,\"end\":%.2f%s}\n", \
				    track, seq, text, start, t, \
				    rand() < 0.5 ? ",\"words\":[" words "]" : ""
			}
		}
		print "{\"type\":\"call.stop\",\"call_sid\":\"CAX\",\"stream_sid\":\"MZX\",\"reason\":\"stop\"}"
	}' | awk -v seed="$1" 'BEGIN { srand(seed) } { print rand() "\t" $0 }' |
	sort -n | cut -f 2-
}

# srt_words FILE: the words of the cues, by speaker, one a line
srt_words() {
	awk '/-->/ { c = 1; next } /^$/ { c = 0; next }
	     c == 1 { sp = $1; sub(/:$/, "", sp) }
	     c { for (i = 3 - c; i <= NF; i++) print sp "\t" $i; c = 2 }' "$1"
}

test_expect_success 'generated calls: structure holds, no word lost' '
	for seed in 1 2 3 4 5; do
		gen_call $seed >gen.ndjson &&
		jq -e . gen.ndjson >/dev/null &&
		ts-format -t srt gen.ndjson >gen.srt &&
		ts-format -t vtt gen.ndjson >gen.vtt &&
		cues srt gen.srt >/dev/null &&
		cues vtt gen.vtt >/dev/null &&
		ts-format -t srt --max-chars 34 --max-lines 3 \
			--max-duration 4 gen.ndjson >gen3.srt &&
		cues srt gen3.srt -v chars=34 -v lines=3 -v ms=4000 \
			>/dev/null &&
		# every word of every final, in order on its track
		jq -r "select(.final) |
			(if .track == \"inbound\" then \"Caller\"
			 else \"Callee\" end) as \$s |
			[.seq, \$s, .text] | @tsv" gen.ndjson |
			sort -k2,2 -k1,1n |
			awk -F "\t" "{ n = split(\$3, w, \" \")
				for (i = 1; i <= n; i++) print \$2 \"\t\" w[i] }" \
			>want.words &&
		srt_words gen.srt | sort -s -k1,1 >got.words &&
		test_cmp want.words got.words || return 1
	done
'

test_done
