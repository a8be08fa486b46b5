"""A steady GPU load for the meter check: bf16 matrix products for SECONDS seconds (default 20)."""
import sys
import time

import torch

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
torch.cuda.synchronize()
start = time.monotonic()
products = 0
while time.monotonic() - start < seconds:
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
    products += 20
elapsed = time.monotonic() - start
print(f"load: {products} bf16 8192^3 products in {elapsed:.1f} s ({products * 2 * 8192**3 / elapsed / 1e12:.0f} TFLOP/s)", file=sys.stderr)
