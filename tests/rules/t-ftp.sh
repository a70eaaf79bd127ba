#!/bin/bash
# Active and passive FTP with unmodified curl under sockhook, across a
# one-port firewall, against a real vsftpd inside: downloads and uploads
# of 20 MiB over IPv4 and IPv6, 10 clients at once, and a bounce attempt
# refused. vsftpd offers TLS, which the pair refuses (AUTH TLS would hide
# every announcement): curl --ssl-reqd fails, curl --ssl goes on in clear.
# Every file is checked by SHA-256.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/site.sh"
need_root
need_cmd vsftpd curl nft
id ftp >/dev/null 2>&1 || skip "needs the ftp user (from the vsftpd package)"

SESSION_PORT=4430
site_up $SESSION_PORT
chmod 755 "$T"

# vsftpd inside, anonymous, with an upload folder.
mkdir -p "$T/ftp/pub" "$T/ftp/up" "$T/empty"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T/ftp/pub/big"
chown ftp "$T/ftp/up"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ftp.key" -out "$T/ftp.crt" \
	-days 2 -subj /CN=ftp.inside.test 2>/dev/null || fail "no certificate for vsftpd"
cat >"$T/vsftpd.conf" <<CONF
listen=NO
listen_ipv6=YES
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=$T/ftp
write_enable=YES
anon_upload_enable=YES
anon_umask=022
no_anon_password=YES
pasv_enable=YES
port_enable=YES
connect_from_port_20=NO
seccomp_sandbox=NO
secure_chroot_dir=$T/empty
xferlog_enable=NO
max_clients=50
max_per_ip=50
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
require_ssl_reuse=NO
rsa_cert_file=$T/ftp.crt
rsa_private_key_file=$T/ftp.key
CONF
bg_start "$T/vsftpd.log" ip netns exec "$S_SERVER" vsftpd "$T/vsftpd.conf"
for i in $(seq 50); do
	ip netns exec "$S_SERVER" ss -ltn | grep -q ':21 ' && break
	sleep 0.1
done
site_check_blocked 21

NETNS_ESP=$S_ESP NETNS_ISP=$S_ISP
ESP_ADDR=$ESP4 SOCKS_ADDR="[::]" SOCKS_PORT=1080
ALLOW="$SERVER4/32:21 [$SERVER6]/128:21"
ISP_EXTRA="rules = $TOP/rules
listen_timeout = 3s"
pair_start
wait_for_log "$ESP_LOG" 'rules "ftp.ini" loaded' 10

cat >"$T/hook4.conf" <<CONF
[sockhook]
esp   = $ESP4:1080
route = 192.0.2.0/24 2001:db8:1::/64
CONF
sed "s/^esp .*/esp   = [$ESP6]:1080/" "$T/hook4.conf" >"$T/hook6.conf"
want=$(sha "$T/ftp/pub/big")

# ftp_get NAME CONF URL CURLARGS...: download through the hook and check.
ftp_get() {
	local name=$1 conf=$2 url=$3
	shift 3
	rm -f "$T/got.$name"
	ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$conf" -- \
		curl -sS --fail --max-time 120 "$@" -o "$T/got.$name" "$url" 2>"$T/curl.$name" ||
		fail "$name: curl exit $?: $(cat "$T/curl.$name")"
	[ "$(sha "$T/got.$name")" = "$want" ] || fail "$name: SHA-256 differs"
}
# ftp_put NAME CONF URL CURLARGS...: upload through the hook and check.
ftp_put() {
	local name=$1 conf=$2 url=$3
	shift 3
	ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$conf" -- \
		curl -sS --fail --max-time 120 "$@" -T "$T/ftp/pub/big" "$url" 2>"$T/curl.$name" ||
		fail "$name: upload curl exit $?: $(cat "$T/curl.$name")"
	[ "$(sha "$T/ftp/up/$(basename "$url")")" = "$want" ] || fail "$name: uploaded SHA-256 differs"
}

