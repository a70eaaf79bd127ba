#!/bin/bash
# The Prometheus endpoint of both daemons, [metrics] listen, after real
# traffic: a login, an HTTP download, an active FTP transfer, a refused
# destination and a wrong password. Each scrape parses with the real
# Prometheus text parser (python3-prometheus-client); the byte counters
# equal the sums of the audit lines' bytes, and cover the file; sessions,
# round trips, channels by user, refusals by reason, announcements by
# rule and outcome, and logins are what the traffic made them. esp -S and
# isp -S print the same figures for people.
. "$(dirname "$0")/../lib.sh"
need_cmd curl
PY=/usr/bin/python3 # Debian's, with Debian's python3-prometheus-client
$PY -c 'import prometheus_client' 2>/dev/null ||
	skip "needs python3-prometheus-client"
ftp_start
mkdir -p "$T/www"
head -c 3000000 /dev/urandom >"$T/www/f"
http_start "$T/www"

EM=$(free_port)
IM=$(free_port)
ALLOW="127.0.0.1/32:1"
ESP_EXTRA="outside_own_addresses = yes
[metrics]
listen = 127.0.0.1:$EM
[log]
audit = $T/esp-audit.log
[esp]"
ISP_EXTRA="rules = $T/rules
[metrics]
listen = 127.0.0.1:$IM
[log]
audit = $T/isp-audit.log
[isp]"
ISP_SECTIONS="
[policy]
anonymous = no
[user alice]
password = $(pwhash alice-secret)
allow = 127.0.0.1/32:$HTTP_PORT 127.0.0.1/32:$FTP
"
pair_start
wait_for_log "$ESP_LOG" "serving metrics on http://127.0.0.1:$EM/metrics" 5
wait_for_log "$ISP_LOG" "serving metrics on http://127.0.0.1:$IM/metrics" 5

PX="socks5h://alice:alice-secret@127.0.0.1:$SOCKS_PORT"
curl -sS --fail --max-time 30 --proxy "$PX" -o "$T/got" \
	"http://127.0.0.1:$HTTP_PORT/f" || fail "curl through the pair"
[ "$(sha "$T/got")" = "$(sha "$T/www/f")" ] || fail "http: SHA-256 differs"
curl -sS --fail --max-time 30 --proxy "$PX" -P - -o "$T/got.ftp" \
	"ftp://127.0.0.1:$FTP/pub/f" || fail "active ftp through the pair"
[ "$(sha "$T/got.ftp")" = "$(sha "$T/ftp/pub/f")" ] || fail "ftp: SHA-256 differs"
curl -sS --max-time 10 --proxy "$PX" -o /dev/null "http://127.0.0.1:2/" &&
	fail "a destination outside alice's policy was reached"
curl -sS --max-time 10 --proxy "socks5h://alice:wrong@127.0.0.1:$SOCKS_PORT" \
	-o /dev/null "http://127.0.0.1:$HTTP_PORT/f" && fail "a wrong password got through"

# One connection held open: alice has one channel open on each side.
exec 7< <(curl -sS --max-time 30 --proxy "$PX" --limit-rate 20k \
	-o /dev/null "http://127.0.0.1:$HTTP_PORT/f" 2>&1)
HOLD=$!
sleep 1.5
# Wait for what the figures rest on: the isp's audit of the 2 refusals
# the esp reported, each side's audit of the 3 closed channels (HTTP, FTP
# control and data), and the held channel open on each side (2nd to HTTP).
wait_for_count "$T/isp-audit.log" 'event=refusal side=esp .*fate="reported by the esp"' 2 10
for side in esp isp; do
	wait_for_count "$T/$side-audit.log" 'event=channel' 3 10
done
wait_for_count "$ESP_LOG" "channel [0-9]+ [^ ]+ -> [^ ]+:$HTTP_PORT opened\$" 2 10
wait_for_count "$ISP_LOG" "channel [0-9]+ [^ ]+ -> [^ ]+:$HTTP_PORT \([^)]*\) opened\$" 2 10

cat >"$T/scrape.py" <<'PY'
# scrape.py URL OUT: fetch, parse with prometheus_client, write
# "name{l=v,...} value" lines, sorted; fail on anything it rejects.
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
url, out = sys.argv[1], sys.argv[2]
r = urllib.request.urlopen(url, timeout=10)
ctype = r.headers["Content-Type"]
assert ctype.startswith("text/plain; version=0.0.4"), ctype
text = r.read().decode()
lines = []
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        lines.append("%s{%s} %r" % (s.name, labels, float(s.value)))
open(out, "w").write("\n".join(sorted(lines)) + "\n")
PY
$PY "$T/scrape.py" "http://127.0.0.1:$EM/metrics" "$T/esp.m" ||
	fail "the esp's metrics do not parse"
$PY "$T/scrape.py" "http://127.0.0.1:$IM/metrics" "$T/isp.m" ||
	fail "the isp's metrics do not parse"
echo "--- esp metrics"; cat "$T/esp.m"
echo "--- isp metrics"; cat "$T/isp.m"

