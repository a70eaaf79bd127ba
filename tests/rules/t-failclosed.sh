#!/bin/bash
# Announcements fail closed, against a scripted server on loopback:
#  - a server's 227 naming another host opens nothing: it is rewritten,
#    and the client cannot reach that host;
#  - a user whose rules lack ftp is still scanned: the PORT is neutralised;
#  - PORT forms that do not decode, hide behind Telnet IAC or carry a space
#    after a comma are neutralised, never passed on;
#  - a PORT line that grows past the holdback resets the connection;
#  - the old quadratic IRC line and a DCC offer in the same write: reset,
#    the offer never reaches the server, and little CPU is spent;
#  - DCC offers in forms the patterns do not take (leading space, a
#    second CTCP, CPRIVMSG, NOTICE, after a bare CR) are neutralised;
#  - reverse openings are capped per control connection: 2000 PORTs leave
#    the isp with a bounded number of descriptors.
. "$(dirname "$0")/../lib.sh"
SRV="python3 $TESTS/tools/linesrv.py"
CTL="python3 $TESTS/tools/ctlclient.py"

FTP_PORT=$(free_port) IRC_PORT=$(free_port)
mkdir -p "$T/rules" "$T/www"
sed -E "s/^(ports *= *).*/\1$FTP_PORT/" "$TOP/rules/ftp.ini" >"$T/rules/ftp.ini"
sed -E "s/^(ports *= *).*/\1$IRC_PORT/" "$TOP/rules/irc.ini" >"$T/rules/irc.ini"
echo secret-b >"$T/www/f"
http_start "$T/www" 127.0.0.2
OTHER=$HTTP_PORT
p1=$((OTHER >> 8)) p2=$((OTHER & 255))
bg_start "$T/ftp-srv.out" $SRV "$FTP_PORT" "$T/ftp.log" \
	"PASV=227 Entering Passive Mode (127,0,0,2,$p1,$p2).\r\n" \
	"STAT=227 Entering Passive Mode (127,000,000,001,$(printf %03d $p1),$(printf %03d $p2)).\r\n"
bg_start "$T/irc-srv.out" $SRV "$IRC_PORT" "$T/irc.log" ":irc.test 001 you :hi\r\n"
wait_for_log "$T/ftp-srv.out" listening 10
wait_for_log "$T/irc-srv.out" listening 10

ALLOW="127.0.0.1/32:$FTP_PORT,$IRC_PORT"
ISP_EXTRA="rules = $T/rules"
ESP_EXTRA="outside_own_addresses = yes"
ISP_SECTIONS="
[policy]
anonymous = yes
[user ircuser]
password = $(pwhash irc-only)
allow = 127.0.0.1/32:$FTP_PORT
rules = irc
"
pair_start

# A 227 naming another host: rewritten to the server at port 0.
$CTL "$SOCKS_PORT" "$FTP_PORT" send 'PASV\r\n' >"$T/pasv.out"
grep -qF "reply: b'227 Entering Passive Mode (127,0,0,1,0,0).\\r\\n'" "$T/pasv.out" ||
	fail "227 for another host not neutralised: $(cat "$T/pasv.out")"
wait_for_log "$ISP_LOG" 'refused announcement "227 Entering Passive Mode \(127,0,0,2,[0-9]+,[0-9]+\)\.\\r\\n": it names another host than the server' 5
code=$(python3 "$TESTS/tools/peer.py" reply "$SOCKS_PORT" 127.0.0.2 "$OTHER")
[ "$code" = 2 ] || fail "the client reached the other host after the 227: reply $code"
ok "a 227 naming another host is neutralised and opens nothing (reply 2)"

# A 227 the pair honours goes to the client as it was read: decimal,
# without the leading zeros a client might take for octal.
$CTL "$SOCKS_PORT" "$FTP_PORT" send 'STAT\r\n' >"$T/stat.out"
grep -qF "reply: b'227 Entering Passive Mode (127,0,0,1,$p1,$p2).\r\n'" "$T/stat.out" ||
	fail "an honoured 227 with leading zeros: $(cat "$T/stat.out")"
ok "an honoured 227 with leading zeros reaches the client as decoded: 127,0,0,1,$p1,$p2"

