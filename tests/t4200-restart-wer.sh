#!/bin/bash
test_description='gstt-stream restarts keep one timeline and the same accuracy'
. "$(dirname "$0")/test-lib.sh"

# Six minutes of speech sent as fast as gstt-serve takes it, once to a
# server that ends every stream after 60 s of audio and once to one that
# never does.  The restarts must not lose, repeat or misplace anything:
# finals tile the whole recording with consecutive seq, and the word
# error rate stays within two points of the run without restarts.

# Start gstt-serve on a free port ($PORT) with the given options; its
# stderr in $LOG.
serve() {
	PORT=$(free_port) &&
	run_bg gstt-serve --listen 127.0.0.1:$PORT "$@" 2>>"$LOG" &&
	wait_port $PORT
}


# The final transcript events of an events NDJSON file, compact.
finals() {
	jq -c 'select(.type == "transcript" and .final)' "$1"
}

test_expect_success 'setup: six minutes of distinct sentences' '
	cat >ref.txt <<-\EOF &&
	hello and thank you for calling the customer service line we are happy to help you with your account today
	i would like to book a table for two people tonight at the small italian restaurant near the train station
	my name is john smith and i am calling about the letter that arrived at my house yesterday afternoon
	please call me back tomorrow morning after ten because i will be in a meeting for most of the day
	the weather is going to be cold and rainy this weekend so we should move the picnic to next saturday
	can you send the invoice to my email address and also put a paper copy in the mail for my records
	we need to change the delivery date to next monday because nobody will be at home on friday afternoon
	i am sorry but the manager is not available right now could i take a message and have her call you back
	the meeting has been moved to the large conference room on the third floor at the end of the hall
	thank you very much for your help today you have been very kind and patient with all of my questions
	i think there is a problem with my last bill because the total is much higher than it was last month
	could you please tell me how long it will take for the new phone to arrive at my office downtown
	our team is working on the report and we hope to have a first draft ready by the end of the week
	the doctor said that i should rest at home for a few days and drink plenty of water and hot tea
	we are looking for a quiet hotel room with a view of the river for three nights in the middle of june
	my internet connection has been very slow since the storm last night and the light on the box is red
	i would like to cancel my order because i found the same jacket in a store closer to where i live
	the children are going to visit their grandmother in the country during the long summer holiday
	please make sure that the front door is locked and the lights are off before you leave the building
	the train to the city was late again this morning so i missed the first part of the training class
	can you help me find the nearest bank where i can open a new savings account without paying a fee
	she told me that the package was left at the front desk of the building but nobody could find it there
	we have to finish painting the kitchen before our friends come over for dinner on sunday evening
	the new software update fixed most of the problems but the printer still does not work with my computer
	i need to speak with someone about changing the name on my account after my wedding last spring
	the library will be closed on monday for the holiday but it will open again early on tuesday morning
	my brother bought a new car last week and now he wants to drive across the country to see the ocean
	please remember to bring your passport and your ticket when you come to the airport on thursday
	the store has a special sale on winter coats and boots that ends at the close of business tomorrow
	i left my wallet in the taxi and i hope that the driver will find it and give it to the police
	our flight was cancelled because of the snow so we had to spend the night at a hotel near the airport
	the teacher asked the students to read the first three chapters of the book before the next lesson
	could you check whether my payment went through because the website showed an error after i pressed send
	the garden looks beautiful this year with all the red and yellow flowers that my mother planted in april
	we would like to order two large pizzas with cheese and mushrooms and a bottle of cold water please
	the bus stop has been moved to the other side of the street while they repair the road this summer
	i have been waiting on hold for almost an hour and i would really like to talk to a real person now
	the museum has a new exhibit about the history of the city that opens to the public next friday
	my daughter is learning to play the piano and she practices every evening after she finishes her homework
	thank you for your patience and have a wonderful day we look forward to hearing from you again soon
	the kitchen sink is leaking again and the water is running all over the floor near the back door
	we are planning a small party for my father who is retiring after working at the same company for years
	please send someone to look at the heating because the house has been very cold for the last two days
	i would like to know if the shop is open late on wednesday so i can pick up my shoes after work
	the radio said that the main road into town will be closed for most of the day because of an accident
	my neighbor found a small brown dog in the park and she is trying to find the family that lost it
	could you read the address back to me slowly so that i can write it down on a piece of paper
	the hospital asked all visitors to wear a mask and to wash their hands before they enter the ward
	we moved into a bigger apartment last month and the children finally have a room of their own
	it was a pleasure talking with you and i hope you enjoy the rest of your week goodbye for now
	EOF
	head -c 8000 /dev/zero | tr "\0" "\377" >sil.ul &&
	: >long.ul && n=0 &&
	while read -r line; do
		n=$((n + 1)) &&
		flite -voice rms -t "$line" -o s.wav &&
		sox -R s.wav -r 8000 -c 1 -e u-law -t raw s.ul &&
		cat s.ul sil.ul >>long.ul || return 1
	done <ref.txt &&
	test $n = 50 && test $(sort -u ref.txt | wc -l) = 50 &&
	bytes=$(stat -c %s long.ul) &&
	diag "audio $((bytes / 8000)) s" &&
	test $bytes -ge $((330 * 8000)) && test $bytes -le $((420 * 8000))
