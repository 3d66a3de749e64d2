#!/bin/bash
test_description='make demo: tapline-demo plays its call; the page and the terminal show both sides'
. "$(dirname "$0")/test-lib.sh"

need_browser
export SHOTS=$TRASH
export TAPLINE_NO_BUILD=1 TAPLINE_BIN=$TAPLINE_BUILD/bin TAPLINE_WEB=$TOP/web

test_expect_success 'the demo plays its call; page and terminal show both sides' '
	three_ports && mport=$port1 bport=$port2 gport=$port3 &&
	export TAPLINE_MEDIA_LISTEN=127.0.0.1:$mport \
		TAPLINE_BROADCAST_LISTEN=127.0.0.1:$bport \
		TAPLINE_SPEECH_LISTEN=127.0.0.1:$gport &&
	# real time would take a minute: the pipeline is the same at any pace
	run_bg sh -c "exec tapline-demo --fast --dir demo >demo.out 2>demo.err" &&
	demo_pid=$! &&
	test_when_finished "kill_tree $demo_pid" &&
	wait_for demo.out "^The page stays up" 1800 &&
	cat demo.out &&
	grep -q "Open the page: http://127.0.0.1:$bport/" demo.out &&
	# the terminal: both speakers, a call that started and ended
	grep -q -- "--- call CA[0-9a-f]* started" demo.out &&
	test $(grep -c "^[0-9][0-9]:[0-9][0-9] Customer: ..." demo.out) -ge 3 &&
	test $(grep -c "^[0-9][0-9]:[0-9][0-9] Agent: ..." demo.out) -ge 3 &&
	grep -q -- "--- call CA[0-9a-f]* ended (stop)" demo.out &&
	grep -qi "balance" demo.out && grep -qi "account" demo.out &&
	# the page
	TAPLINE_URL=http://127.0.0.1:$bport/ EVENTS=demo/events.ndjson \
		timeout 300 node "$BROWSER_DIR/demo.mjs" &&
	test -s demo.png &&
	kids=$(pgrep -P $demo_pid | tr "\n" " ") &&
	# (SIGINT, what Ctrl-C sends, is ignored by a job started in the
	# background of a script: SIGTERM does the same in the demo)
	kill -TERM $demo_pid &&
	wait $demo_pid &&
	for p in $kids; do
		! kill -0 $p 2>/dev/null || { ps -o pid,args -p $p; return 1; }
	done &&
	! tl-freeport --check $bport && ! tl-freeport --check $mport
'

test_done
