#!/bin/bash
# isp -R RULEFILE [CAPTURE], offline: every shipped rule file passes its
# vectors, one line each; a failing vector and a file that does not load
# exit 1, named; captures of each direction print each announcement, its
# offset, kind and endpoint and what the daemons would write instead, word
# for word, fed in segments and in small pieces alike.
. "$(dirname "$0")/../lib.sh"

# ruletest RULEFILE [CAPTURE]: run isp -R; sets rc, out (without the pass
# lines) and err.
ruletest() {
	"$BIN/isp" -R "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(grep -v '^pass: ' "$T/out")
	err=$(cat "$T/err")
}

# same WHAT WANT: $out must be WANT, line for line.
same() {
	[ "$out" = "$2" ] || fail "$1: got
$out
want
$2"
}

for f in ftp irc rsh; do
	n=$(grep -c '^test\.[0-9]*\.input' "$TOP/rules/$f.ini")
	ruletest "$TOP/rules/$f.ini"
	[ $rc = 0 ] && [ -z "$err" ] || fail "$f.ini: exit $rc: $err"
	same "$f.ini" "$TOP/rules/$f.ini: $n test vectors passed"
	[ "$(grep -c "^pass: $TOP/rules/$f.ini: \[[a-z_]*\] test\.[0-9]*$" "$T/out")" = "$n" ] ||
		fail "$f.ini: not one pass line per vector: $(cat "$T/out")"
	ok "$f.ini: $n test vectors, one pass line each"
done

# One vector changed so that it must fail: exit 1, the vector named.
sed 's/^test\.1\.decode = 192\.168\.1\.5 50000$/test.1.decode = 192.168.1.5 50001/' \
	"$TOP/rules/ftp.ini" >"$T/ftp.ini"
cmp -s "$T/ftp.ini" "$TOP/rules/ftp.ini" && fail "the sed did not change ftp.ini"
n=$(grep -c '^test\.[0-9]*\.input' "$T/ftp.ini")
ruletest "$T/ftp.ini"
[ $rc = 1 ] || fail "a failing vector: exit $rc"
same "a failing vector" "FAIL: $T/ftp.ini: [pasv] test.1.decode: expected 192.168.1.5 50001, got 192.168.1.5 50000
$T/ftp.ini: 1 of $n test vectors failed"
ok "a failing vector: exit 1, \"$(head -1 <<<"$out")\""

# A file that does not load: the loader's message, exit 1.
sed 's/^action = server-connects/actoin = server-connects/' "$TOP/rules/rsh.ini" >"$T/rsh.ini"
ruletest "$T/rsh.ini"
[ $rc = 1 ] && [ -z "$out" ] || fail "a broken file: exit $rc: $out"
[ "$err" = "isp: $T/rsh.ini: [stderr] actoin: unknown key" ] || fail "a broken file: $err"
ruletest "$T/nonexistent.ini"
[ $rc = 1 ] && [ "$err" = "isp: $T/nonexistent.ini: cannot open: No such file or directory" ] ||
	fail "a missing file: exit $rc: $err"
ruletest "$TOP/rules/ftp.ini" "$T/nonexistent.cap"
[ $rc = 1 ] && [ "$err" = "isp: $T/nonexistent.cap: cannot open: No such file or directory" ] ||
	fail "a missing capture: exit $rc: $err"
ok "a file that does not load, a missing file or capture: exit 1 with the loader's message"

ftp=$TOP/rules/ftp.ini
hdr="$ftp: 34 test vectors passed"
[ "$(grep -c '^test\.[0-9]*\.input' "$ftp")" = 34 ] || fail "ftp.ini no longer has 34 vectors: update this test"

# An FTP client's side.
printf 'USER anonymous\r\nPORT 10,1,2,3,4,5\r\nEPRT |1|10.1.2.3|1029|\r\nEPRT |2|2001:db8::5|1029|\r\nPORT 10,1,2,3,0,25\r\nAUTH TLS\r\nPORT 10,1,2,3,300,1\r\nQUIT\r\n' >"$T/c2s.cap"
ruletest "$ftp" "$T/c2s.cap"
[ $rc = 0 ] && [ -z "$err" ] || fail "client capture: exit $rc: $err"
same "client capture" "$hdr
client-to-server: offset 16: [port] 10.1.2.3:1029 \"PORT 10,1,2,3,4,5\\r\\n\"
  rewrite: \"PORT 192,0,2,1,156,64\\r\\n\" (to the isp's listener, here 192.0.2.1:40000; only if 10.1.2.3 is the client's own address)
