#!/bin/sh
# install-deps.sh: install the Debian packages gridmr needs, if any is missing.
#
# Idempotent: does nothing when every package is already installed. Otherwise runs
# `apt-get update` once (a fresh machine has empty apt lists) and installs what is missing,
# waiting up to 15 minutes for a dpkg lock held by another apt process. Uses sudo only when
# not root. Extra package names on the command line are installed too (`make bench` adds
# gnuplot-nox for its plots).
set -eu

PKGS="libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools libopenblas-dev \
liblapacke-dev check pkg-config libxxhash-dev libjansson-dev libsqlite3-dev libsuitesparse-dev make gcc \
slurm-wlm munge gnuplot-nox"

missing=""
for p in $PKGS "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        "install ok installed") ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 $missing
