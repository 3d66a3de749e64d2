#!/bin/bash
test_description='tapline-batch: a directory of recordings, transcribed with gstt-serve'
. "$(dirname "$0")/test-lib.sh"

CUES=$TEST_DATA/ts-format/cues.awk
ALL=txt,srt,vtt,json,md
# gstt-serve's socket lives here, so a leftover one can be found
TMPDIR=$TRASH/tmp
export TMPDIR

S1="please send the invoice to my office by friday"
S2="the weather today is cold and windy"
S3="my account number is seven four two"
S4="can you call me back in the afternoon"
S5="i would like to book a table for two people"
S6="certainly what time would you like to come"
S7="hello i am calling about my order"
S8="thank you for calling how can i help"
S9="the parcel arrived this morning"

say_wav() {	# say_wav TEXT OUT.wav: 16 kHz mono, with a second of silence
	flite -voice rms -t "$1" -o tmp.wav &&
	sox tmp.wav "$2" pad 0.3 1
}

# stereo L R OUT [sox output options]: two sides of a call, one after the
# other, left (inbound) first
stereo() {
	say_wav "$1" l.wav && say_wav "$2" r.wav &&
	sox l.wav l2.wav pad 0 "$(soxi -D r.wav)" &&
	sox r.wav r2.wav pad "$(soxi -D l.wav)" 0 &&
	out=$3 && shift 3 &&
	sox -M l2.wav r2.wav "$@" "$out"
}

# finals FILE.ndjson TRACK: the text of that track's finals
finals() {
	jq -r --arg t "$2" 'select(.type == "transcript" and .final and
		.track == $t) | .text' "$1"
}

# listing DIR: what a run could change, file by file
listing() {
	(cd "$1" && stat -c '%n %i %s %Y.%y' -- *)
}

NAMES="mono-pcm mono-ulaw mono mono-vorbis stereo stereo-16k"

