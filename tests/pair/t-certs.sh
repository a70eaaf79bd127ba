#!/bin/bash
# Certificates instead of a pre-shared key: TLS 1.3 with mutual
# authentication against a private CA, roles checked by extended key
# usage, the esp's name always checked, the isp's id taken from its
# certificate. Every impostor gets no session and the refusing side says
# why; -t refuses expired certificates and warns about ones ending soon.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/pki.sh"
need_cmd openssl

pki_ca ca
pki_ca otherca
pki_cert esp.test ca esp "DNS:esp.test"
pki_cert esp-ip ca esp "DNS:esp-ip.test,IP:127.0.0.1"
pki_cert isp.test ca isp
pki_cert rogue.test otherca isp
pki_cert dual.test ca both

mkdir -p "$T/www"
head -c 100000 /dev/urandom >"$T/www/f"
http_start "$T/www"
ESP_ADDR=127.0.0.1 SOCKS_ADDR=127.0.0.1 SESSION_PORT=$(free_port) SOCKS_PORT=$(free_port)
ALLOW="127.0.0.1/32:$HTTP_PORT"
ISP_ID=isp.test
ESP_TLS_TEXT="$(pki_tls esp.test ca)
peer_name = isp.test"
esp_conf "$T/esp.conf"
ISP_TLS_TEXT="$(pki_tls isp.test ca)
peer_name = esp.test"
isp_conf "$T/isp.conf"
"$BIN/esp" -t -c "$T/esp.conf" >/dev/null || fail "esp -t rejected the certificate config"
"$BIN/isp" -t -c "$T/isp.conf" >/dev/null || fail "isp -t rejected the certificate config"
esp_start
wait_for_log "$ESP_LOG" "started \(certificates\)" 10
isp_start
wait_for_log "$ISP_LOG" "session with .* up .*identity esp.test" 15
wait_for_log "$ESP_LOG" 'isp "isp.test" serves' 10
curl -sS --fail --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" -o "$T/out" \
	"http://127.0.0.1:$HTTP_PORT/f" || fail "transfer with certificates"
[ "$(sha "$T/out")" = "$(sha "$T/www/f")" ] || fail "SHA-256 differs"
ok "certificates: mutual TLS session up, the isp known by its certificate's name, transfer intact"

# An isp whose certificate another CA signed: no session, both sides say so.
kill "$ISP_PID"
sed -i "s#^cert = .*#cert = $T/rogue.test.crt#; s#^key = .*#key = $T/rogue.test.key#; s#^id .*#id = rogue.test#" "$T/isp.conf"
ISP_LOG=$T/isp2.log
isp_start
wait_for_log "$ESP_LOG" "TLS handshake failed: .*certificate" 15
wait_for_log "$ISP_LOG" "TLS handshake failed" 15
grep -q "session with .* up" "$ISP_LOG" && fail "a session came up with a foreign certificate"
ok "a certificate from another CA is refused: $(grep -o 'TLS handshake failed: [^(]*' "$ESP_LOG" | tail -1)"
kill "$ISP_PID"

# The isp checks the esp's name: a wrong peer_name fails, and so does no
# peer_name when the esp's certificate does not name the dialled address.
ISP_TLS_TEXT="$(pki_tls isp.test ca)
peer_name = other.test"
isp_conf "$T/isp.conf"
ISP_LOG=$T/isp3.log
isp_start
wait_for_log "$ISP_LOG" "TLS handshake failed: certificate verify failed: (hostname|Hostname) mismatch" 15
kill "$ISP_PID"
ISP_TLS_TEXT=$(pki_tls isp.test ca)
isp_conf "$T/isp.conf"
ISP_LOG=$T/isp4.log
isp_start
wait_for_log "$ISP_LOG" "TLS handshake failed: certificate verify failed: IP address mismatch" 15
grep -q "session with .* up" "$ISP_LOG" && fail "a session came up with an esp certificate for another name"
kill "$ISP_PID"
ok "the esp's name is always checked: a certificate for another name is refused"

# With no peer_name, a certificate naming the dialled address is right.
kill "$ESP_PID"
ESP_TLS_TEXT="$(pki_tls esp-ip ca)
peer_name = isp.test"
esp_conf "$T/esp.conf"
ESP_LOG=$T/esp2.log
esp_start
wait_for_log "$ESP_LOG" "started \(certificates\)" 10
ISP_LOG=$T/isp5.log
isp_start
wait_for_log "$ISP_LOG" "session with .* up .*identity esp-ip" 15
kill "$ISP_PID"
ok "with no peer_name, the esp must be named by the address dialled"

