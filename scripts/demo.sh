#!/bin/sh
# The main job, from a fresh Debian 12 machine: install what is missing, build, train
# configs/fashion-cnn.yaml on Fashion-MNIST (one epoch by default: EPOCHS=15 for the full
# recipe), write a few test images as PNG files and classify them.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
make -s -j2 cnn
./cnn train configs/fashion-cnn.yaml --set train.epochs="${EPOCHS:-1}"
./cnn samples configs/fashion-cnn.yaml --count 8 --out datasets/samples >/dev/null
./cnn predict datasets/samples/*.png