ftp_get active4 "$T/hook4.conf" "ftp://$SERVER4/pub/big" -P -
grep -q "reverse .* joined" "$ISP_LOG" || fail "active download did not use a reverse connection"
ok "active download over IPv4 (EPRT) intact"
ftp_get active4-port "$T/hook4.conf" "ftp://$SERVER4/pub/big" -P - --disable-eprt
ok "active download over IPv4 (PORT) intact"
ftp_put active4 "$T/hook4.conf" "ftp://$SERVER4/up/a4" -P -
ok "active upload over IPv4 intact"
ftp_get passive4 "$T/hook4.conf" "ftp://$SERVER4/pub/big" --disable-epsv
grep -q "expected after a server announcement" "$ISP_LOG" || fail "passive download was not admitted as expected"
ok "passive download over IPv4 (PASV, 227) intact"
ftp_get epsv4 "$T/hook4.conf" "ftp://$SERVER4/pub/big"
ok "passive download over IPv4 (EPSV, 229) intact"
ftp_put passive4 "$T/hook4.conf" "ftp://$SERVER4/up/p4"
ok "passive upload over IPv4 intact"

# TLS on the control connection: refused by the pair, though the server
# offers it (shown first on the server's own host, without the pair).
ip netns exec "$S_SERVER" curl -sS --fail --max-time 30 --ssl-reqd -k \
	-o "$T/got.direct-tls" "ftp://$SERVER4/pub/big" 2>"$T/curl.direct-tls" ||
	fail "vsftpd does not do TLS here: $(cat "$T/curl.direct-tls")"
[ "$(sha "$T/got.direct-tls")" = "$want" ] || fail "direct FTPS: SHA-256 differs"
rc=0
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- \
	curl -sS --max-time 30 --ssl-reqd -k -o "$T/got.tls" "ftp://$SERVER4/pub/big" \
	2>"$T/curl.tls" || rc=$?
[ "$rc" = 64 ] || fail "curl --ssl-reqd through the pair: exit $rc, want 64: $(cat "$T/curl.tls")"
# The esp scans what clients send and refuses it first; the isp again.
grep -q 'refused announcement "AUTH TLS\\r\\n": \[auth\] refuses it (action = refuse)' "$ESP_LOG" ||
	fail "no log line at the esp for the refused AUTH TLS"
grep -q 'refused announcement "AUTH dynpass-refused\\r\\n": \[auth\] refuses it (action = refuse)' "$ISP_LOG" ||
	fail "no log line at the isp for the refused AUTH"
ftp_get try-tls "$T/hook4.conf" "ftp://$SERVER4/pub/big" --ssl -k -P -
ok "AUTH TLS refused: curl --ssl-reqd exits 64, curl --ssl goes on in clear (active, intact)"

ftp_get active6 "$T/hook6.conf" "ftp://[$SERVER6]/pub/big" -P -
ok "active download over IPv6 (EPRT |2|) intact"
ftp_put active6 "$T/hook6.conf" "ftp://[$SERVER6]/up/a6" -P -
ok "active upload over IPv6 intact"
ftp_get passive6 "$T/hook6.conf" "ftp://[$SERVER6]/pub/big"
ok "passive download over IPv6 (EPSV) intact"
ftp_put passive6 "$T/hook6.conf" "ftp://[$SERVER6]/up/p6"
ok "passive upload over IPv6 intact"

# Ten clients at once, active and passive.
pids=""
for i in $(seq 1 10); do
	mode=""
	[ $((i % 2)) = 0 ] && mode="-P -"
	ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- \
		curl -sS --fail --max-time 180 $mode -o "$T/par.$i" "ftp://$SERVER4/pub/big" 2>"$T/par.$i.err" &
	pids="$pids $!"
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
[ $bad = 0 ] || fail "$bad of 10 parallel transfers failed: $(cat "$T"/par.*.err | head -3)"
for i in $(seq 1 10); do
	[ "$(sha "$T/par.$i")" = "$want" ] || fail "parallel transfer $i: SHA-256 differs"
done
ok "10 clients at once (5 active, 5 passive) intact"

# A passive opening is for the announcing client only, and only once: the
# esp host (another client address) is refused; the client gets one
# connection; a second one is refused with EACCES, as a policy refusal.
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- python3 - "$SERVER4" \
	"$TESTS/tools/peer.py" "$S_ESP" >"$T/once.out" 2>&1 <<'PY'
