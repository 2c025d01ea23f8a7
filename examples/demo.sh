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