# Forms that must never reach the server as they are.
: >"$T/ftp.log"
$CTL "$SOCKS_PORT" "$FTP_PORT" ircuser:irc-only send 'PORT 127,0,0,1,156,64\r\n' >/dev/null
$CTL "$SOCKS_PORT" "$FTP_PORT" send 'PORT 10,9,8,7,1,281\r\n' \
	'PO\xff\xf4RT 10,9,8,7,0,25\r\n' 'PORT 10, 9,8,7,0,25\r\n' 'LPRT 4,4,10,9,8,7,2,0,25\r\n' >/dev/null
sleep 0.5
grep -q "10,9,8,7\|10, 9\|LPRT\|156,64" "$T/ftp.log" && fail "a PORT reached the server unneutralised: $(cat "$T/ftp.log")"
[ "$(grep -cF "b'PORT 127,0,0,1,0,0\\r\\n'" "$T/ftp.log")" = 5 ] ||
	fail "the server did not get 5 neutralised PORTs: $(cat "$T/ftp.log")"
grep -q 'refused announcement "PORT 127,0,0,1,156,64\\r\\n": this rule file is not allowed for the user' "$ISP_LOG" ||
	fail "no log line for the user without ftp rules"
grep -q 'refused announcement "PORT 10,9,8,7,1,281\\r\\n": it does not decode' "$ISP_LOG" ||
	fail "no log line for the undecodable PORT"
ok "undecodable, IAC-hidden, spaced, LPRT and not-honoured PORTs all reach the server as PORT to port 0"

# Implicit TLS on the control port (a ClientHello as the first bytes,
# from a real TLS client): its first line becomes QUIT, so the server
# never sees a handshake record (what follows the first LF byte is
# scanned as lines like any other), and the client's handshake fails.
: >"$T/ftp.log"
TESTS=$TESTS python3 - "$SOCKS_PORT" "$FTP_PORT" >"$T/tls.out" 2>&1 <<'PY'
import os, socket, ssl, sys
sys.path.insert(0, os.environ["TESTS"] + "/tools")
from peer import socks_connect
s, code = socks_connect(int(sys.argv[1]), "127.0.0.1", int(sys.argv[2]))
s.settimeout(10)
print("greeting", s.recv(100))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="ftp.test")
    print("handshake done")
except (ssl.SSLError, OSError) as e:
    print("handshake failed:", type(e).__name__)
PY
grep -q "^handshake failed" "$T/tls.out" || fail "a TLS handshake on the control port: $(cat "$T/tls.out")"
for i in $(seq 30); do grep -q QUIT "$T/ftp.log" && break; sleep 0.1; done
[ "$(head -1 "$T/ftp.log")" = "b'QUIT\\r\\n'" ] || fail "the server's first line is not QUIT: $(cat "$T/ftp.log")"
grep -q 'x16\\x03' "$T/ftp.log" && fail "the ClientHello reached the server: $(cat "$T/ftp.log")"
grep -q 'refused announcement "\\x16\\x03.*\[tls\] refuses it' "$ESP_LOG" "$ISP_LOG" ||
	fail "no log line for the ClientHello: $(grep -h 'refused announcement' "$ESP_LOG" "$ISP_LOG" | tail -2)"
ok "a TLS ClientHello on the control port: the server's first line is QUIT, no handshake record reaches it, the handshake fails"

# A PORT line that grows past the holdback: the connection is reset.
: >"$T/ftp.log"
spaces=$(printf '%5000s' '')
$CTL "$SOCKS_PORT" "$FTP_PORT" send "PORT$spaces" '10,9,8,7,0,25\r\n' >"$T/long.out"
grep -qx "reset\|closed" "$T/long.out" || fail "a PORT past the holdback did not end the connection: $(cat "$T/long.out")"
grep -q "PORT" "$T/ftp.log" && fail "the long PORT reached the server: $(cat "$T/ftp.log")"
# The esp sees it first (it scans what the client sends too) and resets.
wait_for_log "$ESP_LOG" "the start of one longer than the holdback \(4096 bytes\); resetting the connection" 5
ok "a PORT line longer than the holdback resets the connection; nothing of it reaches the server"

