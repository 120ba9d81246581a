#!/bin/sh
# Writes docs/config.md to stdout from the key tables compiled into cnn, so the reference
# cannot drift from the reader. Usage: sh scripts/gen-config-doc.sh [./cnn] > docs/config.md
CNN=${1:-./cnn}
cat <<'DOC'
# Model file reference

A model file is YAML: one file holds the network, the data, the training recipe and the run
directory. Every key, its type and its default is listed below; this table is generated from
the same key tables the reader uses (`cnn help config`, `cnn help layers`), so it cannot drift.
Unknown keys, wrong types and out-of-range values are errors reported as `file:line:col: ...`
(with "did you mean" for near misses), and `cnn check` exits 2. There are no other defaults.

```yaml
name: fashion-cnn                      # default: the file name without .yaml
input: {channels: 1, height: 28, width: 28}
layers:                                # a list; each layer's input is the previous layer...
  - {type: conv, filters: 32, kernel: 3, name: c1}
  - batchnorm                          # a bare type name is a layer with default keys
  - relu
  - {type: conv, filters: 32, kernel: 3, name: c2}
  - {type: add, inputs: [c1, c2]}      # ...unless input:/inputs: name earlier layers
  - {type: dense, units: 10}           # the last layer gives one logit per class
data: {format: idx, train: ..., train_labels: ..., test: ..., test_labels: ...}
train: {epochs: 10, batch: 64, optimizer: {type: sgd, lr: 0.05}, schedule: {type: cosine}}
```

Layers are named `TYPE1`, `TYPE2`, ... unless given a `name`; tensors in checkpoints are
`NAME.weight`, `NAME.bias`, `NAME.running_mean`, ... The loss is softmax cross-entropy on
the last layer's outputs (with `train.label_smoothing`). Data paths are taken as given
(relative paths against the current directory; CSV entries against the CSV's directory).
The last partial batch of an epoch is dropped, so every step sees `train.batch` images.

## Sections and keys
```
DOC
"$CNN" help config | sed '1{/^$/d}'
cat <<'DOC'
```

## Layers
Every layer also takes `type`, `name`, and `input` (one earlier layer) or `inputs` (a list).
```
DOC
"$CNN" help layers | sed '1{/^$/d}' | grep -v '^Every layer also takes'
echo '```'
