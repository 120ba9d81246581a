#!/bin/sh
# test_faults.sh - faults a long unattended training run meets, through the command:
#   - SIGKILL at random moments (startup, steps, checkpoint saves), 30+ times: the last
#     model.cnn always loads and evaluates, and no temporary file outlives the next run
#   - SIGINT (or SIGKILL), then --resume: the final checkpoint is byte-identical to an
#     uninterrupted run's
#   - a file size limit (ulimit -f) and a full file system (a small tmpfs, when mount works)
#     while saving: exit 1 naming the file, the previous model.cnn intact, no temporary left
#   - a read-only run directory (as user nobody when running as root): exit 1, nothing changed
#   - two trainers on one run directory: the second refuses (exit 1), the first goes on
#   - divergence: exit 4 naming the step and a layer, the last good checkpoint kept
#   - memory: RSS at epoch 20 within a few MB of epoch 2
# The data set is tests/make-hostile.sh --data (8x8 images of 3 classes, 96 to train on).
CNN=${CNN:-./cnn}
case "$CNN" in /*) ;; *) CNN="$(pwd)/$CNN" ;; esac
SRC=$(pwd)
T=$(mktemp -d /tmp/cnn-faults-XXXXXX)
MNT=""
cleanup() {
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
    chmod -R u+rwX "$T" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$T"
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" | cut -c1-600 >&2; }
note() { echo "note: $*"; }
SAN='ERROR: [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'
# A sanitized binary (make test SANITIZE=1) says so when asked for its options.
sanitized=0
ASAN_OPTIONS=help=1 "$CNN" --version 2>&1 | grep -q AddressSanitizer && sanitized=1
clean_err() { ! grep -qE "$SAN" "$1" || { bad "sanitizer report in $1: $(grep -E "$SAN" "$1" | head -2)"; return 1; }; }

sh "$SRC/tests/make-hostile.sh" --data "$T" >/dev/null || { echo "make-hostile.sh failed"; exit 1; }
cd "$T" || exit 1
cat > faults.yaml <<'Y'
# big enough that a checkpoint save takes a while (about 600 KB with the momentum)
name: faults
output: run
input: {channels: 1, height: 8, width: 8}
layers:
  - {type: conv, filters: 4, kernel: 3, name: c1}
  - relu
  - {type: maxpool, kernel: 2}
  - {type: dense, units: 2000, name: hidden}
  - relu
  - {type: dense, units: 3, name: out}
data:
  format: idx
  train: good/train-images.idx
  train_labels: good/train-labels.idx
  test: good/test-images.idx.gz
  test_labels: good/test-labels.idx.gz
train: {epochs: 3, batch: 8, threads: 1, seed: 3, log_every: 100000, optimizer: {type: sgd, lr: 0.01}}
Y
rand() { echo $(( $(od -An -N2 -tu2 /dev/urandom) % $1 )); } # 0 .. $1-1
# ms N: "0.NNN" seconds for sleep
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
tmps() { find "$1" -name '*.tmp.*' 2>/dev/null | wc -l | tr -d ' '; }
loads() { # loads CKPT WHAT: the checkpoint loads (summary) and evaluates (eval) cleanly
    "$CNN" summary "$1" >/dev/null 2>"$T/lerr" || { bad "$2: $1 does not load: $(cat "$T/lerr")"; return 1; }
    "$CNN" eval -m "$1" >"$T/eout" 2>"$T/lerr" || { bad "$2: $1 does not evaluate: $(cat "$T/lerr")"; return 1; }
    clean_err "$T/lerr" && grep -q '^accuracy' "$T/eout" && ok
}

# ---- SIGKILL loop ----
"$CNN" train faults.yaml --quiet >/dev/null 2>err || bad "first training: $(cat err)"
loads run/model.cnn "first training"
n=0 killed_in_save=0 stale_max=0
while [ $n -lt 32 ]; do
    n=$((n + 1))
    "$CNN" train faults.yaml --quiet --set train.epochs=100000 --resume run/model.cnn >/dev/null 2>err &
    pid=$!
    sleep "$(ms $((30 + $(rand 400))))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ -f "run/model.cnn.tmp.$pid" ] && killed_in_save=$((killed_in_save + 1))
    loads run/model.cnn "after kill $n (pid $pid)" || break
    t=$(tmps run)
    [ "$t" -gt "$stale_max" ] && stale_max=$t
done
note "kill loop: $n SIGKILLs, $killed_in_save of them during a checkpoint save"
[ "$killed_in_save" -ge 1 ] && ok || bad "no SIGKILL landed during a save in $n tries (the loop tests nothing)"
# A killed save leaves its temporary file; the next run on the directory (which holds the
# lock, so no one else is writing) must clear it: at most one may exist at any time.
[ "$stale_max" -le 1 ] && ok || bad "temporary files of killed saves accumulate in the run directory: up to $stale_max (e.g. $(find run -name '*.tmp.*' | head -2 | tr '\n' ' '))"
"$CNN" train faults.yaml --quiet --set train.epochs=100000 --resume run/model.cnn >/dev/null 2>err &
pid=$!; sleep 0.3; kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "SIGINT after the kill loop: exit $rc: $(tail -2 err)"
loads run/model.cnn "after the kill loop and a SIGINT"
[ "$(tmps run)" -eq 0 ] && ok || bad "after a clean stop, temporary files remain: $(find run -name '*.tmp.*' | tr '\n' ' ')"

# ---- SIGINT then --resume equals an uninterrupted run, bit for bit ----
# Two directories with the same layout, so the checkpoints (which record the config's path
# and the --set lines) come from identical command lines.
for d in a b; do mkdir $d && ln -s ../good $d/good && sed 's/epochs: 3,/epochs: 60,/; s/threads: 1,/threads: 2,/' faults.yaml > $d/ex.yaml; done
(cd a && "$CNN" train ex.yaml --quiet >/dev/null 2>err) || bad "uninterrupted run: $(tail -2 a/err)"
interrupted=0 tries=0
while [ $interrupted -eq 0 ] && [ $tries -lt 5 ]; do
    tries=$((tries + 1)); rm -rf b/run
    (cd b && exec "$CNN" train ex.yaml --quiet >/dev/null 2>err) &
    pid=$!
    i=0 # wait for epoch 2, then interrupt (a stop lands mid-epoch unless it hits a save)
    while [ $i -lt 400 ] && [ "$(cat b/run/metrics.csv 2>/dev/null | wc -l)" -lt 3 ]; do sleep 0.01; i=$((i + 1)); done
    sleep "$(ms $(rand 50))"
    kill -INT $pid; wait $pid; rc=$?
    if [ $rc -eq 130 ]; then interrupted=1; elif [ $rc -ne 0 ]; then bad "interrupted run: exit $rc: $(tail -2 b/err)"; break; fi
done
if [ $interrupted -eq 1 ]; then
    grep -qE 'stopped (at step [0-9]+|after epoch [0-9]+).*resume with --resume run/model.cnn' b/err && ok ||
        bad "SIGINT message: $(tail -1 b/err)"
    (cd b && "$CNN" train ex.yaml --quiet --resume run/model.cnn >/dev/null 2>err) || bad "resumed run: $(tail -2 b/err)"
    cmp -s a/run/model.cnn b/run/model.cnn && ok || bad "SIGINT + --resume differs from the uninterrupted run ($(tail -1 b/err))"
else
    bad "could not interrupt a run in $tries tries"
fi

# The same after SIGKILL: whatever checkpoint survived, resuming from it ends where the
# uninterrupted run did.
mkdir c && ln -s ../good c/good && cp a/ex.yaml c/
(cd c && exec "$CNN" train ex.yaml --quiet >/dev/null 2>err) &
pid=$!
i=0; while [ $i -lt 400 ] && [ "$(cat c/run/metrics.csv 2>/dev/null | wc -l)" -lt 3 ]; do sleep 0.01; i=$((i + 1)); done
sleep "$(ms $(rand 80))"
kill -9 $pid; wait $pid 2>/dev/null
(cd c && "$CNN" train ex.yaml --quiet --resume run/model.cnn >/dev/null 2>err) || bad "run resumed after SIGKILL: $(tail -2 c/err)"
cmp -s a/run/model.cnn c/run/model.cnn && ok || bad "SIGKILL + --resume differs from the uninterrupted run"

# ---- file size limit and full file system while saving ----
"$CNN" train faults.yaml --quiet --set output=full >/dev/null 2>err || bad "training for the disk tests: $(cat err)"
cp full/model.cnn full.orig
size=$(wc -c < full.orig | tr -d ' ')
# ulimit -f counts 512-byte blocks in dash and 1024 in bash: either way well below one checkpoint
(ulimit -f $((size / 4096)); exec "$CNN" train faults.yaml --quiet --set output=full) >/dev/null 2>err
rc=$?
[ $rc -eq 1 ] && grep -qE '^cnn: full/model.cnn: .*(File too large|No space)' err && ok || bad "file size limit: exit $rc: $(tail -1 err)"
clean_err err
cmp -s full/model.cnn full.orig && ok || bad "file size limit: the previous model.cnn changed"
[ "$(tmps full)" -eq 0 ] && ok || bad "file size limit: temporary files left: $(find full -name '*.tmp.*')"
loads full/model.cnn "after the file size limit"
if [ "$(id -u)" -eq 0 ] && mkdir tiny && mount -t tmpfs -o size=$(( (size + size / 2) / 1024 + 4 ))k tmpfs tiny 2>/dev/null; then
    MNT="$T/tiny"
    mkdir tiny/run && cp full.orig tiny/run/model.cnn
    "$CNN" train faults.yaml --quiet --set output=tiny/run >/dev/null 2>err; rc=$?
    [ $rc -eq 1 ] && grep -qE '^cnn: tiny/run/model.cnn: .*No space left on device' err && ok || bad "full file system: exit $rc: $(tail -1 err)"
    cmp -s tiny/run/model.cnn full.orig && ok || bad "full file system: the previous model.cnn changed"
    [ "$(tmps tiny)" -eq 0 ] && ok || bad "full file system: temporary files left: $(find tiny -name '*.tmp.*')"
    umount tiny && MNT=""
else
    note "no tmpfs mount here (needs root and CAP_SYS_ADMIN): the full file system case is covered by the file size limit only"
fi

# ---- read-only run directory ----
# a copy of the binary: the checkout may sit where user nobody cannot reach (/root)
cp "$CNN" ./cnn-copy && chmod 755 ./cnn-copy
as_other=""
if [ "$(id -u)" -ne 0 ]; then as_other=" "
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups ./cnn-copy --version >/dev/null 2>&1; then
    as_other="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi
if [ -n "$as_other" ]; then
    mkdir -p ro && cp full.orig ro/model.cnn && : > ro/.lock && chmod 666 ro/.lock && chmod 555 ro
    $as_other ./cnn-copy train faults.yaml --quiet --set output=ro >/dev/null 2>err; rc=$?
    # the first write of an epoch is metrics.csv, then the checkpoint: either may be the one refused
    [ $rc -eq 1 ] && grep -qE '^cnn: ro/(metrics.csv: cannot write|model.cnn: cannot create the temporary file).*Permission denied' err && ok ||
        bad "read-only run directory: exit $rc: $(tail -1 err)"
    cmp -s ro/model.cnn full.orig && ok || bad "read-only run directory: model.cnn changed"
    chmod 755 ro && rm ro/.lock && chmod 555 ro
    $as_other ./cnn-copy train faults.yaml --quiet --set output=ro >/dev/null 2>err; rc=$?
    [ $rc -eq 1 ] && grep -qE '^cnn: ro/.lock: cannot create the run lock: Permission denied' err && ok ||
        bad "read-only run directory without a lock file: exit $rc: $(tail -1 err)"
    chmod 755 ro
else
    note "running as root, and cannot run cnn as user nobody (setpriv): the read-only run directory case is skipped (root writes anywhere)"
fi

# ---- two trainers on one run directory ----
"$CNN" train faults.yaml --set train.epochs=100000 --set output=shared >/dev/null 2>err1 &
pid=$!
i=0; while [ $i -lt 500 ] && ! grep -q '^training ' err1; do sleep 0.01; i=$((i + 1)); done
"$CNN" train faults.yaml --quiet --set output=shared >/dev/null 2>err2; rc=$?
[ $rc -eq 1 ] && grep -q '^cnn: shared: another cnn train is using this run directory' err2 && ok ||
    bad "second trainer on one run directory: exit $rc: $(cat err2)"
kill -0 $pid 2>/dev/null && ok || bad "the first trainer died when a second one started"
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "first trainer after SIGINT: exit $rc: $(tail -1 err1)"
loads shared/model.cnn "the first trainer's checkpoint"

# ---- divergence ----
# Four linear layers (no non-linearity to bound them) at lr 90 with momentum 0.99 overflow
# within a few steps; the run resumes from a good checkpoint, which must stay as it was.
LIN='layers=[{type: dense, units: 64, name: a}, {type: dense, units: 64, name: b}, {type: dense, units: 64, name: c}, {type: dense, units: 3, name: out}]'
"$CNN" train faults.yaml --quiet --set output=div --set "$LIN" >/dev/null 2>err || bad "training the linear net: $(tail -1 err)"
cp div/model.cnn div.orig
"$CNN" train faults.yaml --quiet --set output=div --set "$LIN" --set train.optimizer.lr=90 --set train.optimizer.momentum=0.99 \
    --set train.epochs=20 --resume div/model.cnn >/dev/null 2>err; rc=$?
[ $rc -eq 4 ] && ok || bad "divergence: exit $rc, wanted 4: $(tail -1 err)"
grep -qE "^cnn: training diverged at step [0-9]+ \(epoch [0-9]+\): .*layer '(a|b|c|out)'.*last good checkpoint is kept" err && ok ||
    bad "divergence message does not name the step and a layer: $(tail -1 err)"
clean_err err
cmp -s div/model.cnn div.orig && ok || bad "divergence in the first epoch changed the checkpoint"
loads div/model.cnn "after divergence"
grep -qE '^loss	(nan|-?inf)' eout && bad "the checkpoint kept after divergence has a non-finite loss" || ok
[ "$(tmps div)" -eq 0 ] && ok || bad "divergence: temporary files left"

# ---- memory across epochs ----
# RSS sampled near epochs 6-8 and 20-22 of one run (with a validation pass each epoch, so
# evaluation's allocations are in the loop too). ASan keeps freed memory in quarantine, and
# with detect_stack_use_after_return (make test-sanitize sets it) its fake stacks touch new
# pages for many epochs (measured: +2 MB from epoch 6 to 22, still growing), so a sanitized
# binary runs this with both off.
[ $sanitized -eq 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0:detect_stack_use_after_return=0"
: > merr
"$CNN" train faults.yaml --set output=mem --set train.epochs=26 --set data.validation_split=0.25 >/dev/null 2>merr &
pid=$!
rss() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\) kB/\1/p' /proc/$pid/status 2>/dev/null; }
at() { i=0; while [ $i -lt 3000 ] && [ "$(grep -c 'done:' merr)" -lt "$1" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; i=$((i + 1)); done; }
# The smallest of three samples on each side, after the allocator's warm-up: a sample can
# land in an epoch's checkpoint save, whose buffers are more for a moment, and glibc's heap
# grows by about 1.2 MB over the first five epochs before it stays flat (measured epoch by
# epoch); a leak raises every later sample.
low() { m=; for e in "$@"; do at "$e"; v=$(rss); [ -n "$v" ] && { [ -z "$m" ] || [ "$v" -lt "$m" ]; } && m=$v; done; echo "$m"; }
r2=$(low 6 7 8)
r20=$(low 20 21 22)
wait $pid; rc=$?
[ $rc -eq 0 ] || bad "memory run: exit $rc: $(tail -1 merr)"
if [ -n "$r2" ] && [ -n "$r20" ]; then
    note "VmRSS at epochs 6-8: $r2 kB, at epochs 20-22: $r20 kB (lowest of three samples)"
    [ $((r20 - r2)) -le 3072 ] && ok || bad "RSS grew by $((r20 - r2)) kB from epochs 6-8 to epochs 20-22"
else
    bad "could not sample RSS at epochs 6-8 and 20-22 (the run ended too fast?): '$r2' '$r20'"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
