#!/usr/bin/env bash
# End-to-end tests of ddp_train, one case per call: run_tests.sh CASE.
# Environment (set by CMake): DDP_TRAIN (the binary), MPIEXEC (mpirun),
# DDP_TEST_WORK (a scratch folder shared by the cases).
#
# Cases: baseline (1 process without mpirun: converges; it is the reference
# and a fixture for the others), np2, np4 (equal to the baseline within the
# tolerance), resume (SIGKILL after the first checkpoint, then a requeue on 2
# ranks; and an interrupted single-process run that must match bit for bit),
# corrupt_checkpoint, bad_data, device, usage, cuda_matches_cpu (GPU only).
#
# Tolerance between rank counts, after 2 epochs on 6,000 images (47 steps):
# train and test loss within 1e-4 relative, test accuracy within 0.1
# percentage point (10 of 10,000 test images); measured differences are below
# 2e-7 with equal accuracy. GPU against CPU (other arithmetic in every step,
# not only in the gradient sums): 1e-3 relative and 0.5 point. See README.md.
# Exit 77 = skipped.
set -euo pipefail

CASE=${1:?usage: run_tests.sh CASE}
: "${DDP_TRAIN:?}" "${MPIEXEC:=mpirun}" "${DDP_TEST_WORK:=/tmp/ddp_train_tests}"
W=$DDP_TEST_WORK
mkdir -p "$W"

COMMON=(--epochs 2 --max-train 6000 --seed 1 --batch 256 --device cpu)
LOSS_RTOL=1e-4
ACC_ATOL=0.001
# Each mpirun gets its own temporary folder (Open MPI's session files).
MPI=("$MPIEXEC" --allow-run-as-root --oversubscribe)
LIMIT=(timeout -k 5 90)

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }

# field FILE NAME: a field of the final JSON line.
field() {
  local v
  v=$(grep '^{"final":true' "$1" | tail -1 | sed -nE "s/.*\"$2\":\"?([^,\"}]*).*/\1/p")
  [[ -n $v ]] || fail "no '$2' in the final JSON line of $1"
  echo "$v"
}

# epoch_value FILE EPOCH NAME: a value from a per-epoch line.
epoch_value() {
  sed -nE "s/^epoch $2\/[0-9]+ .*$3 ([0-9.]+)%?.*/\1/p" "$1" | head -1
}

# close A B RTOL ATOL: |A-B| <= ATOL + RTOL*|B|
close() {
  awk -v a="$1" -v b="$2" -v r="$3" -v t="$4" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= t + r * m) }'
}

# matches_baseline FILE LABEL [LOSS_RTOL ACC_ATOL]: final loss and accuracy
# within the tolerance of the 1-process baseline.
matches_baseline() {
  local base=$W/baseline/out.txt name a b LOSS_RTOL=${3:-$LOSS_RTOL} ACC_ATOL=${4:-$ACC_ATOL}
  [[ -f $base ]] || fail "baseline output missing: run the baseline case first"
  for name in train_loss test_loss; do
    a=$(field "$1" $name); b=$(field "$base" $name)
    close "$a" "$b" "$LOSS_RTOL" 0 || fail "$2: $name $a vs 1-rank $b: beyond $LOSS_RTOL relative"
    note "$2: $name $a vs 1-rank $b (rel. diff $(awk -v a="$a" -v b="$b" 'BEGIN{d=(a-b)/b; if(d<0)d=-d; printf "%.1e", d}'))"
  done
  a=$(field "$1" test_accuracy); b=$(field "$base" test_accuracy)
  close "$a" "$b" 0 "$ACC_ATOL" || fail "$2: test accuracy $a vs 1-rank $b: beyond $ACC_ATOL"
  note "$2: test accuracy $a vs 1-rank $b; images/s $(field "$1" images_per_s)"
}

fresh_dir() { rm -rf "$1"; mkdir -p "$1"; }

# expect_error EXIT_WANTED FRAGMENT LOG -- command...: exit status and message.
expect_error() {
  local want=$1 fragment=$2 log=$3 rc=0
  shift 4
  "${LIMIT[@]}" "$@" >"$log" 2>&1 || rc=$?
  [[ $rc -eq $want ]] || { cat "$log" >&2; fail "'$*' exited $rc, expected $want"; }
  grep -qF -- "$fragment" "$log" || { cat "$log" >&2; fail "'$*': no message containing '$fragment'"; }
  note "ok (exit $rc): $(grep -F -- "$fragment" "$log" | head -1)"
}