test_expect_success 'setup: recordings in five formats, one corrupt' '
	mkdir -p src tmp aside &&
	say_wav "$S1" src/mono-pcm.wav &&
	say_wav "$S2" tmp.16k.wav &&
	sox tmp.16k.wav -r 8000 -e u-law src/mono-ulaw.wav &&
	say_wav "$S3" tmp.16k.wav && sox tmp.16k.wav src/mono.flac &&
	say_wav "$S4" tmp.16k.wav && sox tmp.16k.wav src/mono-vorbis.ogg &&
	stereo "$S5" "$S6" src/stereo.wav -r 8000 -e u-law &&
	stereo "$S7" "$S8" src/stereo-16k.flac &&
	head -c 20000 /dev/urandom >src/corrupt.wav &&
	echo "not audio" >src/notes.txt &&
	soxi src/* 2>/dev/null | grep -c "^Channels *: 2" >n2 &&
	test $(cat n2) = 2 &&
	soxi -t src/mono-vorbis.ogg | grep -q vorbis &&
	soxi -e src/mono-ulaw.wav | grep -q "u-law"
'

test_expect_success 'every recording to every format; the corrupt one reported' '
	expect_status 1 tapline-batch -j 2 -f $ALL src out >sum 2>log &&
	cat sum log &&
	grep -q "^tapline-batch: 6 done, 0 up to date, 1 failed in " sum &&
	grep -q "corrupt.wav. failed: gstt-stream exited 1" log &&
	for n in $NAMES; do
		for f in ndjson txt srt vtt json md; do
			test -s out/$n.$f || { echo "no $n.$f"; return 1; }
		done
	done &&
	# nothing else: no temporary files, nothing for corrupt or notes
	ls -A out | sort >got &&
	{ echo .tapline-batch.lock
	  for n in $NAMES; do
		for f in json md ndjson srt txt vtt; do echo $n.$f; done
	  done; } | sort >want &&
	test_cmp want got &&
	for n in $NAMES; do
		awk -v fmt=srt -f $CUES out/$n.srt &&
		awk -v fmt=vtt -f $CUES out/$n.vtt &&
		test $(jq ".utterances | length" out/$n.json) -ge 1 ||
			return 1
	done &&
	mkdir ref && cp out/*.srt ref/ &&
	for n in $NAMES; do
		tail -n +2 out/$n.txt >ref/$n.txt || return 1
	done
'

test_expect_success 'the words are there' '
	test $(words_found "$S1" out/mono-pcm.txt) -ge 6 &&
	test $(words_found "$S2" out/mono-ulaw.txt) -ge 4 &&
	test $(words_found "$S3" out/mono.txt) -ge 4 &&
	test $(words_found "$S4" out/mono-vorbis.txt) -ge 4
'

test_expect_success 'stereo: two tracks, each side with its own words' '
	for n in stereo stereo-16k; do
		test "$(jq -r "select(.type == \"call.start\") |
			.tracks | join(\",\")" out/$n.ndjson)" = \
			inbound,outbound &&
		tail -n 1 out/$n.ndjson | grep -q "\"type\":\"call.stop\"" &&
		finals out/$n.ndjson inbound >$n.in &&
		finals out/$n.ndjson outbound >$n.out &&
		grep -q "Caller: " out/$n.txt &&
		grep -q "Callee: " out/$n.txt || return 1
	done &&
	test $(words_found "$S5" stereo.in) -ge 6 &&
	test $(words_found "$S6" stereo.out) -ge 4 &&
	test $(words_found "book table people" stereo.out) = 0 &&
	test $(words_found "$S7" stereo-16k.in) -ge 4 &&
	test $(words_found "$S8" stereo-16k.out) -ge 4 &&
	test $(words_found "order" stereo-16k.out) = 0 &&
	# the caller spoke first
	sed -n 2p out/stereo.txt | grep -q "Caller: "
'

test_expect_success 'a second run does nothing' '
	mv src/corrupt.wav aside/ &&
	listing out >before &&
	tapline-batch -v -f $ALL src out >sum 2>log &&
	cat sum log &&
	grep -q "^tapline-batch: 0 done, 6 up to date, 0 failed" sum &&
	! grep -q "started gstt-serve" log &&
	listing out >after &&
	test_cmp before after
'

test_expect_success 'a changed source is redone; an old transcript is remade' '
	say_wav "$S9" tmp.16k.wav &&
	sox tmp.16k.wav -r 8000 -e u-law -t wav src/mono-ulaw.wav.new &&
	mv src/mono-ulaw.wav.new src/mono-ulaw.wav &&
	touch -d "2001-01-01 00:00" out/mono.srt &&
	listing out | grep -v "^mono-ulaw\.\|^mono\.srt " >before &&
	tapline-batch -f $ALL src out >sum 2>log &&
	cat sum log &&
	grep -q "^tapline-batch: 2 done, 4 up to date, 0 failed" sum &&
	grep -q "mono-ulaw.wav.: transcribed" log &&
	grep -q "mono.flac.: formatted" log &&
	test $(words_found "$S9" out/mono-ulaw.txt) -ge 3 &&
	test $(words_found "weather cold windy" out/mono-ulaw.txt) = 0 &&
	test_cmp ref/mono.srt out/mono.srt &&
	listing out | grep -v "^mono-ulaw\.\|^mono\.srt " >after &&
	test_cmp before after &&
	tail -n +2 out/mono-ulaw.txt >ref/mono-ulaw.txt &&
	cp out/mono-ulaw.srt ref/
'

test_expect_success 'two runs at once: one works, the other exits 3' '
	rm -f out/*.* &&
	run_bg tapline-batch -j 2 -f $ALL src out >a.sum 2>a.log &&
	a=$! &&
	n=0 &&
	while flock -n out/.tapline-batch.lock true && [ $n -lt 200 ]; do
		sleep 0.05; n=$((n + 1))
	done &&
	expect_status 3 tapline-batch -f $ALL src out >b.sum 2>b.log &&
	cat b.log &&
	grep -q "another run holds .*\.tapline-batch\.lock.: exiting" b.log &&
	test $(wc -l <b.log) = 1 && test ! -s b.sum &&
	wait $a &&
	grep -q "^tapline-batch: 6 done, 0 up to date, 0 failed" a.sum &&
	for n in $NAMES; do
		tail -n +2 out/$n.txt | test_cmp ref/$n.txt - &&
		test_cmp ref/$n.srt out/$n.srt || return 1
	done
'

test_expect_success 'a killed run leaves no partial output' '
	rm -f out/*.* &&
	run_bg tapline-batch -j 2 -f $ALL src out >k.sum 2>k.log &&
	k=$! &&
	n=0 &&
	# killed while it works: once the first recording is done
	while ! ls out/*.ndjson >/dev/null 2>&1 && [ $n -lt 600 ]; do
		sleep 0.05; n=$((n + 1))
	done &&
	kill -TERM $k &&
	expect_status 143 wait $k &&
	cat k.log &&
	grep -q "stopped by a signal" k.log &&
	n=0 &&
	while pgrep -f "$TRASH/(src|tmp)/" >/dev/null && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done &&
	! pgrep -f "$TRASH/(src|tmp)/" &&
	! ls -A out | grep "^\.tapline-batch\.[^l]" &&
	test -z "$(ls -A tmp)" &&
	ls out >left &&
	test $(grep -c "\.ndjson\$" left) -lt 6 &&
	# what is there is whole
	for f in $(cat left); do
		n=${f%.*} &&
		case $f in
		*.txt) tail -n +2 out/$f | test_cmp ref/$f - ;;
		*.srt) test_cmp ref/$f out/$f ;;
		*.vtt) awk -v fmt=vtt -f $CUES out/$f ;;
		*.json|*.ndjson) jq -e . out/$f >/dev/null ;;
		*.md) grep -q "^# Call" out/$f ;;
		esac || return 1
	done &&
	tapline-batch -f $ALL src out >sum 2>log &&
	cat sum log &&
	for n in $NAMES; do
		tail -n +2 out/$n.txt | test_cmp ref/$n.txt - &&
		test_cmp ref/$n.srt out/$n.srt || return 1
	done
'

test_expect_success 'programs from TAPLINE_BIN; a missing one is an error' '
	mkdir one &&
	cp src/mono-pcm.wav one/ &&
	env PATH=/usr/bin:/bin TAPLINE_BIN="$TAPLINE_BUILD/bin" \
		"$TOP/scripts/tapline-batch" -f txt,srt one out1 >sum 2>log &&
	grep -q "1 done, 0 up to date, 0 failed" sum &&
	test_cmp ref/mono-pcm.srt out1/mono-pcm.srt &&
	rm out1/*.ndjson &&
	expect_status 1 env PATH=/usr/bin:/bin TAPLINE_BIN=/nonexistent \
		"$TOP/scripts/tapline-batch" one out1 2>log &&
	grep -q "cannot find .gstt-stream." log
'

test_expect_success 'usage errors exit 2' '
	expect_status 2 tapline-batch src &&
	expect_status 2 tapline-batch -j 0 src out &&
	expect_status 2 tapline-batch -j x src out &&
	expect_status 2 tapline-batch -f txt,doc src out &&
	expect_status 2 tapline-batch --bogus src out &&
	expect_status 1 tapline-batch nosuchdir out &&
	tapline-batch --help | grep -q "^usage: tapline-batch" &&
	tapline-batch --version | grep -q "^tapline-batch (tapline) "
'

test_done
