#!/bin/bash
# The audit file, as an admin's tools read it. An active and a passive
# FTP transfer through the pair leave lines that parse as logfmt (and,
# with audit_format = json, as JSON lines): each with an RFC 3339 UTC
# timestamp with milliseconds, the isp's id and the peer's TLS identity;
# data channels name their control channel (parent=); each announcement
# has a line with its fate. SIGHUP makes both daemons reopen their audit
# and log files, so they can be rotated. Log lines carry UTC times.
. "$(dirname "$0")/../lib.sh"
need_root
need_cmd curl python3
ftp_start
ALLOW="127.0.0.1/32:$FTP"
ESP_EXTRA="outside_own_addresses = yes
[log]
audit = $T/esp-audit.log
file = $T/esp-file.log
[esp]"
ESP_LOG=$T/esp-file.log # the daemon's own file, and its start-up errors
ISP_EXTRA="rules = $T/rules
[log]
audit = $T/isp-audit.log
[isp]"
pair_start
want=$(sha "$T/ftp/pub/f")
fetch() { # NAME CURLARGS...
	local n=$1
	shift
	curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" "$@" \
		-o "$T/got.$n" "ftp://127.0.0.1:$FTP/pub/f" || fail "curl $n"
	[ "$(sha "$T/got.$n")" = "$want" ] || fail "$n: SHA-256 differs"
}
fetch active -P -
fetch passive
sleep 0.5
# Channels are audited at close, maybe after curl exits: 2 control, 2 data.
for s in esp isp; do
	wait_for_count "$T/$s-audit.log" 'event=channel' 4 10
done

# check FORMAT FILE SIDE: parse every line; check the fields.
cat >"$T/check.py" <<'PY'
import json, re, sys
fmt, path, side = sys.argv[1], sys.argv[2], sys.argv[3]
pair = re.compile(r'(\w+)=("(?:\\.|[^"\\])*"|\S+)')
recs = []
for line in open(path):
    line = line.rstrip("\n")
    if fmt == "json":
        r = json.loads(line)
    else:
        assert line.startswith("audit "), line
        r = {}
        for k, v in pair.findall(line[6:]):
            r[k] = json.loads(v) if v.startswith('"') else v
        rebuilt = " ".join("%s=%s" % kv for kv in pair.findall(line[6:]))
        assert rebuilt == line[6:], "not all logfmt: " + line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["ts"]), r["ts"]
    assert r["side"] == side, r
    assert r["isp"] == "test-isp", r
    recs.append(r)
chans = [r for r in recs if r["event"] == "channel"]
ann = [r for r in recs if r["event"] == "announce"]
ctl = [r for r in chans if r["rule"] == "ftp"]
data = [r for r in chans if r["rule"] != "ftp"]
assert len(ctl) == 2 and len(data) == 2, (ctl, data)
ids = {str(r["channel"]) for r in ctl}
for r in data:
    assert str(r["parent"]) in ids, ("data channel without its control channel", r)
for r in chans:
    assert r["peer"] == ("test-isp" if side == "esp" else "psk"), r
    assert int(r["bytes_up"]) >= 0 and float(r["duration"]) >= 0, r
assert any(r["fate"] == "honoured" for r in ann), ann
assert all(r["announcement"] and r["fate"] in ("honoured", "refused") for r in ann), ann
print("%d lines, %d channels, %d announcements; data channels' parents %s" %
      (len(recs), len(chans), len(ann), sorted(str(r["parent"]) for r in data)))
PY
for s in esp isp; do
	python3 "$T/check.py" logfmt "$T/$s-audit.log" "$s" >"$T/check.out" 2>&1 ||
		fail "$s audit (logfmt): $(cat "$T/check.out")"
	ok "$s audit parses as logfmt: $(cat "$T/check.out")"
done
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z esp\[info\]: esp .* started" "$T/esp-file.log" ||
	fail "the esp's log lines: $(head -2 "$T/esp-file.log")"
hour=$(date -u +%H)
grep -q "T$hour:" "$T/esp-file.log" || grep -q "T$(date -u -d '1 min ago' +%H):" "$T/esp-file.log" ||
	fail "log times are not UTC: $(head -1 "$T/esp-file.log"), UTC now $(date -u)"