import ftplib, socket, subprocess, sys
f = ftplib.FTP(sys.argv[1], timeout=20)
f.login()
reply = f.sendcmd("PASV")
nums = reply[reply.index("(") + 1:reply.index(")")].split(",")
host, port = ".".join(nums[:4]), int(nums[4]) * 256 + int(nums[5])
other = subprocess.run(["ip", "netns", "exec", sys.argv[3], "python3", sys.argv[2],
                        "reply", "1080", host, str(port)], capture_output=True, text=True)
print("other client:", other.stdout.strip() or other.stderr.strip())
s = socket.create_connection((host, port), timeout=10)
print("first: connected")
try:
    socket.create_connection((host, port), timeout=10)
    print("second: connected")
except PermissionError:
    print("second: EACCES")
except OSError as e:
    print("second:", e)
PY
grep -qx "other client: 2" "$T/once.out" || fail "another client used the opening: $(cat "$T/once.out")"
grep -qx "first: connected" "$T/once.out" || fail "the announcing client: $(cat "$T/once.out")"
grep -qx "second: EACCES" "$T/once.out" || fail "second use of the opening: $(cat "$T/once.out")"
ok "passive opening: other client refused (SOCKS 2), first use connects, second gets EACCES"

# The reverse listener takes only the server, once, and not for ever.
# The client announces a port it listens on, but waits before RETR: a
# host that is not the server (the firewall, 192.0.2.1) is refused; then
# the server's connection is joined; then the listener is gone.
nl=$(count_log "$ISP_LOG" "listening on $ISP4:[0-9]+ for the server")
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- python3 - "$SERVER4" "$T/go" \
	>"$T/single.out" 2>&1 <<'PY' &
import ftplib, os, socket, sys, time
f = ftplib.FTP(sys.argv[1], timeout=30)
f.login()
ls = socket.socket()
ls.bind((f.sock.getsockname()[0], 0))
ls.listen(1)
h, p = ls.getsockname()
print("PORT:", f.sendcmd("PORT %s,%d,%d" % (h.replace(".", ","), p >> 8, p & 255)), flush=True)
deadline = time.time() + 30
while not os.path.exists(sys.argv[2]) and time.time() < deadline:
    time.sleep(0.1)
f.voidcmd("TYPE I")
c = f.transfercmd("RETR pub/big")
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
c.close()
f.voidresp()
print("RETR bytes:", n, flush=True)
PY
single=$!
for i in $(seq 150); do
	[ "$(count_log "$ISP_LOG" "listening on $ISP4:[0-9]+ for the server")" -gt "$nl" ] && break
	sleep 0.1
done
lport=$(grep -oE "listening on $ISP4:[0-9]+ for the server" "$ISP_LOG" | tail -1 | sed -E 's/.*:([0-9]+) for.*/\1/')
ip netns exec "$S_FW" python3 -c "
import socket, sys
try:
    s = socket.create_connection(('$ISP4', $lport), timeout=5)
    s.settimeout(5)
    print('stranger:', 'eof' if s.recv(1) == b'' else 'data')
except ConnectionResetError:  # the reset may beat connect() back
    print('stranger: reset')
" >"$T/stranger.out" 2>&1
grep -qx "stranger: reset" "$T/stranger.out" || fail "a stranger on the reverse listener: $(cat "$T/stranger.out")"
wait_for_log "$ISP_LOG" "refused a connection from 192.0.2.1:[0-9]+: not the server" 5
touch "$T/go"
wait "$single" || fail "transfer after the stranger: $(cat "$T/single.out")"
grep -qx "RETR bytes: $((20 * 1024 * 1024))" "$T/single.out" || fail "transfer after the stranger: $(cat "$T/single.out")"
ip netns exec "$S_SERVER" python3 -c "
import socket
try:
    socket.create_connection(('$ISP4', $lport), timeout=5)
    print('again: connected')
except ConnectionRefusedError:
    print('again: refused')
" >"$T/again.out" 2>&1
grep -qx "again: refused" "$T/again.out" || fail "second use of the reverse listener: $(cat "$T/again.out")"
ok "reverse listener: stranger reset, the server joined once, then closed"

