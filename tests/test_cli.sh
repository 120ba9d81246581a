#!/bin/sh
# The command as scripts see it: exit codes, one-line errors with file:line:col, stdout
# formats, and an end-to-end run that trains lenet on a slice of Fashion-MNIST.
CNN=${CNN:-./cnn}
case "$CNN" in /*) ;; *) CNN="$(pwd)/$CNN" ;; esac
T=$(mktemp -d /tmp/cnn-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect CODE PATTERN CMD...: exit code CODE and stderr containing PATTERN (grep -E)
expect() {
    code=$1; pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?
    if [ "$rc" -ne "$code" ]; then bad "$* -> exit $rc, wanted $code: $(head -c 300 "$T/err")"; return; fi
    if [ -n "$pat" ] && ! grep -qE -- "$pat" "$T/err"; then bad "$* -> stderr lacks /$pat/: $(head -c 300 "$T/err")"; return; fi
    ok
}
cd "$T"
cat > bad1.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: 8, kernl: 3}
  - {type: dense, units: 10}
Y
cat > bad2.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: 32, name: a}
  - {type: conv, filters: 64, name: b}
  - {type: add, inputs: [a, b]}
Y
cat > bad3.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: 32, name: a, input: c}
  - {type: conv, filters: 64, name: c}
Y
cat > bad4.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: convv, filters: 32}
Y
cat > bad5.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: -3}
Y
cat > bad6.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: 8, input: nowhere}
Y
cat > bad7.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: 8, padding: sane}
Y
cat > bad8.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers: [relu]
train: {epochs: many}
Y
printf 'layers: [ {type: conv\n' > syntax.yaml
printf 'a: &x [1,2]\nb: *x\n' > alias.yaml
: > empty.yaml
printf '\000\001\002binary' > binary.yaml
cat > ok.yaml <<'Y'
input: {channels: 1, height: 28, width: 28}
layers:
  - {type: conv, filters: 4}
  - relu
  - {type: dense, units: 10}
Y
expect 2 'bad1.yaml:3:30: unknown key .kernl.*did you mean .kernel.' "$CNN" check bad1.yaml
expect 2 'bad2.yaml:5:5: .*different shapes: 32x28x28 and 64x28x28' "$CNN" check bad2.yaml
expect 2 "bad3.yaml:3:47: input 'c' is defined later" "$CNN" check bad3.yaml
expect 2 "bad4.yaml:3:12: unknown layer type 'convv': did you mean 'conv'" "$CNN" check bad4.yaml
expect 2 "bad5.yaml:3:27: 'filters' is -3, must be between 1 and" "$CNN" check bad5.yaml
expect 2 "bad6.yaml:3:37: input 'nowhere' is not a layer defined above" "$CNN" check bad6.yaml
expect 2 "bad7.yaml:3:39: 'padding' must be same, valid" "$CNN" check bad7.yaml
expect 2 "bad8.yaml:3:17: 'epochs' must be an integer, not 'many'" "$CNN" check bad8.yaml
expect 2 'syntax.yaml:2:1: YAML syntax error' "$CNN" check syntax.yaml
expect 2 'alias.yaml:1:4: YAML anchors' "$CNN" check alias.yaml
expect 2 "empty.yaml:1:1: the model file has no 'layers' list" "$CNN" check empty.yaml
expect 2 'binary.yaml: not a YAML text file' "$CNN" check binary.yaml
expect 2 'missing.yaml: No such file or directory' "$CNN" check missing.yaml
expect 2 "" "$CNN" check ok.yaml bad1.yaml
expect 0 "" "$CNN" check ok.yaml
grep -q '^ok.yaml: ok$' out && ok || bad "check prints 'FILE: ok'"
expect 2 "--set train.epoch=3: unknown key 'epoch' in train: did you mean 'epochs'" "$CNN" check ok.yaml --set train.epoch=3
expect 2 "--set train.optimizer.lr=abc: 'lr' must be a number" "$CNN" check ok.yaml --set train.optimizer.lr=abc
expect 2 "--set layers.0.filters=1000000000: 'filters' is 1000000000" "$CNN" check ok.yaml --set layers.0.filters=1000000000
expect 2 "expected KEY=VALUE" "$CNN" check ok.yaml --set nonsense
expect 2 "unknown option '--bogus'" "$CNN" train ok.yaml --bogus
expect 2 "needs a value" "$CNN" train ok.yaml --set
expect 2 "unknown command 'trian'" "$CNN" trian
expect 2 "usage: cnn train" "$CNN" train
expect 2 "--top needs a whole number" "$CNN" predict --top x a.png
expect 3 "nope.cnn: No such file or directory" "$CNN" predict -m nope.cnn a.png
printf 'not a checkpoint at all' > foreign.cnn
expect 3 "foreign.cnn: not a cnn checkpoint" "$CNN" predict -m foreign.cnn a.png
expect 0 "" "$CNN" --version
grep -qE '^cnn [0-9]+\.[0-9]+' out && ok || bad "--version prints 'cnn X.Y.Z'"
expect 0 "" "$CNN" --help
grep -q 'Exit codes' out && ok || bad "--help documents exit codes"
expect 0 "" "$CNN" help config
grep -q 'weight_decay' out && ok || bad "help config lists keys"
expect 0 "" "$CNN" help layers
expect 0 "" "$CNN" summary ok.yaml
grep -q '^total: ' out && ok || bad "summary prints totals"
# bench: KEY<TAB>VALUE lines and per-layer tables; bad options are one line and exit 2.
expect 0 "" "$CNN" bench ok.yaml --mode train --batch 4 --seconds 0.02 --runs 1
grep -qE '^train_img_per_s	[0-9.]+$' out && grep -qE '^conv1 +conv +[0-9.]+ +[0-9.]+ ' out && ok || bad "bench train: $(head -c 300 out)"
expect 0 "" "$CNN" bench ok.yaml --mode kernels --batch 3 --seconds 0.01
grep -q '^# kernels, batch 3, 1 thread:' out && grep -qE '^dense1 +dense +[0-9.]+ +[0-9.]+ +[0-9.]+ ' out && ok ||
    bad "bench --mode kernels: $(head -c 300 out)"
expect 2 "--mode must be train, infer, kernels or all" "$CNN" bench ok.yaml --mode bogus
expect 2 "--batch" "$CNN" bench ok.yaml --batch 0
expect 2 "nowhere.yaml: No such file or directory" "$CNN" bench nowhere.yaml

# The key reference is generated from the binary; it must be current.
sh "$OLDPWD/scripts/gen-config-doc.sh" "$CNN" > config.md && cmp -s config.md "$OLDPWD/docs/config.md" && ok ||
    bad "docs/config.md is stale: sh scripts/gen-config-doc.sh > docs/config.md"

# End to end on real data: train lenet on a slice, predict, eval, resume, interrupt.
DATA=/usr/share/datasets/fashion-mnist
if [ ! -f $DATA/train-images-idx3-ubyte.gz ]; then
    bad "Fashion-MNIST is missing: install dataset-fashion-mnist (sh scripts/setup.sh)"
else
    CFG="$OLDPWD/configs/lenet.yaml"
    expect 0 "test accuracy" "$CNN" train "$CFG" --set train.epochs=2 --set data.limit=12000 --set output=run --quiet
    acc=$(sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p' err)
    awk -v a="$acc" 'BEGIN { exit !(a > 0.80) }' && ok || bad "lenet on 12,000 images for 2 epochs: test accuracy $acc, wanted > 0.80"
    [ "$(cat out)" = "run/model.cnn" ] && ok || bad "train prints the checkpoint path"
    [ -L model.cnn ] && ok || bad "train points ./model.cnn at the checkpoint"
    [ "$(wc -l < run/metrics.csv)" -eq 3 ] && ok || bad "metrics.csv has a header and one row per epoch"
    head -1 run/metrics.csv | grep -q '^epoch,step,lr,train_loss,train_acc,val_loss,val_acc,img_per_s,seconds$' && ok || bad "metrics.csv header"
    expect 0 "" "$CNN" samples "$CFG" --count 6 --out pics
    expect 0 "" "$CNN" predict pics/00000-Ankle_boot.png
    printf 'pics/00000-Ankle_boot.png\tAnkle boot\t' > want
    head -c "$(wc -c < want)" out | cmp -s - want && ok || bad "predict line format: $(cat out)"
    ls pics/*.png | "$CNN" predict - > lines 2>/dev/null && [ "$(wc -l < lines)" -eq 6 ] && ok || bad "predict - reads paths from stdin"
    ls pics/*.png > order; cut -f1 lines | cmp -s - order && ok || bad "predict keeps input order"
    expect 0 "" "$CNN" predict --top 3 --json pics
    [ "$(grep -c '"top":\[{"class":' out)" -eq 6 ] && ok || bad "predict --json: $(head -1 out)"
    : > pics/zero.png; mkdir pics/dir.png; printf 'GIF89a' > pics/trunc.gif
    expect 3 "zero.png" "$CNN" predict pics
    [ "$(wc -l < out)" -eq 6 ] && ok || bad "predict goes on past unreadable images"
    expect 0 "" "$CNN" filters --out f.png
    grep -q '^f.png	conv1	6 filters x 1 channels of 5x5$' out && [ -s f.png ] && ok || bad "filters: $(cat out)"
    expect 0 "" "$CNN" features pics/00000-Ankle_boot.png --layer maxpool2 --out m.png
    grep -q '^m.png	maxpool2	16 maps of 5x5$' out && [ -s m.png ] && ok || bad "features: $(cat out)"
    expect 2 "layer 'maxpool2' is a maxpool" "$CNN" filters --layer maxpool2
    expect 2 "no layer named 'nope'" "$CNN" features pics/00000-Ankle_boot.png --layer nope
    expect 0 "" "$CNN" eval
    grep -q '^accuracy' out && grep -q 'confusion matrix' out && ok || bad "eval output"
    expect 0 "" "$CNN" eval --json
    grep -q '"confusion":\[\[' out && ok || bad "eval --json"
    expect 0 "" "$CNN" train "$CFG" --set train.epochs=3 --set data.limit=12000 --set output=run --resume run/model.cnn --quiet
    [ "$(wc -l < run/metrics.csv)" -eq 4 ] && ok || bad "resume appends to metrics.csv"
    expect 3 "has no tensor|is 6x1x5x5 in the checkpoint" "$CNN" train "$CFG" --set layers.0.filters=7 --set output=run2 --resume run/model.cnn
    # SIGINT: save and exit 130, then resume finishes.
    "$CNN" train "$CFG" --set train.epochs=1 --set output=run3 --quiet >/dev/null 2>err & pid=$!
    sleep 1; kill -INT $pid; wait $pid; rc=$?
    [ $rc -eq 130 ] && grep -q 'resume with --resume' err && ok || bad "SIGINT -> exit 130 with a resumable checkpoint (rc $rc: $(cat err))"
    expect 0 "" "$CNN" train "$CFG" --set train.epochs=1 --set output=run3 --resume run3/model.cnn --quiet
    # Validation split: metrics.csv gets validation loss and accuracy.
    expect 0 "" "$CNN" train "$CFG" --set train.epochs=1 --set data.limit=3000 --set data.validation_split=0.2 --set output=runv --quiet
    grep -q '2400 training images, 600 validation images' err && ok || bad "validation split sizes: $(head -3 err)"
    tail -1 runv/metrics.csv | awk -F, '{ exit !($6 != "" && $7 > 0.3) }' && ok || bad "metrics.csv has validation columns: $(tail -1 runv/metrics.csv)"
    # An image folder and a CSV list as training data (PNG files written from the test set).
    expect 0 "" "$CNN" samples "$CFG" --count 300 --out flat
    for f in flat/*.png; do c=$(basename "$f" .png | cut -d- -f2-); mkdir -p "tree/$c"; cp "$f" "tree/$c/"; done
    ( cd flat && for f in *.png; do printf '%s,%s\n' "$f" "$(basename "$f" .png | cut -d- -f2-)"; done ) > flat/list.csv
    expect 0 "" "$CNN" train "$CFG" --set data.format=folder --set data.train=tree --set data.test=tree --set data.classes=[] \
        --set train.epochs=2 --set output=runf --quiet
    grep -q 'test accuracy' err && ok || bad "training from an image folder: $(tail -2 err)"
    expect 0 "" "$CNN" predict -m runf/model.cnn flat/00000-Ankle_boot.png
    grep -q 'Ankle_boot.png	[A-Za-z_]' out && ok || bad "folder-trained model predicts class names: $(cat out)"
    expect 0 "" "$CNN" train "$CFG" --set data.format=csv --set data.train=flat/list.csv --set data.test=flat/list.csv \
        --set data.classes=[] --set train.epochs=1 --set output=runc --quiet
    # Divergence: an absurd learning rate stops with exit 4 naming a layer and the step.
    expect 4 "diverged at step [0-9]+" "$CNN" train "$CFG" --set train.optimizer.lr=90 --set train.optimizer.momentum=0.99 --set data.limit=2000 --set output=run4 --quiet
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
