#!/usr/bin/python3
"""The PyTorch peer for scripts/compare-peers: the networks N1 lenet, N2 fashion-cnn and
N3 resnet20 of configs/, timed the way `cnn bench` times them (random data in memory, a
warm-up, then the median of R runs of at least S seconds).

  /usr/bin/python3 scripts/peers/torch_peer.py NET MODE [--seconds S] [--runs R] [--best]

NET: lenet | fashion-cnn | resnet20; MODE: train | infer64 | infer1. Train is SGD (momentum
0.9, lr 0.01, weight decay 5e-4) on batch 64 with 2 threads; infer64 is eval + no_grad on
batch 64 with 2 threads; infer1 is batch 1 on 1 thread. --best uses TorchScript freezing
(batchnorm folded) for inference. Prints one line: NET MODE value=... unit=... rss_mb=...
Run it with OPENBLAS_NUM_THREADS=1 and libopenblas0-pthread installed (compare-peers does)."""
import argparse, resource, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("net", choices=["lenet", "fashion-cnn", "resnet20"])
ap.add_argument("mode", choices=["train", "infer64", "infer1"])
ap.add_argument("--seconds", type=float, default=3.0)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--best", action="store_true")
a = ap.parse_args()

import torch
import torch.nn as nn

torch.set_num_threads(1 if a.mode == "infer1" else 2)
torch.manual_seed(0)


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def fashion_cnn():
    def cbr(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*cbr(1, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))


class Block(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, s, 1, bias=False); self.b1 = nn.BatchNorm2d(o)
        self.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(o)
        self.proj = None
        if s != 1 or i != o:
            self.proj = nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (self.proj(x) if self.proj is not None else x))


def resnet20():
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    i = 16
    for o, s in ((16, 1), (32, 2), (64, 2)):
        for b in range(3):
            layers.append(Block(i, o, s if b == 0 else 1))
            i = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


net = {"lenet": lenet, "fashion-cnn": fashion_cnn, "resnet20": resnet20}[a.net]()
shape = (3, 32, 32) if a.net == "resnet20" else (1, 28, 28)
batch = 1 if a.mode == "infer1" else 64
xs = [torch.randn(batch, *shape) for _ in range(8)]
ys = [torch.randint(0, 10, (batch,)) for _ in range(8)]

if a.mode == "train":
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    lossf = nn.CrossEntropyLoss()

    def step(i):
        opt.zero_grad(set_to_none=True)
        lossf(net(xs[i % 8]), ys[i % 8]).backward()
        opt.step()
else:
    net.eval()
    if a.best:
        with torch.no_grad():
            net = torch.jit.freeze(torch.jit.trace(net, xs[0]))

    def step(i):
        with torch.no_grad():
            net(xs[i % 8])

def timed(seconds):
    n, t0 = 0, time.perf_counter()
    while True:
        step(n)
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return n * batch / t

timed(min(2.0, a.seconds))
rate = statistics.median(timed(a.seconds) for _ in range(a.runs))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if a.mode == "infer1":
    print(f"{a.net} {a.mode} value={1000.0 / rate:.4f} unit=ms rss_mb={rss:.0f}")
else:
    print(f"{a.net} {a.mode} value={rate:.1f} unit=img/s rss_mb={rss:.0f}")