# Unused, it closes after listen_timeout (3 s here) and the outside leg is reset.
n0=$(count_log "$ISP_LOG" "no connection from the server in time")
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- python3 - "$SERVER4" >"$T/idle.out" 2>&1 <<'PY'
import ftplib, socket, sys, time
f = ftplib.FTP(sys.argv[1], timeout=30)
f.login()
ls = socket.socket()
ls.bind((f.sock.getsockname()[0], 0))
ls.listen(1)
h, p = ls.getsockname()
print("PORT:", f.sendcmd("PORT %s,%d,%d" % (h.replace(".", ","), p >> 8, p & 255)))
time.sleep(5)
f.quit()
PY
# The 3 s timer may fire late under load: wait for its line.
wait_for_count "$ISP_LOG" "no connection from the server in time" $((n0 + 1)) 10
ok "an unused reverse listener closes after listen_timeout"

# If the esp cannot reach the client's announced port, the server's
# connection fails and the application sees its usual error.
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- python3 - "$SERVER4" >"$T/closed.out" 2>&1 <<'PY'
import ftplib, socket, sys
f = ftplib.FTP(sys.argv[1], timeout=30)
f.login()
s = socket.socket()
s.bind((f.sock.getsockname()[0], 0))
h, p = s.getsockname()
s.close()  # nobody listens there
try:
    print("PORT:", f.sendcmd("PORT %s,%d,%d" % (h.replace(".", ","), p >> 8, p & 255)))
except ftplib.Error as e:
    print("PORT:", e)
PY
grep -q "^PORT: 500 Illegal PORT command" "$T/closed.out" || fail "PORT to a closed client port: $(cat "$T/closed.out")"
grep -q "the esp could not connect: connection refused" "$ISP_LOG" || fail "isp did not log the failed outside connect"
ok "client port closed: the esp's connect is refused and the server's PORT fails ($(cat "$T/closed.out"))"

# A bounce: PORT naming a third host is refused, and the transfer fails.
# The third host is one the esp could reach (outside, beside the client),
# with a listener that counts connections: the pair must not connect there.
site_add_stranger
: >"$T/bounce.hits"
bg_start "$T/stranger.log" ip netns exec "$S_STRANGER" \
	socat TCP-LISTEN:10000,bind="$STRANGER4",reuseaddr,fork SYSTEM:"echo hit >>$T/bounce.hits"
for i in $(seq 50); do
	ip netns exec "$S_STRANGER" ss -ltn | grep -q "$STRANGER4:10000 " && break
	sleep 0.1
done
ip netns exec "$S_ESP" socat -u OPEN:/dev/null TCP:"$STRANGER4":10000 ||
	fail "the esp cannot reach the stranger: the bounce check would prove nothing"
for i in $(seq 20); do [ -s "$T/bounce.hits" ] && break; sleep 0.1; done
[ "$(wc -l <"$T/bounce.hits")" = 1 ] || fail "the stranger's listener did not count the esp's probe"
: >"$T/bounce.hits"
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook4.conf" -- python3 - "$SERVER4" "$STRANGER4" >"$T/bounce.out" 2>&1 <<'PY'
import ftplib, sys
f = ftplib.FTP(sys.argv[1], timeout=20)
f.login()
try:
    print("PORT:", f.sendcmd("PORT %s,39,16" % sys.argv[2].replace(".", ",")))
except ftplib.Error as e:
    print("PORT:", e)
try:
    print("RETR:", f.sendcmd("RETR pub/big"))
except ftplib.Error as e:
    print("RETR:", e)
f.quit()
PY
grep -q "^PORT: 500 Illegal PORT command" "$T/bounce.out" || fail "bounce PORT: $(cat "$T/bounce.out")"
grep -q "^RETR: 425" "$T/bounce.out" || fail "RETR after the bounce: $(cat "$T/bounce.out")"
grep -qF "refused announcement \"PORT ${STRANGER4//./,},39,16\\r\\n\": announced $STRANGER4 is not the client $CLIENT4 (FTP bounce)" "$ISP_LOG" ||
	fail "isp did not log the bounce: $(grep -o 'refused announcement.*' "$ISP_LOG")"
sleep 0.5
[ ! -s "$T/bounce.hits" ] || fail "the bounce reached its target: $(wc -l <"$T/bounce.hits") connections"
ok "bounce refused, its target untouched: $(head -1 "$T/bounce.out"); $(sed -n 2p "$T/bounce.out")"
