#!/bin/bash
# Interleaved rounds: main's stage bench vs this branch's, one process each,
# order alternated per round. Usage: ab.sh ROUNDS OUT.csv BIN_A BIN_B [bench args]
IMG=${IMG:-/tmp/cpu16/photo-12mp.jpg}
ROUNDS=$1; OUT=$2; A=$3; B=$4; shift 4
echo "round,binary,decode_ms,operator_ms,encode_ms,total_ms,png_bytes,load1" > $OUT
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then order="$A $B"; else order="$B $A"; fi
  for bin in $order; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    row=$($bin --repeat 5 "$@" $IMG | tail -1)
    echo "$r,$(basename $bin),$(echo $row | cut -d, -f8-11),$(echo $row | cut -d, -f16),$load" >> $OUT
  done
done
