#!/bin/bash
# The shipped systemd units let the daemons do what their manuals say.
# Each daemon runs here under its unit's CapabilityBoundingSet (setpriv)
# and RestrictAddressFamilies (a seccomp filter, tests/install/afonly):
#  - esp and isp start as root with only those capabilities, [daemon]
#    user nobody, read keys that belong to nobody (mode 600, as
#    README.Debian suggests), open [log] file and audit in a folder only
#    root may write (as LogsDirectory=), give them to nobody, carry a
#    transfer, and start again once those files are nobody's;
#  - the esp can read this host's addresses (reverse connections are
#    checked against them): no warning at start, and one without
#    AF_NETLINK, so the test can fail.
# (The agent's unit: tests/sockhook/agent/t-unit.sh.)
. "$(dirname "$0")/../lib.sh"
need_root
need_cmd setpriv curl python3
id nobody >/dev/null 2>&1 || skip "needs the user nobody"
AFONLY=$TOP/build/tests/install/afonly
[ -x "$AFONLY" ] || fail "$AFONLY is not built (make tests)"
UNITS=$TOP/etc/systemd

# unit_value NAME KEY: KEY's value in dynpass-NAME.service (the last one).
unit_value() { sed -n "s/^$2=//p" "$UNITS/dynpass-$1.service" | tail -1; }
# bounding NAME: the unit's capabilities, as setpriv --bounding-set.
bounding() {
	local c out=-all
	for c in $(unit_value "$1" CapabilityBoundingSet); do
		c=${c#CAP_}
		out="$out,+$(echo "$c" | tr 'A-Z' 'a-z')"
	done
	echo "$out"
}
# families NAME: the unit's address families, comma-separated.
families() { unit_value "$1" RestrictAddressFamilies | tr ' ' ','; }

for u in esp isp; do
	[ -n "$(unit_value $u CapabilityBoundingSet)" ] && [ -n "$(families $u)" ] ||
		fail "dynpass-$u.service: no CapabilityBoundingSet or RestrictAddressFamilies"
done
ESP_WRAP="setpriv --bounding-set=$(bounding esp) $AFONLY $(families esp)"
ISP_WRAP="setpriv --bounding-set=$(bounding isp) $AFONLY $(families isp)"
echo "esp under: $ESP_WRAP"

mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/blob"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
chmod 711 "$T"
mkdir -m 750 "$T/logs"
write_psk "$T/pair.psk"
chown nobody "$T/pair.psk"
DAEMON_TEXT="[daemon]
user  = nobody
group = nogroup"
ESP_EXTRA="[log]
file  = $T/logs/esp.log
audit = $T/logs/esp-audit.log
[esp]"
ISP_EXTRA="[log]
file  = $T/logs/isp.log
audit = $T/logs/isp-audit.log
[isp]"
ESP_LOG=$T/logs/esp.log ISP_LOG=$T/logs/isp.log

fetch() {
	curl -sS --fail --socks5-hostname "127.0.0.1:$SOCKS_PORT" -o "$T/got" \
		"http://127.0.0.1:$HTTP_PORT/blob" || fail "$1: curl failed"
	[ "$(sha "$T/got")" = "$(sha "$T/www/blob")" ] || fail "$1: SHA-256 differs"
}

pair_start
fetch "first start"
for f in esp.log esp-audit.log isp.log isp-audit.log; do
	[ "$(stat -c %U "$T/logs/$f")" = nobody ] || fail "$f belongs to $(stat -c %U "$T/logs/$f")"
done
grep -q "cannot read this host's addresses" "$ESP_LOG" && fail "the esp cannot read this host's addresses: $(grep addresses "$ESP_LOG")"
ok "under the units' capabilities and address families: both start, read a key of nobody's, give their logs to nobody, and carry 1 MiB"

kill "$ESP_PID" "$ISP_PID"
wait "$ESP_PID" "$ISP_PID" 2>/dev/null
pair_start
fetch "second start"
ok "and start again once their log and audit files are nobody's"

# Without AF_NETLINK the esp says at once what reverse connections lose.
kill "$ESP_PID" "$ISP_PID"
wait "$ESP_PID" "$ISP_PID" 2>/dev/null
ESP_WRAP="setpriv --bounding-set=$(bounding esp) $AFONLY AF_INET,AF_INET6,AF_UNIX"
esp_start
wait_for_log "$ESP_LOG" "cannot read this host's addresses \(Address family not supported by protocol\): reverse connections to SOCKS clients \(active FTP, DCC, rsh\) will be refused; a sandbox must allow AF_NETLINK" 10
ok "without AF_NETLINK the esp warns at start that reverse connections will be refused"
kill "$ESP_PID"
wait "$ESP_PID" 2>/dev/null

# Under systemd, standard error is the journal (JOURNAL_STREAM names it):
# each line starts with its priority, so `journalctl -p warning` finds
# the warnings, and carries no time of its own.
ESP_EXTRA="" DAEMON_TEXT="" SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port) esp_conf "$T/esp.conf"
ESP_LOG=$T/journal.log
: >"$ESP_LOG"
JOURNAL_STREAM=$(stat -c '%d:%i' "$ESP_LOG") esp_start
wait_for_log "$ESP_LOG" "^<6>esp\[info\]: esp .* started" 10
grep -q "^<4>esp\[warn\]: cannot read this host's addresses" "$ESP_LOG" || fail "no <4> warning: $(cat "$ESP_LOG")"
grep -v '^<[0-7]>esp\[' "$ESP_LOG" && fail "a line without its priority"
ok "on the journal's stream every line carries its priority (<4> warnings, <6> info) and no time stamp"
