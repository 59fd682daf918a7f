#!/usr/bin/env bash
# The GridMint demo: a local federation (a controller and two workers with two
# GPUs each), a funded user, a 2-node job followed to completion, its output
# and its settlement; then the federation is torn down.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
GM=$PWD/build/bin/gm
DIR=${GM_DEMO_DIR:-$(mktemp -d /tmp/gridmint-demo.XXXXXX)}
WORK=$(mktemp -d /tmp/gridmint-demo-work.XXXXXX)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  say "Tearing the federation down"
  "$GM" local down --dir "$DIR" --purge || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say "Starting a local federation: gmctld + 2 x gmd (2 declared GPUs each) in $DIR"
eval "$("$GM" local up --dir "$DIR" --workers 2 --gpus-per-worker 2)"
"$GM" sinfo
"$GM" scontrol show node | grep -E 'NodeName|Gres|Price'

say "Funding a user: account 'alice' with 50 tokens"
ADMIN_TOKEN=$(cat "$DIR/controller/admin.token")
ALICE_TOKEN=$(GM_TOKEN=$ADMIN_TOKEN "$GM" admin account create alice --role user)
GM_TOKEN=$ADMIN_TOKEN "$GM" admin mint alice 50
export GM_TOKEN=$ALICE_TOKEN
"$GM" wallet --history 3

say "Submitting contrib/examples/two-node-job.sh (2 nodes x 2 GPUs) as alice"
cp contrib/examples/two-node-job.sh "$WORK/"
cd "$WORK"
JOB=$("$GM" sbatch --parsable two-node-job.sh)
echo "Submitted batch job $JOB"

say "Following job $JOB"
last=""
for _ in $(seq 1 600); do
  line=$("$GM" squeue -j "$JOB" -h -o '%T %M %R')
  state=${line%% *}
  if [[ -z $line ]]; then
    line=$("$GM" sacct -j "$JOB" -n -P --format=State,Elapsed,NodeList | tr '|' ' ')
    state=${line%% *}
  fi
  if [[ $line != "$last" ]]; then
    printf '%s  %s\n' "$(date +%H:%M:%S.%3N)" "$line"
    last=$line
  fi
  case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) break ;; esac
  sleep 0.2
done
"$GM" squeue
"$GM" sacct -j "$JOB" --format=JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode,Elapsed,NodeList

say "Output of job $JOB (fetched from the controller)"
"$GM" fetch "$JOB" --dest "$WORK/out" >/dev/null
cat "$WORK"/out/*

say "Settlement of job $JOB"
"$GM" scontrol show job "$JOB" | grep -E 'JobState|NodeList|RunTime|Charged|Providers'
IFS='|' read -r charged fee burned refunded providers < <("$GM" sacct -j "$JOB" -n -P --format=Charged,Fee,Burned,Refunded,Providers)
echo "charged to alice:  $charged tokens (each node's asking price x its 2 GPUs x the seconds it served)"
echo "to the providers:  ${providers//,/, } (92 %)"
echo "platform fee:      $fee tokens (8 %), of which $burned burned (a quarter)"
echo "refunded to alice: $refunded tokens (the rest of the escrow hold)"
"$GM" wallet --history 4
for p in provider1 provider2; do
  GM_TOKEN=$ADMIN_TOKEN "$GM" wallet --account "$p" --history 1 | sed -n '1p;4p'
done
[[ $state == COMPLETED ]] || { echo "demo: job $JOB ended $state" >&2; exit 1; }
say "Demo complete: job $JOB ran on 2 provider nodes and was settled"
