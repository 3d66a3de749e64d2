# Media NDJSON from bytes: reads `od -An -v -tu1` output, writes one
# Twilio media line per chunk.  Variables (-v):
#   sid, track     streamSid and media.track (required)
#   size           bytes per chunk (160); "80,240" cycles through sizes
#   t0             timestamp of the first chunk, ms (0)
#   drop, dup, swap  chunk numbers (from 0, space-separated) to leave out,
#                  to send twice, or to send after the next one
#   jitter         add a fixed pattern of -J..+J ms to each timestamp
#   shift          "N:MS": from chunk N on, timestamps move by MS
BEGIN {
	b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if (size == "") size = "160"
	nsizes = split(size, sizes, ",")
	n = 0; c = 0; pos = 0; held = ""
	split(drop, a, " "); for (k in a) dropset[a[k]] = 1
	split(dup, a, " "); for (k in a) dupset[a[k]] = 1
	split(swap, a, " "); for (k in a) swapset[a[k]] = 1
	if (shift != "") { split(shift, a, ":"); shift_at = a[1]; shift_ms = a[2] }
	want = sizes[1] + 0
}
function ch(v) { return substr(b64, v % 64 + 1, 1) }
function enc(   i, s, v) {
	s = ""
	for (i = 0; i + 2 < n; i += 3) {
		v = buf[i] * 65536 + buf[i + 1] * 256 + buf[i + 2]
		s = s ch(int(v / 262144)) ch(int(v / 4096)) ch(int(v / 64)) ch(v)
	}
	if (n - i == 1) {
		v = buf[i] * 65536
		s = s ch(int(v / 262144)) ch(int(v / 4096)) "=="
	} else if (n - i == 2) {
		v = buf[i] * 65536 + buf[i + 1] * 256
		s = s ch(int(v / 262144)) ch(int(v / 4096)) ch(int(v / 64)) "="
	}
	return s
}
function chunk(   ts, line) {
	ts = (t0 + 0) + pos / 8
	if (jitter != "") ts += (c * 5) % (2 * jitter + 1) - jitter
	if (shift != "" && c >= shift_at + 0) ts += shift_ms
	if (ts < 0) ts = 0
	ts = int(ts)
	line = sprintf("{\"event\":\"media\",\"sequenceNumber\":\"%d\",\"media\":{\"track\":\"%s\",\"chunk\":\"%d\",\"timestamp\":\"%d\",\"payload\":\"%s\"},\"streamSid\":\"%s\"}", c + 2, track, c + 1, ts, enc(), sid)
	if (!(c in dropset)) {
		if (c in swapset) {
			held = line
		} else {
			print line
			if (c in dupset) print line
			if (held != "") { print held; held = "" }
		}
	}
	pos += n; n = 0; c++
	want = sizes[c % nsizes + 1] + 0
}
{
	for (i = 1; i <= NF; i++) {
		buf[n++] = $i
		if (n == want) chunk()
	}
}
END {
	if (n > 0) chunk()
	if (held != "") print held
}
