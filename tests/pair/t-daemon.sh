#!/bin/bash
# Running as a service. With [daemon] user and group the daemons bind,
# read their keys, then become that user, with no capability left, and
# still carry a transfer; as root without allow_root they refuse to go
# on; an unknown user is a -t error. They tell systemd READY=1 once
# serving, RELOADING=1 then READY=1 around a reload, STOPPING=1 when
# draining (sd_notify's datagrams, read here from $NOTIFY_SOCKET).
. "$(dirname "$0")/../lib.sh"
need_root
need_cmd curl python3
id nobody >/dev/null 2>&1 || skip "needs the user nobody"
mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/blob"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"

# A listener for sd_notify's datagrams.
cat >"$T/notify.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)  # the daemons send as nobody, as to systemd's
print("bound", flush=True)
while True:
    print(s.recv(4096).decode(), flush=True)
PY
chmod 711 "$T"
mkdir -m 755 "$T/run"
bg_start "$T/notify.log" python3 "$T/notify.py" "$T/run/notify.sock"
wait_for_log "$T/notify.log" bound 10
export NOTIFY_SOCKET=$T/run/notify.sock

DAEMON_TEXT="[daemon]
user  = nobody
group = nogroup"
# The isp logs to a file and audits to another, both made by root at
# start in a folder nobody may not write in (as /var/log/dynpass).
mkdir -m 755 "$T/logs"
ISP_EXTRA="[log]
file  = $T/logs/isp.log
audit = $T/logs/isp-audit.log
[isp]"
ISP_LOG=$T/logs/isp.log
pair_start
wait_for_log "$T/notify.log" "^READY=1" 10
wait_for_count "$T/notify.log" '^READY=1' 2 10
[ "$(grep -c '^READY=1' "$T/notify.log")" = 2 ] || fail "esp and isp did not both say READY=1: $(cat "$T/notify.log")"
ok "esp and isp told systemd READY=1 once serving"
for pid in "$ESP_PID" "$ISP_PID"; do
	uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
	gid=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
	groups=$(awk '/^Groups:/ {print $2}' "/proc/$pid/status")
	cap=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
	[ "$uid" = "65534 65534 65534 65534" ] || fail "pid $pid uid: $uid"
	[ "$gid" = "65534 65534 65534 65534" ] || fail "pid $pid gid: $gid"
	[ "$groups" = 65534 ] || fail "pid $pid groups: $groups"
	[ "$cap" = 0000000000000000 ] || fail "pid $pid capabilities: $cap"
done
grep -q "esp .* started (pre-shared key, as user nobody)" "$ESP_LOG" || fail "the esp did not say whom it runs as"
curl -sS --fail --socks5-hostname "127.0.0.1:$SOCKS_PORT" -o "$T/got" "http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "a transfer through the pair running as nobody failed"
[ "$(sha "$T/got")" = "$(sha "$T/www/blob")" ] || fail "SHA-256 differs"
ok "both run as nobody:nogroup with no capability, and carry a transfer (SHA-256 matches)"

n=$(wc -l <"$T/notify.log")
kill -HUP "$ISP_PID"
for i in $(seq 100); do
	[ "$(tail -n +$((n + 1)) "$T/notify.log" | tr '\n' ' ')" = "RELOADING=1 READY=1 " ] && break
	sleep 0.1
done
[ "$(tail -n +$((n + 1)) "$T/notify.log" | tr '\n' ' ')" = "RELOADING=1 READY=1 " ] ||
	fail "reload: $(tail -n +$((n + 1)) "$T/notify.log")"
ok "the isp's reload: RELOADING=1, then READY=1"
# Its key is root's alone (0600): the reload keeps the running one, says
# so, and applies the rest.
[ "$(stat -c '%U %a' "$T/pair.psk")" = "root 600" ] || fail "the key is not root's, 0600"
wait_for_log "$ISP_LOG" "reload: TLS credentials not applied, the running ones stay: \[tls\] psk_file: $T/pair.psk: Permission denied as uid 65534" 5
wait_for_log "$ISP_LOG" "reloaded $T/isp.conf: 0 users, anonymous allowed, 0 rule files; the esp list for new sessions" 5
ok "a root-only key on reload: $(grep -o 'reload: TLS.*' "$ISP_LOG" | head -1)"

# Rotation as logrotate does it (move, create as root, HUP): the files
# were given to nobody at the drop, so the isp reopens the new ones.
[ "$(stat -c %U "$T/logs/isp.log") $(stat -c %U "$T/logs/isp-audit.log")" = "nobody nobody" ] ||
	fail "the log files were not given to nobody: $(ls -l "$T/logs")"
for f in isp.log isp-audit.log; do
	mv "$T/logs/$f" "$T/logs/$f.1"
	install -m 640 -o nobody -g root /dev/null "$T/logs/$f"
done
kill -HUP "$ISP_PID"
wait_for_log "$ISP_LOG" "reloaded $T/isp.conf" 5 # the reload reopens them
curl -sS --fail --socks5-hostname "127.0.0.1:$SOCKS_PORT" -o "$T/got2" "http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "a transfer after the rotation failed"
wait_for_log "$T/logs/isp-audit.log" "event=channel .*bytes_down=10487[0-9]{2} " 5
grep -q "cannot reopen" "$T/logs/isp.log.1" "$ISP_LOG" && fail "a reopen failed"
ok "rotated as nobody: new lines in the new log and audit files"

