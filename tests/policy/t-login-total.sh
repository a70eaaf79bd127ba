#!/bin/bash
# The esp's login limits hold in total, not only per address: with the
# per-address limits out of the way, 8 addresses logging in with wrong
# passwords at once get no more than login_rate (a bucket of 30, refilled
# at 30 a minute) checked by the isp's scrypt, and then "too many logins
# per minute"; with
# login_inflight = 2 they get "too many logins in progress". No refusal
# is put down to one address.
. "$(dirname "$0")/../lib.sh"
LOGINS="python3 $TESTS/tools/logins.py"
IM=$(free_port)
ALLOW="127.0.0.1/32:1"
ISP_EXTRA="[metrics]
listen = 127.0.0.1:$IM
[isp]"
ISP_SECTIONS="
[policy]
anonymous = no
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:1
"
PER_SOURCE="login_inflight_per_source = 10000
login_rate_per_source = 1000000"
ESP_EXTRA="$PER_SOURCE
login_inflight = 10000
login_rate = 30"
RECONNECT_MAX=1s
pair_start
wait_for_log "$ESP_LOG" "policy: 1 users, anonymous refused" 10

# hashes RESULT: scrypt checks the isp ran, with that result.
hashes() { metric "$IM" "dynpass_password_hashes_total{result=\"$1\"}"; }
# flood SECONDS: 8 addresses, 6 clients each, wrong passwords; total attempts.
flood() {
	local a
	for a in 2 3 4 5 6 7 8 9; do
		nice -n 19 $LOGINS flood "$SOCKS_PORT" "127.0.0.$a" alice wrong-guess 6 "$1" >"$T/flood-$a.out" &
	done
	wait
	cat "$T"/flood-*.out | awk '{ n += $2; ok += $4 } END { print n, ok }'
}

h0=$(hashes refused)
set -- $(flood 3)
h1=$(hashes refused)
echo "rate: $1 attempts, $2 accepted; the isp checked $((h1 - h0))"
[ "$2" = 0 ] || fail "a wrong password was accepted"
[ "$1" -gt 60 ] || fail "the flood made only $1 attempts"
# A bucket of 30, refilled at 30 a minute: 30, and 1.5 more in 3 s.
[ $((h1 - h0)) -le 32 ] || fail "the isp checked $((h1 - h0)) logins in 3 s, over login_rate = 30 a minute"
[ $((h1 - h0)) -ge 20 ] || fail "the isp checked only $((h1 - h0)) logins: the limit is not what stopped them"
grep -q 'login failed for user "alice": too many logins per minute\( (\| *$\)' "$ESP_LOG" ||
	fail "no log line for the total rate: $(grep 'login failed' "$ESP_LOG" | sort | uniq -c | head -3)"
grep -q "from this address" "$ESP_LOG" && fail "a refusal was put down to one address"
ok "login_rate in total: $1 attempts from 8 addresses, $((h1 - h0)) checked by the isp, the rest refused"

# Now in flight: at most 2 at once, from all addresses together.
kill "$ESP_PID"
wait "$ESP_PID" 2>/dev/null
ESP_EXTRA="$PER_SOURCE
login_inflight = 2
login_rate = 10000000"
esp_conf "$T/esp.conf"
ESP_LOG=$T/esp2.log
esp_start
wait_for_log "$ESP_LOG" "policy: 1 users, anonymous refused" 15
set -- $(flood 3)
echo "in flight: $1 attempts, $2 accepted"
[ "$2" = 0 ] || fail "a wrong password was accepted"
grep -q 'login failed for user "alice": too many logins in progress\( (\| *$\)' "$ESP_LOG" ||
	fail "no log line for the total in flight: $(grep 'login failed' "$ESP_LOG" | sort | uniq -c | head -3)"
grep -q "from this address" "$ESP_LOG" && fail "a refusal was put down to one address"
limited=$(count_log "$ESP_LOG" 'audit ts=[^ ]* event=refusal side=esp .*end="login refused: rate limit"')
[ "$limited" -ge 10 ] || fail "only $limited logins were limited"
ok "login_inflight in total: $1 attempts from 8 addresses, $limited refused by the limits"
