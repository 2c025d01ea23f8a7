#!/bin/sh
# The README's demo: make a key, sign the bundled message, verify it - all offline.
set -eu
DKIMTOOL=${1:-dkimtool}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${DEMO_DIR:-demo}
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== genkey: a 2048-bit RSA key and its DNS record"
"$DKIMTOOL" genkey -d football.example.com -s demo -D "$OUT"
echo
echo "== txt: the same record as one line, for a DNS web panel"
"$DKIMTOOL" txt -k "$OUT/demo.private" -d football.example.com -s demo --format value
echo
echo "== sign: the bundled example message, with the new key"
"$DKIMTOOL" sign -d football.example.com -s demo -k "$OUT/demo.private" \
    < "$HERE/message.eml" > "$OUT/signed.eml"
head -n 4 "$OUT/signed.eml"
echo "..."
echo
echo "== verify: offline, with the record genkey wrote (--dns-file)"
"$DKIMTOOL" verify --dns-file "$OUT/demo.txt" "$OUT/signed.eml"
echo
echo "== verify: a tampered copy must fail"
sed 's/hungry/thirsty/' "$OUT/signed.eml" > "$OUT/tampered.eml"
if "$DKIMTOOL" verify --dns-file "$OUT/demo.txt" "$OUT/tampered.eml"; then
    echo "demo: the tampered message verified - this is a bug" >&2
    exit 1
fi
echo
echo "demo OK: files are in $OUT/"
