#!/bin/bash
# make install and uninstall. Into a DESTDIR under PREFIX=/usr: every file
# where an admin looks for it, example configs that a second install does
# not overwrite, and uninstall leaving only the configs. Under a PREFIX of
# its own: the installed pair carries a transfer, the installed launcher
# finds the installed library, and systemd-analyze verifies the units.
. "$(dirname "$0")/../lib.sh"
need_cmd make curl
D=$T/dest
make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr >"$T/make.log" 2>&1 ||
	fail "make install: $(tail -5 "$T/make.log")"
for f in usr/bin/sockhook usr/sbin/esp usr/sbin/isp usr/lib/dynpass/libsockhook.so \
    usr/share/man/man1/sockhook.1 usr/share/man/man5/esp.conf.5 \
    usr/share/man/man5/isp.conf.5 usr/share/man/man5/dynpass-rules.5 \
    usr/share/man/man8/esp.8 usr/share/man/man8/isp.8 \
    usr/share/dynpass/rules/ftp.ini usr/share/dynpass/rules/irc.ini \
    usr/share/dynpass/rules/rsh.ini etc/dynpass/esp.conf etc/dynpass/isp.conf \
    etc/dynpass/sockhook.conf etc/logrotate.d/dynpass \
    usr/lib/systemd/system/dynpass-esp.service \
    usr/lib/systemd/system/dynpass-isp.service \
    usr/lib/systemd/user/dynpass-agent.service; do
	[ -f "$D/$f" ] || fail "make install did not put $f"
done
[ -x "$D/usr/sbin/esp" ] && [ -x "$D/usr/bin/sockhook" ] || fail "programs not executable"
grep -q "^rules = /usr/share/dynpass/rules " "$D/etc/dynpass/isp.conf" ||
	fail "isp.conf under /usr: $(grep '^rules' "$D/etc/dynpass/isp.conf")"
grep -q "^ExecStart=/usr/sbin/esp -c /etc/dynpass/esp.conf$" "$D/usr/lib/systemd/system/dynpass-esp.service" ||
	fail "the esp unit: $(grep ExecStart "$D/usr/lib/systemd/system/dynpass-esp.service")"
ok "make install DESTDIR=... PREFIX=/usr puts programs, library, manuals, rules, units and configs in place"

echo "; edited by the admin" >>"$D/etc/dynpass/esp.conf"
make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr >"$T/make.log" 2>&1 || fail "second make install"
grep -q "^; edited by the admin" "$D/etc/dynpass/esp.conf" || fail "a second install overwrote esp.conf"
ok "a second install keeps an edited config"

make -s -C "$TOP" uninstall DESTDIR="$D" PREFIX=/usr >"$T/make.log" 2>&1 || fail "make uninstall"
left=$(cd "$D" && find . -type f | sort | tr '\n' ' ')
[ "$left" = "./etc/dynpass/esp.conf ./etc/dynpass/isp.conf ./etc/dynpass/sockhook.conf ./etc/logrotate.d/dynpass " ] ||
	fail "after uninstall: $left"
ok "make uninstall removes everything but the configs"

# An install of its own, run from there.
P=$T/prefix
make -s -C "$TOP" install PREFIX="$P" >"$T/make.log" 2>&1 || fail "make install PREFIX=$P"
grep -q "^rules = $P/share/dynpass/rules " "$P/etc/dynpass/isp.conf" ||
	fail "the installed isp.conf: $(grep '^rules' "$P/etc/dynpass/isp.conf")"
"$P/sbin/isp" -R "$P/share/dynpass/rules/ftp.ini" >"$T/rt.out" 2>&1 ||
	fail "isp -R on the installed ftp.ini: $(cat "$T/rt.out")"
grep -q "^$P/share/dynpass/rules/ftp.ini: [0-9]* test vectors passed$" "$T/rt.out" ||
	fail "isp -R on the installed ftp.ini: $(tail -1 "$T/rt.out")"
[ "$(stat -c %a "$P/etc/dynpass/isp.conf")" = 640 ] ||
	fail "the installed isp.conf is mode $(stat -c %a "$P/etc/dynpass/isp.conf"), not 640"
ok "the installed isp.conf names the installed rules, $P/share/dynpass/rules, and is mode 640"
BIN=$P/sbin
mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/blob"
http_start "$T/www"
ALLOW="127.0.0.1/32:$HTTP_PORT"
pair_start
printf '[sockhook]\nesp = 127.0.0.1:%s\nroute = 127.0.0.1/32:%s\n' "$SOCKS_PORT" "$HTTP_PORT" >"$T/hook.conf"
env -u SOCKHOOK_LIB "$P/bin/sockhook" -c "$T/hook.conf" -- curl -sS -o "$T/got" "http://127.0.0.1:$HTTP_PORT/blob" ||
	fail "curl under the installed sockhook failed"
[ "$(sha "$T/got")" = "$(sha "$T/www/blob")" ] || fail "SHA-256 differs"
SOCKHOOK_DEBUG=1 "$P/bin/sockhook" -c "$T/hook.conf" -- sh -c 'echo "$LD_PRELOAD"' >"$T/preload" 2>/dev/null
grep -qx "$P/lib/dynpass/libsockhook.so" "$T/preload" || fail "LD_PRELOAD was $(cat "$T/preload")"
ok "the pair installed under $P carries a transfer; the installed sockhook preloads $P/lib/dynpass/libsockhook.so"

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/xdg"
	chmod 700 "$T/xdg"
	MANPATH=$P/share/man systemd-analyze verify "$P"/lib/systemd/system/*.service >"$T/verify" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T/verify")"
	[ ! -s "$T/verify" ] || fail "systemd-analyze verify said: $(cat "$T/verify")"
	ok "systemd-analyze verify passes the esp and isp units"
	MANPATH=$P/share/man XDG_RUNTIME_DIR=$T/xdg systemd-analyze --user verify \
		"$P"/lib/systemd/user/dynpass-agent.service >"$T/verify" 2>&1 ||
		fail "systemd-analyze --user verify: $(cat "$T/verify")"
	ok "systemd-analyze --user verify passes the agent's unit"
else
	skip "needs systemd-analyze (package systemd)"
fi