ok "the log goes to [log] file, each line stamped in UTC (Z)"

# A refusal at the esp reaches the isp's audit too, as the esp's word.
code=$(python3 "$TESTS/tools/peer.py" reply "$SOCKS_PORT" 127.0.0.1 1 2>/dev/null)
wait_for_log "$T/isp-audit.log" 'event=refusal side=esp .*dst=127.0.0.1:1 .*fate="reported by the esp" isp=test-isp peer=psk end="not allowed by policy"' 10
ok "the esp's refusal is in the isp's audit: $(grep 'reported by the esp' "$T/isp-audit.log" | head -1 | cut -c1-160)..."

# Rotation: move the files away, SIGHUP, new lines in new files.
for s in esp isp; do mv "$T/$s-audit.log" "$T/$s-audit.log.1"; done
mv "$T/esp-file.log" "$T/esp-file.log.1"
kill -HUP "$ESP_PID" "$ISP_PID"
wait_for_log "$T/esp-file.log" "log and audit files reopened" 10
wait_for_log "$T/esp-file.log" "esp.conf is not read again on SIGHUP \(the policy and rules come from the isps\): restart the esp to apply a change to it" 10
wait_for_log "$ISP_LOG" "reloaded" 10
fetch again
sleep 0.5
for s in esp isp; do
	wait_for_log "$T/$s-audit.log" 'event=channel' 10
	[ -s "$T/$s-audit.log" ] || fail "$s did not reopen its audit file"
	grep -q "event=channel" "$T/$s-audit.log" || fail "$s: no channel line after the reopen"
done
ok "after SIGHUP both daemons write to new audit files, the esp to a new log file"

# JSON lines.
kill "$ESP_PID" "$ISP_PID"
wait "$ESP_PID" "$ISP_PID" 2>/dev/null
sed -i 's/^audit = .*/&\naudit_format = json/' "$T/esp.conf" "$T/isp.conf"
rm -f "$T/esp-audit.log" "$T/isp-audit.log"
esp_start
wait_for_log "$T/esp-file.log" "listening for SOCKS5" 10
isp_start
wait_for_log "$ISP_LOG" "session with .* up" 15
sleep 1
fetch active2 -P -
fetch passive2
sleep 0.5
for s in esp isp; do
	wait_for_count "$T/$s-audit.log" '"event":"channel"' 4 10
done
for s in esp isp; do
	python3 "$T/check.py" json "$T/$s-audit.log" "$s" >"$T/check.out" 2>&1 ||
		fail "$s audit (JSON): $(cat "$T/check.out")"
	ok "$s audit parses as JSON lines: $(cat "$T/check.out")"
done

# A flood of refusals at the esp: its audit has each, and it tells the
# isp of 25 a second (the isp's own limit, against an esp that sends
# more, is in tests/policy/t-rogue-esp.sh).
before=$(grep -c 'reported by the esp' "$T/isp-audit.log")
t0=$(date +%s)
python3 - "$SOCKS_PORT" <<'PY'
import socket, struct, sys
for i in range(300):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", 1))
    s.recv(12)
    s.close()
PY
most=$((25 * ($(date +%s) - t0 + 2)))
sleep 1
wait_for_count "$T/isp-audit.log" 'reported by the esp' $((before + 25)) 10
wait_for_count "$T/esp-audit.log" '"event":"refusal".*"dst":"127\.0\.0\.1:1"' 300 10
n=$(($(grep -c 'reported by the esp' "$T/isp-audit.log") - before))
e=$(grep -c '"event":"refusal".*"dst":"127.0.0.1:1"' "$T/esp-audit.log")
[ "$e" -ge 300 ] || fail "the esp's audit has $e of its 300 refusals"
[ "$n" -ge 25 ] && [ "$n" -le "$most" ] || fail "the isp wrote $n of the esp's 300 refusals (want 25 to $most)"
grep -q "more than 25 refusals a second: the isps are told of 25 a second; this esp's audit and metrics have the rest" "$ESP_LOG" ||
	fail "the esp did not say it held reports back"
grep -q "reports more than 50 refusals a second" "$ISP_LOG" && fail "the esp sent more than the isp takes"
ok "300 refusals at the esp in a burst: its audit has $e, the isp's $n (25 a second), and the esp said so"
