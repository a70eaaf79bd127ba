#!/bin/bash
# esp -S reads whatever listens on the metrics port, which may not be the
# daemon (another local user who took the port while it was down). What
# it prints is escaped (no terminal codes get through), and an answer
# past 4 MiB is refused without being kept.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
write_psk "$T/pair.psk"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
ESP_EXTRA="[metrics]
listen = 127.0.0.1:$P
[esp]"
esp_conf "$T/esp.conf"
cat >"$T/fake.py" <<'PY'
import http.server, sys
big = sys.argv[2] == "big"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if big:
            body = b"# junk\n" * (8 << 17)  # 7 MiB
        else:
            body = (b'dynpass_build_info{version="\x1b]0;pwned\x07x"} 1\n'
                    b'dynpass_channels{user="\x1b[31mred"} 3\n')
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("listening", flush=True)
s.timeout = 1
for _ in range(20):
    s.handle_request()
PY
bg_start "$T/fake.log" python3 "$T/fake.py" "$P" codes
wait_for_log "$T/fake.log" listening 10
"$BIN/esp" -S -c "$T/esp.conf" >"$T/status.out" 2>&1 || fail "esp -S failed: $(cat "$T/status.out")"
grep -q $'\x1b' "$T/status.out" && fail "esp -S printed an escape byte: $(od -c "$T/status.out" | head)"
grep -qF '\x1b' "$T/status.out" || fail "esp -S did not show the escaped bytes: $(cat "$T/status.out")"
ok "esp -S against a fake endpoint: its terminal codes are printed escaped"
kill "$BG_PID"
wait "$BG_PID" 2>/dev/null
bg_start "$T/fake2.log" python3 "$T/fake.py" "$P" big
wait_for_log "$T/fake2.log" listening 10
python3 - "$BIN/esp" "$T/esp.conf" "$T/status2.out" >"$T/time.out" <<'PY'
import resource, subprocess, sys
with open(sys.argv[3], "wb") as out:
    rc = subprocess.run([sys.argv[1], "-S", "-c", sys.argv[2]], stdout=out, stderr=out, timeout=60).returncode
print("rc", rc)
print("maxrss", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
grep -qx "rc 0" "$T/time.out" && fail "esp -S took a 7 MiB answer: $(head -3 "$T/status2.out")"
rss=$(sed -n 's/^maxrss //p' "$T/time.out")
echo "esp -S: $(cat "$T/status2.out"); max RSS $rss KiB"
[ -n "$rss" ] && [ "$rss" -lt 40000 ] || fail "esp -S grew to $rss KiB on a 7 MiB answer"
ok "esp -S refuses a 7 MiB answer (max RSS $rss KiB)"