'

# The baseline is one stream over the whole recording: gstt-stream
# itself restarts before 300 s, so only a single plain stream shows what
# the recognizer makes of the audio with no restart at all.
test_expect_success 'one stream with no limit: the baseline WER' '
	LOG=serve-free.err &&
	serve --max-stream-seconds 86400 &&
	timeout 400 tl-gsttc --addr 127.0.0.1:$PORT --deadline 300 \
		long.ul >free.out &&
	tail -n 1 free.out | grep -qx "status OK " &&
	grep "^{" free.out | jq -r ".results[]? | select(.final) |
		.alternatives[0].transcript" >free.txt &&
	wer ref.txt free.txt 1 >free.wer &&
	diag "no limit: $(wc -l <free.txt) finals, WER $(cat free.wer)%" &&
	# a baseline this bad would make the comparison meaningless
	awk "BEGIN { exit !($(cat free.wer) < 30) }"
'

test_expect_success 'with --max-stream-seconds 60: restarts, all finals' '
	LOG=serve-60.err &&
	mp=$(free_port) &&
	serve --max-stream-seconds 60 --metrics 127.0.0.1:$mp &&
	timeout 600 gstt-stream -v --no-interim --endpoint 127.0.0.1:$PORT \
		long.ul >lim.out 2>lim.err &&
	opened=$(grep -c "stream opened at" lim.err) &&
	curl -sf http://127.0.0.1:$mp/metrics >metrics &&
	calls=$(sed -n "s/^gstt_calls_total{method=\"StreamingRecognize\"} //p" \
		metrics) &&
	diag "limit 60 s: $opened streams opened, server saw $calls" &&
	test "$calls" = "$opened" &&
	# at least five restarts for six minutes of audio
	test $opened -ge 6 &&
	# it learned the limit from the OUT_OF_RANGE message
	grep -q "streams restart after 57.0 s" lim.err &&
	! grep -q DATA_LOSS lim.out lim.err &&
	! jq -e "select(.type == \"error\")" lim.out >/dev/null &&
	finals lim.out >lim.fin && test -s lim.fin
'

test_expect_success 'finals: seq 0..N-1, one each, in order' '
	jq -r .seq lim.fin >seq &&
	n=$(wc -l <seq) &&
	seq 0 $((n - 1)) >expect &&
	test_cmp expect seq
'

test_expect_success 'finals tile the recording: no gap, no overlap' '
	len=$(awk -v b=$(stat -c %s long.ul) "BEGIN { print b / 8000 }") &&
	jq -r "[.start, .end] | @tsv" lim.fin >times &&
	awk -v len="$len" "
	NR == 1 && \$1 > 0.01 { print \"first start\", \$1; bad++ }
	NR > 1 && \$1 < prev - 0.01 { print NR, \"overlap\", prev, \$1; bad++ }
	NR > 1 && \$1 > prev + 0.01 { print NR, \"gap\", prev, \$1; bad++ }
	\$2 < \$1 { print NR, \"ends before start\", \$1, \$2; bad++ }
	\$2 > len + 0.01 { print NR, \"past the audio\", \$2; bad++ }
	{ prev = \$2 }
	END {
		if (len - prev > 3) { print \"last end\", prev, \"of\", len; bad++ }
		exit bad > 0
	}" times
'

test_expect_success 'restarts cost at most two points of WER' '
	jq -r .text lim.fin >lim.txt &&
	w60=$(wer ref.txt lim.txt 1) && w=$(cat free.wer) &&
	echo "WER no limit $w%, with 60 s streams $w60%" >wer.line &&
	diag "$(cat wer.line)" &&
	awk "BEGIN { exit !($w60 <= $w + 2) }"
'

# Show the numbers in prove's output too, not only on failure.
test -s wer.line && diag "$(cat wer.line)"
test_done