# A certificate for the wrong role. An impostor esp holding the isp's own
# certificate (right CA, isp role): the isp refuses it.
IMP_PORT=$(free_port)
bg_start "$T/imp.log" openssl s_server -accept "$IMP_PORT" -tls1_3 \
	-cert "$T/isp.test.crt" -key "$T/isp.test.key" -CAfile "$T/ca.crt" -Verify 1 -quiet
sleep 0.5
ISP_ESP="127.0.0.1:$IMP_PORT" ISP_TLS_TEXT="$(pki_tls isp.test ca)
peer_name = isp.test" isp_conf "$T/isp-imp.conf"
ISP_LOG=$T/isp6.log
bg_start "$ISP_LOG" "$BIN/isp" -v -c "$T/isp-imp.conf"
wait_for_log "$ISP_LOG" "TLS handshake failed: certificate verify failed: unsuitable certificate purpose" 15
grep -q "session with .* up" "$ISP_LOG" && fail "the isp took an isp certificate for an esp"
kill "$BG_PID"
ok "an impostor esp with an isp's certificate is refused: $(grep -o 'TLS handshake failed: [^(]*' "$ISP_LOG" | head -1)"

# A certificate from the right CA, naming the address, but with no role
# at all: the handshake succeeds, then the isp refuses it.
pki_cert plain.test ca none "DNS:plain.test,IP:127.0.0.1"
IMP_PORT=$(free_port)
bg_start "$T/imp2.log" openssl s_server -accept "$IMP_PORT" -tls1_3 \
	-cert "$T/plain.test.crt" -key "$T/plain.test.key" -CAfile "$T/ca.crt" -Verify 1 -quiet
IMP_PID=$BG_PID
sleep 0.5
ISP_ESP="127.0.0.1:$IMP_PORT" ISP_TLS_TEXT="$(pki_tls isp.test ca)" isp_conf "$T/isp-imp2.conf"
ISP_LOG=$T/isp7.log
bg_start "$ISP_LOG" "$BIN/isp" -v -c "$T/isp-imp2.conf"
wait_for_log "$ISP_LOG" "TLS peer refused: the peer's certificate is not for an esp: an esp certificate's extended key usage is serverAuth only" 15
grep -q "session with .* up" "$ISP_LOG" && fail "the isp took a certificate without a role for an esp"
kill "$BG_PID" "$IMP_PID"
ok "an impostor esp with a role-less certificate from the right CA is refused"

# An isp presenting an esp certificate (right CA, esp role): the esp
# refuses it. openssl s_client plays the isp.
timeout 10 openssl s_client -connect "127.0.0.1:$SESSION_PORT" -tls1_3 \
	-cert "$T/esp.test.crt" -key "$T/esp.test.key" -CAfile "$T/ca.crt" \
	-verify_hostname esp-ip.test </dev/null >"$T/sclient.log" 2>&1
wait_for_log "$ESP_LOG" "TLS handshake failed: certificate verify failed: unsuitable certificate purpose" 10
ok "an isp with an esp's certificate is refused by the esp"
timeout 10 openssl s_client -connect "127.0.0.1:$SESSION_PORT" -tls1_3 \
	-cert "$T/plain.test.crt" -key "$T/plain.test.key" -CAfile "$T/ca.crt" \
	-verify_hostname esp-ip.test </dev/null >"$T/sclient2.log" 2>&1
wait_for_log "$ESP_LOG" "TLS peer refused: the peer's certificate is not for an isp: an isp certificate's extended key usage is clientAuth only" 10
grep -q 'isp "plain.test"' "$ESP_LOG" && fail "the esp took a role-less certificate for an isp"
ok "an isp with a role-less certificate is refused by the esp"

# Only the isps [tls] peer_name lists: another client certificate under
# the same CA (a user's, a device's) is no isp; nor is one with two
# common names, nor a CA's certificate with clientAuth.
pki_cert carol.test ca isp
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/twocn.key" \
	-out "$T/twocn.csr" -subj "/CN=isp.test/CN=rogue" 2>/dev/null || fail "cannot make twocn"
printf 'extendedKeyUsage = clientAuth\n' >"$T/twocn.ext"
openssl x509 -req -in "$T/twocn.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
	-days 30 -extfile "$T/twocn.ext" -out "$T/twocn.crt" 2>/dev/null || fail "cannot sign twocn"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/caleaf.key" \
	-out "$T/caleaf.csr" -subj "/CN=isp.test" 2>/dev/null || fail "cannot make caleaf"
printf 'basicConstraints = critical, CA:TRUE\nextendedKeyUsage = clientAuth\n' >"$T/caleaf.ext"
openssl x509 -req -in "$T/caleaf.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
	-days 30 -extfile "$T/caleaf.ext" -out "$T/caleaf.crt" 2>/dev/null || fail "cannot sign caleaf"
