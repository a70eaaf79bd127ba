#!/bin/bash
# isp -Q USER HOST:PORT, offline: allowed or refused and why, word for
# word, for a user's own rule, a group's, a name under a suffix rule, an
# IPv6 block, no rule, an unknown user and anonymous clients, with the
# rule files and reverse connections that apply; exit 0, 1, or 2 for a
# query or configuration that is wrong.
. "$(dirname "$0")/../lib.sh"
# isp.conf with password hashes, as an admin keeps it (mode 640): -Q's
# standard error must hold nothing else than its answer.
umask 027

write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SESSION_PORT=4430
ALLOW="10.1.0.0/16:21 192.0.2.0/24"
ISP_EXTRA="rules = $TOP/rules"
HASH=$(pwhash secret)
ISP_SECTIONS="
[policy]
anonymous = yes
reverse = no
rules = ftp
[group staff]
allow = 10.2.0.0/16 .corp.example:80,443
rules = irc
reverse = no
[user alice]
password = $HASH
allow = 10.1.0.0/16:21,80 [2001:db8::]/32:22
groups = staff
rules = ftp
[user bob]
password = $HASH
allow = 10.3.0.0/16:1-1024 127.0.0.0/8:80
[user carol]
password = $HASH
allow = none
groups = staff
"
isp_conf "$T/isp.conf"
"$BIN/isp" -t -c "$T/isp.conf" >"$T/out" 2>&1 || fail "isp -t: $(cat "$T/out")"

# query CONF WANT_EXIT WANT_OUTPUT USER HOST:PORT: the exact answer.
query() {
	local conf=$1 want_rc=$2 want=$3 rc
	shift 3
	"$BIN/isp" -c "$conf" -Q "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = "$want_rc" ] || fail "-Q $*: exit $rc, want $want_rc: $(cat "$T/out" "$T/err")"
	[ "$(cat "$T/out")" = "$want" ] || fail "-Q $*: got
$(cat "$T/out")
want
$want"
	[ ! -s "$T/err" ] || fail "-Q $*: on standard error: $(cat "$T/err")"
	ok "-Q $*: $(head -1 "$T/out")"
}
# query_error CONF MESSAGE ARGS...: exit 2, the message on standard error.
query_error() {
	local conf=$1 want=$2 rc
	shift 2
	"$BIN/isp" -c "$conf" -Q "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 2 ] && [ ! -s "$T/out" ] || fail "-Q $*: exit $rc, want 2: $(cat "$T/out" "$T/err")"
	[ "$(cat "$T/err")" = "$want" ] || fail "-Q $*: said '$(cat "$T/err")', want '$want'"
	ok "-Q $*: exit 2, $want"
}
C=$T/isp.conf
ALICE="rule files: ftp, irc (not rsh)"
ALICE_REV="reverse connections: no ([group staff] reverse = no)"
BOB="rule files: ftp, irc, rsh"

query "$C" 0 "allowed: [user alice] allow: 10.1.0.0/16:21,80
$ALICE
port 21: scanned by ftp.ini, announcements honoured
$ALICE_REV" alice 10.1.2.3:21

query "$C" 0 "allowed: [group staff] allow: 10.2.0.0/16
$ALICE
port 6667: scanned by irc.ini, announcements honoured
$ALICE_REV" alice 10.2.9.9:6667

query "$C" 0 "allowed: [group staff] allow: .corp.example:80,443
$ALICE
port 443: no rule file scans it
$ALICE_REV" alice www.Corp.Example:443

query "$C" 0 "allowed: [user alice] allow: [2001:db8::]/32:22
$ALICE
port 22: no rule file scans it
$ALICE_REV" alice '[2001:db8::5]:22'

query "$C" 1 "refused: no allow rule of [user alice] or [group staff] covers [2001:db9::5]:22
$ALICE
$ALICE_REV" alice '[2001:db9::5]:22'

