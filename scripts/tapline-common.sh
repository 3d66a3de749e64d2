# tapline-common.sh: what the tapline-* scripts share.  Sourced, not run.
#
# Finds the programs and the page: in a source tree (the scripts/ folder
# beside a Makefile) they are built first if need be and taken from the
# build folder; installed, they are beside the script and the page under
# share/tapline.  TAPLINE_BIN, when set, names the folder of programs.

TAPLINE_VERSION=0.1.0

msg() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { msg "$*"; exit 1; }

# tapline_setup: PATH gets the programs; TAPLINE_WEB the page.
tapline_setup() {
	here=$(cd "$(dirname "$0")" && pwd)
	top=${here%/scripts}
	if [ -z "${TAPLINE_BIN:-}" ] && [ "$top" != "$here" ] &&
	   [ -f "$top/Makefile" ] && [ -d "$top/cmd" ]; then
		if [ -z "${TAPLINE_NO_BUILD:-}" ]; then
			make -s -C "$top" all >&2 ||
				die "cannot build the programs in '$top'"
		fi
		TAPLINE_BIN=$top/build/bin
		: "${TAPLINE_WEB:=$top/web}"
	fi
	if [ -n "${TAPLINE_BIN:-}" ]; then
		PATH=$TAPLINE_BIN:$here:$PATH
	else
		PATH=$here:$PATH
		: "${TAPLINE_WEB:=${here%/bin}/share/tapline/web}"
	fi
	export PATH TAPLINE_WEB
}

# load_config FILE: KEY=VALUE lines (the format of systemd's
# EnvironmentFile too), exported.  Variables already set in the
# environment win over the file.
load_config() {
	[ -r "$1" ] || die "cannot read '$1'"
	_keys=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)=.*/\2/p' "$1")
	_saved=
	for _k in $_keys; do
		if eval "[ -n \"\${$_k+set}\" ]"; then
			_saved="$_saved $_k"
			eval "_keep_$_k=\$$_k"
		fi
	done
	set -a
	# shellcheck disable=SC1090
	. "$1"
	set +a
	for _k in $_saved; do
		eval "$_k=\$_keep_$_k; unset _keep_$_k"
	done
	unset _keys _saved _k
}

# port_of ADDR:PORT, host_of ADDR:PORT ([v6]:port too)
port_of() { printf '%s\n' "${1##*:}"; }
host_of() {
	_h=${1%:*}
	_h=${_h#[}
	printf '%s\n' "${_h%]}"
}

# wait_listen ADDR:PORT SECONDS NAME PID: until something accepts there
wait_listen() {
	_n=$(($2 * 10))
	while ! nc -z "$(host_of "$1")" "$(port_of "$1")" 2>/dev/null; do
		kill -0 "$4" 2>/dev/null || die "$3 did not start"
		_n=$((_n - 1))
		[ $_n -gt 0 ] || die "$3 did not listen on $1 in $2 s"
		sleep 0.1
	done
}

# url_host ADDR:PORT: the address as it goes in a URL
url_host() {
	case $1 in
	0.0.0.0:*) printf '127.0.0.1:%s\n' "$(port_of "$1")" ;;
	\[::\]:*) printf '[::1]:%s\n' "$(port_of "$1")" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# The conventions of tapline(7) for --version and for usage errors.
print_version() {
	printf '%s (tapline) %s\n' "$prog" "$TAPLINE_VERSION" 2>/dev/null ||
		die "cannot write the version: No space left on device"
	exit 0
}
usage_error() {
	msg "$*"
	echo "Try '$prog --help' for more information." >&2
	exit 2
}

# follow_start FILE BYTE VIEW-OPTIONS...: show FILE from BYTE (1 = the
# start) on, as it grows, with tapline-view.  The follower (tail -f) and
# the view are separate processes joined by a FIFO, with their PIDs in
# follow_tail and follow_view, so each can be waited for or stopped on
# its own (a pipeline started with & is one job: waiting for its last
# process would wait for tail -f too).  Both ignore SIGINT: Ctrl-C is the
# script's to handle (it may want the last words shown), and tail ends
# when the script does.  follow_stop ends both.
follow_start() {
	_ff=$(mktemp -u "${TMPDIR:-/tmp}/tapline-follow.XXXXXX") &&
	mkfifo -m 600 "$_ff" || die "cannot make a FIFO"
	_file=$1 _from=$2
	shift 2
	(trap '' INT; exec tail -c "+$_from" -f --pid=$$ "$_file") \
		2>/dev/null >"$_ff" &
	follow_tail=$!
	(trap '' INT; exec tapline-view "$@") <"$_ff" &
	follow_view=$!
}
follow_stop() {
	[ -n "${follow_view:-}" ] && kill "$follow_view" 2>/dev/null
	[ -n "${follow_tail:-}" ] && kill "$follow_tail" 2>/dev/null
	[ -n "${follow_view:-}" ] && wait "$follow_view" 2>/dev/null
	[ -n "${follow_tail:-}" ] && wait "$follow_tail" 2>/dev/null
	[ -n "${_ff:-}" ] && rm -f "$_ff"
	follow_view= follow_tail= _ff=
}
