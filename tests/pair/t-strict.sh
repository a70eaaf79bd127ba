#!/bin/bash
# What -t used to accept in silence is refused, each with one line naming
# the file, the key and the problem, word for word: a key set twice, a
# key before any [section], a value a '#' would cut short, "any"
# as a destination, host bits in a block, a trailing comma, a rule file
# that does not exist, peer_name with a key, a capitalised user name, two
# doors on one port, an audit file nobody can create, a directory for -c,
# and a count out of range named as a count.
. "$(dirname "$0")/../lib.sh"
# Configs with password hashes, as an admin keeps them (isp -t warns of
# one everyone may read: tests/pair/t-config.sh).
umask 027
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=4430 SOCKS_PORT=1080
esp_conf "$T/esp.conf"
ALLOW="10.1.0.0/16:21"
ISP_EXTRA="rules = $TOP/rules"
isp_conf "$T/isp.conf"

# refuse PROG FILE MESSAGE: -t exits 1 with exactly "PROG: MESSAGE".
refuse() {
	local rc
	"$BIN/$1" -t -c "$2" >"$T/out" 2>&1
	rc=$?
	[ $rc = 1 ] || fail "$1 -t exit $rc for: $3 ($(cat "$T/out"))"
	[ "$(cat "$T/out")" = "$1: $3" ] || fail "$1 -t said '$(cat "$T/out")', want '$1: $3'"
	ok "$1: $3"
}
"$BIN/isp" -t -c "$T/isp.conf" >"$T/out" 2>&1 || fail "the base isp.conf: $(cat "$T/out")"
"$BIN/esp" -t -c "$T/esp.conf" >"$T/out" 2>&1 || fail "the base esp.conf: $(cat "$T/out")"

# A key set twice: iniparser keeps the last one.
{ cat "$T/isp.conf"; printf '[isp]\nallow = 10.2.0.0/16\n'; } >"$T/dup.conf"
first=$(grep -n '^allow =' "$T/isp.conf" | cut -d: -f1)
last=$(wc -l <"$T/dup.conf")
refuse isp "$T/dup.conf" "$T/dup.conf: [isp] allow: set twice (lines $first and $last); the last would win: keep one"

# A key before any [section]: iniparser would drop it.
{ printf '; the esp\nallow_root = yes\n'; cat "$T/esp.conf"; } >"$T/nosec.conf"
refuse esp "$T/nosec.conf" "$T/nosec.conf: line 2: allow_root: before any [section], where it would be ignored: move it into its section"
# A '#' or ';' inside a value (a proxy password) starts a comment there.
sed 's#^\[isp\]#[isp]\nvia = http://u:p\#ss@127.0.0.1:3128#' "$T/isp.conf" >"$T/hash.conf"
refuse isp "$T/hash.conf" "$T/hash.conf: [isp] via: '#' right after other text starts a comment and cuts the value short; put the whole value in double quotes"
sed 's#^\[isp\]#[isp]\nvia = "http://u:p\#ss@127.0.0.1:3128"   ; quoted#' "$T/isp.conf" >"$T/quoted.conf"
"$BIN/isp" -t -c "$T/quoted.conf" >"$T/out" 2>&1 && grep -q "configuration OK" "$T/out" ||
	fail "a quoted value with '#', and a comment after it: $(cat "$T/out")"
# A value continued with a backslash is one line: its next is no key.
{ cat "$T/isp.conf"; printf '[isp]\n'; } | sed 's#^allow =.*#allow = 10.1.0.0/16:21 \\\n  10.2.0.0/16:21#' >"$T/cont.conf"
"$BIN/isp" -t -c "$T/cont.conf" >"$T/out" 2>&1 && grep -q "configuration OK" "$T/out" ||
	fail "a value continued with a backslash: $(cat "$T/out")"

sed 's#^allow =.*#allow = any#' "$T/isp.conf" >"$T/any.conf"
refuse isp "$T/any.conf" "$T/any.conf: [isp] allow: \"any\" would be taken as a host name; for every address write 0.0.0.0/0 ::/0"

sed 's#^allow =.*#allow = none 10.1.0.0/16#' "$T/isp.conf" >"$T/none.conf"
refuse isp "$T/none.conf" "$T/none.conf: [isp] allow: \"none\" with other entries would be taken as a host name; \"none\" alone allows nothing"

sed 's#^allow =.*#allow = 10.1.2.3/16#' "$T/isp.conf" >"$T/bits.conf"
refuse isp "$T/bits.conf" "$T/bits.conf: [isp] allow: \"10.1.2.3/16\" has host bits set; the block is 10.1.0.0/16"

sed 's#^allow =.*#allow = 10.1.0.0/16:21,#' "$T/isp.conf" >"$T/comma.conf"
refuse isp "$T/comma.conf" "$T/comma.conf: [isp] allow: \"10.1.0.0/16:21,\" is not ADDRESS/PREFIX[:PORTS] or NAME[:PORTS] (e.g. 10.1.0.0/16:21,80, [2001:db8::]/32:22 or .corp.example:80)"

{ cat "$T/isp.conf"; printf '[user alice]\npassword = %s\nrules = ftp,nosuchrule\n' "$(pwhash pw)"; } >"$T/rules.conf"
refuse isp "$T/rules.conf" "$T/rules.conf: [user alice] rules: \"nosuchrule\" is not a rule file in $TOP/rules; there are: ftp, irc, rsh"

sed '/^\[tls\]/a peer_name = esp.example.net' "$T/isp.conf" >"$T/peer.conf"
refuse isp "$T/peer.conf" "$T/peer.conf: [tls] peer_name: only with certificates: with a pre-shared key the key itself proves the esp; remove it"

{ cat "$T/isp.conf"; printf '[user Alice]\npassword = %s\n' "$(pwhash pw)"; } >"$T/caps.conf"
line=$(grep -n '^\[user Alice\]' "$T/caps.conf" | cut -d: -f1)
refuse isp "$T/caps.conf" "$T/caps.conf: line $line: [user Alice]: names are lower case (the file format folds them, so this one could never match); write [user alice]"

sed 's#^socks_listen .*#socks_listen = 127.0.0.1:4430#' "$T/esp.conf" >"$T/door.conf"
refuse esp "$T/door.conf" "$T/door.conf: [esp] socks_listen: 127.0.0.1:4430 is another door's address and port already"

{ cat "$T/esp.conf"; printf '[log]\naudit = /nonexistent-dir/audit.log\n'; } >"$T/audit.conf"
refuse esp "$T/audit.conf" "$T/audit.conf: [log] audit: /nonexistent-dir/audit.log: cannot write in /nonexistent-dir: No such file or directory"

mkdir "$T/confdir"
refuse esp "$T/confdir" "$T/confdir: is a directory, not a configuration file"

{ cat "$T/esp.conf"; printf '[esp]\nmax_handshakes = 0\n'; } >"$T/count.conf"
refuse esp "$T/count.conf" "$T/count.conf: [esp] max_handshakes: 0 is out of range (1 to 1000000)"

sed '/^\[session\]/a channel_window_max = 256K' "$T/esp.conf" >"$T/wmax.conf"
refuse esp "$T/wmax.conf" "$T/wmax.conf: [session] channel_window_max: smaller than [session] channel_window"
