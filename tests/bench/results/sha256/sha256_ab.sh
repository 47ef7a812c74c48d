#!/bin/sh
# Builds and runs sha256_ab.c against io/sha256.c as it was at 884b5e8.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
git -C "$root" show 884b5e8:io/sha256.c > "$tmp/sha256.c"
git -C "$root" show 884b5e8:io/sha256.h > "$tmp/sha256.h"
gcc -O2 -I"$tmp" "$here/sha256_ab.c" "$tmp/sha256.c" -lcrypto -o "$tmp/ab"
"$tmp/ab"
rm -rf "$tmp"