# A reload that fails tells systemd so (systemctl status shows it), and
# the next one that works clears it.
cp "$T/isp.conf" "$T/isp.conf.good"
printf '[session]\nhandshake_timeout = soon\n' >>"$T/isp.conf"
n=$(wc -l <"$T/notify.log")
kill -HUP "$ISP_PID"
wait_for_log "$T/notify.log" "^STATUS=reload failed, running the configuration before: $T/isp.conf: \[session\] handshake_timeout: \"soon\" is not a duration" 10
cp "$T/isp.conf.good" "$T/isp.conf"
kill -HUP "$ISP_PID"
wait_for_log "$T/notify.log" "^STATUS=reloaded$" 10
ok "a reload that fails: READY=1 with STATUS=reload failed and why; the next good one: STATUS=reloaded"
kill "$ESP_PID"
wait_for_log "$T/notify.log" "^STOPPING=1" 10
ok "the esp, draining on SIGTERM: STOPPING=1"
kill "$ISP_PID"
wait "$ESP_PID" "$ISP_PID" 2>/dev/null

# As root with nothing said about it: refused, with the way out, by -t
# as well (which a unit runs first), before anything is bound.
unset NOTIFY_SOCKET
DAEMON_TEXT="[daemon]"
esp_conf "$T/root.conf"
want="esp: $T/root.conf: [daemon] user: missing: as root, set [daemon] user (and group) to run as, or allow_root = yes"
"$BIN/esp" -t -c "$T/root.conf" >"$T/root.log" 2>&1 && fail "esp -t passed a root config without allow_root"
[ "$(cat "$T/root.log")" = "$want" ] || fail "-t as root: $(cat "$T/root.log")"
"$BIN/esp" -c "$T/root.conf" >"$T/root.log" 2>&1 && fail "the esp ran as root without allow_root"
[ "$(cat "$T/root.log")" = "$want" ] || fail "as root: $(cat "$T/root.log")"
ok "as root without [daemon] user or allow_root, -t and the start: $(sed 's/.*user: //' "$T/root.log")"

DAEMON_TEXT="[daemon]
user = nosuchuser"
esp_conf "$T/nouser.conf"
"$BIN/esp" -t -c "$T/nouser.conf" >"$T/out" 2>&1 && fail "-t took an unknown user"
[ "$(cat "$T/out")" = "esp: $T/nouser.conf: [daemon] user: no such user \"nosuchuser\" (adduser --system nosuchuser)" ] ||
	fail "unknown user: $(cat "$T/out")"
ok "$(cat "$T/out")"

# A log folder that the daemon's user may write in, where a daemon taken
# over could plant a link to a file of root's: the next start as root
# neither writes there nor gives that file to the daemon's user.
mkdir -m 755 "$T/owned"
chown nobody:nogroup "$T/owned"
printf 'root only\n' >"$T/secret"
chmod 600 "$T/secret"
want=$(sha "$T/secret")
DAEMON_TEXT="[daemon]
user  = nobody
group = nogroup"
for key in file audit; do
	for how in symlink hardlink; do
		rm -f "$T/owned/esp.log"
		if [ $how = symlink ]; then
			setpriv --reuid=65534 --regid=65534 --clear-groups ln -s "$T/secret" "$T/owned/esp.log"
			why="a symbolic link; name the file itself"
		else
			# As with fs.protected_hardlinks = 0.
			ln "$T/secret" "$T/owned/esp.log"
			why="a file with more than one link; give it a file of its own"
		fi
		ESP_EXTRA="[log]
$key = $T/owned/esp.log
[esp]"
		esp_conf "$T/link.conf"
		"$BIN/esp" -t -c "$T/link.conf" >"$T/out" 2>&1 && fail "-t took a $how as [log] $key"
		[ "$(cat "$T/out")" = "esp: $T/link.conf: [log] $key: $T/owned/esp.log: $why" ] ||
			fail "-t, $how as [log] $key: $(cat "$T/out")"
		"$BIN/esp" -c "$T/link.conf" >"$T/out" 2>&1 && fail "the esp started with a $how as [log] $key"
		[ "$(cat "$T/out")" = "esp: $T/link.conf: [log] $key: $T/owned/esp.log: $why" ] ||
			fail "start, $how as [log] $key: $(cat "$T/out")"
		[ "$(stat -c '%U %a' "$T/secret")" = "root 600" ] && [ "$(sha "$T/secret")" = "$want" ] ||
			fail "a $how as [log] $key: the file behind it became $(stat -c '%U %a' "$T/secret")"
		ok "a $how as [log] $key: refused, the file behind it untouched: $why"
	done
done
# A new file is the daemon user's, 0640, not everyone's.
rm -f "$T/owned/esp.log"
ESP_EXTRA="[log]
audit = $T/owned/esp-audit.log
[esp]"
esp_conf "$T/new.conf"
(umask 000 && exec "$BIN/esp" -c "$T/new.conf") >"$T/new.out" 2>&1 &
NEWPID=$!
wait_for_log "$T/new.out" "started" 10
kill "$NEWPID"
wait "$NEWPID" 2>/dev/null
[ "$(stat -c '%U %a' "$T/owned/esp-audit.log")" = "nobody 640" ] ||
	fail "a new audit file under umask 000: $(stat -c '%U %a' "$T/owned/esp-audit.log")"
ok "a new audit file under umask 000 is nobody's, 0640"
