#!/bin/bash
# What a CONFIG may carry is bounded, whoever sends it: a test isp with
# valid credentials that serves 4097 allow rules, or sends 65 rule files,
# is refused (GOAWAY 6, with the reason in the esp's log), where 4096
# rules and 64 files are taken; a CONFIG larger than a frame (64 KiB)
# ends the session. The isp itself refuses, at -t, a policy or a rule
# file too large for one CONFIG frame, and a rule file name the esp
# would refuse.
. "$(dirname "$0")/../lib.sh"
ROGUE=$TOP/build/tests/policy/rogue_isp
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make tests)"

write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1
SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
isp_conf "$T/rogue.conf"

# rules N: an allow list of N distinct /32 rules.
rules() {
	python3 -c "import sys; n = int(sys.argv[1]); print(' '.join('127.%d.%d.%d/32' % (1 + i // 65536, i // 256 % 256, i % 256) for i in range(n)), end='')" "$1"
}
printf 'allow=%s\n' "$(rules 4096)" >"$T/allow-4096"
printf 'allow=%s\n' "$(rules 4097)" >"$T/allow-4097"
"$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" tick=50 "@$T/allow-4096" >"$T/r4096.log" 2>&1
grep -q '^done' "$T/r4096.log" || fail "4096 rules: $(cat "$T/r4096.log")"
grep -q 'isp "test-isp" serves 4096 allow rules' "$ESP_LOG" || fail "4096 rules were not taken"
"$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" tick=50 "@$T/allow-4097" >"$T/r4097.log" 2>&1
grep -q 'closed: .*goaway 6' "$T/r4097.log" || fail "4097 rules: $(cat "$T/r4097.log")"
grep -q 'isp "test-isp" refused: it serves more than 4096 allow rules' "$ESP_LOG" ||
	fail "no log line for 4097 rules"
ok "4096 allow rules taken, 4097 refused with GOAWAY 6"

# N rule files, each its own name and port.
files() {
	local n=$1 k=1 args="rules-reset\n"
	while [ $k -le "$n" ]; do
		printf 'rules-file=r%d.ini\n\n[service]\nports = %d\n\n[stderr]\ndirection = client-to-server\naction = server-connects\ndecode = implied\npattern = "\\A(?<port>[1-9][0-9]{0,4})\\x00"\nrewrite = "${new.port}\\0"\n' \
			"$k" $((20000 + k)) >"$T/rf$k"
		echo "@$T/rf$k"
		k=$((k + 1))
	done
}
n0=$(count_log "$ESP_LOG" 'rules "r[0-9]*\.ini" loaded')
# shellcheck disable=SC2046
"$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" tick=20 'rules-reset\n' $(files 64) >"$T/f64.log" 2>&1
grep -q '^done' "$T/f64.log" || fail "64 rule files: $(cat "$T/f64.log")"
[ $(($(count_log "$ESP_LOG" 'rules "r[0-9]*\.ini" loaded') - n0)) = 64 ] ||
	fail "64 rule files: $(($(count_log "$ESP_LOG" 'rules "r[0-9]*\.ini" loaded') - n0)) loaded; $(grep 'rule file' "$ESP_LOG" | tail -3)"
# shellcheck disable=SC2046
"$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" tick=20 'rules-reset\n' $(files 65) >"$T/f65.log" 2>&1
grep -q 'closed: too many rule files; goaway 6\|closed: .*goaway 6' "$T/f65.log" || fail "65 rule files: $(cat "$T/f65.log")"
grep -q "session with 127.0.0.1:[0-9]* .*too many rule files" "$ESP_LOG" ||
	grep -q "too many rule files" "$T/f65.log" || fail "no reason given for 65 rule files"
ok "64 rule files taken, the 65th refused with GOAWAY 6"

# A policy larger than one frame (5000 users, about 100 KB): the frame
# itself is refused, and the session with it.
python3 - "$T/users" <<'PY'
import sys
lines = ["policy", "anonymous\t1\t0\t*\t127.0.0.1/32"]
lines += ["user\tu%d\t0\t*\tnone" % i for i in range(5000)]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
[ "$(wc -c <"$T/users")" -gt 65536 ] || fail "the policy file is not larger than a frame"
"$ROGUE" "$T/rogue.conf" "127.0.0.1:$SESSION_PORT" tick=50 "@$T/users" >"$T/u.log" 2>&1
grep -q '^closed: ' "$T/u.log" || fail "a frame of $(wc -c <"$T/users") bytes: $(cat "$T/u.log")"
grep -q "session with 127.0.0.1:[0-9]* failed: .*frame" "$ESP_LOG" || fail "no log line for the oversized frame: $(tail -3 "$ESP_LOG")"
grep -q "policy: 5000 users" "$ESP_LOG" && fail "the esp took a policy larger than a frame"
ok "a CONFIG of $(wc -c <"$T/users") bytes ends the session: $(grep -o 'failed: .*frame.*' "$ESP_LOG" | tail -1)"

# The isp refuses what it could not send.
python3 - "$T/big-isp.conf" "$T/rogue.conf" "$(pwhash pw)" <<'PY'
import sys
base = open(sys.argv[2]).read()
users = "".join("[user user%05d]\npassword = %s\nallow = 10.%d.%d.0/24:1-65535\n" % (i, sys.argv[3], i // 256, i % 256) for i in range(3000))
open(sys.argv[1], "w").write(base + "[policy]\nanonymous = no\n" + users)
PY
"$BIN/isp" -t -c "$T/big-isp.conf" >"$T/big.out" 2>&1 && fail "isp -t took a policy too large to send: $(cat "$T/big.out")"
grep -q "the policy is too large for the esp: [0-9]* bytes, at most 65536 in one CONFIG frame" "$T/big.out" ||
	fail "isp -t on a large policy: $(cat "$T/big.out")"
ok "isp -t: $(head -1 "$T/big.out")"

# A rule file too large for one frame, or with a name the esp refuses.
mkdir -p "$T/bigrules" "$T/longrules"
{ cat "$TOP/rules/rsh.ini"; for i in $(seq 1200); do echo "; padding line $i of a rule file larger than one CONFIG frame"; done; } >"$T/bigrules/rsh.ini"
[ "$(wc -c <"$T/bigrules/rsh.ini")" -gt 65536 ] || fail "the padded rule file is not larger than a frame"
long=$(printf 'r%.0s' $(seq 205))
cp "$TOP/rules/rsh.ini" "$T/longrules/$long.ini"
for d in bigrules longrules; do
	sed "s|^\[isp\]|[isp]\nrules = $T/$d|" "$T/rogue.conf" >"$T/$d.conf"
	"$BIN/isp" -t -c "$T/$d.conf" >"$T/$d.out" 2>&1 && fail "isp -t took $d: $(cat "$T/$d.out")"
done
grep -q "\[isp\] rules: rsh.ini is too large for the esp: [0-9]* bytes, at most 65536 in one CONFIG frame" "$T/bigrules.out" ||
	fail "isp -t on a large rule file: $(cat "$T/bigrules.out")"
grep -q "\[isp\] rules: $long.ini: a name longer than 200 bytes, which the esp refuses" "$T/longrules.out" ||
	fail "isp -t on a long rule file name: $(cat "$T/longrules.out")"
ok "isp -t: a rule file over 64 KiB, and one with a 209-byte name, refused"
