#!/usr/bin/env bash
# tests/fuzz/run.sh - build GridMint's libFuzzer targets with clang (ASan and
# UBSan on) in a build directory of their own, then run each for a while.
#
#   tests/fuzz/run.sh [-t SECONDS] [-j JOBS] [-b BUILD_DIR] [TARGET...]
#
#   -t SECONDS   how long each target runs (default 60)
#   -j JOBS      parallel compile jobs (default 2)
#   -b DIR       build directory (default build-fuzz at the repository root)
#   TARGET       sbatch_directives_fuzzer, hostlist_fuzzer (default: both)
#
# Needs clang (Debian: apt-get install clang). The corpus each target grows is
# kept in DIR/fuzz-corpus/TARGET, so later runs start where earlier ones
# stopped; it is seeded from tests/slurm/corpus and a list of hostlists.
# A crash leaves its input in DIR/fuzz-artifacts/ and makes this script exit
# non-zero; replay one with: DIR/fuzz/TARGET DIR/fuzz-artifacts/crash-...
set -euo pipefail

SECONDS_EACH=60
JOBS=2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build-fuzz
while getopts "t:j:b:h" o; do
  case $o in
    t) SECONDS_EACH=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    b) BUILD=$(realpath -m "$OPTARG") ;;
    *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(sbatch_directives_fuzzer hostlist_fuzzer)

command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (apt-get install clang)" >&2; exit 1; }

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$SAN -fsanitize=fuzzer-no-link" -DCMAKE_CXX_FLAGS="$SAN -fsanitize=fuzzer-no-link" \
  -DCMAKE_EXE_LINKER_FLAGS="$SAN" >"$BUILD.cmake.log" 2>&1 || { cat "$BUILD.cmake.log" >&2; exit 1; }
ninja -C "$BUILD" -j "$JOBS" "${TARGETS[@]}"

seed() {  # seed TARGET DIR: (re)write the seed inputs; what the fuzzer grew stays
  local target=$1 dir=$2
  mkdir -p "$dir"
  case $target in
    sbatch_directives_fuzzer)
      local f n=0
      for f in "$ROOT"/tests/slurm/corpus/*.sh; do
        [[ -f $f ]] || continue
        local casefile=${f%.sh}.case args="" env=""
        if [[ -f $casefile ]]; then  # the case's command line and variables, tab-separated
          args=$(awk '/^arg /{ printf("%s%s", n++ ? "\t" : "", substr($0, 5)) }' "$casefile")
          env=$(awk '/^env /{ printf("%s%s", n++ ? "\t" : "", substr($0, 5)) }' "$casefile")
        fi
        { printf '%s\n%s\n' "$args" "$env"; cat "$f"; } >"$dir/seed-$((n++))"
      done
      printf -- '-N2\t-t\t1-2:03\t--array=0-15%%4\n\n#!/bin/bash\n#SBATCH --gres=gpu:a100:2 -o out-%%A_%%a.txt\n' >"$dir/seed-cli"
      printf '\nSBATCH_TIMELIMIT=10\tSBATCH_PARTITION=gpu\n#!/bin/sh\n#SBATCH -J "a b" # c\n' >"$dir/seed-env"
      # The GPU options' cross-checks and the node and task counts they derive.
      printf -- '--gpus=4\t--gpus-per-node=2\t-N1-3\n\n#!/bin/sh\n#SBATCH --gpus-per-task=1 -n 2\n' >"$dir/seed-gpus"
      printf -- '--gpus=a100:2\n\n#!/bin/sh\n#SBATCH --gres=gpu:a100:1 --gpus-per-node=0\n' >"$dir/seed-gpus-typed"
      printf -- '-N\t2-4\t-n1\n\n#!/bin/sh\n#SBATCH --ntasks-per-node=2 --mem=0\n' >"$dir/seed-counts"
      printf '\nSBATCH_MEM_PER_CPU=100\tSBATCH_GPUS=0\tSBATCH_GPUS_PER_NODE=2\n#!/bin/sh\n#SBATCH --mem=1G\n' >"$dir/seed-mem-env"
      ;;
    hostlist_fuzzer)
      local i=0 h
      for h in 'gpu[01-04,07]' 'a[1-2]b[3-4]' 'n1,n2,n10' 'node[001-100]' 'x,y[5-9],z[010-012]' 'n[9-11]' 'c1b[0-3]x' 'h09,h9,h10'; do
        printf '%s' "$h" >"$dir/seed-$((i++))"
      done
      ;;
  esac
}

mkdir -p "$BUILD/fuzz-artifacts"
status=0
for target in "${TARGETS[@]}"; do
  corpus=$BUILD/fuzz-corpus/$target
  seed "$target" "$corpus"
  dict=()
  [[ $target == sbatch_directives_fuzzer ]] && dict=(-dict="$ROOT/tests/fuzz/sbatch.dict")
  echo "== $target for ${SECONDS_EACH}s (corpus $corpus)"
  if ! "$BUILD/fuzz/$target" "${dict[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$BUILD/fuzz-artifacts/" -max_len=8192 "$corpus"; then
    echo "== $target FAILED: see $BUILD/fuzz-artifacts/" >&2
    status=1
  fi
done
exit $status
