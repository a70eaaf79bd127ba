#!/bin/bash
# SIGHUP: a policy change takes effect for new channels while a 100 MiB
# transfer under way completes intact; a broken policy is refused and the
# old one keeps working. Remembered passwords outlive a reload that keeps
# their hash (no scrypt run again), and not one that changes it.
. "$(dirname "$0")/../lib.sh"
PEER="python3 $TESTS/tools/peer.py"

mkdir -p "$T/a" "$T/b"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/a/big"
echo b >"$T/b/f"
http_start "$T/a"
PA=$HTTP_PORT
http_start "$T/b"
PB=$HTTP_PORT
HA=$(pwhash alice-secret) HB=$(pwhash bob-secret)
users() { # ALICE_ALLOW BOB_ALLOW
	ISP_SECTIONS="
[user alice]
password = $HA
allow = $1
[user bob]
password = $HB
allow = $2
"
}
users "127.0.0.1/32:$PA" "127.0.0.1/32:$PB"
IM=$(free_port)
ISP_EXTRA="[metrics]
listen = 127.0.0.1:$IM
[isp]"
pair_start
# hashes RESULT: how many password checks ran scrypt, with that result.
hashes() { metric "$IM" "dynpass_password_hashes_total{result=\"$1\"}"; }

# 10 s at 10 MiB/s: long enough to outlast the checks below, even under
# the sanitizers, where the logins they make are slower.
curl -sS --fail --max-time 120 --limit-rate 10M --proxy "socks5h://alice:alice-secret@127.0.0.1:$SOCKS_PORT" \
	-o "$T/out" "http://127.0.0.1:$PA/big" 2>"$T/curl.err" &
cpid=$!
sleep 1
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" alice alice-secret)" = 2 ] || fail "alice reached B before the reload"
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" bob bob-secret)" = 0 ] || fail "bob could not reach B before the reload"
h1=$(hashes ok)
[ "$h1" -ge 2 ] || fail "the isp counts $h1 scrypt checks for the logins of alice and bob"

# New policy: alice may reach A and B, bob nothing.
users "127.0.0.1/32:$PA,$PB" "127.0.0.1/32:1"
isp_conf "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reloaded .*isp.conf: 2 users" 10
for i in $(seq 50); do [ "$(count_log "$ESP_LOG" "policy: 2 users")" -ge 2 ] && break; sleep 0.1; done
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" alice alice-secret)" = 0 ] || fail "alice cannot reach B after the reload"
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" bob bob-secret)" = 2 ] || fail "bob still reaches B after the reload"
kill -0 "$cpid" 2>/dev/null || fail "the transfer ended before the reload was checked"
ok "new policy applies to new channels while the transfer runs"
h2=$(hashes ok)
[ "$h2" = "$h1" ] || fail "logins after a reload with the same hashes ran scrypt again: $h1 checks before, $h2 after"
ok "alice's and bob's passwords remembered across the reload ($h1 scrypt checks before and after)"
wait "$cpid" || fail "transfer across the reload: $(cat "$T/curl.err")"
[ "$(sha "$T/out")" = "$(sha "$T/a/big")" ] || fail "transfer across the reload: SHA-256 differs"
ok "the 100 MiB transfer under way completed intact"

# A broken policy is refused; the running one stays.
sed -i "s/^password = $(printf '%s' "$HA" | sed 's/[$/]/\\&/g')/password = not-a-hash/" "$T/isp.conf"
grep -q "password = not-a-hash" "$T/isp.conf" || fail "could not break the config"
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reload failed: .*isp.conf: \[user alice\] password: not a password hash.*keeping the running configuration" 10
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" alice alice-secret)" = 0 ] || fail "the old policy stopped working"
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" bob bob-secret)" = 2 ] || fail "the old policy changed"
ok "broken policy refused on SIGHUP: $(grep -o 'reload failed: .*' "$ISP_LOG" | head -1 | cut -c1-150)"

# bob's password changes: his remembered one goes, alice's stays.
HB=$(pwhash bob-renewed)
users "127.0.0.1/32:$PA,$PB" "127.0.0.1/32:$PB"
isp_conf "$T/isp.conf"
r1=$(hashes refused) h3=$(hashes ok)
kill -HUP "$ISP_PID"
wait_for_count "$ISP_LOG" "reloaded .*isp.conf: 2 users" 2 10
for i in $(seq 50); do [ "$(count_log "$ESP_LOG" "policy: 2 users")" -ge 3 ] && break; sleep 0.1; done
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" bob bob-secret 2>&1)" = "login: refused (0101)" ] ||
	fail "bob's old password still works after it changed: $($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" bob bob-secret 2>&1)"
[ "$(hashes refused)" -gt "$r1" ] || fail "bob's old password was not checked by scrypt after it changed"
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" bob bob-renewed)" = 0 ] || fail "bob's new password does not work"
[ "$($PEER reply "$SOCKS_PORT" 127.0.0.1 "$PB" alice alice-secret)" = 0 ] || fail "alice cannot reach B after the second reload"
[ "$(hashes ok)" = $((h3 + 1)) ] || fail "expected one scrypt check (bob's new password), not $(($(hashes ok) - h3))"
ok "a changed password is forgotten: bob's old one refused by scrypt, his new one checked once, alice's still remembered"
