#!/bin/bash
# pairs.sh N A B [bench args]: N pairs of one-repeat runs of two stage-bench
# binaries, order alternated per pair (IMG, default /tmp/cpu16/photo-12mp.jpg;
# OUT, the CSV: pair,binary,decode,operator,encode,total,bytes). Prints the
# medians and the paired difference.
N=$1; A=$2; B=$3; shift 3
IMG=${IMG:-/tmp/cpu16/photo-12mp.jpg}
for r in $(seq 1 $N); do
  if [ $((r % 2)) = 1 ]; then o="$A $B"; else o="$B $A"; fi
  for b in $o; do echo "$r,$b,$($b --repeat 1 "$@" $IMG | tail -1 | cut -d, -f8-11,16)"; done
done > "${OUT:-/tmp/pairs.csv}"
/usr/bin/python3 - "$A" "$B" "${OUT:-/tmp/pairs.csv}" <<'PY'
import sys,statistics as st
A,B=sys.argv[1],sys.argv[2]
rows=[l.strip().split(',') for l in open(sys.argv[3])]
d={}
for r in rows: d.setdefault(r[1],{})[int(r[0])]=[float(x) for x in r[2:]]
for b in (A,B):
    v=list(d[b].values()); print(b.split('/')[-1],'median total',round(st.median(x[3] for x in v),1),'dec/op/enc',[round(st.median(x[i] for x in v),1) for i in range(3)],'bytes',int(v[0][4]))
diff=[d[A][k][3]-d[B][k][3] for k in d[A]]
print('paired A-B median',round(st.median(diff),2),'B faster in',sum(x>0 for x in diff),'/',len(diff), 'ratio B/A median', round(st.median(d[B][k][3]/d[A][k][3] for k in d[A]),3))
PY
