# Check the structure of an SRT or WebVTT file, independently of
# ts-format: awk -v fmt=srt|vtt [-v chars=42 -v lines=2 -v ms=7000] -f cues.awk
# Cues numbered from 1 with no gap, one blank line between them, timings
# HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (VTT), each cue ending after it
# starts and starting no earlier than the one before ended, at most
# `lines` text lines of at most `chars` characters, at most `ms` long.
# Prints what is wrong and exits 1; prints "cues N" and exits 0 if not.

function fail(why) {
	printf "line %d: %s: %s\n", NR, why, $0
	bad = 1
	exit 1
}

function msec(t,	h, m, s, f) {
	split(t, h, ":")
	f = substr(h[3], 3, 1)
	if (f != sep)
		fail("separator '" f "' in a time, not '" sep "'")
	return ((h[1] * 60 + h[2]) * 60 + substr(h[3], 1, 2)) * 1000 + \
	    substr(h[3], 4, 3)
}

BEGIN {
	if (fmt != "srt" && fmt != "vtt") {
		print "fmt must be srt or vtt"; bad = 1; exit 1
	}
	sep = fmt == "srt" ? "," : "."
	chars = chars ? chars : 42
	lines = lines ? lines : 2
	ms = ms ? ms : 7000
	time = "^[0-9][0-9]+:[0-5][0-9]:[0-5][0-9][,.][0-9][0-9][0-9]$"
	state = fmt == "vtt" ? "header" : "number"
	n = 0
	prev_end = -1
}

state == "header" {
	if ($0 != "WEBVTT")
		fail("a WebVTT file starts with WEBVTT")
	state = "blank"
	next
}

state == "blank" {
	if ($0 != "")
		fail("a blank line was due")
	state = "number"
	next
}

state == "number" {
	if ($0 != n + 1)
		fail("cue number " n + 1 " was due")
	n++
	state = "timing"
	next
}

state == "timing" {
	if (NF != 3 || $2 != "-->" || $1 !~ time || $3 !~ time)
		fail("not a cue timing")
	start = msec($1)
	end = msec($3)
	if (end <= start)
		fail("cue ends before it starts")
	if (start < prev_end)
		fail("cue overlaps the one before")
	if (end - start > ms)
		fail("cue longer than " ms " ms")
	prev_end = end
	text = 0
	state = "text"
	next
}

state == "text" {
	if ($0 == "") {
		if (text == 0)
			fail("cue without text")
		state = "number"
		next
	}
	if (++text > lines)
		fail("more than " lines " lines in a cue")
	if ($0 ~ /-->/)
		fail("--> in cue text")
	t = $0
	if (fmt == "vtt") {
		sub(/^<v [^>]*>/, "", t)
		if (t ~ /[<>]/)
			fail("unescaped < or > in cue text")
		gsub(/&amp;/, "\\&", t)
		gsub(/&lt;/, "<", t)
		gsub(/&gt;/, ">", t)
	}
	if (length(t) > chars)
		fail("line longer than " chars " characters")
	if (t ~ /^ | $/)
		fail("space at the start or end of a line")
	next
}

END {
	if (bad)
		exit 1
	if (state == "timing" || state == "header" ||
	    (state == "text" && text == 0)) {
		print "file ends inside a cue"; exit 1
	}
	print "cues " n
}
