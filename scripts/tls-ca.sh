#!/usr/bin/env bash
# tls-ca.sh DIR
#
# Creates, with openssl only (no faketime), a private test CA and the server
# certificates the TLS tests need, all under DIR (created, chmod 0700):
#
#   ca.pem, ca.key              the private CA a site would give its agents (ca_file)
#   other-ca.pem, other-ca.key  a second CA that nobody trusts
#   valid.{pem,key}      for 127.0.0.1 and localhost (SAN IP:127.0.0.1, DNS:localhost), by ca
#   expired.{pem,key}    same names, by ca, valid 2020-01-01 .. 2021-01-01 only
#   wrongname.{pem,key}  by ca, SAN DNS:wrong.example only
#   untrusted.{pem,key}  same names as valid, but issued by other-ca
#   NAME-combined.pem    certificate + key in one file (ejabberd's certfile)
#
# Keys are EC P-256. On success prints KEY=value lines (also in DIR/tls.env):
#   TLS_DIR TLS_CA_FILE TLS_VALID_CERT TLS_VALID_KEY ... (one pair per case)
# Use e.g.:  scripts/tls-ca.sh /tmp/ca && TLS_CERT=/tmp/ca/valid.pem TLS_KEY=/tmp/ca/valid.key \
#              HTTPS_PORT=5443 scripts/prosody-up.sh /tmp/p1 5222 5280
set -euo pipefail

die() { echo "tls-ca: ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
command -v openssl >/dev/null || die "openssl not found (Debian package openssl)"
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
chmod 700 "$DIR"
cd "$DIR"
umask 077

# Quiet openssl: its chatter goes to DIR/openssl.log, shown on failure.
LOG=$DIR/openssl.log
: > "$LOG"
ossl() { openssl "$@" >> "$LOG" 2>&1 || { cat "$LOG" >&2; die "openssl $1 failed"; }; }

key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# A minimal `openssl ca` setup per issuing CA: `openssl ca` is what takes an
# explicit -startdate/-enddate in OpenSSL 3.0 (x509 -req cannot backdate).
ca_setup() {  # NAME CN
    local name=$1 cn=$2
    mkdir -p "db-$name"
    : > "db-$name/index.txt"
    echo 1000 > "db-$name/serial"
    cat > "$name.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
database = $DIR/db-$name/index.txt
serial = $DIR/db-$name/serial
new_certs_dir = $DIR/db-$name
certificate = $DIR/$name.pem
private_key = $DIR/$name.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ any ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = $cn
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    key "$name.key"
    ossl req -new -x509 -config "$name.cnf" -extensions ca_ext -key "$name.key" \
        -days 30 -out "$name.pem"
}

leaf() {  # NAME ISSUER SAN START END
    local name=$1 issuer=$2 san=$3 start=$4 end=$5
    key "$name.key"
    ossl req -new -key "$name.key" -subj "/CN=webbinder test $name" -out "$name.csr"
    cat > "$name.ext" <<EOF
[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
authorityKeyIdentifier = keyid
EOF
    ossl ca -batch -config "$issuer.cnf" -notext -in "$name.csr" -out "$name.pem" \
        -startdate "$start" -enddate "$end" -extfile "$name.ext" -extensions leaf_ext
    cat "$name.pem" "$name.key" > "$name-combined.pem"
    rm -f "$name.csr" "$name.ext"
}

NOW_START=$(date -u -d '1 hour ago' +%Y%m%d%H%M%SZ)
NOW_END=$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
NAMES="IP:127.0.0.1, DNS:localhost"

ca_setup ca "webbinder test CA"
ca_setup other-ca "webbinder untrusted test CA"
leaf valid ca "$NAMES" "$NOW_START" "$NOW_END"
leaf expired ca "$NAMES" 20200101000000Z 20210101000000Z
leaf wrongname ca "DNS:wrong.example" "$NOW_START" "$NOW_END"
leaf untrusted other-ca "$NAMES" "$NOW_START" "$NOW_END"

# Server software may run as another user: certificates readable, keys stay 0600.
chmod 644 ./*.pem
chmod 600 ./*.key ./*-combined.pem

{
    echo "TLS_DIR=$DIR"
    echo "TLS_CA_FILE=$DIR/ca.pem"
    echo "TLS_OTHER_CA_FILE=$DIR/other-ca.pem"
    for n in valid expired wrongname untrusted; do
        up=$(echo "$n" | tr '[:lower:]' '[:upper:]')
        echo "TLS_${up}_CERT=$DIR/$n.pem"
        echo "TLS_${up}_KEY=$DIR/$n.key"
        echo "TLS_${up}_COMBINED=$DIR/$n-combined.pem"
    done
} > tls.env
cat tls.env
