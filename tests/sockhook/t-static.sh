#!/bin/bash
# The launcher warns when the program is statically linked (its
# connections bypass the hooks), and says nothing for a dynamic one.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
need_cmd cc
sh_need_build
printf '[sockhook]\nesp = 127.0.0.1:1\nroute = 10.0.0.0/8\n' >"$T/s.conf"
printf 'int main(void) { return 0; }\n' >"$T/p.c"
cc -static -o "$T/static" "$T/p.c" 2>/dev/null || skip "cc -static does not work here (no libc.a)"
cc -o "$T/dynamic" "$T/p.c" || fail "cc failed"

"$BIN/sockhook" -c "$T/s.conf" -- "$T/static" 2>"$T/err" || fail "static program did not run"
grep -q "^sockhook: warning: $T/static is statically linked" "$T/err" ||
    fail "no warning for a static program: $(cat "$T/err")"
ok "$(cat "$T/err")"
"$BIN/sockhook" -c "$T/s.conf" -- "$T/dynamic" 2>"$T/err" || fail "dynamic program did not run"
[ ! -s "$T/err" ] || fail "warning for a dynamic program: $(cat "$T/err")"
(cd "$T" && PATH=$T:$PATH "$BIN/sockhook" -c s.conf -- static 2>"$T/err") || fail "PATH lookup"
grep -q "statically linked" "$T/err" || fail "no warning when found through PATH"
ok "no warning for a dynamic program; PATH lookup warns too"