served=$(grep -c ' serves' "$ESP_LOG")
for c in carol.test twocn caleaf; do
	timeout 10 openssl s_client -connect "127.0.0.1:$SESSION_PORT" -tls1_3 \
		-cert "$T/$c.crt" -key "$T/$c.key" -CAfile "$T/ca.crt" \
		-verify_hostname esp-ip.test </dev/null >"$T/sclient-$c.log" 2>&1
done
wait_for_log "$ESP_LOG" 'TLS peer refused: isp "carol.test" is not one this esp accepts \(\[tls\] peer_name\)' 10
wait_for_log "$ESP_LOG" "TLS peer refused: the peer's certificate has no usable common name" 10
wait_for_log "$ESP_LOG" "TLS peer refused: the peer's certificate is a CA's, not an isp's" 10
[ "$(grep -c ' serves' "$ESP_LOG")" = "$served" ] ||
	fail "the esp took one of them for an isp: $(grep 'serves' "$ESP_LOG")"
sed '/^peer_name/d' "$T/esp.conf" >"$T/esp-nolist.conf"
"$BIN/esp" -t -c "$T/esp-nolist.conf" >"$T/t.out" 2>&1 && fail "esp -t took certificates without peer_name"
grep -qF "esp-nolist.conf: [tls] peer_name: missing: in certificate mode, the isps this esp accepts, by their certificates' common names (e.g. peer_name = isp-a isp-b)" "$T/t.out" ||
	fail "esp -t message: $(cat "$T/t.out")"
ok "the esp takes only the isps peer_name lists: carol's certificate, one with two common names and a CA's are refused; -t wants peer_name"

# A certificate good for both roles is neither's.
cp "$T/isp.conf" "$T/isp-dual.conf"
sed -i "s#^cert = .*#cert = $T/dual.test.crt#; s#^key = .*#key = $T/dual.test.key#; s#^id .*#id = dual.test#" "$T/isp-dual.conf"
"$BIN/isp" -t -c "$T/isp-dual.conf" >"$T/t.out" 2>&1 && fail "isp -t accepted a certificate for both roles"
grep -qF "isp-dual.conf: [tls] cert: $T/dual.test.crt is not an isp certificate: an isp certificate's extended key usage is clientAuth only (create it with -addext extendedKeyUsage=clientAuth)" "$T/t.out" ||
	fail "isp -t message: $(cat "$T/t.out")"
sed -i "s#^cert = .*#cert = $T/isp.test.crt#; s#^key = .*#key = $T/isp.test.key#; s#^id .*#id = other-site#" "$T/isp-dual.conf"
"$BIN/isp" -t -c "$T/isp-dual.conf" >"$T/t.out" 2>&1 && fail "isp -t accepted an id the certificate does not name"
grep -qF "isp-dual.conf: [isp] id: \"other-site\", but the certificate $T/isp.test.crt names this isp \"isp.test\" (its common name is the id): remove id, or use a certificate for \"other-site\"" "$T/t.out" ||
	fail "isp -t message: $(cat "$T/t.out")"
ok "-t: a certificate for both roles, and an id the certificate does not name, are refused"

# Expired: refused by -t; ending within 30 days: a warning.
pki_cert old.test ca esp "DNS:old.test" 20200101000000Z 20200201000000Z
soon=$(date -u -d '+10 days' +%Y%m%d%H%M%SZ)
now=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
pki_cert soon.test ca esp "DNS:soon.test" "$now" "$soon"
ESP_TLS_TEXT="$(pki_tls old.test ca)
peer_name = isp.test" esp_conf "$T/esp-old.conf"
"$BIN/esp" -t -c "$T/esp-old.conf" >"$T/t.out" 2>&1 && fail "esp -t accepted an expired certificate"
grep -qF "esp-old.conf: [tls] cert: $T/old.test.crt expired on Feb  1 00:00:00 2020 GMT; renew it" "$T/t.out" ||
	fail "esp -t message: $(cat "$T/t.out")"
ESP_TLS_TEXT="$(pki_tls soon.test ca)
peer_name = isp.test" esp_conf "$T/esp-soon.conf"
"$BIN/esp" -t -c "$T/esp-soon.conf" >"$T/t.out" 2>&1 || fail "esp -t refused a certificate valid for 10 days: $(cat "$T/t.out")"
grep -qE "esp-soon.conf: warning: .*soon.test.crt expires in (9|10) days" "$T/t.out" ||
	fail "no expiry warning: $(cat "$T/t.out")"
ok "-t: an expired certificate is refused, one that ends in 10 days is warned about"
