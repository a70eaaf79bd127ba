#!/bin/bash
# What the esp's doors speak, to anyone who connects: TLS 1.3 only, with
# AEAD suites only. A client offering TLS 1.2 (or less), or only a
# TLS 1.3 suite outside AES-GCM and ChaCha20-Poly1305, gets no handshake,
# on the session door (pre-shared key) and on the agents' door
# (certificate). The same client offering TLS 1.3 with an AEAD suite does
# get one, so the refusals are the versions' and suites', not a broken
# door's.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/pki.sh"
need_cmd openssl
pki_ca doorca
pki_cert esp-door doorca esp "DNS:localhost,IP:127.0.0.1"
CLIENT_PORT=$(free_port)
ESP_EXTRA="client_listen = 127.0.0.1:$CLIENT_PORT
[client_tls]
cert = $T/esp-door.crt
key = $T/esp-door.key
[esp]"
pair_start
psk=$(cat "$T/pair.psk")

# hs NAME PORT ARGS...: one handshake attempt with openssl s_client.
hs() {
	local name=$1 port=$2
	shift 2
	timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" \
		</dev/null >"$T/$name.out" 2>&1
	sed -n 's/^\(New\|Reused\), \(TLSv[0-9.]*\), Cipher is \(.*\)$/\2 \3/p' "$T/$name.out" | head -1
}
# refused NAME PORT ARGS...: no handshake.
refused() {
	local got
	got=$(hs "$@")
	[ -z "$got" ] || fail "$1: a handshake with $got"
	grep -q "alert protocol version\|no protocols available\|handshake failure\|no ciphers available\|no shared cipher\|alert" "$T/$1.out" ||
		fail "$1: no TLS refusal: $(tail -3 "$T/$1.out")"
}

pskargs=(-psk "$psk" -psk_identity test-isp)
got=$(hs sess13 "$SESSION_PORT" -tls1_3 "${pskargs[@]}" -ciphersuites TLS_AES_128_GCM_SHA256)
[ "$got" = "TLSv1.3 TLS_AES_128_GCM_SHA256" ] || fail "session door, TLS 1.3 with the key: '$got' $(tail -3 "$T/sess13.out")"
refused sess12 "$SESSION_PORT" -tls1_2 "${pskargs[@]}"
refused sess11 "$SESSION_PORT" -tls1_1 "${pskargs[@]}"
refused sessccm "$SESSION_PORT" -tls1_3 "${pskargs[@]}" -ciphersuites TLS_AES_128_CCM_SHA256
refused sessccm8 "$SESSION_PORT" -tls1_3 "${pskargs[@]}" -ciphersuites TLS_AES_128_CCM_8_SHA256
ok "session door: TLS 1.3 with AES-128-GCM ($got); TLS 1.2, TLS 1.1 and the CCM suites refused"

for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	got=$(hs "door-$suite" "$CLIENT_PORT" -tls1_3 -CAfile "$T/doorca.crt" -verify_return_error -ciphersuites "$suite")
	[ "$got" = "TLSv1.3 $suite" ] || fail "agents' door, $suite: '$got' $(tail -3 "$T/door-$suite.out")"
done
refused door12 "$CLIENT_PORT" -tls1_2 -CAfile "$T/doorca.crt"
refused door11 "$CLIENT_PORT" -tls1_1 -CAfile "$T/doorca.crt"
refused doorccm "$CLIENT_PORT" -tls1_3 -CAfile "$T/doorca.crt" -ciphersuites TLS_AES_128_CCM_SHA256
refused doorccm8 "$CLIENT_PORT" -tls1_3 -CAfile "$T/doorca.crt" -ciphersuites TLS_AES_128_CCM_8_SHA256
ok "agents' door: TLS 1.3 with AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305; TLS 1.2, TLS 1.1 and the CCM suites refused"
# The esp logs a failed handshake maybe after s_client has exited.
wait_for_count "$ESP_LOG" "closed: TLS handshake failed: error:0A000102:SSL routines::unsupported protocol" 4 10
wait_for_count "$ESP_LOG" "closed: TLS handshake failed: error:0A0000C1:SSL routines::no shared cipher" 4 10
[ "$(count_log "$ESP_LOG" "closed: TLS handshake failed: error:0A000102:SSL routines::unsupported protocol")" = 4 ] ||
	fail "the esp did not log four refused versions: $(grep -c 'unsupported protocol' "$ESP_LOG")"
[ "$(count_log "$ESP_LOG" "closed: TLS handshake failed: error:0A0000C1:SSL routines::no shared cipher")" = 4 ] ||
	fail "the esp did not log four refused suites: $(grep -c 'no shared cipher' "$ESP_LOG")"
grep -q "session with .* up" "$ISP_LOG" || fail "the pair's own session is not up"
ok "the esp logged each refusal (unsupported protocol, no shared cipher)"