query "$C" 1 "refused: no allow rule of [user alice] or [group staff] covers 10.9.9.9:21
$ALICE
$ALICE_REV" alice 10.9.9.9:21

query "$C" 0 "allowed: [user bob] allow: 10.3.0.0/16:1-1024
$BOB
port 514: scanned by rsh.ini, announcements honoured
reverse connections: yes" bob 10.3.0.1:514

query "$C" 1 "refused: no allow rule of [user bob] covers 192.0.2.5:80 ([isp] allow does, but only for clients without a login)
$BOB
reverse connections: yes" bob 192.0.2.5:80

# A name no rule names: the isp resolves it and checks the addresses.
query "$C" 0 "allowed: [user bob] allow: 127.0.0.0/8:80, for 127.0.0.1 (what localhost resolves to here)
$BOB
port 80: no rule file scans it
reverse connections: yes" bob localhost:80

addrs=$(getent ahosts localhost | awk '$2 == "STREAM" { print $1 }' | paste -sd, - | sed 's/,/, /g')
query "$C" 1 "refused: no allow rule of [user bob] covers localhost:81, nor what it resolves to here: $addrs
$BOB
reverse connections: yes" bob localhost:81

query "$C" 1 "refused: no such user (no [user mallory] section)" mallory 10.1.2.3:21

# "allow = none" beside a group's list adds nothing: no host "none".
query "$C" 0 "allowed: [group staff] allow: 10.2.0.0/16
rule files: irc (not ftp, rsh)
port 6667: scanned by irc.ini, announcements honoured
reverse connections: no ([group staff] reverse = no)" carol 10.2.9.9:6667
"$BIN/isp" -c "$C" -Q carol none:80 >"$T/out" 2>&1 && fail "carol may reach a host named none: $(cat "$T/out")"
case $(head -1 "$T/out") in
"refused: no allow rule of [user carol] or [group staff] covers none:80"*) ;;
*) fail "carol, none:80: $(cat "$T/out")" ;;
esac
ok "-Q carol none:80: $(head -1 "$T/out")"

ANON="rule files: ftp (not irc, rsh)
reverse connections: no ([policy] reverse = no)"
query "$C" 0 "allowed: [isp] allow: 10.1.0.0/16:21
rule files: ftp (not irc, rsh)
port 21: scanned by ftp.ini, announcements honoured
reverse connections: no ([policy] reverse = no)" - 10.1.2.3:21
query "$C" 1 "refused: no allow rule of [isp] covers 10.1.2.3:22
$ANON" - 10.1.2.3:22

sed 's/^anonymous = yes$/anonymous = no/' "$C" >"$T/noanon.conf"
query "$T/noanon.conf" 1 "refused: anonymous access is off ([policy] anonymous = no)" - 10.1.2.3:21

query_error "$C" 'isp: -Q: "10.1.2.3" is not HOST:PORT (an IPv6 address as [ADDRESS]:PORT)' alice 10.1.2.3
query_error "$C" 'isp: -Q: "2001:db8::5:22" is not HOST:PORT (an IPv6 address as [ADDRESS]:PORT)' alice 2001:db8::5:22
query_error "$C" 'isp: -Q: "10.1.2.3:0": 0 is not a port (1 to 65535)' alice 10.1.2.3:0
query_error "$C" 'isp: -Q: "10.1.2.3:http": http is not a port (1 to 65535)' alice 10.1.2.3:http
query_error "$C" 'isp: -Q: "bad!name:80": bad!name is not an IP address or a host name' alice 'bad!name:80'
query_error "$C" 'isp: -Q: "[10.1.2.3]:21": only an IPv6 address goes in brackets' alice '[10.1.2.3]:21'
query_error "$C" 'isp: -Q: no user: give a user name, or - for anonymous' '' 10.1.2.3:21
query_error "$T/nonexistent.conf" "isp: $T/nonexistent.conf: cannot open: No such file or directory" alice 10.1.2.3:21
