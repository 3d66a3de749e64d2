#!/bin/bash
test_description='every program follows the conventions of tapline(7)'
. "$(dirname "$0")/test-lib.sh"

PROGS="tw-mediasrv mulaw-split tw-simcall gstt-stream gstt-serve ts-broadcast
	ts-format tw-dial"
SCRIPTS="tapline-live tapline-demo tapline-dial tapline-view tapline-batch"

for p in $PROGS $SCRIPTS; do
	test_expect_success "$p --version names the program and tapline" "
		$p --version >out &&
		grep -Eq '^$p \(tapline\) [0-9]+\.[0-9]+\.[0-9]+\$' out
	"
	test_expect_success "$p --help prints usage on stdout, exits 0" "
		$p --help >out 2>err &&
		grep -q '^usage: $p' out &&
		test ! -s err
	"
	test_expect_success "$p: an unknown option is a usage error (2)" "
		expect_status 2 $p --no-such-option >out 2>err &&
		test ! -s out &&
		grep -q \"Try '$p --help'\" err
	"
	test_expect_success "$p: --version to a full disk fails (1)" "
		expect_status 1 $p --version >/dev/full 2>err &&
		grep -q 'cannot write' err
	"
	test_expect_success "$p has a man page that renders cleanly" "
		groff -ww -t -man -Tutf8 -P-cbou \"\$TOP/man/man1/$p.1\" >page 2>err &&
		test ! -s err &&
		grep -q 'SYNOPSIS' page &&
		grep -q 'EXIT STATUS' page
	"
done

test_expect_success 'tapline(7) renders cleanly' '
	groff -ww -t -man -Tutf8 -P-cbou "$TOP/man/man7/tapline.7" >page 2>err &&
	test ! -s err && grep -q "EVENTS NDJSON" page
'

test_expect_success 'make install puts programs, pages and the web dir' '
	(cd "$TOP" && make -s O="$TAPLINE_BUILD" DESTDIR="$TRASH/root" \
		PREFIX=/usr install) >/dev/null &&
	(for p in $PROGS $SCRIPTS; do
		test -x root/usr/bin/$p &&
		test -f root/usr/share/man/man1/$p.1 || exit 1
	done) &&
	test -f root/usr/share/man/man7/tapline.7 &&
	test -d root/usr/share/tapline/web &&
	test -f root/usr/share/tapline/tapline-common.sh
'
test_expect_success 'installed scripts run without the source tree' '
	env -i PATH="$TRASH/root/usr/bin:/usr/bin:/bin" \
		root/usr/bin/tapline-live --check >out &&
	grep -q "^tw-mediasrv --listen 127.0.0.1:8080 " out &&
	echo "{\"type\":\"transcript\",\"track\":\"inbound\",\"final\":true,\"text\":\"hi\",\"start\":61}" |
	env -i PATH="$TRASH/root/usr/bin:/usr/bin:/bin" \
		root/usr/bin/tapline-view >out &&
	echo "01:01 Caller: hi" >expect && test_cmp expect out
'

test_done
