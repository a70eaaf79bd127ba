#!/bin/bash
# The esp and the isp raise their soft limit on open files to the hard
# one at start (systemd units set LimitNOFILE=65536), so that a busy pair
# is not held to a shell's default of 1024 descriptors.
. "$(dirname "$0")/../lib.sh"
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -gt 512 ] || skip "the hard limit on open files is $hard"
ulimit -Sn 512
pair_start
soft() { awk '/^Max open files/ {print $4}' "/proc/$1/limits"; }
want=$(awk '/^Max open files/ {print $5}' "/proc/$ESP_PID/limits")
[ "$(soft "$ESP_PID")" = "$want" ] || fail "esp: soft limit $(soft "$ESP_PID"), hard $want"
[ "$(soft "$ISP_PID")" = "$want" ] || fail "isp: soft limit $(soft "$ISP_PID"), hard $want"
[ "$want" != 512 ] || fail "the hard limit is 512"
ok "started with a soft limit of 512 open files, the esp and the isp run with $want (the hard limit)"
for u in isp esp agent; do
	grep -qx 'LimitNOFILE=65536' "$TOP/etc/systemd/dynpass-$u.service" ||
		fail "dynpass-$u.service sets no LimitNOFILE"
done
