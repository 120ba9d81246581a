#!/bin/sh
# make-hostile.sh DIR [CHECKPOINT] - writes the inputs of tests/test_hostile.sh into DIR:
#   good/    a small valid data set: 8x8 grey images of 3 classes as IDX (plain and gzip),
#            an image folder and a CSV list, and net.yaml training on it
#   yaml/    hostile model files, and each config limit just below and just above
#   img/     hostile and unusual images (PNG, JPEG, GIF, BMP): bad, truncated, oversized,
#            16-bit, palette, alpha, interlaced, animated, a FIFO, a directory, a link loop
#   idx/ csv/ cifar/   hostile data sets of each format
#   ckpt/    foreign files; with CHECKPOINT also truncations, bit flips and a newer version
# Only POSIX sh and utilities (printf, od, head, tail, dd, wc, tr, cut, fold, sed, mkfifo,
# ln) and gzip, which also gives the CRC-32 of PNG chunks: no python on the CI machine.
# Images are all black: only their structure matters here.
# `make-hostile.sh --data DIR` writes good/ alone (tests/test_faults.sh uses it).
set -eu
only_data=0
[ "${1:-}" = --data ] && { only_data=1; shift; }
D=${1:?usage: sh tests/make-hostile.sh [--data] DIR [CHECKPOINT]}
CKPT=${2:-}
case "$CKPT" in ''|/*) ;; *) CKPT="$(pwd)/$CKPT" ;; esac
mkdir -p "$D"
cd "$D"
mkdir -p good yaml img idx csv cifar ckpt work

# ---- bytes ----
# u8 N...: the bytes of the given decimal values (no subshells: the octal digits come from
# arithmetic, so loops over thousands of bytes stay fast in dash).
u8() { for v; do printf "\\$(( (v >> 6 & 7) * 100 + (v >> 3 & 7) * 10 + (v & 7) ))"; done; }
be16() { u8 $(($1 >> 8 & 255)) $(($1 & 255)); }
le16() { u8 $(($1 & 255)) $(($1 >> 8 & 255)); }
be32() { u8 $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
le32() { u8 $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
zeros() { head -c "$1" /dev/zero; }
size() { wc -c < "$1" | tr -d ' '; }
# The CRC-32 of stdin as 4 big-endian bytes, taken from the trailer gzip writes.
crc_be() { gzip -c | tail -c 8 | head -c 4 | od -An -tu1 | { read -r a b c d; u8 "$d" "$c" "$b" "$a"; }; }
# Byte at offset $2 of file $1 (decimal), and writing byte $3 there.
byte_at() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
poke() { u8 "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
flip() { poke "$1" "$2" $(( $(byte_at "$1" "$2") ^ (1 << $3) )); }

# ---- PNG (all-zero pixels, so the zlib stream's Adler-32 is arithmetic) ----
# png_chunk TYPE FILE: length, type, data, CRC of type and data.
png_chunk() {
    be32 "$(size "$2")"
    printf %s "$1"
    cat "$2"
    { printf %s "$1"; cat "$2"; } | crc_be
}
# png OUT W H DEPTH CTYPE [INTERLACE [PLTE-ENTRIES [RAW-BYTES]]]: a complete PNG. RAW-BYTES
# overrides the length of the (zero) image data, to make it short or long.
png() {
    out=$1 w=$2 h=$3 depth=$4 ct=$5 il=${6:-0} npal=${7:-}
    case $ct in 0|3) spp=1 ;; 2) spp=3 ;; 4) spp=2 ;; *) spp=4 ;; esac
    if [ "$il" = 0 ]; then
        raw=$(( h * (1 + (w * spp * depth + 7) / 8) ))
    else
        raw=0
        for p in "0 0 8 8" "4 0 8 8" "0 4 4 8" "2 0 4 4" "0 2 2 4" "1 0 2 2" "0 1 1 2"; do
            set -- $p
            pw=$(( w > $1 ? (w - $1 + $3 - 1) / $3 : 0 )) ph=$(( h > $2 ? (h - $2 + $4 - 1) / $4 : 0 ))
            [ "$pw" -gt 0 ] && [ "$ph" -gt 0 ] && raw=$(( raw + ph * (1 + (pw * spp * depth + 7) / 8) ))
        done
    fi
    raw=${8:-$raw}
    { be32 "$w"; be32 "$h"; u8 "$depth" "$ct" 0 0 "$il"; } > work/ihdr
    zeros "$raw" | gzip -n -c > work/z.gz
    zs=$(size work/z.gz)
    { u8 120 1; tail -c +11 work/z.gz | head -c $(( zs - 18 )); be32 $(( (raw % 65521) << 16 | 1 )); } > work/idat
    {
        printf '\211PNG\r\n\032\n'
        png_chunk IHDR work/ihdr
        if [ -n "$npal" ]; then
            i=0; : > work/plte
            while [ $i -lt "$npal" ]; do u8 $((i * 40 % 256)) $((i * 90 % 256)) 200 >> work/plte; i=$((i + 1)); done
            png_chunk PLTE work/plte
        fi
        png_chunk IDAT work/idat
        : > work/empty
        png_chunk IEND work/empty
    } > "$out"
}

# ---- JPEG: a 16 x 16 baseline JPEG (stb_image_write), as in tests/test_data.c; SOF0 at byte 154 ----
jpeg16() {
    printf '\377\330\377\340\0\20\112\106\111\106\0\1\1\0\0\1\0\1\0\0\377\333\0\204\0\3\2\2\3\2\2\3\3\3\3\4'
    printf '\3\3\4\5\10\5\5\4\4\5\12\7\7\6\10\14\12\14\14\13\12\13\13\15\16\22\20\15\16\21\16\13\13\20\26\20'
    printf '\21\23\24\25\25\25\14\17\27\30\26\24\30\22\24\25\24\1\3\4\4\5\4\5\11\5\5\11\24\15\13\15\24\24\24'
    printf '\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24'
    printf '\24\24\24\24\24\24\24\24\24\24\24\24\24\24\24\377\300\0\21\10\0\20\0\20\3\1\42\0\2\21\1\3\21\1'
    printf '\377\304\1\242\0\0\1\5\1\1\1\1\1\1\0\0\0\0\0\0\0\0\1\2\3\4\5\6\7\10\11\12\13\20\0\2\1\3\3\2\4\3'
    printf '\5\5\4\4\0\0\1\175\1\2\3\0\4\21\5\22\41\61\101\6\23\121\141\7\42\161\24\62\201\221\241\10\43\102'
    printf '\261\301\25\122\321\360\44\63\142\162\202\11\12\26\27\30\31\32\45\46\47\50\51\52\64\65\66\67\70'
    printf '\71\72\103\104\105\106\107\110\111\112\123\124\125\126\127\130\131\132\143\144\145\146\147\150'
    printf '\151\152\163\164\165\166\167\170\171\172\203\204\205\206\207\210\211\212\222\223\224\225\226\227'
    printf '\230\231\232\242\243\244\245\246\247\250\251\252\262\263\264\265\266\267\270\271\272\302\303\304'
    printf '\305\306\307\310\311\312\322\323\324\325\326\327\330\331\332\341\342\343\344\345\346\347\350\351'
    printf '\352\361\362\363\364\365\366\367\370\371\372\1\0\3\1\1\1\1\1\1\1\1\1\0\0\0\0\0\0\1\2\3\4\5\6\7'
    printf '\10\11\12\13\21\0\2\1\2\4\4\3\4\7\5\4\4\0\1\2\167\0\1\2\3\21\4\5\41\61\6\22\101\121\7\141\161\23'
    printf '\42\62\201\10\24\102\221\241\261\301\11\43\63\122\360\25\142\162\321\12\26\44\64\341\45\361\27'
    printf '\30\31\32\46\47\50\51\52\65\66\67\70\71\72\103\104\105\106\107\110\111\112\123\124\125\126\127'
    printf '\130\131\132\143\144\145\146\147\150\151\152\163\164\165\166\167\170\171\172\202\203\204\205\206'
    printf '\207\210\211\212\222\223\224\225\226\227\230\231\232\242\243\244\245\246\247\250\251\252\262\263'
    printf '\264\265\266\267\270\271\272\302\303\304\305\306\307\310\311\312\322\323\324\325\326\327\330\331'
    printf '\332\342\343\344\345\346\347\350\351\352\362\363\364\365\366\367\370\371\372\377\332\0\14\3\1\0'
    printf '\2\21\3\21\0\77\0\371\127\302\177\12\176\347\356\177\112\366\157\11\374\51\373\237\271\375\53'
    printf '\330\274\47\360\247\356\176\347\364\257\146\360\237\302\237\271\373\237\322\272\363\236\60\337'
    printf '\336\47\303\156\75\370\75\363\377\331'
}

# ---- GIF and BMP ----
gif1() { # a 1 x 1 GIF; with "anim" a second frame with its own palette
    printf 'GIF89a'; le16 1; le16 1; u8 128 0 0 255 255 255 0 0 0
    printf ',\0\0\0\0\1\0\1\0\0\2\2\104\1\0'
    [ "${1:-}" = anim ] && printf '!\371\4\0\12\0\0\0,\0\0\0\0\1\0\1\0\200\377\0\0\0\0\0\2\2\104\1\0'
    printf ';'
}
bmp_header() { # bmp_header W H: a 24-bit BMP header of an image with zero pixels following
    row=$(( ($1 * 3 + 3) / 4 * 4 ))
    printf BM; le32 $(( 54 + row * $2 )); le32 0; le32 54; le32 40; le32 "$1"; le32 "$2"; le16 1; le16 24
    le32 0; le32 $(( row * $2 )); le32 2835; le32 2835; le32 0; le32 0
}
bmp() { bmp_header "$1" "$2"; zeros $(( ($1 * 3 + 3) / 4 * 4 * $2 )); }

# ---- the good data set: class k has a bright 3x3 block at its own place ----
# idx_images N: IDX image header and N 8x8 images; idx_labels N: the labels (i mod 3).
pixel_rows() { # the 64 pixels of image $1
    k=$(( $1 % 3 )) y=0
    while [ $y -lt 8 ]; do
        x=0
        while [ $x -lt 8 ]; do
            cx=$(( 1 + 2 * k )) cy=$(( k == 1 ? 4 : 1 ))
            if [ $x -ge $cx ] && [ $x -lt $((cx + 3)) ] && [ $y -ge $cy ] && [ $y -lt $((cy + 3)) ]; then
                case $(( ($1 * 7 + x * 5 + y * 3) % 4 )) in 0) printf '\320' ;; 1) printf '\330' ;; 2) printf '\340' ;; *) printf '\350' ;; esac
            else
                case $(( ($1 * 7 + x * 5 + y * 3) % 4 )) in 0) printf '\020' ;; 1) printf '\030' ;; 2) printf '\040' ;; *) printf '\050' ;; esac
            fi
            x=$((x + 1))
        done
        y=$((y + 1))
    done
}
idx_images() { be32 2051; be32 "$1"; be32 8; be32 8; i=0; while [ $i -lt "$1" ]; do pixel_rows $i; i=$((i + 1)); done; }
idx_labels() { be32 2049; be32 "$1"; i=0; while [ $i -lt "$1" ]; do u8 $((i % 3)); i=$((i + 1)); done; }

idx_images 96 > good/train-images.idx
idx_labels 96 > good/train-labels.idx
idx_images 30 > work/t.idx; gzip -n -c work/t.idx > good/test-images.idx.gz
idx_labels 30 > work/t.idx; gzip -n -c work/t.idx > good/test-labels.idx.gz
mkdir -p good/folder/a good/folder/b good/folder/c
for k in 0 1 2; do
    cls=$(printf abc | cut -c $((k + 1)))
    for i in 0 3; do png "good/folder/$cls/$i.png" 8 8 8 0; done
done
printf 'path,label\nfolder/a/0.png,0\nfolder/b/0.png,1\nfolder/c/0.png,2\nfolder/a/3.png,0\n' > good/list.csv
cat > good/net.yaml <<'Y'
name: tiny
output: run
input: {channels: 1, height: 8, width: 8}
layers:
  - {type: conv, filters: 4, kernel: 3, name: c1}
  - relu
  - {type: maxpool, kernel: 2}
  - {type: dense, units: 3, name: out}
data:
  format: idx
  train: good/train-images.idx
  train_labels: good/train-labels.idx
  test: good/test-images.idx.gz
  test_labels: good/test-labels.idx.gz
train: {epochs: 2, batch: 8, threads: 1, seed: 7, log_every: 1000, optimizer: {type: sgd, lr: 0.05}}
Y
if [ "$only_data" = 1 ]; then rm -rf work yaml img idx csv cifar ckpt; exit 0; fi

# ---- model files ----
Y=yaml
ok_layers='input: {channels: 1, height: 8, width: 8}
layers:
  - {type: conv, filters: 4, kernel: 3}
  - {type: dense, units: 3}'
printf 'layers: [ {type: conv\n' > $Y/syntax.yaml
printf 'input:\n\t- channels: 1\n' > $Y/tab.yaml
printf '%s\nlyaers: []\n' "$ok_layers" > $Y/unknown-top.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, kernl: 3}\n' > $Y/unknown-key.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: convv, filters: 4}\n' > $Y/unknown-type.yaml
printf '%s\ntrain: {epochs: many}\n' "$ok_layers" > $Y/type-int.yaml
printf '%s\ntrain: {optimizer: {lr: fast}}\n' "$ok_layers" > $Y/type-num.yaml
printf '%s\ntrain: {optimizer: {lr: .nan}}\n' "$ok_layers" > $Y/nan.yaml
printf '%s\ntrain: {optimizer: {lr: 1e999}}\n' "$ok_layers" > $Y/inf.yaml
printf '%s\ntrain: {epochs: 99999999999999999999999}\n' "$ok_layers" > $Y/int-overflow.yaml
printf '%s\ntrain: {epochs: 2147483648}\n' "$ok_layers" > $Y/int-big.yaml
printf '%s\ntrain: {epochs: 1.5}\n' "$ok_layers" > $Y/int-frac.yaml
printf 'input: 5\nlayers: [relu]\n' > $Y/type-map.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers: {conv: 3}\n' > $Y/type-list.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: -3}\n' > $Y/negative.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 0}\n' > $Y/zero.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 1000000000}\n' > $Y/filters-1e9.yaml
printf 'input: {channels: 1, height: 1000000, width: 1000000}\nlayers: [relu]\n' > $Y/input-1e6.yaml
printf 'input: {channels: 0, height: 8, width: 8}\nlayers: [relu]\n' > $Y/channels-0.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, kernel: 2147483647}\n' > $Y/kernel-huge.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, kernel: 9, padding: valid}\n' > $Y/kernel-too-big.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, stride: 0}\n' > $Y/stride-0.yaml
# shape products that overflow 32 bits: 4096 x 16384 x 16384 inputs, 2^24 x 2^28 weights
printf 'input: {channels: 4096, height: 16384, width: 16384}\nlayers: [relu]\n' > $Y/product-act.yaml
printf 'input: {channels: 4096, height: 16384, width: 16384}\nlayers:\n  - {type: dense, units: 16777216}\n' > $Y/product-dense.yaml
printf 'input: {channels: 4096, height: 64, width: 64}\nlayers:\n  - {type: conv, filters: 4096, kernel: 64}\n' > $Y/product-conv.yaml
printf 'input: {channels: 1, height: 16384, width: 16384}\nlayers:\n  - {type: conv, filters: 65536, kernel: 256, padding: valid, stride: 256}\n' > $Y/product-fanout.yaml
printf 'input: {channels: 4096, height: 16384, width: 16384}\nlayers: [gap, {type: dense, units: 10}]\n' > $Y/product-input.yaml
printf 'input: {channels: 1, height: 128, width: 128}\nlayers: [relu]\n' > $Y/outputs-16384.yaml
# an anchor/alias expansion bomb ("billion laughs"), and a plain alias
{
    printf 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev=a
    for l in b c d e f g h i; do
        printf '%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n' $l $l $prev $prev $prev $prev $prev $prev $prev $prev $prev
        prev=$l
    done
    printf 'layers: [*i]\n'
} > $Y/bomb.yaml
printf 'input: &in {channels: 1, height: 8, width: 8}\nlayers: [relu]\nx: *in\n' > $Y/alias.yaml
printf 'input: {channels: 1, height: 8, width: 8}\ninput: {channels: 1}\nlayers: [relu]\n' > $Y/duplicate.yaml
printf -- '---\nlayers: [relu]\n---\nlayers: [relu]\n' > $Y/two-docs.yaml
printf 'input: {channels: 1, height: 8, width: 8}\n? [a, b]\n: 1\nlayers: [relu]\n' > $Y/complex-key.yaml
printf -- '- a\n- b\n' > $Y/not-a-map.yaml
printf '%s\n"bad\\nkey\\033[31m": 1\n' "$ok_layers" > $Y/ctrl-key.yaml
printf '%s\ndata: {classes: [a, "b\\tc"]}\n' "$ok_layers" > $Y/ctrl-class.yaml
# nesting: 31 brackets under a key is depth 32 (the limit, parsed; then an unknown key),
# 32 is depth 33 (refused); 40 as the issue says
nest() { i=0; while [ $i -lt "$1" ]; do printf '['; i=$((i + 1)); done; printf 1; i=0; while [ $i -lt "$1" ]; do printf ']'; i=$((i + 1)); done; }
{ printf '%s\ndeep: ' "$ok_layers"; nest 31; echo; } > $Y/depth-32.yaml
{ printf '%s\ndeep: ' "$ok_layers"; nest 32; echo; } > $Y/depth-33.yaml
{ printf '%s\ndeep: ' "$ok_layers"; nest 40; echo; } > $Y/depth-40.yaml
# size: a valid file padded with comments to exactly 1 MiB (CNN_MAX_CONFIG_BYTES), and one byte more
{ printf '%s\n' "$ok_layers"; zeros 1048576 | tr '\0' '#' | fold -w 99 | sed 's/^/#/'; } | head -c 1048575 > $Y/size-max.yaml
echo >> $Y/size-max.yaml
{ cat $Y/size-max.yaml; echo; } > $Y/size-over.yaml
dd if=/dev/zero of=$Y/size-100mb.yaml bs=1 count=0 seek=104857600 2>/dev/null  # sparse: no disk used
head -c 3000 /dev/urandom > $Y/garbage.yaml
printf '\377\376\200\201 not utf-8 \351\n' > $Y/bad-utf8.yaml
: > $Y/empty.yaml
printf '# only a comment\n' > $Y/comment.yaml
mkdir -p $Y/dir.yaml
# graph: cycles, dangling and forward names, shape mismatches
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, name: a, input: a}\n' > $Y/cycle-self.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, name: a, input: b}\n  - {type: conv, filters: 4, name: b, input: a}\n' > $Y/cycle-two.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, input: nowhere}\n' > $Y/dangling.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, name: a}\n  - {type: conv, filters: 8, name: b}\n  - {type: add, inputs: [a, b]}\n' > $Y/shape-add.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, name: a}\n  - {type: maxpool, name: b}\n  - {type: concat, inputs: [a, b]}\n' > $Y/shape-concat.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: conv, filters: 4, name: a}\n  - {type: conv, filters: 4, name: a}\n' > $Y/name-twice.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers:\n  - {type: add, inputs: [input]}\n' > $Y/inputs-few.yaml
printf 'input: {channels: 1, height: 8, width: 8}\nlayers: []\n' > $Y/layers-empty.yaml
# limits: layers (CNN_MAX_LAYERS 1024), YAML nodes (100000), tensor (2^28), side (16384), batch (65536)
{ printf 'input: {channels: 1, height: 2, width: 2}\nlayers:\n'; i=0; while [ $i -lt 1024 ]; do printf '  - relu\n'; i=$((i + 1)); done; } > $Y/layers-1024.yaml
{ cat $Y/layers-1024.yaml; printf '  - relu\n'; } > $Y/layers-1025.yaml
nodes() { # a valid config of exactly $1 YAML nodes: 16 (root, keys, maps, values) and the classes
    printf 'input: {channels: 1, height: 2, width: 2}\nlayers: [relu]\ndata: {classes: ['
    i=17; while [ $i -lt "$1" ]; do printf 'x,'; i=$((i + 1)); done; printf 'x]}\n'
}
nodes 100000 > $Y/nodes-max.yaml
nodes 100001 > $Y/nodes-over.yaml
printf 'input: {channels: 1, height: 16384, width: 16384}\nlayers: [relu, gap]\n' > $Y/tensor-max.yaml
printf 'input: {channels: 2, height: 16384, width: 16384}\nlayers: [relu, gap]\n' > $Y/tensor-over.yaml
printf 'input: {channels: 1, height: 16384, width: 1}\nlayers: [relu, gap]\n' > $Y/side-max.yaml
printf 'input: {channels: 1, height: 16385, width: 1}\nlayers: [relu, gap]\n' > $Y/side-over.yaml
printf '%s\ntrain: {batch: 65536}\n' "$ok_layers" > $Y/batch-max.yaml
printf '%s\ntrain: {batch: 65537}\n' "$ok_layers" > $Y/batch-over.yaml

# ---- images ----
I=img
png $I/grey.png 8 8 8 0
png $I/rgb.png 8 8 8 2
png $I/rgba.png 8 8 8 6
png $I/grey-alpha.png 8 8 8 4
png $I/grey16.png 8 8 16 0
png $I/rgb16.png 8 8 16 2
png $I/rgba16.png 8 8 16 6
png $I/grey1.png 8 8 1 0
png $I/palette.png 8 8 8 3 0 4
png $I/palette4.png 8 8 4 3 0 16
png $I/interlaced.png 8 8 8 2 1
png $I/big-2048.png 2048 2048 8 2
png $I/side-16384.png 16384 1 8 0
png $I/tall-16384.png 1 16384 8 0
png $I/side-16385.png 16385 1 8 0
# CNN_MAX_IMAGE_PIXELS (2^26): 8192 x 8192 decodes, one more row does not
png $I/pixels-max.png 8192 8192 8 0
png $I/pixels-over.png 8192 8193 8 0
# decompression bombs below the side limit: too little data for the size claimed
png $I/bomb.png 16000 4000 8 0 0 "" 64
png $I/claims-100000.png 100000 100000 8 0 0 "" 64
png $I/claims-2g.png 2147483647 1 8 0 0 "" 64
png $I/bad-depth.png 8 8 7 0
png $I/bad-ctype.png 8 8 8 5
png $I/palette-missing.png 8 8 8 3
png $I/short-data.png 8 8 8 0 0 "" 20
png $I/zero-width.png 0 8 8 0 0 "" 8
cp $I/rgb.png $I/png-named.jpg
head -c 60 $I/rgb.png > $I/truncated.png
head -c 33 $I/rgb.png > $I/header-only.png
jpeg16 > $I/photo.jpg
head -c 400 $I/photo.jpg > $I/truncated.jpg
jpeg16 > $I/claims-40000.jpg; poke $I/claims-40000.jpg 159 156; poke $I/claims-40000.jpg 160 64; poke $I/claims-40000.jpg 161 156; poke $I/claims-40000.jpg 162 64
jpeg16 > $I/bomb.jpg; poke $I/bomb.jpg 159 31; poke $I/bomb.jpg 160 64; poke $I/bomb.jpg 161 31; poke $I/bomb.jpg 162 64
jpeg16 > $I/jpeg-sof-zero.jpg; poke $I/jpeg-sof-zero.jpg 159 0; poke $I/jpeg-sof-zero.jpg 160 0
printf '\377\330\377\340\0\20JFIF\0garbage' > $I/fake.jpg
gif1 > $I/one.gif
gif1 anim > $I/animated.gif
{ printf 'GIF89a'; le16 65535; le16 65535; u8 0 0 0; printf ';'; } > $I/claims-65535.gif
head -c 20 $I/animated.gif > $I/truncated.gif
head -c 32 $I/animated.gif > $I/truncated-frame.gif
# 95 bytes claiming 12545 x 4097 (found by fuzz_image: 13 s and 1.3 GB to decode)
{ printf 'GIF89a'; le16 12545; le16 4097; u8 0 0 0; printf ','; le16 0; le16 0; le16 12545; le16 4097; u8 0 2
  u8 60; zeros 60; u8 0; printf ';'; } > $I/bomb.gif
bmp 8 8 > $I/ok.bmp
bmp 16384 1 > $I/side-16384.bmp
bmp 16385 1 > $I/side-16385.bmp
{ bmp_header 100000 100000; zeros 64; } > $I/claims-100000.bmp
head -c 100 $I/ok.bmp > $I/truncated.bmp
bmp 7 7 > $I/work-7.bmp   # rows of 21 bytes padded to 24: some writers drop the last row's padding
head -c $(( $(size $I/work-7.bmp) - 3 )) $I/work-7.bmp > $I/short-row.bmp
# an unknown compression code: stb 2.27 would decode 16134 x 2881 pixels of zeros
{ bmp_header 16134 2881 | head -c 30; le32 1296236288; zeros 40; } > $I/bmp-compression.bmp
rm $I/work-7.bmp
: > $I/empty.png
printf 'this is not a picture\n' > $I/text.png
head -c 2000 /dev/urandom > $I/garbage.png
{ u8 0 0 2 0 0 0 0 0 0 0 0 0; le16 8; le16 8; u8 24 0; zeros 192; } > $I/targa.tga
mkdir -p $I/dir.png
mkfifo $I/fifo.png 2>/dev/null || :
ln -sf loop.png $I/loop.png
dd if=/dev/zero of=$I/huge-file.png bs=1 count=0 seek=1200000000 2>/dev/null   # sparse, above the largest image file
cp $I/grey.png $I/locked.png; chmod 000 $I/locked.png

# ---- IDX ----
X=idx
idx_hdr() { be32 "$1"; be32 "$2"; be32 "$3"; be32 "$4"; }
{ idx_hdr 2052 3 8 8; zeros 192; } > $X/magic.idx
{ be32 2049; be32 3; u8 0 1 2; } > $X/labels3.idx
{ idx_hdr 2051 3 8 8; zeros 192; } > $X/images3.idx
{ idx_hdr 2051 100 8 8; zeros 192; } > $X/count-high.idx
{ idx_hdr 2051 2 8 8; zeros 192; } > $X/count-low.idx
{ idx_hdr 2051 4 8 8; zeros 256; } > $X/images4.idx
{ idx_hdr 2051 4294967295 16384 16384; zeros 64; } > $X/claims-huge.idx
{ idx_hdr 2051 0 8 8; } > $X/no-images.idx
{ idx_hdr 2051 3 0 8; } > $X/zero-side.idx
{ idx_hdr 2051 1 16385 1; zeros 16385; } > $X/side-16385.idx
{ idx_hdr 2051 3 4 4; zeros 48; } > $X/small-4x4.idx
{ be32 2051; be32 3; } > $X/short-header.idx
: > $X/empty.idx
{ be32 2049; be32 3; u8 0 7 1; } > $X/label-7.idx
{ be32 2049; be32 3; u8 0 1; } > $X/labels-short.idx
gzip -n -c $X/images3.idx > $X/images3.idx.gz
head -c $(( $(size $X/images3.idx.gz) / 2 )) $X/images3.idx.gz > $X/truncated.idx.gz
cp $X/images3.idx.gz $X/corrupt.idx.gz; flip $X/corrupt.idx.gz 14 3; flip $X/corrupt.idx.gz 15 5
{ cat $X/images3.idx.gz; printf 'trailing junk'; } > $X/trailing.idx.gz
mkdir -p $X/dir.idx

# ---- CSV (paths relative to the list, which sits beside img/ and good/) ----
C=csv
printf 'path,label\n../good/folder/a/0.png,0\n../good/folder/b/0.png,1\n' > $C/ok.csv
printf 'path,label\r\n../good/folder/a/0.png,0\r\n\r\n\r\n   \r\n../good/folder/b/0.png,1\r\n' > $C/crlf-blank.csv
cp good/folder/b/0.png "$C/odd \"q\",c.png"
printf '"../good/folder/a/0.png","0"\n  "odd ""q"",c.png"  ,  1\n' > $C/quotes.csv
printf '"../good/folder/a/0.png,0\n' > $C/quote-open.csv
printf '"../good/folder/a/0.png"x,0\n' > $C/quote-junk.csv
printf '../good/folder/a/0.png,0\n../good/folder/b/0.png,one\n' > $C/label-mixed.csv
printf '../good/folder/a/0.png,-1\n' > $C/label-negative.csv
printf '../good/folder/a/0.png,10000\n' > $C/label-10000.csv
printf '../good/folder/a/0.png,9999\n' > $C/label-9999.csv
printf '../good/folder/a/0.png,5\n' > $C/label-5.csv
printf '../good/folder/a/0.png,0,extra\n' > $C/three-fields.csv
printf ',0\n' > $C/empty-path.csv
printf '"../good/folder/a/0.png","x\ty"\n../good/folder/b/0.png,"new\nline"\n' > $C/ctrl-label.csv
mkdir -p "$C/ctrl-folder/a" "$C/ctrl-folder/new
line"
cp good/folder/a/0.png $C/ctrl-folder/a/; cp good/folder/a/0.png "$C/ctrl-folder/new
line/"
printf '../good/folder/a/0.png,\n' > $C/empty-label.csv
printf '../good/folder/a/0.png,0\nmissing.png,1\n' > $C/missing-image.csv
printf '../img/text.png,0\n' > $C/bad-image.csv
printf '../good/folder/a/0.png,0\n\000\n' > $C/nul.csv
printf 'path,label\n\n\n' > $C/no-images.csv
: > $C/empty.csv

# ---- CIFAR-10 (records of 1 + 3072 bytes) ----
{ u8 3; zeros 3072; u8 9; zeros 3072; } > cifar/ok.bin
{ cat cifar/ok.bin; zeros 100; } > cifar/partial.bin
{ u8 10; zeros 3072; } > cifar/label-10.bin
: > cifar/empty.bin
cat > cifar/net.yaml <<'Y'
input: {channels: 3, height: 32, width: 32}
layers:
  - {type: conv, filters: 2, kernel: 3, stride: 4}
  - {type: dense, units: 10}
data: {format: cifar10, train: cifar/ok.bin}
train: {epochs: 1, batch: 2, threads: 1}
output: cifar/run
Y

# ---- checkpoints ----
K=ckpt
: > $K/empty.cnn
cp $I/rgb.png $K/foreign.cnn
printf 'CNNCKPT' > $K/magic-only.cnn
gzip -n -c good/train-labels.idx > $K/gzip.cnn
mkdir -p $K/dir.cnn
if [ -n "$CKPT" ]; then
    n=$(size "$CKPT")
    for len in 1 7 8 12 20 39 40 41 48 64 100 $((n / 2)) $((n - 100)) $((n - 5)) $((n - 1)); do
        head -c "$len" "$CKPT" > $K/trunc-$len.cnn
    done
    for at in 0 7 8 12 16 24 32 36 40 41 $((n / 3)) $((n / 2)) $((n - 1)); do
        cp "$CKPT" $K/flip-$at.cnn; flip $K/flip-$at.cnn "$at" $((at % 8))
    done
    cp "$CKPT" $K/version-2.cnn; poke $K/version-2.cnn 8 2
    { cat "$CKPT"; printf x; } > $K/trailing.cnn
fi
rm -rf work
