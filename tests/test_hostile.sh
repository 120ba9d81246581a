#!/bin/sh
# test_hostile.sh - every hostile input of tests/make-hostile.sh through the command (check,
# train with --set data.* pointing at it, predict, eval, summary): the exact exit code
# (2 config or usage, 3 data, 1 runtime), one stderr line "cnn: FILE...: REASON", no
# sanitizer report, and nothing half-written: the run directory keeps its previous
# model.cnn byte for byte and holds no temporary files. Each limit is tried just below
# (works) and just above (refused). Runs under the sanitized build too (CNN=build-san/cnn).
CNN=${CNN:-./cnn}
case "$CNN" in /*) ;; *) CNN="$(pwd)/$CNN" ;; esac
SRC=$(pwd)
T=$(mktemp -d /tmp/cnn-hostile-XXXXXX)
trap 'chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T" # so the unprivileged-user cases below can enter it
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" | cut -c1-600 >&2; }
SAN='ERROR: [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'

# run CMD...: runs the command with stdin closed, stdout in $T/out, stderr in $T/err, status in rc.
run() { "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
# expect CODE FILE REASON CMD...: exit CODE; for a failure, the last stderr line is
# "cnn: FILE...: ...REASON..." (REASON an ERE) and it is the only "cnn:" line (train prints
# progress before it); for success, no "cnn:" line at all. Never a sanitizer report.
expect() {
    code=$1 file=$2 why=$3; shift 3
    run "$@"
    what="$* -> exit $rc"
    if grep -qE "$SAN" "$T/err"; then bad "$what: sanitizer report: $(grep -E "$SAN" "$T/err" | head -3)"; return 1; fi
    if [ "$rc" -ne "$code" ]; then bad "$what, wanted $code: $(tail -c 300 "$T/err")"; return 1; fi
    if [ "$code" -eq 0 ]; then
        if grep -q '^cnn: ' "$T/err"; then bad "$what: error output on success: $(head -c 300 "$T/err")"; return 1; fi
        ok; return 0
    fi
    last=$(tail -n 1 "$T/err")
    if [ "$(grep -c '^cnn: ' "$T/err")" -ne 1 ]; then bad "$what: not one error line: $(head -c 400 "$T/err")"; return 1; fi
    if [ "$1" = "$CNN" ] && [ "$2" != train ] && [ "$(wc -l < "$T/err")" -ne 1 ]; then
        bad "$what: more than one line on stderr: $(head -c 400 "$T/err")"; return 1; fi
    case "$last" in "cnn: $file"*) ;; *) bad "$what: the message does not start with the file '$file': $last"; return 1 ;; esac
    if ! printf '%s\n' "$last" | grep -qE -- "$why"; then bad "$what: message lacks /$why/: $last"; return 1; fi
    ok
}

sh "$SRC/tests/make-hostile.sh" "$T" >/dev/null || { echo "make-hostile.sh failed"; exit 1; }
cd "$T" || exit 1
NET=good/net.yaml

# ---- a model to protect: trained once, copied; every failing command below leaves it alone ----
expect 0 "" "" "$CNN" train $NET --quiet
[ -f run/model.cnn ] && cp run/model.cnn model.orig && cp run/metrics.csv metrics.orig || bad "training the tiny net wrote no run/model.cnn"
sh "$SRC/tests/make-hostile.sh" "$T" run/model.cnn >/dev/null || bad "make-hostile.sh with a checkpoint failed"
intact() { # intact WHAT: run/model.cnn unchanged and no temporary files anywhere in the tree
    cmp -s run/model.cnn model.orig || bad "$1: run/model.cnn changed"
    left=$(find . -name '*.tmp.*' -o -name '.model.cnn.*' | head -3)
    [ -z "$left" ] || bad "$1: temporary files left: $left"
}

# ---- model files: cnn check (and summary), exit 2 ----
chk() { expect "$1" "yaml/$2" "$3" "$CNN" check "yaml/$2"; }
chk 2 syntax.yaml ':2:1: YAML syntax error'
chk 2 tab.yaml ':2:1: YAML syntax error'
chk 2 unknown-top.yaml ":5:1: unknown key 'lyaers' in the model file: did you mean 'layers'"
chk 2 unknown-key.yaml ":3:30: unknown key 'kernl' .*did you mean 'kernel'"
chk 2 unknown-type.yaml ":3:12: unknown layer type 'convv': did you mean 'conv'"
chk 2 type-int.yaml ":5:17: 'epochs' must be an integer, not 'many'"
chk 2 type-num.yaml "'lr' must be a number, not 'fast'"
chk 2 nan.yaml "'lr' must be a number, not '.nan'"
chk 2 inf.yaml "'lr' must be a number, not '1e999'"
chk 2 int-overflow.yaml "'epochs' must be an integer, not '99999999999999999999999'"
chk 2 int-big.yaml "'epochs' is 2147483648, must be between 1 and 100000"
chk 2 int-frac.yaml "'epochs' must be an integer, not '1.5'"
chk 2 type-map.yaml ":1:8: 'input' must be a mapping"
chk 2 type-list.yaml ":2:9: 'layers' must be a list"
chk 2 negative.yaml ":3:27: 'filters' is -3, must be between 1 and"
chk 2 zero.yaml "'filters' is 0, must be between 1 and"
chk 2 filters-1e9.yaml "'filters' is 1000000000, must be between 1 and"
chk 2 input-1e6.yaml "'height' is 1000000, must be between 1 and 16384"
chk 2 channels-0.yaml "'channels' is 0, must be between 1 and"
chk 2 kernel-huge.yaml "'kernel' is 2147483647, must be between 1 and"
chk 2 kernel-too-big.yaml "layer 'conv1' \(conv\): a 9x9 kernel .*does not fit the 8x8 input"
chk 2 stride-0.yaml "'stride' is 0, must be between 1 and"
chk 2 product-act.yaml "(output|input 4096x16384x16384) .*1099511627776 values per image.*(exceeds|above) the limit of 268435456"
chk 2 product-conv.yaml "layer 'conv1' \(conv\): .*too large|exceed"
# 4096x16384x16384 inputs (2^40) into 2^24 units: 2^64 weights, which overflows int64 (see docs/robustness.md)
chk 2 product-dense.yaml "(layer 'dense1' \(dense\): .*(exceed|limit)|the input 4096x16384x16384 has .* above the limit)"
# 65536 x 256 x 256 weights: refused, but fan_out is computed in int first (UBSan)
chk 2 product-fanout.yaml "(tensor 'weight' has 4294967296 values|65536 filters of 65536 weights exceed the tensor limit), above the limit of 268435456|65536 filters of 65536 weights exceed the tensor limit of 268435456"
# 2^40 input values per image, reduced at once by gap: the input is a tensor too
chk 2 product-input.yaml "input.*(exceed|limit)"
# 16384 outputs, more classes than CNN_MAX_CLASSES (10000)
chk 2 outputs-16384.yaml "(output|class).*(10000|limit)"
chk 2 bomb.yaml ':1:4: YAML anchors \(&name\) are not supported'
chk 2 alias.yaml ':1:8: YAML anchors \(&name\) are not supported'
chk 2 duplicate.yaml ":2:1: key 'input' appears twice \(first at line 1\)"
chk 2 two-docs.yaml ':3:1: only one YAML document is allowed'
chk 2 complex-key.yaml ':2:3: a key must be a plain word'
chk 2 not-a-map.yaml ':1:1: the model file must be a mapping'
# text from the file echoed in a message stays on one line (control characters escaped)
chk 2 ctrl-key.yaml ":5:1: unknown key 'bad"
chk 2 depth-32.yaml ":5:1: unknown key 'deep'"
chk 2 depth-33.yaml ':5:38: nested deeper than 32 levels'
chk 2 depth-40.yaml ':5:38: nested deeper than 32 levels'
chk 0 size-max.yaml ''
chk 2 size-over.yaml ': larger than the limit of 1048576 bytes'
chk 2 size-100mb.yaml ': larger than the limit of 1048576 bytes'
chk 2 garbage.yaml ': not a YAML text file'
chk 2 bad-utf8.yaml ':1:1: YAML syntax error'
chk 2 empty.yaml ":1:1: the model file has no 'layers' list"
chk 2 comment.yaml ":1:1: the model file has no 'layers' list"
chk 2 dir.yaml ': is a directory'
chk 2 missing.yaml ': No such file or directory'
chk 2 cycle-self.yaml "layer 'a' takes its own output as input \(a cycle\)"
chk 2 cycle-two.yaml "input 'b' is defined later \(line 4\)"
chk 2 dangling.yaml "input 'nowhere' is not a layer defined above"
chk 2 shape-add.yaml "layer 'add1' \(add\): inputs have different shapes: 4x8x8 and 8x8x8"
chk 2 shape-concat.yaml "layer 'concat1' \(concat\): inputs differ in height x width"
chk 2 name-twice.yaml "layer name 'a' is already used at line 3"
chk 2 inputs-few.yaml "takes 2 to 8 inputs, not 1"
chk 2 layers-empty.yaml "'layers' must be a non-empty list"
# limits, just below and just above
chk 0 layers-1024.yaml ''
chk 2 layers-1025.yaml '1025 layers, more than the limit of 1024'
chk 0 nodes-max.yaml ''
chk 2 nodes-over.yaml 'more than 100000 YAML nodes'
chk 0 tensor-max.yaml ''
chk 2 tensor-over.yaml '(output|input 2x16384x16384) .*536870912 values per image.*(exceeds|above) the limit of 268435456'
chk 0 side-max.yaml ''
chk 2 side-over.yaml "'height' is 16385, must be between 1 and 16384"
chk 0 batch-max.yaml ''
chk 2 batch-over.yaml "'batch' is 65537, must be between 1 and 65536"
# the network's outputs are its classes: more than CNN_MAX_CLASSES cannot be saved, so refuse them up front
expect 0 "" "" "$CNN" check $NET --set layers.3.units=10000
expect 2 "" "(good/net.yaml|--set layers).*1000[01]" "$CNN" check $NET --set layers.3.units=10001
# summary builds the model: the same errors, and the limits still work
expect 2 yaml/shape-add.yaml 'different shapes' "$CNN" summary yaml/shape-add.yaml
expect 2 yaml/bomb.yaml 'YAML anchors' "$CNN" summary yaml/bomb.yaml
expect 0 "" "" "$CNN" summary yaml/tensor-max.yaml
grep -q 'input 1x16384x16384' out || bad "summary of the largest tensor: $(tail -1 out)"
expect 0 "" "" "$CNN" summary yaml/layers-1024.yaml

# ---- the command line, exit 2 ----
run "$CNN"
[ "$rc" -eq 2 ] && grep -q '^usage: cnn' "$T/err" && ok || bad "cnn without arguments: exit $rc, wanted 2 and the usage"
expect 2 "unknown command 'trian'" "" "$CNN" trian
expect 2 "train: unknown option '--bogus'" "" "$CNN" train $NET --bogus
expect 2 "predict: unknown option '--bogus'" "" "$CNN" predict --bogus img/grey.png
expect 2 "eval: unexpected argument '--bogus'" "" "$CNN" eval --bogus
expect 2 "unknown option '--bogus'" "" "$CNN" summary $NET --bogus
expect 2 "unknown option '--bogus'" "" "$CNN" check $NET --bogus
expect 2 "--set needs a value" "" "$CNN" train $NET --set
expect 2 "--resume needs a value" "" "$CNN" train $NET --resume
expect 2 "-m needs a value" "" "$CNN" predict img/grey.png -m
expect 2 "--top needs a value" "" "$CNN" predict img/grey.png --top
expect 2 "--config needs a value" "" "$CNN" eval --config
expect 2 "--set needs" "" "$CNN" check $NET --set
expect 2 "--top needs a whole number from 1 to 64, not 'x'" "" "$CNN" predict -m run/model.cnn --top x img/grey.png
expect 2 "--top needs a whole number from 1 to 64, not '0'" "" "$CNN" predict -m run/model.cnn --top 0 img/grey.png
expect 2 "--top needs a whole number" "not '99999999999999999999'" "$CNN" predict -m run/model.cnn --top 99999999999999999999 img/grey.png
expect 2 "--threads needs a whole number" "not '-1'" "$CNN" eval -m run/model.cnn --threads -1
expect 2 "--threads needs a whole number" "not '2x'" "$CNN" predict -m run/model.cnn --threads 2x img/grey.png
expect 2 "train: one config at a time" "" "$CNN" train $NET $NET
expect 2 "--set train.epoch=3: unknown key 'epoch' in train: did you mean 'epochs'" "" "$CNN" check $NET --set train.epoch=3
expect 2 "--set nosuch.key=1: unknown key 'nosuch' in the model file" "" "$CNN" check $NET --set nosuch.key=1
expect 2 "--set train.epochs=3x: 'epochs' must be an integer, not '3x'" "" "$CNN" check $NET --set train.epochs=3x
expect 2 "--set train.optimizer.lr=1e: 'lr' must be a number" "" "$CNN" check $NET --set train.optimizer.lr=1e
expect 2 "--set nonsense: expected KEY=VALUE" "" "$CNN" check $NET --set nonsense
expect 2 "--set =3: expected KEY=VALUE" "" "$CNN" check $NET --set =3
expect 2 "--set train.epochs.x=1: 'epochs' is a value, not a section" "" "$CNN" check $NET --set train.epochs.x=1
expect 2 "--set layers.9.filters=1: '9' is not an index of the list" "" "$CNN" check $NET --set layers.9.filters=1
expect 2 "--set train.epochs=" "the value is not valid YAML" "$CNN" check $NET --set 'train.epochs=['
expect 2 "--set train.epochs=&a 3: " "" "$CNN" check $NET --set 'train.epochs=&a 3'
long=$(head -c 1200 /dev/zero | tr '\0' 9)
expect 2 "--set train.epochs=9" "value too long" "$CNN" check $NET --set "train.epochs=$long"
expect 2 "--set " "key too long" "$CNN" check $NET --set "$(head -c 300 /dev/zero | tr '\0' a)=1"
expect 2 "eval: --set applies to --config" "" "$CNN" eval -m run/model.cnn --set train.epochs=1
intact "command line"

# ---- images: predict -m run/model.cnn IMAGE ----
pred() { expect "$1" "img/$2" "$3" "$CNN" predict -m run/model.cnn "img/$2"; }
for f in grey.png rgb.png rgba.png grey-alpha.png grey16.png rgb16.png rgba16.png grey1.png palette.png palette4.png \
         interlaced.png big-2048.png side-16384.png tall-16384.png side-16384.bmp png-named.jpg photo.jpg one.gif \
         animated.gif ok.bmp short-row.bmp pixels-max.png; do
    pred 0 $f '' && { head -n 1 out | grep -qE "^img/$f	[0-9]	[01]\.[0-9]{4}$" && ok || bad "predict $f printed: $(head -c 200 out)"; }
done
pred 3 side-16385.png 'larger than 16384 pixels on a side \(CNN_MAX_IMAGE_SIDE\)'
pred 3 side-16385.bmp '16385 x 1 pixels is outside 1..16384 on a side'
pred 3 claims-100000.png 'larger than 16384 pixels on a side'
pred 3 claims-2g.png 'larger than 16384 pixels on a side'
pred 3 claims-100000.bmp '100000 x 100000 pixels is outside 1..16384'
pred 3 claims-40000.jpg 'larger than 16384 pixels on a side'
pred 3 claims-65535.gif 'larger than 16384 pixels on a side'
pred 3 bad-depth.png 'not a supported image \(stb_image: 1/2/4/8/16-bit only\)'
pred 3 bad-ctype.png 'not a supported image \(stb_image: bad ctype\)'
pred 3 palette-missing.png 'not a supported image \(stb_image: no PLTE\)'
pred 3 short-data.png 'not a supported image \(stb_image: not enough pixels\)'
pred 3 zero-width.png 'not a supported image \(stb_image: 0-pixel image\)'
pred 3 jpeg-sof-zero.jpg 'not a supported image \(stb_image: no header height\)'
pred 3 fake.jpg 'not a supported image \(stb_image: no SOF\)'
# truncated files: the reason must say something (stb leaves none, or a stale one, for some)
pred 3 truncated.png 'not a supported image \(stb_image: [a-z]'
pred 3 header-only.png 'not a supported image \(stb_image: [a-z]'
# Debian's stb_image 2.27 would decode these from zeros past the end: the pre-scan refuses them
pred 3 truncated.bmp 'not a supported image \(stb_image: truncated\)'
pred 3 truncated.gif 'not a supported image \(stb_image: truncated\)'
pred 3 truncated-frame.gif 'not a supported image \(stb_image: truncated\)'
# and here stb once left the reason of another format's test ("bad png sig")
pred 3 truncated.jpg 'not a supported image \(stb_image: [a-z]'
grep -q 'png sig' "$T/err" && bad "truncated.jpg: a PNG reason for a JPEG: $(head -c 200 out)" || ok
pred 3 pixels-over.png '8192 x 8193 pixels has more than 67108864 pixels \(CNN_MAX_IMAGE_PIXELS\)'
pred 3 bomb.png 'not a supported image \(stb_image: too little data\)'
pred 3 bomb.gif 'not a supported image \(stb_image: too little data\)'
pred 3 bomb.jpg 'not a supported image \(stb_image: too little data\)'
pred 3 bmp-compression.bmp 'not a supported image \(stb_image: BMP compression\)'
pred 3 empty.png 'empty file, not an image'
pred 3 text.png 'not a supported image \(stb_image: unknown image type\)'
pred 3 garbage.png 'not a supported image'
pred 3 targa.tga 'not a supported image \(stb_image: unknown image type\)'
pred 3 missing.png 'No such file or directory'
pred 3 loop.png 'Too many levels of symbolic links'
pred 3 huge-file.png 'file larger than any image allowed'
if [ -p img/fifo.png ]; then pred 3 fifo.png 'not a regular file'; else echo "note: mkfifo failed, FIFO case skipped"; fi
# a directory named like an image, met inside a folder given to predict: an error, the rest still classified
mkdir -p mixed; cp img/grey.png img/photo.jpg mixed/; mkdir -p mixed/dir.png
expect 3 mixed/dir.png 'is a directory, not an image file' "$CNN" predict -m run/model.cnn mixed
[ "$(wc -l < out)" -eq 2 ] && ok || bad "predict goes on past a directory named like an image: $(cat out)"
# unreadable: root reads anything, so that case runs as user nobody when we are root
if [ "$(id -u)" -ne 0 ]; then
    pred 3 locked.png 'Permission denied'
elif command -v setpriv >/dev/null && cp "$CNN" ./cnn-copy && chmod 755 ./cnn-copy &&
     setpriv --reuid=65534 --regid=65534 --clear-groups ./cnn-copy --version >/dev/null 2>&1; then
    # a copy of the binary: the checkout may sit where user nobody cannot reach (/root)
    expect 3 img/locked.png 'Permission denied' setpriv --reuid=65534 --regid=65534 --clear-groups ./cnn-copy predict -m run/model.cnn img/locked.png
else
    echo "note: running as root, and cannot run cnn as user nobody (setpriv): the unreadable-image case is skipped"
fi
intact "images"

# ---- data sets through train: --set data.* at the hostile files; exit 3 and nothing written ----
trn() { code=$1 file=$2 why=$3; shift 3; expect "$code" "$file" "$why" "$CNN" train $NET --quiet "$@"; intact "train $*"; }
idx() { trn 3 "$1" "$2" --set data.train="idx/$3" --set data.train_labels="idx/$4"; }
idx idx/magic.idx 'not an IDX image file \(magic 0x00000804, expected 0x00000803\)' magic.idx labels3.idx
idx idx/labels3.idx 'an IDX label file where an IDX image file was expected' labels3.idx labels3.idx
idx idx/images3.idx 'an IDX image file where an IDX label file was expected' images3.idx images3.idx
idx idx/count-high.idx 'truncated: the header announces 100 images \(6400 bytes\) but only 192 bytes follow' count-high.idx labels3.idx
idx idx/count-low.idx 'unexpected data after the 2 images the header announces' count-low.idx labels3.idx
idx idx/labels3.idx '3 labels, but idx/images4.idx holds 4 images' images4.idx labels3.idx
idx idx/labels-short.idx 'truncated: the header announces 3 labels' images3.idx labels-short.idx
idx idx/claims-huge.idx 'truncated: the header announces 4294967295 images' claims-huge.idx labels3.idx
idx idx/no-images.idx 'holds no images' no-images.idx labels3.idx
idx idx/zero-side.idx 'images of 0 x 8 pixels, outside 1..16384 on a side' zero-side.idx labels3.idx
idx idx/side-16385.idx 'images of 16385 x 1 pixels, outside 1..16384 on a side' side-16385.idx labels3.idx
idx idx/short-header.idx 'truncated IDX header \(8 of 16 bytes\)' short-header.idx labels3.idx
idx idx/empty.idx 'empty file, not an IDX file' empty.idx labels3.idx
idx idx/dir.idx 'is a directory, not an IDX file' dir.idx labels3.idx
idx idx/missing.idx 'No such file or directory' missing.idx labels3.idx
idx idx/small-4x4.idx 'images are 4x4x1 but the network.s input is 8x8x1' small-4x4.idx labels3.idx
idx idx/truncated.idx.gz 'truncated gzip data' truncated.idx.gz labels3.idx
idx idx/corrupt.idx.gz 'corrupt gzip data' corrupt.idx.gz labels3.idx
idx idx/trailing.idx.gz 'unexpected bytes after the end of the gzip data' trailing.idx.gz labels3.idx
idx idx/label-7.idx 'labels go up to 7 but the network has 3 outputs' images3.idx label-7.idx
# a config error found only once the data is in (exit 2): the previous run's files stay as they were
trn 2 "$NET" 'train.batch 8 is larger than the 3 training images' --set data.train=idx/images3.idx --set data.train_labels=idx/labels3.idx
cmp -s run/metrics.csv metrics.orig && ok || bad "a run that failed before training removed or changed the previous run/metrics.csv"
cp metrics.orig run/metrics.csv # so the later checks see only their own effect
csv() { code=$1 file=$2 why=$3; shift 3; trn "$code" "$file" "$why" --set data.format=csv --set train.batch=1 --set data.test=csv/ok.csv "$@"; }
csvt() { csv 3 "csv/$1" "$2" --set data.train="csv/$1"; }
csvt missing.csv 'No such file or directory'
csvt empty.csv 'lists no images'
csvt no-images.csv 'lists no images'
csvt missing-image.csv ':2: missing.png: No such file or directory'
csvt bad-image.csv ':1: ../img/text.png: not a supported image'
csvt label-mixed.csv ":2:24: label 'one' is not an integer"
csvt label-negative.csv ":1:24: label '-1' is outside 0..9999"
csvt label-10000.csv ":1:24: label '10000' is outside 0..9999 \(CNN_MAX_CLASSES - 1\)"
csvt label-5.csv 'labels go up to 5 but the network has 3 outputs'
csvt three-fields.csv ':1: 3 fields, expected 2 \(path,label\)'
csvt empty-path.csv ':1:1: empty path'
csvt empty-label.csv ':1:24: empty label'
csvt quote-open.csv ':1:1: quoted field is never closed'
csvt quote-junk.csv ":1:25: unexpected 'x' after a closing quote"
csvt nul.csv ':2: NUL byte: not a text file'
# valid lists: CRLF, blank lines, header, quotes (a quoted "" and a comma in a file name)
for f in ok.csv crlf-blank.csv quotes.csv; do
    expect 0 "" "" "$CNN" train $NET --quiet --set data.format=csv --set train.batch=1 --set data.train=csv/$f --set data.test=csv/ok.csv --set output=csvrun
done
# class names with a tab or a newline would break the one-line-per-image output of predict:
# refused where they are read (a CSV label, a class directory, data.classes)
expect 3 csv/ctrl-label.csv ":1:[0-9]+: label 'x' is followed by a control character \(byte 9\)" "$CNN" train $NET --quiet \
    --set data.format=csv --set train.batch=1 --set data.train=csv/ctrl-label.csv --set data.test=csv/ctrl-label.csv \
    --set layers.3.units=2 --set output=ctrl
expect 3 "csv/ctrl-folder" "class directory 'new' is followed by a control character \(byte 10\)" "$CNN" train $NET --quiet \
    --set data.format=folder --set train.batch=1 --set data.train=csv/ctrl-folder --set output=ctrl
expect 2 "yaml/ctrl-class.yaml:" "'classes' has a control character \(byte 9\) after 'b'" "$CNN" check yaml/ctrl-class.yaml
# the class limit: label 9999 works with 10000 outputs, 10000 is refused above
expect 0 "" "" "$CNN" train $NET --quiet --set data.format=csv --set train.batch=1 --set data.train=csv/label-9999.csv \
    --set data.test=csv/label-9999.csv --set layers.3.units=10000 --set train.epochs=1 --set output=classes
# folders
mkdir -p fold/a fold/b; cp img/grey.png fold/a/; cp img/text.png fold/b/
trn 3 fold/b/text.png 'not a supported image' --set data.format=folder --set data.train=fold --set train.batch=1 --set data.test=fold
rm fold/b/text.png; mkdir fold/b/dir.png
trn 3 fold/b/dir.png 'a directory inside a class directory' --set data.format=folder --set data.train=fold --set train.batch=1 --set data.test=fold
rmdir fold/b/dir.png; : > fold/b/empty.png
trn 3 fold/b/empty.png 'empty file, not an image' --set data.format=folder --set data.train=fold --set train.batch=1 --set data.test=fold
trn 3 good/folder/missing 'No such file or directory' --set data.format=folder --set data.train=good/folder/missing --set data.test=fold
# CIFAR-10
cif() { expect "$1" "$2" "$3" "$CNN" train cifar/net.yaml --quiet --set "data.train=$2"; }
cif 0 cifar/ok.bin ''
cif 3 cifar/partial.bin '6246 bytes is not a whole number of 3073-byte CIFAR-10 records'
cif 3 cifar/empty.bin 'empty file, not a CIFAR-10 batch'
cif 3 cifar/label-10.bin 'record 1: label 10 is not a CIFAR-10 class'
cif 3 cifar/missing.bin 'No such file or directory'
# eval on a hostile test set
expect 3 idx/corrupt.idx.gz 'corrupt gzip data' "$CNN" eval -m run/model.cnn --config $NET --set data.test=idx/corrupt.idx.gz
expect 3 idx/labels3.idx '3 labels, but idx/images4.idx holds 4 images' "$CNN" eval -m run/model.cnn --config $NET \
    --set data.test=idx/images4.idx --set data.test_labels=idx/labels3.idx

# ---- checkpoints: predict, eval, summary and train --resume; exit 3 ----
for f in ckpt/*.cnn; do
    case "$f" in
    ckpt/empty.cnn) why='empty file, not a cnn checkpoint' ;;
    ckpt/dir.cnn) why='is a directory, not a checkpoint' ;;
    ckpt/foreign.cnn | ckpt/gzip.cnn | ckpt/flip-0.cnn | ckpt/flip-7.cnn) why='not a cnn checkpoint' ;;
    ckpt/magic-only.cnn | ckpt/trunc-*) why='truncated' ;;
    ckpt/version-2.cnn) why='checkpoint format version 2 is newer than this cnn reads \(1\)' ;;
    ckpt/flip-8.cnn) why='checkpoint format version 0 is older' ;;
    ckpt/flip-12.cnn) why='byte-order probe is 0x01020314, expected 0x01020304' ;;
    ckpt/flip-1[6-9].cnn | ckpt/flip-2?.cnn | ckpt/flip-3?.cnn) why='header checksum mismatch' ;;
    ckpt/flip-*) why='checksum mismatch' ;;
    ckpt/trailing.cnn) why='1 trailing bytes after the checkpoint' ;;
    *) why='.' ;;
    esac
    expect 3 "$f" "$why" "$CNN" predict -m "$f" img/grey.png
done
n=$(wc -c < run/model.cnn | tr -d ' ')
expect 3 ckpt/trunc-$((n / 2)).cnn 'truncated' "$CNN" eval -m ckpt/trunc-$((n / 2)).cnn
expect 3 ckpt/flip-$((n / 2)).cnn 'checksum mismatch' "$CNN" summary ckpt/flip-$((n / 2)).cnn
expect 3 ckpt/version-2.cnn 'newer' "$CNN" summary ckpt/version-2.cnn
expect 3 missing.cnn 'No such file or directory' "$CNN" eval -m missing.cnn
expect 3 ckpt/trunc-$((n - 5)).cnn 'truncated' "$CNN" train $NET --quiet --resume ckpt/trunc-$((n - 5)).cnn
intact "resume from a truncated checkpoint"
expect 3 ckpt/foreign.cnn 'not a cnn checkpoint' "$CNN" train $NET --quiet --resume ckpt/foreign.cnn
intact "resume from a foreign file"
# a checkpoint whose network is not the config's: named tensor and shapes
expect 3 run/model.cnn "tensor 'c1.weight' is 4x1x3x3 in the checkpoint but 5x1x3x3 in the network" \
    "$CNN" train $NET --quiet --set layers.0.filters=5 --resume run/model.cnn
intact "resume with another network"
expect 3 run/model.cnn "has no tensor 'extra.weight'" \
    "$CNN" train $NET --quiet --set 'layers.3={type: dense, units: 3, name: extra}' --resume run/model.cnn
intact "resume with a renamed layer"
cmp -s run/metrics.csv metrics.orig && ok || bad "a failed resume changed run/metrics.csv"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
