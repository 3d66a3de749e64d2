#!/bin/sh
# Replay every fuzz target over its committed corpus (tests/fuzz/corpus/
# NAME), so inputs that once crashed stay fixed.  Prints TAP.
dir=$(cd "$(dirname "$0")" && pwd)
bin=${TAPLINE_FUZZ:-$dir/../../build/fuzz}
n=0
for src in "$dir"/fuzz-*.c; do n=$((n + 1)); done
echo "1..$n"
i=0
for src in "$dir"/fuzz-*.c; do
	i=$((i + 1))
	name=$(basename "$src" .c)
	corpus=$dir/corpus/${name#fuzz-}
	if [ ! -x "$bin/$name" ]; then
		echo "not ok $i - $name: not built (make fuzz)"
		continue
	fi
	if [ -z "$(ls "$corpus" 2>/dev/null)" ]; then
		echo "not ok $i - $name: empty corpus $corpus"
		continue
	fi
	if out=$("$bin/$name" "$corpus"/* 2>&1); then
		echo "ok $i - $name over $(ls "$corpus" | wc -l) inputs"
	else
		echo "not ok $i - $name"
		printf '%s\n' "$out" | tail -30 | sed 's/^/# /' >&2
	fi
done