# val FILE SAMPLE: a sample's value, as an integer (empty when absent).
val() { awk -v k="$2" '$1 == k { printf "%d", $2 }' "$1"; }
want() { # FILE SAMPLE VALUE
	[ "$(val "$1" "$2")" = "$3" ] ||
		fail "$(basename "$1"): $2 is '$(val "$1" "$2")', not $3"
}
want "$T/esp.m" 'dynpass_sessions{peer=isp}' 1
want "$T/esp.m" 'dynpass_sessions{peer=agent}' 0
want "$T/isp.m" 'dynpass_sessions{peer=esp}' 1
want "$T/esp.m" 'dynpass_channels{user=alice}' 1
want "$T/isp.m" 'dynpass_channels{user=alice}' 1
want "$T/esp.m" 'dynpass_refusals_total{reason=not_allowed}' 1
want "$T/esp.m" 'dynpass_refusals_total{reason=login_failed}' 1
want "$T/esp.m" 'dynpass_logins_total{method=socks,result=refused}' 1
want "$T/isp.m" 'dynpass_logins_total{method=password,result=refused}' 1
want "$T/isp.m" 'dynpass_refusals_total{reason=reported_by_esp}' 2
want "$T/esp.m" 'dynpass_announcements_total{outcome=honoured,rule=ftp}' 1
want "$T/isp.m" 'dynpass_announcements_total{outcome=honoured,rule=ftp}' 1
want "$T/esp.m" 'dynpass_channels_total{kind=reverse}' 1
want "$T/isp.m" 'dynpass_channels_total{kind=reverse}' 1
want "$T/esp.m" 'dynpass_build_info{program=esp,version=0.1.0}' 1
ok "sessions, channels by user, refusals, logins, announcements as the traffic made them"

# Round trips from PING: there, and between 0 and 1 s on loopback.
for f in esp isp; do
	awk '$1 ~ /^dynpass_session_rtt_seconds\{peer=/ { n++; if ($2 <= 0 || $2 >= 1) bad = 1 }
		END { exit !(n == 1 && !bad) }' "$T/$f.m" ||
		fail "$f: no sane dynpass_session_rtt_seconds"
done
ok "session round trips: esp $(awk '/^dynpass_session_rtt/ {print $2}' "$T/esp.m") s," \
	"isp $(awk '/^dynpass_session_rtt/ {print $2}' "$T/isp.m") s"

# Bytes: the held download is stopped first, so the counters and the
# audit lines describe the same channels.
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
exec 7<&-
sleep 1
# The held channel's close, audited on each side: 4 channel lines.
for side in esp isp; do
	wait_for_count "$T/$side-audit.log" 'event=channel' 4 10
done
$PY "$T/scrape.py" "http://127.0.0.1:$EM/metrics" "$T/esp.m" || fail "esp scrape"
$PY "$T/scrape.py" "http://127.0.0.1:$IM/metrics" "$T/isp.m" || fail "isp scrape"
[ -z "$(val "$T/esp.m" 'dynpass_channels{user=alice}')" ] ||
	fail "esp: alice still has channels open after they closed"
for side in esp isp; do
	read -r up down < <(grep -o 'bytes_up=[0-9]* bytes_down=[0-9]*' "$T/$side-audit.log" |
		tr -d 'a-z_=' | awk '{u += $1; d += $2} END {print u, d}')
	ts=$(val "$T/$side.m" 'dynpass_channel_bytes_total{direction=to_server}')
	tc=$(val "$T/$side.m" 'dynpass_channel_bytes_total{direction=to_client}')
	[ "$ts" = "$up" ] || fail "$side: $ts bytes to servers counted, the audit says $up"
	[ "$tc" = "$down" ] || fail "$side: $tc bytes to clients counted, the audit says $down"
	[ "$tc" -ge $((3000000 + 1048576)) ] || fail "$side: only $tc bytes to clients"
	ok "$side: bytes to servers $ts, to clients $tc: as in the audit"
done

# Only /metrics, only GET and HEAD, no body.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://127.0.0.1:$EM/")" = 404 ] || fail "/ is not 404"
[ "$(code -I "http://127.0.0.1:$EM/metrics")" = 200 ] || fail "HEAD is not 200"
[ "$(code -X POST "http://127.0.0.1:$EM/metrics")" = 501 ] ||
	fail "POST is not 501"
[ "$(code -X GET -d x "http://127.0.0.1:$EM/metrics")" = 413 ] ||
	fail "a body is not 413"
ok "/ is 404, HEAD 200, POST 501 (not implemented), a body 413"

# -S: the same figures, for people.
"$BIN/esp" -S -c "$T/esp.conf" >"$T/esp.status" || fail "esp -S failed"
"$BIN/isp" -S -c "$T/isp.conf" >"$T/isp.status" || fail "isp -S failed"
cat "$T/esp.status" "$T/isp.status"
grep -q "^esp (dynpass 0.1.0), from http://127.0.0.1:$EM/metrics" "$T/esp.status" ||
	fail "esp -S: no title line"
grep -q "^  sessions: agent 0, isp 1$\|^  sessions: isp 1, agent 0$" "$T/esp.status" ||
	fail "esp -S: sessions line"
grep -q "^  refusals:.* not_allowed 1" "$T/esp.status" || fail "esp -S: refusals"
grep -q "^  announcements: .*ftp/honoured 1" "$T/isp.status" || fail "isp -S: announcements"
grep -q "^  channels open: 0$" "$T/isp.status" || fail "isp -S: channels open"
tc=$(val "$T/isp.m" 'dynpass_channel_bytes_total{direction=to_client}')
grep -q "to_client $(awk -v b="$tc" 'BEGIN { printf "%.1f MiB", b / 1048576 }')" \
	"$T/isp.status" || fail "isp -S: bytes to clients"
ok "esp -S and isp -S"

# Without a daemon there: a clear error, exit 1.
sed "s/^listen = 127.0.0.1:$EM/listen = 127.0.0.1:1/" "$T/esp.conf" >"$T/none.conf"
"$BIN/esp" -S -c "$T/none.conf" 2>"$T/err" && fail "esp -S on a closed port succeeded"
grep -qx "esp: http://127.0.0.1:1/metrics: no answer (is it running, with \[metrics\] listen?)" \
	"$T/err" || fail "esp -S error: $(cat "$T/err")"
ok "esp -S with nothing there: $(cat "$T/err")"
