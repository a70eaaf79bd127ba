#!/bin/bash
# The isp loads [isp] rules and runs their test vectors at -t and at start;
# a broken rule file is refused with file, section, key and reason; the esp
# receives the files over the session.
. "$(dirname "$0")/../lib.sh"

write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
mkdir -p "$T/rules"
cp "$TOP"/rules/*.ini "$T/rules/"
ISP_EXTRA="rules = $T/rules"
isp_conf "$T/isp.conf"
"$BIN/isp" -t -c "$T/isp.conf" >"$T/out" 2>&1 || fail "isp -t with the shipped rules: $(cat "$T/out")"
grep -Eq "^isp: $T/rules: 3 rule files, [0-9]+ test vectors passed$" "$T/out" || fail "isp -t said: $(cat "$T/out")"
ok "$(head -1 "$T/out")"

# A pattern that does not compile: PCRE2's message and offset.
sed 's/^pattern = "(?im)^\[ \\t\]\*+PORT/pattern = "(?im)^[ \\t]*+PORT(/' "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
"$BIN/isp" -t -c "$T/isp.conf" >"$T/out" 2>&1 && fail "isp -t accepted a broken pattern"
grep -q "isp.conf: \[isp\] rules: .*ftp.ini: \[port\] pattern: .*offset" "$T/out" || fail "broken pattern: $(cat "$T/out")"
ok "broken pattern: $(cat "$T/out")"

# An unknown key.
sed 's/^action = server-connects/actoin = server-connects/' "$TOP/rules/rsh.ini" >"$T/rules/rsh.ini"
cp "$TOP/rules/ftp.ini" "$T/rules/"
"$BIN/isp" -t -c "$T/isp.conf" >"$T/out" 2>&1 && fail "isp -t accepted an unknown key"
grep -q "rsh.ini: \[stderr\] actoin: unknown key" "$T/out" || fail "unknown key: $(cat "$T/out")"
ok "unknown key: $(cat "$T/out")"

# A vector that no longer matches its rule.
cp "$TOP/rules/rsh.ini" "$T/rules/"
sed 's/^test.1.decode = 132.235.1.2 6275/test.1.decode = 132.235.1.2 6276/' "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
"$BIN/isp" -t -c "$T/isp.conf" >"$T/out" 2>&1 && fail "isp -t accepted a failing vector"
grep -q "ftp.ini: \[port\] test.1.*expected .*6276.*got .*6275" "$T/out" || fail "failing vector: $(cat "$T/out")"
ok "failing vector: $(cat "$T/out")"

# The esp gets the isp's files when the session starts.
cp "$TOP"/rules/*.ini "$T/rules/"
pair_start
for f in ftp irc rsh; do
	wait_for_log "$ESP_LOG" "rules \"$f.ini\" loaded" 10
done
ok "the esp loaded ftp.ini, irc.ini and rsh.ini from the session"
