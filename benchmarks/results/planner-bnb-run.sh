#!/bin/bash
# one auto run per instance, single rep; prints JSON per line with name
B=${B:-target/release/dockopt-bench}
for f in /work/shared/data/oneil/0{25,30,35,40,45,50}images-{025,050,075,100}cmds.json ${GEN:-/tmp/pb}/chunk-30-s1.json ${GEN:-/tmp/pb}/chunk-36-s2.json ${GEN:-/tmp/pb}/chunk-40-s3.json ${GEN:-/tmp/pb}/chunk-100-s1.json ${GEN:-/tmp/pb}/stack-27-s1.json; do
  n=$(basename $f .json)
  echo "$n $(timeout 120 nice -n 10 $B one auto $f)"
done
