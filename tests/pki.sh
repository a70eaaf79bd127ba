# Test certificates: a private CA and certificates for a role. Source it
# after lib.sh. Files go to $T/NAME.{crt,key}.
#   pki_ca NAME
#   pki_cert NAME CA ROLE [SAN [STARTDATE ENDDATE]]
# ROLE esp: extendedKeyUsage serverAuth; isp: clientAuth; both: both;
# none: no extendedKeyUsage. SAN defaults to DNS:NAME. Dates as
# YYYYMMDDHHMMSSZ, default now to 90 days on.

pki_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.crt" -days 90 -subj "/CN=$1" 2>/dev/null ||
		fail "cannot make CA $1"
	chmod 600 "$T/$1.key"
	mkdir -p "$T/$1.db"
	: >"$T/$1.db/index"
	echo 01 >"$T/$1.db/serial"
}

pki_cert() {
	local name=$1 ca=$2 role=$3 san=${4:-DNS:$1} start=${5:-} end=${6:-} eku dates
	case $role in
	esp) eku="extendedKeyUsage = serverAuth" ;;
	isp) eku="extendedKeyUsage = clientAuth" ;;
	both) eku="extendedKeyUsage = serverAuth, clientAuth" ;;
	*) eku="" ;;
	esac
	cat >"$T/$name.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $T/$ca.db/index
new_certs_dir = $T/$ca.db
serial = $T/$ca.db/serial
default_md = sha256
default_days = 90
policy = p
unique_subject = no
[p]
commonName = supplied
[ext]
$eku
subjectAltName = $san
CNF
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -out "$T/$name.csr" -subj "/CN=$name" 2>/dev/null ||
		fail "cannot make a key for $name"
	dates=""
	[ -n "$start" ] && dates="-startdate $start -enddate $end"
	# shellcheck disable=SC2086
	openssl ca -batch -notext -config "$T/$name.cnf" -cert "$T/$ca.crt" \
		-keyfile "$T/$ca.key" -in "$T/$name.csr" -out "$T/$name.crt" \
		-extensions ext $dates >/dev/null 2>&1 || fail "cannot sign $name"
	chmod 600 "$T/$name.key"
}

# pki_tls NAME CA: a [tls] section with NAME's certificate.
pki_tls() {
	printf '[tls]\ncert = %s\nkey = %s\nca = %s\n' "$T/$1.crt" "$T/$1.key" "$T/$2.crt"
}
