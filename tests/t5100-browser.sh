#!/bin/bash
test_description='the live page in headless Chromium, with ts-broadcast'
. "$(dirname "$0")/test-lib.sh"

# Each case starts ts-broadcast (and, for the first, a whole call
# pipeline) and runs one script of tests/browser/ in Chromium through
# playwright-core.  Screenshots land in the scratch folder; with
# TAPLINE_SHOTS_OUT=DIR a desktop and a phone shot are copied there too.

need_browser
SHOTS=$TRASH/shots
mkdir -p "$SHOTS"
export SHOTS

# browser SCRIPT: run tests/browser/SCRIPT.mjs, bounded in time (the
# script gives up by itself after WATCHDOG_MS, 90 s unless set).
browser() {
	timeout 300 node "$BROWSER_DIR/$1.mjs"
}

# start_bcast [options]: ts-broadcast on a free port (or $port when
# keep_port is set), stdin from the FIFO feed (held open on fd 7 so the
# input never ends), the page from the source tree.  Sets port, bc_pid,
# TAPLINE_URL, FEED.
start_bcast() {
	[ -n "${keep_port:-}" ] || port=$(free_port) &&
	rm -f feed && mkfifo feed &&
	run_bg_in feed ts-broadcast --listen 127.0.0.1:$port \
		--web "$TOP/web" "$@" >>bc.out 2>>bc.err &&
	bc_pid=$! &&
	exec 7>feed &&
	wait_port $port &&
	TAPLINE_URL=http://127.0.0.1:$port/ &&
	FEED=$TRASH/feed &&
	export TAPLINE_URL FEED
}

# stop_bcast: SIGTERM; it must exit 0.
stop_bcast() {
	exec 7>&- &&
	kill -TERM $bc_pid &&
	wait $bc_pid &&
	test_bg_pids=$(echo $test_bg_pids | tr " " "\n" |
		grep -vx $bc_pid || :)
}

test_expect_success 'an interim line is replaced in place by its final' '
	test_when_finished "exec 7>&-" &&
	start_bcast &&
	browser interim &&
	stop_bcast
'

test_expect_success 'auto-scroll pauses when scrolled up; jump to live' '
	test_when_finished "exec 7>&-" &&
	start_bcast &&
	browser autoscroll &&
	stop_bcast
'

test_expect_success 'a browser that opens late sees the whole history' '
	test_when_finished "exec 7>&-" &&
	start_bcast &&
	browser late-join &&
	stop_bcast
'

test_expect_success 'restarted with --journal: resumed, no line twice' '
	test_when_finished "exec 7>&-" &&
	rm -f a-shown restarted &&
	start_bcast --journal journal &&
	run_bg browser restart &&
	node_pid=$! &&
	wait_for a-shown "" 300 &&
	stop_bcast &&
	keep_port=1 start_bcast --journal journal &&
	: >restarted &&
	wait $node_pid &&
	stop_bcast
'

test_expect_success 'restarted without a journal: the page starts afresh' '
	test_when_finished "exec 7>&-" &&
	rm -f a-shown restarted &&
	start_bcast &&
	LOST=1 run_bg browser restart &&
	node_pid=$! &&
	wait_for a-shown "" 300 &&
	stop_bcast &&
	keep_port=1 start_bcast &&
	: >restarted &&
	wait $node_pid &&
	stop_bcast
'

cat >dial-cmd <<\EOF
#!/bin/sh
# stand-in for tw-dial: log the arguments, answer like it
printf "%s|" "$@" >>dial.log
echo >>dial.log
case $1 in
+15550000000) echo "tw-dial: the line is busy" >&2; exit 1 ;;
esac
printf "{\"sid\":\"CA%032d\",\"to\":\"%s\",\"status\":\"queued\"}\n" 7 "$1"
EOF
chmod +x dial-cmd

test_expect_success 'the dial form runs the dial command, shows its answer' '
	test_when_finished "exec 7>&-" &&
	rm -f dial.log &&
	start_bcast --dial-cmd "$TRASH/dial-cmd" &&
	browser dial &&
	stop_bcast &&
	printf "%s\n" "+15551234567|" "+15550000000|" >dial.expect &&
	test_cmp dial.expect dial.log
'

test_expect_success 'a wrong token is refused, the right one lets in' '
	test_when_finished "exec 7>&-" &&
	TAPLINE_BROADCAST_TOKEN=s3cret-t0ken start_bcast &&
	code=$(curl -s -o /dev/null -w "%{http_code}" $TAPLINE_URL) &&
	test "$code" = 401 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" \
		-H "Authorization: Bearer wrong" $TAPLINE_URL) &&
	test "$code" = 401 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" \
		-H "Authorization: Bearer s3cret-t0ken" $TAPLINE_URL) &&
	test "$code" = 200 &&
	TOKEN=s3cret-t0ken browser token &&
	stop_bcast
'

# Two speakers (flite voices) on the phone path, as in t4100.
CALLER="i would like to book a table for two people tomorrow evening"
AGENT="certainly what time would you like to come in"
say_ul rms "$CALLER" caller.ul
say_ul kal16 "$AGENT" agent.ul

test_expect_success 'a call through the pipeline shows both speakers' '
	gport=$(free_port) &&
	run_bg gstt-serve --listen 127.0.0.1:$gport --max-streams 2 \
		2>serve.err &&
	wait_port $gport &&
	port=$(free_port) &&
	bport=$(free_port) &&
	mkfifo media events.pipe bfeed &&
	# mulaw-split | tee events | ts-broadcast, each its own process
	run_bg sh -c "exec tee events <events.pipe >bfeed" &&
	run_bg_in bfeed ts-broadcast --listen 127.0.0.1:$bport \
		--web "$TOP/web" 2>>bc.err &&
	bc_pid=$! &&
	run_bg sh -c "exec tw-mediasrv --listen 127.0.0.1:$port \
		>media 2>srv.err" &&
	run_bg_in media sh -c "exec mulaw-split \
		--exec \"gstt-stream --endpoint 127.0.0.1:$gport\" \
		>events.pipe 2>split.err" &&
	wait_port $port &&
	wait_port $bport &&
	TAPLINE_URL=http://127.0.0.1:$bport/ EVENTS=$TRASH/events \
		WATCHDOG_MS=240000 run_bg browser live-call &&
	node_pid=$! &&
	wait_for shown-waiting "" 300 &&
	tw-simcall --param caller=Alice --param agent=Bob \
		--inbound caller.ul --outbound agent.ul \
		ws://127.0.0.1:$port/media >sim.json &&
	wait $node_pid &&
	stop_bcast
'

test_expect_success 'ts-broadcast said nothing alarming' '
	! grep -E "AddressSanitizer|LeakSanitizer|runtime error" bc.err
'

if [ -n "${TAPLINE_SHOTS_OUT:-}" ] && [ -d "$SHOTS" ]; then
	mkdir -p "$TAPLINE_SHOTS_OUT" &&
	cp -f "$SHOTS"/*.png "$TAPLINE_SHOTS_OUT"/ 2>/dev/null
fi

test_done
