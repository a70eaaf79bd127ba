#!/bin/sh
# make demo: a working isp/esp pair on loopback, with unmodified curl going
# through it: first through the esp's SOCKS5 door, then under sockhook,
# then under sockhook through a client agent that logs alice in.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/bin
d=$(mktemp -d /tmp/dynpass-demo.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say() { printf '\n==> %s\n' "$*"; }
wait_log() {
	i=0
	while ! grep -Eq "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
		sleep 0.1
	done
}

session=$(port) socks=$(port) web=$(port) ftp=$(port) door=$(port)
chmod 755 "$d"
say "An inside web server on 127.0.0.1:$web (stands in for a host behind the firewall)"
mkdir "$d/www"
head -c 5242880 /dev/urandom >"$d/www/report.bin"
python3 "$top/tests/tools/httpd.py" 127.0.0.1 "$web" "$d/www" >"$d/httpd.log" 2>&1 &
pids="$pids $!"

say "A shared key for the pair: openssl rand -hex 32 > pair.psk"
(umask 077; openssl rand -hex 32 >"$d/pair.psk")
say "A certificate for the esp's client door, and alice's password"
(umask 077
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/door.key" -out "$d/door.crt" -days 2 -subj /CN=esp \
		-addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
	echo "alice-demo-password" >"$d/alice.pass")

cat >"$d/esp.conf" <<CONF
[esp]
session_listen = 127.0.0.1:$session   ; the firewall's one allowed port
socks_listen   = 127.0.0.1:$socks     ; the plain SOCKS5 door
client_listen  = 127.0.0.1:$door      ; client agents' door, TLS 1.3
; Everything here is on one host, so the esp's connects back to clients
; (active FTP) go to its own address: allowed for this demo only.
outside_own_addresses = yes
[client_tls]
cert = $d/door.crt
key  = $d/door.key
[tls]
psk_file = $d/pair.psk
[daemon]
user  = nobody                  ; once the ports are bound and the keys read
group = nogroup
CONF
# The FTP rules, with this demo's FTP port as their service port.
mkdir "$d/rules"
sed "s/^ports *=.*/ports = $ftp/" "$top/rules/ftp.ini" >"$d/rules/ftp.ini"
cat >"$d/isp.conf" <<CONF
[isp]
esp   = 127.0.0.1:$session
allow = 127.0.0.1/32:$web,$ftp
rules = $d/rules
[tls]
psk_file = $d/pair.psk
[policy]
anonymous = yes
[user alice]
password = $(echo alice-demo-password | "$bin/isp" -P | sed 's/^password = //')
allow = 127.0.0.1/32:$web,$ftp
[daemon]
user  = nobody
group = nogroup
CONF
cat >"$d/sockhook.conf" <<CONF
[sockhook]
esp   = 127.0.0.1:$socks
route = 127.0.0.1/32:$web,$ftp
CONF
cat >"$d/agent.conf" <<CONF
[sockhook]
agent = 127.0.0.1:$door
ca    = $d/door.crt
route = 127.0.0.1/32:$web,$ftp
user  = alice
password_file = $d/alice.pass
CONF
export XDG_RUNTIME_DIR=$d/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
say "esp.conf"; cat "$d/esp.conf"
say "isp.conf"; cat "$d/isp.conf"
"$bin/esp" -t -c "$d/esp.conf" && "$bin/isp" -t -c "$d/isp.conf" || exit 1

say "Starting esp (outside) and isp (inside); the isp dials out"
"$bin/esp" -c "$d/esp.conf" >"$d/esp.log" 2>&1 &
pids="$pids $!"
wait_log "$d/esp.log" "listening for SOCKS5"
"$bin/isp" -c "$d/isp.conf" >"$d/isp.log" 2>&1 &
pids="$pids $!"
wait_log "$d/isp.log" "session with .* up"
wait_log "$d/esp.log" "serves"
sed 's/^/    /' "$d/esp.log" "$d/isp.log"

want=$(sha256sum <"$d/www/report.bin" | cut -d' ' -f1)
say "curl --socks5-hostname 127.0.0.1:$socks http://127.0.0.1:$web/report.bin"
curl -sS --fail --socks5-hostname "127.0.0.1:$socks" -o "$d/got1" "http://127.0.0.1:$web/report.bin" || exit 1
got=$(sha256sum <"$d/got1" | cut -d' ' -f1)
echo "    sent     $want"
echo "    received $got"
[ "$got" = "$want" ] || { echo "demo: SHA-256 differs" >&2; exit 1; }

if [ -x "$bin/sockhook" ]; then
	say "sockhook -c sockhook.conf -- curl http://127.0.0.1:$web/report.bin   (curl unmodified, no proxy option)"
	cat "$d/sockhook.conf"
	"$bin/sockhook" -c "$d/sockhook.conf" -- curl -sS --fail -o "$d/got2" "http://127.0.0.1:$web/report.bin" || exit 1
	got=$(sha256sum <"$d/got2" | cut -d' ' -f1)
	echo "    received $got"
	[ "$got" = "$want" ] || { echo "demo: SHA-256 differs under sockhook" >&2; exit 1; }
fi

if [ -x "$bin/sockhook" ] && command -v vsftpd >/dev/null && id ftp >/dev/null 2>&1; then
	say "An inside FTP server (vsftpd) on 127.0.0.1:$ftp; active mode: the server connects back"
	mkdir -p "$d/ftp/pub" "$d/empty"
	cp "$d/www/report.bin" "$d/ftp/pub/"
	cat >"$d/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$ftp
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$d/ftp
local_enable=NO
connect_from_port_20=NO
seccomp_sandbox=NO
secure_chroot_dir=$d/empty
CONF
	vsftpd "$d/vsftpd.conf" >"$d/vsftpd.log" 2>&1 &
	pids="$pids $!"
	sleep 0.5
	say "sockhook -c sockhook.conf -- curl -P - ftp://127.0.0.1:$ftp/pub/report.bin   (active mode, EPRT)"
	"$bin/sockhook" -c "$d/sockhook.conf" -- curl -sS --fail -P - -o "$d/got3" "ftp://127.0.0.1:$ftp/pub/report.bin" || exit 1
	got=$(sha256sum <"$d/got3" | cut -d' ' -f1)
	echo "    received $got"
	[ "$got" = "$want" ] || { echo "demo: SHA-256 differs over active FTP" >&2; exit 1; }
	say "How the announcement was handled"
	grep -hE "announcement|reverse" "$d/esp.log" "$d/isp.log" | sed 's/^/    /'
else
	say "(vsftpd not installed: skipping the active-mode FTP part; run make demo as root to install it)"
fi

if [ -x "$bin/sockhook" ]; then
	say "sockhook -c agent.conf -- curl http://127.0.0.1:$web/report.bin   (through a client agent)"
	cat "$d/agent.conf"
	"$bin/sockhook" -c "$d/agent.conf" -- curl -sS --fail -o "$d/got4" "http://127.0.0.1:$web/report.bin" || exit 1
	got=$(sha256sum <"$d/got4" | cut -d' ' -f1)
	echo "    received $got"
	[ "$got" = "$want" ] || { echo "demo: SHA-256 differs through the agent" >&2; exit 1; }
	say "How alice logged in: the esp relayed, the isp checked (the password never crossed the esp)"
	grep -h "logged in" "$d/esp.log" "$d/isp.log" "$d"/run/dynpass/*.log | sed 's/^/    /'
fi

say "What the pair logged for those transfers"
grep -h "channel" "$d/esp.log" "$d/isp.log" | sed 's/^/    /'
say "Demo OK: unmodified curl reached the inside server through the isp/esp pair."