case $CASE in
baseline)
  d=$W/baseline; fresh_dir "$d"
  # A single process without mpirun: MPI's singleton mode.
  (cd "$d" && "${LIMIT[@]}" "$DDP_TRAIN" "${COMMON[@]}") | tee "$d/out.txt"
  grep -q "resuming" "$d/out.txt" && fail "a fresh folder must not resume"
  acc1=$(epoch_value "$d/out.txt" 1 test_accuracy); loss1=$(epoch_value "$d/out.txt" 1 train_loss)
  loss2=$(epoch_value "$d/out.txt" 2 train_loss)
  awk -v a="$acc1" 'BEGIN { exit !(a > 60) }' || fail "test accuracy after epoch 1 is $acc1%, want > 60%"
  awk -v a="$loss1" -v b="$loss2" 'BEGIN { exit !(b < a) }' || fail "train loss did not fall: $loss1 then $loss2"
  [[ -s $d/ddp_train.ckpt ]] || fail "no checkpoint in the working directory"
  [[ $(field "$d/out.txt" epochs) == 2 ]] || fail "final JSON does not say 2 epochs"
  note "epoch 1 accuracy $acc1% (> 60%), train loss $loss1 -> $loss2"
  ;;
np2 | np4)
  n=${CASE#np}; d=$W/$CASE; fresh_dir "$d"
  (cd "$d" && TMPDIR=$d "${LIMIT[@]}" "${MPI[@]}" -np "$n" "$DDP_TRAIN" "${COMMON[@]}") | tee "$d/out.txt"
  grep -q "^ddp_train: $n rank(s)" "$d/out.txt" || fail "not $n ranks"
  [[ $(grep -c '^epoch 2/2' "$d/out.txt") == 1 ]] || fail "rank 0 alone must print"
  grep -q "parameters differ" "$d/out.txt" && fail "ranks drifted apart"
  matches_baseline "$d/out.txt" "$n ranks"
  ;;
resume)
  # 1) A real interruption: SIGKILL once the first checkpoint is on disk
  #    (epoch 1 of 3), then the "requeued" job runs on 2 ranks with --epochs 2.
  d=$W/resume_kill; fresh_dir "$d"
  (cd "$d" && exec "$DDP_TRAIN" --epochs 3 --max-train 6000 --seed 1 --batch 256 --device cpu >"$d/first.txt" 2>&1) &
  pid=$!
  for _ in $(seq 1 600); do [[ -f $d/ddp_train.ckpt ]] && break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [[ -f $d/ddp_train.ckpt ]] || fail "no checkpoint appeared within 30 s"
  note "killed after: $(grep '^epoch' "$d/first.txt" | tail -1)"
  (cd "$d" && TMPDIR=$d "${LIMIT[@]}" "${MPI[@]}" -np 2 "$DDP_TRAIN" "${COMMON[@]}") | tee "$d/out.txt"
  grep -qE '^resuming from epoch [12]$' "$d/out.txt" || fail "did not resume from the checkpoint"
  grep -q '^epoch 1/' "$d/out.txt" && fail "epoch 1 ran again after resuming"
  matches_baseline "$d/out.txt" "killed, resumed on 2 ranks"
  # 2) Stop after epoch 1, start again with --epochs 2: same process count, so
  #    the result must be identical to the uninterrupted baseline, bit for bit.
  d=$W/resume_exact; fresh_dir "$d"
  (cd "$d" && "${LIMIT[@]}" "$DDP_TRAIN" --epochs 1 --max-train 6000 --seed 1 --batch 256 --device cpu) >"$d/first.txt"
  (cd "$d" && "${LIMIT[@]}" "$DDP_TRAIN" "${COMMON[@]}") | tee "$d/out.txt"
  grep -q '^resuming from epoch 1$' "$d/out.txt" || fail "did not print 'resuming from epoch 1'"
  [[ $(field "$d/out.txt" resumed_from_epoch) == 1 && $(field "$d/out.txt" epochs_trained) == 1 ]] ||
    fail "final JSON should say resumed_from_epoch 1, epochs_trained 1"
  for name in train_loss test_loss test_accuracy; do
    [[ $(field "$d/out.txt" $name) == $(field "$W/baseline/out.txt" $name) ]] ||
      fail "$name after resuming differs from the uninterrupted run"
  done
  note "resumed 1-process run identical to the uninterrupted one"
  ;;
corrupt_checkpoint)
  d=$W/corrupt; fresh_dir "$d"
  cp "$W/baseline/ddp_train.ckpt" "$d/good.ckpt"
  cp "$d/good.ckpt" "$d/ddp_train.ckpt"
  printf '\xff' | dd of="$d/ddp_train.ckpt" bs=1 seek=300000 conv=notrunc status=none
  cp "$d/ddp_train.ckpt" "$d/damaged.ckpt"
  expect_error 1 "is corrupt (checksum mismatch" "$d/log1" -- "$DDP_TRAIN" "${COMMON[@]}" --epochs 3 --checkpoint-dir "$d"
  cmp -s "$d/ddp_train.ckpt" "$d/damaged.ckpt" || fail "the damaged checkpoint was overwritten"
  expect_error 1 "is corrupt" "$d/log2" -- env TMPDIR="$d" "${MPI[@]}" -np 2 "$DDP_TRAIN" "${COMMON[@]}" --epochs 3 --checkpoint-dir "$d"
  head -c 1000 "$d/good.ckpt" >"$d/ddp_train.ckpt"
  expect_error 1 "is corrupt" "$d/log3" -- "$DDP_TRAIN" "${COMMON[@]}" --epochs 3 --checkpoint-dir "$d"
  echo "not a checkpoint" >"$d/ddp_train.ckpt"
  expect_error 1 "not a ddp_train checkpoint" "$d/log4" -- "$DDP_TRAIN" "${COMMON[@]}" --epochs 3 --checkpoint-dir "$d"
  cp "$d/good.ckpt" "$d/ddp_train.ckpt"
  expect_error 1 "belongs to another run" "$d/log5" -- "$DDP_TRAIN" "${COMMON[@]}" --batch 128 --checkpoint-dir "$d"
  ;;
