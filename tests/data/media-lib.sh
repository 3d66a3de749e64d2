# Shell helpers for the mulaw-split tests (t20NN): make media NDJSON.
# Source after test-lib.sh.

ACCT=AC00000000000000000000000000000001

# media_lines SID TRACK FILE [-v VAR=VALUE]...: a media line per chunk of
# the raw mu-law FILE (see media.awk for the variables).
media_lines() {
	_sid=$1 _track=$2 _file=$3
	shift 3
	od -An -v -tu1 "$_file" |
	awk -v sid="$_sid" -v track="$_track" "$@" -f "$TEST_DATA/media.awk"
}

# start_line SID CALL [TRACKS_JSON [PARAMS_JSON]]
start_line() {
	printf '{"event":"start","sequenceNumber":"1","start":{"accountSid":"%s","streamSid":"%s","callSid":"%s","tracks":%s,"customParameters":%s,"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"%s"}\n' \
		"$ACCT" "$1" "$2" "${3:-[\"inbound\",\"outbound\"]}" \
		"${4:-{\}}" "$1"
}

# stop_line SID CALL
stop_line() {
	printf '{"event":"stop","sequenceNumber":"9999","stop":{"accountSid":"%s","callSid":"%s"},"streamSid":"%s"}\n' \
		"$ACCT" "$2" "$1"
}

# interleave A B: lines of A and B alternately (the longer one's rest at
# the end), as a live stream sends its two tracks.
interleave() {
	awk 'NR == FNR { a[++na] = $0; next } { b[++nb] = $0 }
	     END { for (i = 1; i <= na || i <= nb; i++) {
			if (i <= na) print a[i]
			if (i <= nb) print b[i] } }' "$1" "$2"
}

# by_time FILE...: media lines of several files in timestamp order, as
# they arrive live (ties keep the order of the files)
by_time() {
	jq -c -s "sort_by(.media.timestamp | tonumber)[]" "$@"
}

# stream SID CALL IN.ul OUT.ul: a whole call, both tracks, 160-byte chunks
stream() {
	media_lines "$1" inbound "$3" >"$1.in.media" &&
	media_lines "$1" outbound "$4" >"$1.out.media" &&
	{
		printf '{"event":"connected","protocol":"Call","version":"1.0.0"}\n'
		start_line "$1" "$2"
		interleave "$1.in.media" "$1.out.media"
		stop_line "$1" "$2"
	}
}

# tone FILE SECONDS FREQ: raw 8 kHz mu-law made by sox
tone() {
	sox -n -r 8000 -c 1 -t ul "$1" synth "$2" sine "$3" vol 0.5
}

# silence N: N bytes of mu-law silence (0xFF)
silence() {
	head -c "$1" /dev/zero | tr '\000' '\377'
}

# event TYPE FILE: the events of that type in an NDJSON file
events() {
	jq -c --arg t "$1" 'select(.type == $t)' "$2"
}
