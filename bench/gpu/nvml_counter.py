"""Independent NVML reader (pynvml): prints {"t": unix seconds, "mj": [total-energy counter per GPU]}."""
import json
import time

import pynvml

pynvml.nvmlInit()
count = pynvml.nvmlDeviceGetCount()
handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
print(json.dumps({"t": time.time(), "mj": [pynvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in handles]}))
pynvml.nvmlShutdown()
