#!/bin/sh
# Locates Fashion-MNIST (Debian's dataset-fashion-mnist), installing it if it is missing,
# and prints the four IDX files' paths, one per line: train images, train labels, test
# images, test labels. The shipped configs use these paths as they are.
set -eu
dir=/usr/share/datasets/fashion-mnist
if [ ! -f "$dir/train-images-idx3-ubyte.gz" ]; then
    CNN_SETUP_EXTRA=dataset-fashion-mnist sh "$(dirname "$0")/../scripts/setup.sh"
fi
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$dir/$f.gz" ] || { echo "fashion-mnist: $dir/$f.gz is missing" >&2; exit 3; }
    echo "$dir/$f.gz"
done
