# Word error rate, in percent, of the words of file hyp against those of
# file ref (lower case, letters and apostrophes), by Levenshtein distance
# over words.  -v dec=N prints N decimals; by default a whole number.
#   awk -v ref=REF -v hyp=HYP [-v dec=1] -f tests/wer.awk
function load(f, a,    n, line, k, i, w) {
	n = 0
	while ((getline line < f) > 0) {
		line = tolower(line)
		gsub(/[^a-z' ]/, " ", line)
		k = split(line, w, " ")
		for (i = 1; i <= k; i++)
			a[++n] = w[i]
	}
	return n
}
BEGIN {
	nr = load(ref, r); nh = load(hyp, h)
	for (j = 0; j <= nh; j++) d[0, j] = j
	for (i = 1; i <= nr; i++) {
		d[i, 0] = i
		for (j = 1; j <= nh; j++) {
			c = d[i - 1, j - 1] + (r[i] != h[j])
			if (d[i - 1, j] + 1 < c) c = d[i - 1, j] + 1
			if (d[i, j - 1] + 1 < c) c = d[i, j - 1] + 1
			d[i, j] = c
		}
	}
	e = nr ? 100 * d[nr, nh] / nr : 100
	if (dec) printf("%." dec "f\n", e)
	else printf "%d\n", int(e + 0.5)
}
