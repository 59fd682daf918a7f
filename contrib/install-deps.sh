#!/usr/bin/env bash
# Installs every Debian package GridMint's build, tests and demo need. This is
# the only place the list lives (INSTALL.md points here). Idempotent: when
# everything is present it changes nothing and takes a fraction of a second.
set -euo pipefail

PACKAGES=(
  # build
  g++ cmake ninja-build ccache pkg-config
  # libraries
  libssl-dev openssl libsqlite3-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libboost-program-options-dev libpqxx-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev procps iproute2
  # systemd-analyze verify of contrib/systemd's units
  systemd
  # the libFuzzer targets (tests/fuzz/run.sh)
  clang
  # PostgreSQL server for the store tests (initdb/pg_ctl under /usr/lib/postgresql/*/bin)
  postgresql
  # isolation of jobs
  bubblewrap
  # distributed training and the Slurm plugin
  openmpi-bin libopenmpi-dev slurmd slurmctld slurm-client munge libslurm-dev
  # data for the example trainer, plots for the simulator
  dataset-fashion-mnist gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root (or with sudo)" >&2
  exit 1
fi
echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services in these packages (postgresql, munge, slurm) are not needed running:
# the tests start their own instances. Keep package scripts from starting them.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