client-to-server: offset 35: [eprt] 10.1.2.3:1029 \"EPRT |1|10.1.2.3|1029|\\r\\n\"
  rewrite: \"EPRT |1|192.0.2.1|40000|\\r\\n\" (to the isp's listener, here 192.0.2.1:40000; only if 10.1.2.3 is the client's own address)
client-to-server: offset 59: [eprt] [2001:db8::5]:1029 \"EPRT |2|2001:db8::5|1029|\\r\\n\"
  rewrite: \"EPRT |2|2001:db8::1|40000|\\r\\n\" (to the isp's listener, here [2001:db8::1]:40000; only if 2001:db8::5 is the client's own address)
client-to-server: offset 86: [port] 10.1.2.3:25 \"PORT 10,1,2,3,0,25\\r\\n\"
  refused: announced port 25 is below 1024 (not allowed by the rule); neutralised to \"PORT 192,0,2,1,0,0\\r\\n\"
client-to-server: offset 106: [auth] \"AUTH TLS\\r\\n\"
  refused: [auth] refuses it (action = refuse); neutralised to \"AUTH dynpass-refused\\r\\n\"
client-to-server: offset 116: [port] \"PORT 10,1,2,3,300,1\\r\\n\"
  refused: it does not decode: p1 \"300\" is not a number 0-255; neutralised to \"PORT 192,0,2,1,0,0\\r\\n\"
client-to-server: 143 bytes scanned, 6 found
server-to-client: 143 bytes scanned, nothing found"
ok "FTP client side: PORT, EPRT (IPv4, IPv6) rewritten; a low port, AUTH TLS and a bad byte refused"

