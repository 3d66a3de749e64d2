# tapline integration test library, after git's t/test-lib.sh.
#
# A test script sets test_description, sources this file, declares cases
# with test_expect_success 'what' 'commands', and ends with test_done.
# Output is TAP for prove.  Each script runs in its own scratch directory
# (tests/trash/NAME, removed when every case passed), with the programs of
# the build under test first in PATH.  Everything a case starts in the
# background goes through run_bg and is killed when the case ends.

set -u
LC_ALL=C
export LC_ALL

TEST_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$TEST_DIR/.." && pwd)
TAPLINE_BUILD=${TAPLINE_BUILD:-$TOP/build}
PATH=$TAPLINE_BUILD/bin:$TAPLINE_BUILD/tests:$TOP/scripts:$PATH
export PATH TAPLINE_BUILD
TEST_DATA=$TEST_DIR/data

# Quiet third-party logging; sanitizers fail loudly.
GRPC_VERBOSITY=NONE
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TEST_DIR/lsan.supp:print_suppressions=0}
export GRPC_VERBOSITY ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
unset TWILIO_AUTH_TOKEN TWILIO_ACCOUNT_SID TWILIO_API_KEY TWILIO_API_SECRET \
	TAPLINE_BROADCAST_TOKEN GOOGLE_APPLICATION_CREDENTIALS

test_name=$(basename "$0" .sh)
TRASH=$TEST_DIR/trash/$test_name
rm -rf "$TRASH"
mkdir -p "$TRASH"
cd "$TRASH" || exit 1

test_count=0
test_failed=0
trap 'say "not ok - case $test_count called exit (use return 1)"; test_kill_bg; exit 1' EXIT
test_cleanup=
test_bg_pids=

say() { printf '%s\n' "$*"; }
# Diagnostics go to stderr as TAP comments, so prove shows them on failure.
diag() { printf '# %s\n' "$*" >&2; }

# Run "$@" in the background, remember its pid in $! and for the cleanup.
run_bg() {
	"$@" &
	test_bg_pids="$test_bg_pids $!"
}

# run_bg_in FILE command...: as run_bg, with stdin from FILE.  (Without
# job control a command started with & reads /dev/null, even when a
# redirection was meant for it, so redirect inside the job.)
run_bg_in() {
	_in=$1
	shift
	"$@" <"$_in" &
	test_bg_pids="$test_bg_pids $!"
}

# Register a command to run when the current case ends, pass or fail.
test_when_finished() {
	test_cleanup="$*; $test_cleanup"
}

test_kill_bg() {
	for pid in $test_bg_pids; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $test_bg_pids; do
		# bounded: 50 x 0.1 s, then KILL
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
			sleep 0.1; n=$((n + 1))
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	test_bg_pids=
}

# The body runs inside a function, so a loop in it ends the case with
# "|| return 1" (as in git's tests); "exit" would end the whole script,
# which the EXIT trap below reports as a failure.
test_eval_() {
	eval "${TEST_TRACE:+set -x;} $1"
}

test_expect_success() {
	test_count=$((test_count + 1))
	test_cleanup=
	test_eval_ "$2" >"$TRASH/.out.$test_count" 2>&1 </dev/null
	result=$?
	{ set +x; } 2>/dev/null
	if [ -n "$test_cleanup" ]; then
		eval "$test_cleanup" >>"$TRASH/.out.$test_count" 2>&1 </dev/null ||
			result=1
	fi
	test_kill_bg
	cd "$TRASH" || exit 1
	if [ $result -eq 0 ]; then
		say "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		say "not ok $test_count - $1"
		tail -n 60 "$TRASH/.out.$test_count" | sed 's/^/#    /' >&2
	fi
}

test_done() {
	trap - EXIT
	say "1..$test_count"
	if [ $test_failed -eq 0 ]; then
		[ -n "${TEST_KEEP:-}" ] || { cd "$TEST_DIR" && rm -rf "$TRASH"; }
		exit 0
	fi
	diag "failed $test_failed of $test_count; scratch kept in $TRASH"
	exit 1
}

# --- helpers for cases -------------------------------------------------

test_cmp() {
	cmp "$1" "$2" || { diff -u "$1" "$2" | head -40; return 1; }
}

# Succeeds when "$@" fails normally (exit 1..125), not by a signal.
test_must_fail() {
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		say "test_must_fail: '$*' succeeded"; return 1
	elif [ $rc -gt 125 ]; then
		say "test_must_fail: '$*' died with $rc"; return 1
	fi
	return 0
}

# expect_status N command...: the command exits with exactly N.
expect_status() {
	want=$1; shift
	"$@"
	rc=$?
	[ $rc -eq "$want" ] || { say "expected exit $want from '$*', got $rc"; return 1; }
}