bad_data)
  d=$W/bad_data; fresh_dir "$d"
  expect_error 1 "--data /nonexistent/fashion: no such directory" "$d/log1" -- "$DDP_TRAIN" --data /nonexistent/fashion --checkpoint-dir "$d"
  mkdir -p "$d/empty" "$d/text" "$d/cut"
  expect_error 1 "neither train-images-idx3-ubyte.gz nor" "$d/log2" -- "$DDP_TRAIN" --data "$d/empty" --checkpoint-dir "$d"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    echo "this is not an IDX file" | gzip >"$d/text/$f.gz"
    head -c 100000 /usr/share/datasets/fashion-mnist/$f.gz >"$d/cut/$f.gz" 2>/dev/null || true
  done
  expect_error 1 "bad magic number" "$d/log3" -- env TMPDIR="$d" "${MPI[@]}" -np 2 "$DDP_TRAIN" --data "$d/text" --checkpoint-dir "$d"
  if [[ -s $d/cut/train-images-idx3-ubyte.gz ]]; then
    expect_error 1 "train-images-idx3-ubyte.gz" "$d/log4" -- "$DDP_TRAIN" --data "$d/cut" --checkpoint-dir "$d"
  fi
  [[ ! -e $d/ddp_train.ckpt ]] || fail "a checkpoint was written without data"
  ;;
device)
  d=$W/device; fresh_dir "$d"
  "${LIMIT[@]}" "$DDP_TRAIN" --device auto --epochs 1 --max-train 512 --checkpoint-dir "$d/auto" >"$d/auto.txt" 2>&1 ||
    { cat "$d/auto.txt"; fail "--device auto failed"; }
  cat "$d/auto.txt"
  if grep -q '"device":"cpu"' "$d/auto.txt"; then
    [[ $(grep -c '^ddp_train: note: --device auto: ' "$d/auto.txt") == 1 ]] || fail "--device auto fell back without its one-line note"
    expect_error 1 "--device cuda: " "$d/cuda.log" -- "$DDP_TRAIN" --device cuda --epochs 1 --max-train 512 --checkpoint-dir "$d/cuda"
    [[ ! -e $d/cuda ]] || fail "--device cuda touched the checkpoint folder before failing"
  else
    note "a GPU is usable here: --device auto chose it"
  fi
  ;;
usage)
  d=$W/usage; fresh_dir "$d"
  "$DDP_TRAIN" --help >"$d/help.txt"
  grep -q -- "--checkpoint-dir DIR" "$d/help.txt" || fail "--help lacks the options"
  expect_error 2 "unknown option '--bogus'" "$d/log1" -- "$DDP_TRAIN" --bogus
  expect_error 2 "--epochs: 'two' is not a number" "$d/log2" -- "$DDP_TRAIN" --epochs two
  expect_error 2 "--device: 'tpu' is not one of cpu, cuda, auto" "$d/log3" -- "$DDP_TRAIN" --device tpu
  ;;
cuda_matches_cpu)
  d=$W/cuda; fresh_dir "$d"
  rc=0
  "${LIMIT[@]}" "$DDP_TRAIN" --device cuda --epochs 1 --max-train 256 --checkpoint-dir "$d/probe" >"$d/probe.txt" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    note "skipped: no usable GPU ($(tail -1 "$d/probe.txt"))"
    exit 77
  fi
  mkdir -p "$d/one" "$d/two"
  (cd "$d/one" && "${LIMIT[@]}" "$DDP_TRAIN" "${COMMON[@]}" --device cuda) | tee "$d/one.txt"
  matches_baseline "$d/one.txt" "cuda, 1 rank" 1e-3 0.005
  (cd "$d/two" && TMPDIR=$d "${LIMIT[@]}" "${MPI[@]}" -np 2 "$DDP_TRAIN" "${COMMON[@]}" --device cuda) | tee "$d/two.txt"
  matches_baseline "$d/two.txt" "cuda, 2 ranks" 1e-3 0.005
  ;;
*)
  fail "unknown case '$CASE'"
  ;;
esac
echo "PASS: $CASE"
