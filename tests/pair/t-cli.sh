#!/bin/bash
# The command lines admins expect: -V/--version and -h/--help on all three
# programs (to standard output, exit 0), and an unknown option refused
# with the usage on standard error (exit 1).
. "$(dirname "$0")/../lib.sh"
version=$(sed -n 's/^VERSION *= *//p' "$TOP/Makefile")
for p in esp isp sockhook; do
	for o in -V --version; do
		out=$("$BIN/$p" $o) || fail "$p $o: exit $?"
		[ "$out" = "$p (dynpass) $version" ] || fail "$p $o said: $out"
	done
	for o in -h --help; do
		out=$("$BIN/$p" $o 2>/dev/null) || fail "$p $o: exit $?"
		case $out in "usage: $p "*) ;; *) fail "$p $o said: $out" ;; esac
	done
	if "$BIN/$p" --no-such-option >"$T/out" 2>"$T/err"; then
		fail "$p accepted --no-such-option"
	fi
	[ ! -s "$T/out" ] && grep -q "^usage: $p " "$T/err" || fail "$p --no-such-option: $(cat "$T/out" "$T/err")"
	ok "$p: -V and --version print \"$p (dynpass) $version\"; -h and --help the usage; a bad option is refused"
done
