#!/bin/bash
# Impostor esps in pre-shared-key mode get no session, whatever they
# present, and the isp says why:
#  - a TLS server with a self-signed certificate and no PSK (TLS 1.3 lets
#    a server ignore the offered PSK and run a certificate handshake);
#  - an esp that knows the key, but only under another identity;
# and the isp sends nothing (no HELLO, no CONFIG, no policy) to either.
. "$(dirname "$0")/../lib.sh"
need_cmd openssl python3

write_psk "$T/pair.psk"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/self.key" -out "$T/self.crt" -days 30 -subj "/CN=esp" \
	-addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
IMP_PORT=$(free_port)
bg_start "$T/imp.log" python3 "$TESTS/tools/tlsimpostor.py" "$IMP_PORT" "$T/self.crt" "$T/self.key" 30
wait_for_log "$T/imp.log" listening 10
ESP_ADDR=127.0.0.1 SESSION_PORT=$IMP_PORT ALLOW="127.0.0.1/32:1-65535"
isp_conf "$T/isp.conf"
isp_start
wait_for_log "$ISP_LOG" "TLS handshake failed: certificate verify failed: the peer sent a certificate where the pre-shared key was expected" 15
wait_for_log "$ISP_LOG" "reconnecting to esp .* \(attempt 2\)" 15
grep -q "session with .* up" "$ISP_LOG" && fail "the isp took a certificate for its pre-shared key"
grep -q "^handshake ok" "$T/imp.log" && grep -Eq "^received [1-9]" "$T/imp.log" &&
	fail "the isp sent data to the impostor: $(cat "$T/imp.log")"
ok "an impostor with a self-signed certificate and no PSK: no session, the isp says why"
kill "$ISP_PID"

# The same key, but known to this esp under another identity: the isp's
# identity is not there, so there is no key to prove and no session.
SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
ESP_ISPS="someone-else:$T/pair.psk" esp_conf "$T/esp.conf"
esp_start
wait_for_log "$ESP_LOG" "listening for SOCKS5" 10
isp_conf "$T/isp.conf"
ISP_LOG=$T/isp2.log
isp_start
wait_for_log "$ISP_LOG" "TLS handshake failed" 15
wait_for_log "$ESP_LOG" "TLS handshake failed" 15
wait_for_log "$ISP_LOG" "reconnecting to esp .* \(attempt 2\)" 15
grep -q "session with .* up" "$ISP_LOG" "$ESP_LOG" && fail "a session came up under another identity"
ok "an esp with the key under another identity: no session ($(grep -o 'TLS handshake failed: [^(]*' "$ISP_LOG" | head -1))"