# A TCP port free on 127.0.0.1 at the time of asking.
free_port() {
	tl-freeport
}

# kill_tree PID: SIGKILL to PID and every process under it (a script
# that started a pipeline of its own, when it did not stop it itself).
kill_tree() {
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill -KILL "$1" 2>/dev/null
	return 0
}

# three_ports: three different free ports in port1, port2, port3, for
# programs started together (nothing listens yet to keep them apart).
three_ports() {
	for _n in 1 2 3 4 5 6 7 8 9 10; do
		port1=$(free_port) && port2=$(free_port) &&
		port3=$(free_port) || return 1
		[ $port1 != $port2 ] && [ $port2 != $port3 ] &&
			[ $port1 != $port3 ] && return 0
	done
	say "no three different free ports"; return 1
}

# need_browser: Chromium, node and playwright-core, or bail out: the page
# is part of the product and its tests are never skipped.
need_browser() {
	BROWSER_DIR=$TEST_DIR/browser
	CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
	export CHROMIUM
	if ! [ -x "$CHROMIUM" ] || ! command -v node >/dev/null 2>&1 ||
	    ! [ -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
		say "Bail out! chromium, node or playwright-core missing:" \
			"run scripts/install-deps"
		trap - EXIT
		exit 1
	fi
}

# Wait (bounded, 10 s) until something accepts on 127.0.0.1:$1.
wait_port() {
	n=0
	while [ $n -lt 100 ]; do
		tl-freeport --check "$1" && return 0
		sleep 0.1; n=$((n + 1))
	done
	say "nothing listening on port $1"; return 1
}

# Wait (bounded: $2 tenths of a second, default 100) until file $1 holds
# a line matching the extended regular expression $3 (or exists).
wait_for() {
	n=0; lim=${3:-100}
	while [ $n -lt "$lim" ]; do
		if [ $# -ge 2 ] && [ -n "$2" ]; then
			grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		else
			[ -e "$1" ] && return 0
		fi
		sleep 0.1; n=$((n + 1))
	done
	say "timed out waiting for '${2:-}' in $1"; return 1
}

# wer REF HYP [DECIMALS]: word error rate of HYP against REF, in percent
wer() {
	awk -v ref="$1" -v hyp="$2" -v dec="${3:-0}" -f "$TEST_DIR/wer.awk"
}

# say_ul VOICE TEXT OUT.ul: TEXT spoken by flite's VOICE over the phone
# path (8 kHz mu-law, raw), then a second of silence so that the end of
# speech is heard.  Leaves tmp.wav.
say_ul() {
	flite -voice "$1" -t "$2" -o tmp.wav &&
	sox tmp.wav -r 8000 -c 1 -e u-law -t raw "$3" 2>/dev/null &&
	head -c 8000 /dev/zero | tr '\0' '\377' >>"$3"
}

# say_lines VOICE FILE OUT.wav: each line of FILE spoken by flite's VOICE,
# with 0.8 s of silence before, between and after (16 kHz); leaves the
# silence in sil.wav and line N alone in sN.wav
say_lines() {
	sox -R -n -r 16000 -c 1 sil.wav trim 0 0.8 &&
	_n=0 && _parts="sil.wav" &&
	while read -r _line; do
		_n=$((_n + 1)) &&
		flite -voice "$1" -t "$_line" -o s$_n.wav &&
		_parts="$_parts s$_n.wav sil.wav" || return 1
	done <"$2" &&
	sox -R $_parts "$3"
}

# words_found "REFERENCE" FILE: how many of the reference words FILE
# holds, in any case, punctuation aside
words_found() {
	_hyp=" $(tr 'A-Z' 'a-z' <"$2" | tr -cs "a-z0-9'" ' ') "
	_n=0
	for _w in $1; do
		case $_hyp in *" $_w "*) _n=$((_n + 1)) ;; esac
	done
	echo $_n
}

# start_server [options]: tw-mediasrv on a free port; its stdout in
# srv.out, stderr in srv.err; sets port, srv_pid and URL.
start_server() {
	port=$(free_port) &&
	run_bg tw-mediasrv --listen 127.0.0.1:$port "$@" >srv.out 2>srv.err &&
	srv_pid=$! &&
	wait_port $port &&
	URL=ws://127.0.0.1:$port/media
}

# stop_server: SIGTERM; it must exit 0 once its output is written.
stop_server() {
	kill -TERM $srv_pid &&
	wait $srv_pid &&
	test_bg_pids=$(echo $test_bg_pids | tr " " "\n" | grep -vx $srv_pid || :)
}
