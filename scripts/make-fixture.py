#!/usr/bin/python3
"""Writes tests/fixtures/tiny.txt: a tiny network's weights, input, logits, loss, gradients
and the weights after three SGD steps (momentum 0.9, Nesterov, weight decay 5e-4 on
conv/dense weights only, label smoothing 0.1), computed by PyTorch (Debian's python3-torch).
tests/test_fixture.c builds the same network from YAML and must reproduce every number.
Run: /usr/bin/python3 scripts/make-fixture.py > tests/fixtures/tiny.txt"""
import torch, torch.nn as nn

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)   # the reference in double; cnn computes in float

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.batchnorm1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.dense1 = nn.Linear(5 * 2 * 2, 3)
    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.batchnorm1(self.conv1(x))), 2)
        x = torch.tanh(self.conv2(x))
        return self.dense1(x.flatten(1))

m = Tiny()
with torch.no_grad():
    m.batchnorm1.weight.uniform_(0.5, 1.5)
    m.batchnorm1.bias.uniform_(-0.2, 0.2)
x = torch.randn(3, 2, 7, 8)
y = torch.tensor([0, 2, 1])
decay = [m.conv1.weight, m.conv2.weight, m.dense1.weight]
nodecay = [m.batchnorm1.weight, m.batchnorm1.bias, m.conv2.bias, m.dense1.bias]
opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": nodecay, "weight_decay": 0}],
                      lr=0.1, momentum=0.9, nesterov=True)
names = {"conv1.weight": m.conv1.weight, "batchnorm1.weight": m.batchnorm1.weight,
         "batchnorm1.bias": m.batchnorm1.bias, "conv2.weight": m.conv2.weight, "conv2.bias": m.conv2.bias,
         "dense1.weight": m.dense1.weight, "dense1.bias": m.dense1.bias}

def dump(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, len(v), " ".join("%.17g" % a for a in v))

init_weights = {k: t.detach().clone() for k, t in names.items()}
dump("input", x)
dump("labels", y.double())
for k, t in names.items():
    dump("init." + k, t)
for step in range(3):
    opt.zero_grad()
    out = m(x)
    loss = nn.functional.cross_entropy(out, y, label_smoothing=0.1)
    loss.backward()
    if step == 0:
        dump("logits", out)
        dump("loss", loss.reshape(1))
        for k, t in names.items():
            dump("grad." + k, t.grad)
    opt.step()
for k, t in names.items():
    dump("step3." + k, t)
dump("step3.batchnorm1.running_mean", m.batchnorm1.running_mean)
dump("step3.batchnorm1.running_var", m.batchnorm1.running_var)

# The same three steps from the initial weights with Adam (L2 decay) and AdamW (decoupled).
init = {k: t.detach().clone() for k, t in names.items()}
for kind in ("adam", "adamw"):
    torch.manual_seed(0)
    m2 = Tiny()
    n2 = {"conv1.weight": m2.conv1.weight, "batchnorm1.weight": m2.batchnorm1.weight,
          "batchnorm1.bias": m2.batchnorm1.bias, "conv2.weight": m2.conv2.weight, "conv2.bias": m2.conv2.bias,
          "dense1.weight": m2.dense1.weight, "dense1.bias": m2.dense1.bias}
    with torch.no_grad():
        for k, t in n2.items():
            t.copy_(init_weights[k])
    d2 = [m2.conv1.weight, m2.conv2.weight, m2.dense1.weight]
    nd2 = [m2.batchnorm1.weight, m2.batchnorm1.bias, m2.conv2.bias, m2.dense1.bias]
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    o2 = cls([{"params": d2, "weight_decay": 0.01}, {"params": nd2, "weight_decay": 0}], lr=0.01, betas=(0.9, 0.999),
             eps=1e-8)
    for step in range(3):
        o2.zero_grad()
        nn.functional.cross_entropy(m2(x), y, label_smoothing=0.1).backward()
        o2.step()
    for k, t in n2.items():
        dump(kind + "3." + k, t)
