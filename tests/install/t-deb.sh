#!/bin/bash
# The Debian packages. dpkg-buildpackage -us -uc -b, in a copy of the
# source tree, builds dynpass-common, dynpass-isp, dynpass-esp and sockhook
# with no lintian error. Installed, they create the system user dynpass,
# mark the example configs as conffiles, and put the units in place,
# neither enabled nor started, that systemd-analyze verifies. The installed
# pair, running as dynpass with the installed rule files, carries a
# transfer through the installed sockhook. Purging removes every file the
# packages installed; the user (which Debian leaves) is removed here.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (installs and purges Debian packages)"
need_cmd dpkg-buildpackage dh lintian curl python3
PKGS="dynpass-common dynpass-isp dynpass-esp sockhook"

# Never replace what is already there: packages, or a make install under /usr.
for p in $PKGS; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case $s in "" | *not-installed) ;; *) skip "package $p is here ($s); not replacing it" ;; esac
done
for f in /usr/sbin/esp /usr/sbin/isp /usr/bin/sockhook /usr/lib/dynpass /usr/share/dynpass \
    /etc/dynpass /etc/logrotate.d/dynpass /usr/lib/sysusers.d/dynpass.conf; do
	[ ! -e "$f" ] || skip "$f exists (make install PREFIX=/usr?); not replacing it"
done
had_user=$(getent passwd dynpass)
had_group=$(getent group dynpass)
INSTALLED=""
_deb_cleanup() {
	local p
	for p in $_PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $_PIDS; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -z "$INSTALLED" ] || dpkg --purge $PKGS >/dev/null 2>&1
	[ -n "$had_user" ] || userdel dynpass 2>/dev/null
	[ -n "$had_group" ] || ! getent group dynpass >/dev/null || groupdel dynpass 2>/dev/null
	_cleanup
}
trap _deb_cleanup EXIT

# The tracked files (and new ones not ignored), without build outputs; the
# packages land beside the copy, in $T, never in the repository.
mkdir -p "$T/src"
if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$T/src" -xf -
else
	tar -C "$TOP" --exclude=./build --exclude=./.git -cf - . | tar -C "$T/src" -xf -
fi
[ -f "$T/src/debian/control" ] || fail "no debian/control in the copied tree"
# Nothing of a surrounding make check (MAKEFLAGS carries SANITIZE=, T=).
(cd "$T/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u SANITIZE \
	-u CFLAGS -u CPPFLAGS -u LDFLAGS -u PREFIX -u DESTDIR -u BUILD \
	dpkg-buildpackage -us -uc -b -j2) >"$T/build.log" 2>&1 ||
	fail "dpkg-buildpackage -us -uc -b failed"
debs=""
for p in $PKGS; do
	f=$(ls "$T/${p}_"*.deb 2>/dev/null)
	[ -n "$f" ] || fail "no package $p: $(cd "$T" && ls ./*.deb)"
	debs="$debs $f"
done
ok "dpkg-buildpackage -us -uc -b builds$(cd "$T" && ls -- *.deb | sed 's/^/ /' | tr -d '\n')"

lintian "$T"/dynpass_*.changes >"$T/lintian.out" 2>"$T/lintian.err"
rc=$?
if grep -q '^E: ' "$T/lintian.out"; then
	grep '^E: ' "$T/lintian.out" >&2
	fail "lintian reports errors"
fi
[ $rc = 0 ] || fail "lintian exited $rc: $(cat "$T/lintian.err")"
sed 's/^/    lintian: /' "$T/lintian.out"
ok "lintian: no errors ($(grep -c '^W: ' "$T/lintian.out") warnings, $(grep -c '^I: ' "$T/lintian.out") notes)"

INSTALLED=1
DEBIAN_FRONTEND=noninteractive dpkg -i $debs </dev/null >"$T/dpkg.log" 2>&1 ||
	fail "dpkg -i failed"
for p in $PKGS; do
	[ "$(dpkg-query -W -f='${Status}' "$p")" = "install ok installed" ] || fail "$p is not installed"
done
ok "dpkg -i installs $PKGS"

pw=$(getent passwd dynpass) || fail "no user dynpass after installation"
getent group dynpass >/dev/null || fail "no group dynpass after installation"
if [ -z "$had_user" ]; then
	IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
	[ "$uid" -lt 1000 ] || fail "dynpass is not a system user: $pw"
	[ "$gid" = "$(getent group dynpass | cut -d: -f3)" ] || fail "dynpass's group: $pw"
	[ "$home" = /nonexistent ] && [ "$shell" = /usr/sbin/nologin ] || fail "dynpass: $pw"
fi
ok "the system user and group dynpass exist ($pw)"

for c in dynpass-isp:/etc/dynpass/isp.conf dynpass-esp:/etc/dynpass/esp.conf \
    sockhook:/etc/dynpass/sockhook.conf dynpass-common:/etc/logrotate.d/dynpass; do
	dpkg-query -W -f='${Conffiles}\n' "${c%%:*}" | grep -q "^ ${c#*:} " ||
		fail "${c#*:} is not a conffile of ${c%%:*}"
done
[ "$(stat -c %a /etc/dynpass/isp.conf)" = 640 ] ||
	fail "/etc/dynpass/isp.conf is mode $(stat -c %a /etc/dynpass/isp.conf), not 640 (it holds password hashes)"
ok "the example configs and the logrotate snippet are conffiles; isp.conf is mode 640"

v=$(dpkg-query -W -f='${Version}' dynpass-esp)
[ "$(/usr/sbin/esp -V)" = "esp (dynpass) $v" ] || fail "esp -V: $(/usr/sbin/esp -V 2>&1)"
[ -x /usr/sbin/isp ] && [ -x /usr/bin/sockhook ] && [ -f /usr/lib/dynpass/libsockhook.so ] &&
	[ -f /usr/share/dynpass/rules/ftp.ini ] || fail "programs, library or rules missing"
ok "esp -V says $v"
# The folder the example configs log to is there before any start, so
# that -t on them passes (systemd sets its mode at the first start).
[ -d /var/log/dynpass ] || fail "no /var/log/dynpass after installation"
ok "/var/log/dynpass is there before the first start"

for u in dynpass-esp dynpass-isp; do
	[ -f "/lib/systemd/system/$u.service" ] || fail "no unit $u.service"
	s=$(systemctl is-enabled "$u.service" 2>&1)
	[ "$s" = disabled ] || fail "$u.service is $s after installation"
done
[ -f /usr/lib/systemd/user/dynpass-agent.service ] || fail "no user unit dynpass-agent.service"
s=$(systemctl --global is-enabled dynpass-agent.service 2>&1)
[ "$s" = disabled ] || fail "dynpass-agent.service is $s for all users after installation"
links=$(find /etc/systemd -name 'dynpass-*' 2>/dev/null)
[ -z "$links" ] || fail "installation enabled units: $links"
for p in /proc/[0-9]*; do
	case $(readlink "$p/exe" 2>/dev/null) in
	/usr/sbin/esp | /usr/sbin/isp) fail "installation started $(readlink "$p/exe") (pid ${p#/proc/})" ;;
	esac