# The quadratic IRC line, then an offer naming 10.0.0.9 in the same write.
cpu() { awk '{ print $14 + $15 }' "/proc/$ISP_PID/stat"; }
before=$(cpu)
sp=$(printf '%40000s' '')
$CTL "$SOCKS_PORT" "$IRC_PORT" send "PRIVMSG bob :\\x01DCC SEND x 1 2$sp\\r\\nPRIVMSG bob :\\x01DCC SEND y 167772169 5000 1\\x01\\r\\n" >"$T/irc.out"
after=$(cpu)
grep -qx "reset\|closed" "$T/irc.out" || fail "the quadratic line did not end the connection: $(cat "$T/irc.out")"
grep -q "167772169" "$T/irc.log" && fail "the DCC offer reached the server: $(cat "$T/irc.log")"
[ $((after - before)) -le 20 ] || fail "the isp spent $((after - before)) ticks on one line"
ok "a 40000-space DCC line and an offer: reset, the offer never reaches the server, $((after - before)) CPU ticks"

# DCC offers in forms the patterns do not take: each line is neutralised.
: >"$T/irc.log"
$CTL "$SOCKS_PORT" "$IRC_PORT" send \
	' PRIVMSG bob :\x01DCC SEND a 167772169 5000 1\x01\r\n' \
	'PRIVMSG bob :\x01VERSION\x01\x01DCC SEND b 167772169 5000 1\x01\r\n' \
	'CPRIVMSG bob #c :\x01DCC SEND c 167772169 5000 1\x01\r\n' \
	'NOTICE bob :\x01DCC CHAT chat 167772169 5000\x01\r\n' \
	'PRIVMSG #c :hi\rPRIVMSG bob :\x01DCC SEND e 167772169 5000 1\x01\r\n' \
	'PRIVMSG #c :after\r\n' >"$T/dcc.out"
for i in $(seq 50); do grep -q after "$T/irc.log" && break; sleep 0.1; done
grep -q "167772169" "$T/irc.log" && fail "a DCC offer reached the server: $(cat "$T/irc.log")"
n=$(grep -c "dynpass-refused-dcc" "$T/irc.log")
[ "$n" = 4 ] || fail "the server got $n neutralised lines, not 4: $(cat "$T/irc.log")"
# The one after a bare CR is understood, and refused as a bounce: port 0.
grep -qF 'DCC SEND e 2130706433 0 1' "$T/irc.log" || fail "the offer after a bare CR was not rewritten to port 0"
u=$(cat "$ESP_LOG" "$ISP_LOG" | grep -c 'it is not in a form \[dcc_send\] understands')
[ "$u" -ge 4 ] || fail "only $u log lines name a form [dcc_send] does not understand"
ok "DCC behind a leading space, a second CTCP, CPRIVMSG, NOTICE or a bare CR: $n lines neutralised, the one after a bare CR rewritten to port 0"

# 2000 PORTs on one control connection: capped reverse openings.
fds() { ls "/proc/$1/fd" | wc -l; }
isp0=$(fds "$ISP_PID") esp0=$(fds "$ESP_PID")
: >"$T/ftp.log"
$CTL "$SOCKS_PORT" "$FTP_PORT" ports 2000 >"$T/ports.out" &
CP=$!
for i in $(seq 100); do
	[ "$(grep -c "b'PORT" "$T/ftp.log")" -ge 2000 ] && break
	sleep 0.1
done
isp1=$(fds "$ISP_PID") esp1=$(fds "$ESP_PID")
wait $CP
n=$(grep -c "b'PORT" "$T/ftp.log")
z=$(grep -cF "b'PORT 127,0,0,1,0,0\\r\\n'" "$T/ftp.log")
echo "isp fds $isp0 -> $isp1, esp fds $esp0 -> $esp1; $n PORTs at the server, $z neutralised"
[ "$n" = 2000 ] || fail "the server got $n PORTs"
# The default [isp] reverse_per_channel is 8: the first 8 open, no more.
[ "$z" = 1992 ] || fail "$z of 2000 PORTs were refused by the cap, not 1992 (8 allowed)"
[ $((isp1 - isp0)) -le 24 ] || fail "the isp holds $((isp1 - isp0)) more descriptors"
[ $((esp1 - esp0)) -le 24 ] || fail "the esp holds $((esp1 - esp0)) more descriptors"
grep -q "too many reverse openings on this control connection (\[isp\] reverse_per_channel)" "$ISP_LOG" ||
	fail "no log line for the cap"
ok "2000 PORTs: $z refused by reverse_per_channel, the isp holds $((isp1 - isp0)) more descriptors, the esp $((esp1 - esp0))"
