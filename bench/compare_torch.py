#!/usr/bin/python3
"""kiln vs PyTorch, side by side in one run: whole networks and single convolutions.

    /usr/bin/python3 bench/compare_torch.py                      # CPU, small defaults (a few minutes)
    /usr/bin/python3 bench/compare_torch.py --batch 64 --iters 50 --models lenet
    /usr/bin/python3 bench/compare_torch.py --device cuda --alexnet-batch 128 --iters 50 --conv all

Networks: each models/*.toml named by --models is built twice: by kiln (`kiln bench train CONFIG
--json`, run as a subprocess) and in PyTorch from the same TOML (tomllib), layer for layer
(Conv2d with groups, MaxPool2d/AvgPool2d, LRN = torch.nn.LocalResponseNorm, activations, Dropout,
Flatten, Linear, SoftmaxCrossEntropy = cross_entropy), with the config's solver (SGD with
momentum/nesterov/weight decay, Adam, AdamW). Both run on the same synthetic batch shape:
  training  = zero_grad + forward + loss + backward + optimiser step, images/s
  inference = forward + loss in eval mode under torch.inference_mode, images/s
and the table prints both, and kiln/PyTorch for each. The two sides run alternately (--repeat
times, best run kept): on a shared machine other load comes and goes, and a single run of either
can be several times slower than its best.

Convolutions: the conv2d_forward rows of `kiln_kernel_bench --sizes bench --device cpu` (AlexNet
2012, one-weird-trick AlexNet and the five convnet-benchmarks layers, batch 128; selected by
--conv) beside torch.nn.functional.conv2d on the same shapes, GFLOP/s (2*N*K*P*Q*C/G*R*S per
forward), with OpenBLAS SGEMM's rate as kiln's bench measures it (the roofline column).

CPU: torch.set_num_threads(--threads, default 2, this machine's cores); kiln gets
OMP_NUM_THREADS=--threads. Debian's python3-torch is the PyTorch meant here
(`apt-get install -y python3-torch`). On a GPU machine pass --device cuda: both sides run on the
GPU (PyTorch with cuDNN, torch.backends.cudnn.benchmark on; kiln_kernel_bench --device cuda).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = {"lenet": "models/lenet_fashion.toml", "alexnet": "models/alexnet.toml", "alexnet_owt": "models/alexnet_owt.toml"}
CONV_DEFAULT = r"alexnet_conv|owt_conv|cnbench_L[145]_"   # L2 and L3 are ~0.5 and ~0.2 TFLOP per call


def find_binary(name: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    candidates = sorted(REPO.glob(f"build*/tools/{name}")) + sorted(REPO.glob(f"build*/bench/kernels/{name}"))
    candidates = [c for c in candidates if c.is_file() and os.access(c, os.X_OK)]
    if not candidates:
        sys.exit(f"compare_torch: no {name} binary under {REPO}/build*/; build it or pass its path")
    return str(max(candidates, key=lambda c: c.stat().st_mtime))  # the newest build


# ---------------------------------------------------------------------------------------------
# PyTorch net from a kiln config
# ---------------------------------------------------------------------------------------------
def pair(v, default):
    if v is None:
        v = default
    return (v, v) if isinstance(v, int) else tuple(v)


def build_torch_net(cfg: dict, torch):
    nn = torch.nn
    c, h, w = cfg["model"]["input"]
    shape = (1, c, h, w)
    mods = []
    for spec in cfg["layer"]:
        t, name = spec["type"], spec["name"]
        if "inputs" in spec:
            raise SystemExit(f"compare_torch: layer '{name}' names its inputs; only sequential configs are supported")
        if t == "Conv2d":
            m = nn.Conv2d(shape[1], spec["out_channels"], pair(spec["kernel"], 1), stride=pair(spec.get("stride"), 1),
                          padding=pair(spec.get("pad"), 0), dilation=pair(spec.get("dilation"), 1),
                          groups=spec.get("groups", 1), bias=spec.get("bias", True))
        elif t in ("MaxPool2d", "AvgPool2d"):
            k = pair(spec["kernel"], 1)
            kw = dict(kernel_size=k, stride=pair(spec.get("stride"), k), padding=pair(spec.get("pad"), 0))
            m = nn.MaxPool2d(**kw) if t == "MaxPool2d" else nn.AvgPool2d(
                **kw, count_include_pad=spec.get("count_include_pad", True))
        elif t == "LRN":
            m = nn.LocalResponseNorm(spec.get("size", 5), alpha=spec.get("alpha", 1e-4), beta=spec.get("beta", 0.75),
                                     k=spec.get("k", 1.0))
        elif t == "ReLU":
            m = nn.ReLU(inplace=False)
        elif t == "LeakyReLU":
            m = nn.LeakyReLU(spec.get("negative_slope", 0.01))
        elif t == "ELU":
            m = nn.ELU(spec.get("alpha", 1.0))
        elif t == "Sigmoid":
            m = nn.Sigmoid()
        elif t == "Tanh":
            m = nn.Tanh()
        elif t == "Dropout":
            m = nn.Dropout(spec.get("p", 0.5))
        elif t == "Flatten":
            m = nn.Flatten(spec.get("start_dim", 1))
        elif t == "Linear":
            m = nn.Linear(shape[-1], spec["out_features"], bias=spec.get("bias", True))
        elif t == "SoftmaxCrossEntropy":
            continue  # the loss, applied by the loop
        else:
            raise SystemExit(f"compare_torch: layer type {t} ('{name}') has no PyTorch twin here")
        with torch.no_grad():
            shape = tuple(m.eval()(torch.zeros(shape)).shape)
        mods.append(m)
    return nn.Sequential(*mods)


def make_optimizer(cfg: dict, params, torch):
    s = cfg.get("solver", {})
    kind, lr = s.get("type", "sgd"), s.get("lr", 0.01)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=s.get("momentum", 0.0), dampening=s.get("dampening", 0.0),
                               nesterov=s.get("nesterov", False), weight_decay=s.get("weight_decay", 0.0))
    betas = tuple(s.get("betas", (0.9, 0.999)))
    opt = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return opt(params, lr=lr, betas=betas, eps=s.get("eps", 1e-8), weight_decay=s.get("weight_decay", 0.0))


def torch_train_bench(cfg: dict, batch: int, iters: int, warmup: int, device: str, torch,
                      warmup_seconds: float = 2.0) -> dict:
    F = torch.nn.functional
    torch.manual_seed(1)
    net = build_torch_net(cfg, torch).to(device)
    opt = make_optimizer(cfg, net.parameters(), torch)
    c, h, w = cfg["model"]["input"]
    x = torch.rand(batch, c, h, w, device=device) * 2 - 1
    y = torch.arange(batch, device=device) % cfg["model"]["classes"]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=False)  # kiln zeroes its gradient buffers too
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    # PyTorch (oneDNN primitive caches, the allocator) takes a while to reach its steady speed:
    # measured here, LeNet's first 30 steps ran at ~250 images/s and later ones at ~2000. So the
    # warm-up is `warmup` steps and at least `warmup_seconds`.
    net.train()
    t0 = time.perf_counter()
    n = 0
    while n < warmup or time.perf_counter() - t0 < warmup_seconds:
        step()
        n += 1
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        loss = step()
    sync()
    train_s = time.perf_counter() - t0

    net.eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        n = 0
        while n < warmup or time.perf_counter() - t0 < warmup_seconds:
            F.cross_entropy(net(x), y)
            n += 1
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            F.cross_entropy(net(x), y)
        sync()
        fwd_s = time.perf_counter() - t0
    return {"train_images_per_s": batch * iters / train_s, "forward_images_per_s": batch * iters / fwd_s,
            "final_loss": float(loss)}


def kiln_train_bench(kiln: str, config: Path, batch: int, iters: int, warmup: int, device: str, env) -> dict:
    cmd = [kiln, "--log", "warn", "bench", "train", str(config), "--device", device, "--batch", str(batch),
           "--iters", str(iters), "--warmup", str(warmup), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"compare_torch: {' '.join(cmd)} failed:\n{p.stderr}")
    return json.loads(p.stdout)


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------
SHAPE_RE = re.compile(r"n(\d+)_c(\d+)_h(\d+)w(\d+)_k(\d+)_r(\d+)s(\d+)_st(\d+)x(\d+)_pad(\d+)x(\d+)"
                      r"_dil(\d+)x(\d+)_g(\d+)")


def parse_conv_shape(label: str):
    """The Conv2dShape in a kernel-bench shape label (see tests/parity/cases_conv2d.cpp)."""
    m = SHAPE_RE.search(label)
    if not m:
        return None
    n, c, h, w, k, r, s, sth, stw, ph, pw, dh, dw, g = (int(v) for v in m.groups())
    return dict(n=n, c=c, h=h, w=w, k=k, r=r, s=s, stride=(sth, stw), pad=(ph, pw), dilation=(dh, dw), groups=g)


def conv_flops(sh) -> float:
    p = (sh["h"] + 2 * sh["pad"][0] - sh["dilation"][0] * (sh["r"] - 1) - 1) // sh["stride"][0] + 1
    q = (sh["w"] + 2 * sh["pad"][1] - sh["dilation"][1] * (sh["s"] - 1) - 1) // sh["stride"][1] + 1
    return 2.0 * sh["n"] * sh["k"] * p * q * (sh["c"] // sh["groups"]) * sh["r"] * sh["s"]


def torch_conv_gflops(sh, device: str, min_time: float, torch) -> float:
    F = torch.nn.functional
    x = torch.randn(sh["n"], sh["c"], sh["h"], sh["w"], device=device)
    wt = torch.randn(sh["k"], sh["c"] // sh["groups"], sh["r"], sh["s"], device=device)
    b = torch.randn(sh["k"], device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    with torch.inference_mode():
        F.conv2d(x, wt, b, sh["stride"], sh["pad"], sh["dilation"], sh["groups"])  # warm-up
        sync()
        total = 0.0
        while len(times) < 3 or total < min_time:
            t0 = time.perf_counter()
            F.conv2d(x, wt, b, sh["stride"], sh["pad"], sh["dilation"], sh["groups"])
            sync()
            times.append(time.perf_counter() - t0)
            total += times[-1]
    times.sort()
    return conv_flops(sh) / times[len(times) // 2] * 1e-9


def kiln_conv_rows(bench: str, device: str, pattern: str, min_time: float, env):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [bench, "--sizes", "bench", "--device", device, "--filter", f"conv2d_forward/({pattern})",
               "--min-time", str(min_time), "--json", str(out)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0 or not out.exists():
            raise SystemExit(f"compare_torch: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        m = re.search(r"OpenBLAS SGEMM 1024\^3 = ([\d.]+) GFLOP/s", p.stdout)
        return json.loads(out.read_text()), (float(m.group(1)) if m else float("nan"))


# ---------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--models", default="lenet,alexnet,alexnet_owt", help="comma list of: " + ", ".join(MODELS))
    ap.add_argument("--batch", type=int, default=64, help="LeNet batch (default 64)")
    ap.add_argument("--alexnet-batch", type=int, default=8, help="AlexNet batch (default 8: a CPU-sized check)")
    ap.add_argument("--iters", type=int, default=30, help="timed iterations for LeNet (default 30)")
    ap.add_argument("--alexnet-iters", type=int, default=3, help="timed iterations for the AlexNets (default 3)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed iterations before each measurement (both sides)")
    ap.add_argument("--torch-warmup-seconds", type=float, default=2.0,
                    help="PyTorch warms up for at least this long as well (it is slow for its first steps)")
    ap.add_argument("--repeat", type=int, default=3, help="LeNet: runs per side, alternating, best kept (default 3)")
    ap.add_argument("--alexnet-repeat", type=int, default=1, help="the same for the AlexNets (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for both (default 2)")
    ap.add_argument("--conv", default=CONV_DEFAULT,
                    help="regex on the kernel-bench conv shape names ('all', 'none'; default: all but cnbench L2/L3)")
    ap.add_argument("--conv-min-time", type=float, default=0.3, help="seconds of repetitions per conv row")
    ap.add_argument("--kiln", help="path of the kiln binary (default: newest build*/tools/kiln)")
    ap.add_argument("--kernel-bench", help="path of kiln_kernel_bench (default: newest build*/bench/kernels/...)")
    ap.add_argument("--json", help="also write every figure to this JSON file")
    a = ap.parse_args()

    try:
        import torch
    except ImportError:
        sys.exit("compare_torch: PyTorch is missing: apt-get install -y python3-torch (Debian), or run with a python "
                 "that has torch")
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
    else:
        torch.backends.cudnn.benchmark = True
    env = dict(os.environ)
    if a.device == "cpu":
        env["OMP_NUM_THREADS"] = str(a.threads)
    kiln = find_binary("kiln", a.kiln)
    results = {"device": a.device, "threads": a.threads, "torch": torch.__version__, "networks": [], "conv": []}
    print(f"kiln {kiln}\nPyTorch {torch.__version__} on {a.device}"
          + (f", {a.threads} threads (torch.set_num_threads, OMP_NUM_THREADS for kiln)" if a.device == "cpu" else ""))

    rows = []
    for key in [m.strip() for m in a.models.split(",") if m.strip()]:
        if key not in MODELS:
            sys.exit(f"compare_torch: unknown model '{key}' (known: {', '.join(MODELS)})")
        path = REPO / MODELS[key]
        if not path.exists():
            print(f"  {key}: {path} is missing, skipped")
            continue
        cfg = tomllib.loads(path.read_text())
        lenet = key == "lenet"
        batch, iters = (a.batch, a.iters) if lenet else (a.alexnet_batch, a.alexnet_iters)
        warmup = a.warmup if lenet else min(a.warmup, 1)
        repeat = a.repeat if lenet else a.alexnet_repeat
        print(f"  {key}: batch {batch}, {iters} iterations, best of {repeat} ...", flush=True)
        # Alternate kiln and PyTorch so that both see the same machine (other load comes and
        # goes), and keep each side's best run.
        k = t = None
        for _ in range(max(1, repeat)):
            kr = kiln_train_bench(kiln, path, batch, iters, warmup, a.device, env)
            tr = torch_train_bench(cfg, batch, iters, warmup, a.device, torch, a.torch_warmup_seconds)
            if k is None or kr["train_images_per_s"] > k["train_images_per_s"]:
                k = kr
            if t is None or tr["train_images_per_s"] > t["train_images_per_s"]:
                t = tr
            k["forward_images_per_s"] = max(k["forward_images_per_s"], kr["forward_images_per_s"])
            t["forward_images_per_s"] = max(t["forward_images_per_s"], tr["forward_images_per_s"])
        rows.append((key, batch, k, t))
        results["networks"].append({"model": key, "batch": batch, "iters": iters, "kiln": k, "torch": t})

    if rows:
        print(f"\nwhole networks ({a.device}), images/s: training = forward+backward+update, inference = forward")
        print(f"{'model':<12} {'batch':>5} {'kiln train':>11} {'torch train':>12} {'ratio':>6}   "
              f"{'kiln fwd':>9} {'torch fwd':>10} {'ratio':>6}")
        for key, batch, k, t in rows:
            print(f"{key:<12} {batch:>5} {k['train_images_per_s']:>11.1f} {t['train_images_per_s']:>12.1f} "
                  f"{k['train_images_per_s'] / t['train_images_per_s']:>5.2f}x   {k['forward_images_per_s']:>9.1f} "
                  f"{t['forward_images_per_s']:>10.1f} {k['forward_images_per_s'] / t['forward_images_per_s']:>5.2f}x")

    if a.conv != "none":
        bench = find_binary("kiln_kernel_bench", a.kernel_bench)
        pattern = ".*" if a.conv == "all" else a.conv
        print(f"\nconvolutions (forward, batch 128, {a.device}): {bench} ...", flush=True)
        krows, sgemm = kiln_conv_rows(bench, a.device, pattern, a.conv_min_time, env)
        krows = [r for r in krows if r["op"] == "conv2d_forward" and r["status"] == "ok"]
        if a.device == "cuda":  # the fastest kiln version per shape, and cuDNN's row if there is one
            best, vendor = {}, {}
            for r in krows:
                if r["impl"] == "cudnn":
                    vendor[r["shape"]] = r
                elif r["impl"] != "cpu" and (r["shape"] not in best or r["gflops"] > best[r["shape"]]["gflops"]):
                    best[r["shape"]] = r
            krows = list(best.values())
        else:
            krows = [r for r in krows if r["impl"] == "cpu"]
        if a.device == "cpu":
            print(f"OpenBLAS SGEMM 1024^3 on this machine: {sgemm:.1f} GFLOP/s (kiln's roofline)")
        print(f"{'shape':<46} {'GFLOP':>7} {'kiln GF/s':>10} {'torch GF/s':>11} {'ratio':>6} "
              + ("  % of SGEMM" if a.device == "cpu" else f"{'cuDNN GF/s':>11}"))
        for r in krows:
            sh = parse_conv_shape(r["shape"])
            if not sh:
                continue
            tg = torch_conv_gflops(sh, a.device, a.conv_min_time, torch)
            extra = (f"  {100 * r['gflops'] / sgemm:9.0f}%" if a.device == "cpu"
                     else f"{vendor.get(r['shape'], {}).get('gflops', float('nan')):>11.1f}")
            label = r["shape"].split("_n")[0]
            desc = (f"{label} {sh['n']}x{sh['c']}x{sh['h']}x{sh['w']} k{sh['k']} {sh['r']}x{sh['s']}"
                    f"/{sh['stride'][0]} p{sh['pad'][0]}" + (f" g{sh['groups']}" if sh["groups"] > 1 else ""))
            print(f"{desc:<46} {conv_flops(sh) * 1e-9:>7.1f} {r['gflops']:>10.1f} {tg:>11.1f} "
                  f"{r['gflops'] / tg:>5.2f}x{extra}", flush=True)
            results["conv"].append({"shape": r["shape"], "impl": r["impl"], "kiln_gflops": r["gflops"],
                                    "torch_gflops": tg, "sgemm_gflops": sgemm})
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
