#!/bin/sh
# Installs what cnn needs and is missing (Debian 12): a C compiler, make, libyaml, zlib,
# stb and the Fashion-MNIST data set. Runs apt-get only when something is missing.
set -eu
pkgs="gcc make libc6-dev libyaml-dev zlib1g-dev libstb-dev dataset-fashion-mnist"
[ "${CNN_SETUP_EXTRA:-}" ] && pkgs="$pkgs $CNN_SETUP_EXTRA"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root to install:$missing" >&2; exit 1; }
    SUDO=sudo
else
    SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