done
if [ -d /run/systemd/system ]; then
	for u in dynpass-esp dynpass-isp; do
		! systemctl --quiet is-active "$u.service" || fail "$u.service is running after installation"
	done
fi
ok "the units dynpass-esp, dynpass-isp and (user) dynpass-agent are installed, disabled, not running"

if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /lib/systemd/system/dynpass-esp.service \
		/lib/systemd/system/dynpass-isp.service >"$T/verify" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T/verify")"
	[ ! -s "$T/verify" ] || fail "systemd-analyze verify said: $(cat "$T/verify")"
	mkdir -m 700 "$T/xdg"
	XDG_RUNTIME_DIR=$T/xdg systemd-analyze --user verify \
		/usr/lib/systemd/user/dynpass-agent.service >"$T/verify" 2>&1 ||
		fail "systemd-analyze --user verify: $(cat "$T/verify")"
	ok "systemd-analyze verify passes the installed units"
else
	echo "no systemd-analyze: the installed units are not verified"
fi

# The installed pair, as dynpass, with the installed rule files.
BIN=/usr/sbin
mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/blob"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
ISP_EXTRA="rules = /usr/share/dynpass/rules"
DAEMON_TEXT="[daemon]
user  = dynpass
group = dynpass"
pair_start
wait_for_log "$ESP_LOG" 'rules "ftp.ini" loaded' 10
duid=$(id -u dynpass)
for pid in "$ESP_PID" "$ISP_PID"; do
	[ "$(readlink "/proc/$pid/exe")" = "$BIN/$(cat "/proc/$pid/comm")" ] ||
		fail "pid $pid runs $(readlink "/proc/$pid/exe")"
	[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" = "$duid $duid $duid $duid" ] ||
		fail "pid $pid: $(grep Uid: "/proc/$pid/status")"
done
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s\n' "$SOCKS_PORT" "$HTTP_PORT" >"$T/hook.conf"
env -u SOCKHOOK_LIB /usr/bin/sockhook -c "$T/hook.conf" -- curl -sS -o "$T/got" "http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "curl under the installed sockhook failed"
[ "$(sha "$T/got")" = "$(sha "$T/www/blob")" ] || fail "SHA-256 differs"
wait_for_log "$ISP_LOG" "127\.0\.0\.1:$HTTP_PORT" 5
SOCKHOOK_DEBUG=1 /usr/bin/sockhook -c "$T/hook.conf" -- sh -c 'echo "$LD_PRELOAD"' >"$T/preload" 2>/dev/null
grep -qx /usr/lib/dynpass/libsockhook.so "$T/preload" || fail "LD_PRELOAD was $(cat "$T/preload")"
ok "the installed esp and isp, as user dynpass with the installed rules, carry a transfer" \
	"through the installed sockhook and /usr/lib/dynpass/libsockhook.so (SHA-256 matches)"
kill "$ESP_PID" "$ISP_PID"
wait "$ESP_PID" "$ISP_PID" 2>/dev/null

files=$(dpkg -L $PKGS | while read -r f; do [ -d "$f" ] || echo "$f"; done)
dpkg --purge $PKGS >"$T/purge.log" 2>&1 || fail "dpkg --purge failed"
INSTALLED=""
left=""
for f in $files /etc/dynpass /usr/lib/dynpass /usr/share/dynpass; do
	[ ! -e "$f" ] || left="$left $f"
done
for d in /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-user-helper-enabled \
    /var/lib/systemd/deb-systemd-helper-masked /var/lib/systemd/deb-systemd-user-helper-masked; do
	[ -d "$d" ] && left="$left $(find "$d" -name '*dynpass*' | tr '\n' ' ')"
done
[ -z "$(echo "$left" | tr -d ' ')" ] || fail "left after purge:$left"
ok "dpkg --purge removes every file, the configs and the systemd state"
