"""Compares ecoml measure's GPU joules with the NVML counter delta and integrated nvidia-smi power."""
import csv
import json
import sys
from datetime import datetime

out_dir = sys.argv[1]
measure = json.load(open(f"{out_dir}/measure.json"))
e0 = json.load(open(f"{out_dir}/counter0.json"))
e1 = json.load(open(f"{out_dir}/counter1.json"))
counter_j = sum(b - a for a, b in zip(e0["mj"], e1["mj"])) / 1000.0
window_s = e1["t"] - e0["t"]

samples = []
with open(f"{out_dir}/smi.csv") as f:
    for row in csv.reader(f):
        if len(row) < 2:
            continue
        try:
            t = datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
            samples.append((t, float(row[1])))
        except ValueError:
            continue
# Same span as the counter: samples between its two reads.
samples = [(t, p) for t, p in samples if e0["t"] <= t <= e1["t"]]
smi_j = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))
smi_span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0.0

gpu = [c for c in measure["energy"]["components"] if c["name"].startswith("gpu")]
ecoml_j = sum(c["joules"] for c in gpu)
# The counter brackets node's start-up and exit too (idle card, ~80 W): report that gap, don't hide it.
rows = {
    "ecoml_measure_gpu_joules": ecoml_j,
    "ecoml_methods": sorted({c["method"] for c in gpu}),
    "ecoml_duration_s": measure.get("duration_s"),
    "nvml_counter_joules": counter_j,
    "nvml_counter_window_s": window_s,
    "nvidia_smi_integrated_joules": smi_j,
    "nvidia_smi_span_s": smi_span,
    "ecoml_vs_counter_percent": (ecoml_j - counter_j) / counter_j * 100 if counter_j else None,
    "smi_vs_counter_percent": (smi_j - counter_j) / counter_j * 100 if counter_j else None,
}
for k, v in rows.items():
    print(f"{k:32} {v}")
json.dump(rows, open(f"{out_dir}/gpu-meter.json", "w"), indent=2)
target = rows["ecoml_vs_counter_percent"]
print("target: within 2% of the counter —", "met" if target is not None and abs(target) <= 2 else "NOT met")
