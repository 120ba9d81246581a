#!/bin/sh
# The Darknet peer for scripts/compare-peers: N1 lenet, N2 fashion-cnn and N3 resnet20 as
# Darknet cfgs (scripts/peers/darknet/n1.cfg, n2.cfg, n3.cfg), timed like torch_peer.py:
# random data in memory, batch 64, a warm-up, then the median of R runs of at least S s.
#
#   sh scripts/peers/darknet_peer.sh NET MODE [--seconds S] [--runs R]
#
# NET: lenet | fashion-cnn | resnet20; MODE: train | infer64 | infer1. Prints one line, the
# same as torch_peer.py: NET MODE value=... unit=img/s|ms rss_mb=... threads=1
# Needs Debian's `darknet` package (0.0.0+git20180914, pjreddie's darknet): its library
# /usr/lib/darknet/libdarknet.so and header are linked into a small timer (darknet/dn_time.c,
# compiled once with gcc into DARKNET_PEER_BUILD, default /tmp/cnn-darknet-peer.UID), so no
# image is read or decoded while timing. Darknet's CPU path is single-threaded (the Debian
# build has no OpenMP and no BLAS): every figure is 1 thread. Exit status 3: not installed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
net=$1; mode=$2; shift 2
S=3; R=5
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) S=$2; shift 2 ;;
        --runs) R=$2; shift 2 ;;
        *) echo "darknet_peer: unknown option $1" >&2; exit 2 ;;
    esac
done
case $net in
    lenet) cfg=n1.cfg ;; fashion-cnn) cfg=n2.cfg ;; resnet20) cfg=n3.cfg ;;
    *) echo "darknet_peer: unknown net $net (lenet | fashion-cnn | resnet20)" >&2; exit 2 ;;
esac
case $mode in train|infer64|infer1) ;; *) echo "darknet_peer: unknown mode $mode" >&2; exit 2 ;; esac

lib=/usr/lib/darknet
if [ ! -f $lib/libdarknet.so ] || [ ! -f $lib/include/darknet.h ]; then
    echo "darknet_peer: Debian package darknet is not installed (apt-get install darknet)" >&2
    exit 3
fi
B=${DARKNET_PEER_BUILD:-${TMPDIR:-/tmp}/cnn-darknet-peer.$(id -u)}
mkdir -p "$B"
bin=$B/dn_time
if [ ! -x "$bin" ] || [ "$here/darknet/dn_time.c" -nt "$bin" ] || [ $lib/libdarknet.so -nt "$bin" ]; then
    ${CC:-gcc} -O2 -std=gnu99 -o "$bin.tmp.$$" "$here/darknet/dn_time.c" -I$lib/include \
        -L$lib -ldarknet -Wl,-rpath,$lib -lm
    mv -f "$bin.tmp.$$" "$bin"
fi
err=$B/stderr.$$
if "$bin" "$here/darknet/$cfg" "$net" "$mode" "$S" "$R" 2> "$err"; then
    rm -f "$err"
else
    rc=$?; cat "$err" >&2; rm -f "$err"; exit $rc
fi