# An FTP server's side.
printf '220 ready\r\n227 Entering Passive Mode (10,1,2,3,4,5)\r\n229 Entering Extended Passive Mode (|||1029|)\r\n227-Entering Passive Mode (10,1,2,3,4,5)\r\n' >"$T/s2c.cap"
ruletest "$ftp" "$T/s2c.cap"
[ $rc = 0 ] && [ -z "$err" ] || fail "server capture: exit $rc: $err"
same "server capture" "$hdr
client-to-server: 142 bytes scanned, nothing found
server-to-client: offset 11: [pasv] 10.1.2.3:1029 \"227 Entering Passive Mode (10,1,2,3,4,5)\\r\\n\"
  unchanged (the client may connect there once, if it is the server's address)
server-to-client: offset 53: [epsv] (server):1029 \"229 Entering Extended Passive Mode (|||1029|)\\r\\n\"
  unchanged (the client may connect there once)
server-to-client: offset 100: [pasv] \"227-Entering Passive Mode (10,1,2,3,4,5)\\r\\n\"
  refused: it is not in a form [pasv] understands; neutralised to \"227 Entering Passive Mode (192,0,2,1,0,0).\\r\\n\"
server-to-client: 142 bytes scanned, 3 found"
ok "FTP server side: 227 and 229 pass unchanged, a 227- continuation is neutralised"
printf '227 Entering Passive Mode (010,001,002,003,4,5)\r\n' >"$T/zeros.cap"
ruletest "$ftp" "$T/zeros.cap"
[ $rc = 0 ] && [ -z "$err" ] || fail "zeros capture: exit $rc: $err"
grep -qxF '  written as decoded: "227 Entering Passive Mode (10,1,2,3,4,5)\r\n" (the client may connect there once, if it is the server'"'"'s address)' <<<"$out" ||
	fail "zeros capture: $out"
ok "a 227 with leading zeros is written out as decoded"

# IRC: a DCC SEND, and a DCC CHAT in another form.
printf 'NICK me\r\nPRIVMSG bob :\001DCC SEND "my file.txt" 167772161 5000 123\001\r\nNOTICE bob :\001DCC CHAT chat 167772161 5001\001\r\n' >"$T/irc.cap"
ruletest "$TOP/rules/irc.ini" "$T/irc.cap"
[ $rc = 0 ] && [ -z "$err" ] || fail "IRC capture: exit $rc: $err"
same "IRC capture" "$TOP/rules/irc.ini: 19 test vectors passed
client-to-server: offset 9: [dcc_send] 10.0.0.1:5000 \"PRIVMSG bob :\\x01DCC SEND \\\"my file.txt\\\" 167772161 5000 123\\x01\"
  rewrite: \"PRIVMSG bob :\\x01DCC SEND \\\"my file.txt\\\" 3221225985 40000 123\\x01\" (to the isp's listener, here 192.0.2.1:40000; only if 10.0.0.1 is the client's own address)
client-to-server: offset 67: [dcc_send] \"NOTICE bob :\\x01DCC CHAT chat 167772161 5001\\x01\\r\\n\"
  refused: it is not in a form [dcc_send] understands; neutralised to \"PING :dynpass-refused-dcc\\r\\n\"
client-to-server: 111 bytes scanned, 2 found"
ok "IRC: DCC SEND rewritten to a 32-bit address, DCC CHAT in a NOTICE neutralised"

# rsh: the implied address (the client itself).
printf '1023\0alice\0alice\0ls\0' >"$T/rsh.cap"
ruletest "$TOP/rules/rsh.ini" "$T/rsh.cap"
same "rsh capture" "$TOP/rules/rsh.ini: 5 test vectors passed
client-to-server: offset 0: [stderr] (client):1023 \"1023\\x00\"
  rewrite: \"40000\\x00\" (to the isp's listener, here 192.0.2.1:40000)
client-to-server: 20 bytes scanned, 1 found"
ok "rsh: the stderr port at the start, implied address"

# Nothing to find.
printf 'USER anonymous\r\nPASS x\r\nLIST\r\nQUIT\r\n' >"$T/none.cap"
ruletest "$ftp" "$T/none.cap"
[ $rc = 0 ] || fail "empty-handed capture: exit $rc: $err"
same "empty-handed capture" "$hdr
client-to-server: 36 bytes scanned, nothing found
server-to-client: 36 bytes scanned, nothing found"
: >"$T/empty.cap"
ruletest "$ftp" "$T/empty.cap"
same "empty capture" "$hdr
client-to-server: 0 bytes scanned, nothing found
server-to-client: 0 bytes scanned, nothing found"
ok "a capture without announcements, and an empty one: nothing found"

# Across the boundary of the first 1448-byte segment, found once.
{ for i in $(seq 240); do printf 'NOOP\r\n'; done; printf 'PORT 10,1,2,3,4,5\r\n'; } >"$T/split.cap"
ruletest "$ftp" "$T/split.cap"
[ $rc = 0 ] || fail "split capture: exit $rc: $out"
same "split capture" "$hdr
client-to-server: offset 1440: [port] 10.1.2.3:1029 \"PORT 10,1,2,3,4,5\\r\\n\"
  rewrite: \"PORT 192,0,2,1,156,64\\r\\n\" (to the isp's listener, here 192.0.2.1:40000; only if 10.1.2.3 is the client's own address)
client-to-server: 1459 bytes scanned, 1 found
server-to-client: 1459 bytes scanned, nothing found"
ok "an announcement split across segments is found once, at offset 1440"

# Hostile input: a line that starts like PORT and never ends, binary junk.
{ printf 'PORT '; head -c 10000 /dev/zero | tr '\0' 1; printf '\r\nPORT 10,1,2,3,4,5\r\n'; } >"$T/long.cap"
ruletest "$ftp" "$T/long.cap"
[ $rc = 0 ] || fail "long line: exit $rc: $err"
same "long line" "$hdr
client-to-server: offset 0: error: ftp.ini: [port] detect: a line longer than the holdback (4096 bytes); the connection would be reset
client-to-server: 10026 bytes scanned, nothing found
server-to-client: 10026 bytes scanned, nothing found"
head -c 3000000 /dev/urandom >"$T/junk.cap"
ruletest "$ftp" "$T/junk.cap"
[ $rc = 0 ] && [ -z "$err" ] || fail "binary junk: exit $rc: $err"
grep -q '^client-to-server: 3000000 bytes scanned, ' "$T/out" &&
	grep -q '^server-to-client: 3000000 bytes scanned, ' "$T/out" || fail "binary junk: $out"
grep -q FAIL "$T/out" && fail "binary junk: $out"
ok "a line longer than the holdback: the reset reported; 3 MB of junk scanned both ways"
