#!/bin/bash
# Every manual page passes mandoc's lint with no warning, and every
# option the programs' --help names is in their manual.
. "$(dirname "$0")/../lib.sh"
need_cmd mandoc
for f in "$TOP"/docs/*.[158]; do
	out=$(mandoc -Tlint -W warning "$f" 2>&1)
	[ -z "$out" ] || fail "mandoc -Tlint: $out"
done
ok "mandoc -Tlint -W warning: $(ls "$TOP"/docs/*.[158] | wc -l) pages clean"
for p in esp isp; do
	for o in $("$BIN/$p" --help | grep -o '^  -[A-Za-z]' | tr -d ' -'); do
		grep -q "^\.It Fl $o\b" "$TOP/docs/$p.8" || fail "$p -$o is not in $p(8)"
	done
	ok "$p(8) documents every option of $p --help"
done
