#!/bin/bash
# tool_ab.sh ROUNDS A B: edgefetch -w 1 on /tmp/tw.list (12 URLs of the 12 MP photo, served by
# build/tests/fixture/edgefetch-fixture --root /tmp/tw --port 18181), /usr/bin/time user, sys, wall
# per run, order alternated per round. CSV: round,binary,user_s,sys_s,wall_s (12 images a run).
R=$1; A=$2; B=$3
for r in $(seq 1 $R); do
  if [ $((r % 2)) = 1 ]; then o="$A $B"; else o="$B $A"; fi
  for b in $o; do rm -rf /tmp/tw-out; mkdir /tmp/tw-out
    /usr/bin/time -f "$r,$b,%U,%S,%e" $b -q -w 1 -o /tmp/tw-out -i /tmp/tw.list 2>&1 >/dev/null | tail -1
  done
done
