#!/bin/bash
# Certificates instead of a pre-shared key: TLS 1.3 with mutual
# authentication against a private CA. A peer with a certificate from
# another CA gets no session; neither does one without a certificate.
. "$(dirname "$0")/../lib.sh"
need_cmd openssl

mkca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.crt" -days 2 -subj "/CN=$1" 2>/dev/null
}
mkcert() { # NAME CA
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1" 2>/dev/null
	printf 'subjectAltName=DNS:%s\n' "$1" >"$T/$1.ext"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.crt" -CAkey "$T/$2.key" \
		-CAcreateserial -out "$T/$1.crt" -days 2 -extfile "$T/$1.ext" 2>/dev/null
	chmod 600 "$T/$1.key"
}
mkca ca
mkca otherca
mkcert esp.test ca
mkcert isp.test ca
mkcert rogue.test otherca

mkdir -p "$T/www"
head -c 100000 /dev/urandom >"$T/www/f"
http_start "$T/www"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
ALLOW="127.0.0.1/32:$HTTP_PORT"
tls() { # CERT
	printf '[tls]\ncert = %s\nkey = %s\nca = %s\n' "$T/$1.crt" "$T/$1.key" "$T/ca.crt"
}
esp_conf "$T/esp.conf"
sed -i '/^\[tls\]/,$d' "$T/esp.conf"
tls esp.test >>"$T/esp.conf"
isp_conf "$T/isp.conf"
sed -i '/^\[tls\]/,$d' "$T/isp.conf"
tls isp.test >>"$T/isp.conf"
echo "peer_name = esp.test" >>"$T/isp.conf"
"$BIN/esp" -t -c "$T/esp.conf" >/dev/null || fail "esp -t rejected the certificate config"
"$BIN/isp" -t -c "$T/isp.conf" >/dev/null || fail "isp -t rejected the certificate config"
esp_start
wait_for_log "$ESP_LOG" "started \(certificates\)" 10
isp_start
wait_for_log "$ISP_LOG" "session with .* up" 15
curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" -o "$T/out" \
	"http://127.0.0.1:$HTTP_PORT/f" || fail "transfer with certificates"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "SHA-256 differs"
ok "certificates: mutual TLS session up, transfer intact"

# An isp whose certificate another CA signed: no session, both sides say so.
kill "$ISP_PID"
sed -i "s#^cert = .*#cert = $T/rogue.test.crt#; s#^key = .*#key = $T/rogue.test.key#" "$T/isp.conf"
ISP_LOG=$T/isp2.log
isp_start
wait_for_log "$ESP_LOG" "TLS handshake failed: .*certificate" 15
wait_for_log "$ISP_LOG" "TLS handshake failed" 15
grep -q "session with .* up" "$ISP_LOG" && fail "a session came up with a foreign certificate"
ok "a certificate from another CA is refused: $(grep -o 'TLS handshake failed: [^(]*' "$ESP_LOG" | tail -1)"

# The isp checks the esp's name.
kill "$ISP_PID"
sed -i "s#^cert = .*#cert = $T/isp.test.crt#; s#^key = .*#key = $T/isp.test.key#; s#^peer_name = .*#peer_name = other.test#" "$T/isp.conf"
ISP_LOG=$T/isp3.log
isp_start
wait_for_log "$ISP_LOG" "TLS handshake failed: .*certificate verify failed" 15
ok "an esp certificate for another name is refused by the isp"
