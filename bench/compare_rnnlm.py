#!/usr/bin/python3
"""kiln vs PyTorch on the DyNet benchmark's RNNLM: training tokens/s (words/s) at batch 1, 4, 16, 64.

    /usr/bin/python3 bench/compare_rnnlm.py                          # CPU, a few minutes
    /usr/bin/python3 bench/compare_rnnlm.py --batches 16 64 --iters 20 --kiln build-cpu/tools/kiln

The model is models/rnnlm_dynet.toml (vocabulary, embedding, hidden size, sequence length and
the SGD learning rate are read from it): Embedding(V, E) -> 1-layer LSTM(E, H) -> Linear(H, V) at
every position -> cross-entropy against a label per position, plain SGD. Both sides train on one
synthetic batch of B sequences of T uniform random token ids (labels uniform too), made once:
  kiln:    `kiln bench train models/rnnlm_dynet.toml --batch B --iters N --warmup W --json`
           (a subprocess; its train_tokens_per_s);
  PyTorch: nn.Embedding, nn.LSTM(batch_first=True), nn.Linear, nn.CrossEntropyLoss, torch.optim.SGD;
           zero_grad + forward + loss + backward + step, W untimed then N timed steps.
tokens/s = B * T * N / seconds. One run of each per batch size (a shared machine is noisy: rerun
for a stable figure). CPU threads: torch.set_num_threads(--threads, default 2) and
OMP_NUM_THREADS=--threads for kiln. Debian's python3-torch is the PyTorch meant here.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = "models/rnnlm_dynet.toml"


def find_kiln(explicit: str | None) -> str:
    if explicit:
        return explicit
    candidates = [c for c in REPO.glob("build*/tools/kiln") if c.is_file() and os.access(c, os.X_OK)]
    if not candidates:
        sys.exit(f"compare_rnnlm: no kiln binary under {REPO}/build*/tools/; build it or pass --kiln PATH")
    return str(max(candidates, key=lambda c: c.stat().st_mtime))  # the newest build


def model_shape(config: Path) -> dict:
    cfg = tomllib.loads(config.read_text())
    layers = {spec["type"]: spec for spec in cfg["layer"]}
    return {
        "vocab": layers["Embedding"]["num_embeddings"],
        "embed": layers["Embedding"]["embedding_dim"],
        "hidden": layers["LSTM"]["hidden_size"],
        "layers": layers["LSTM"].get("num_layers", 1),
        "classes": cfg["model"]["classes"],
        "seq": cfg["model"]["input"][0],
        "lr": cfg.get("solver", {}).get("lr", 0.1),
    }


def torch_tokens_per_s(torch, m: dict, batch: int, iters: int, warmup: int) -> float:
    nn = torch.nn

    class RNNLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(m["vocab"], m["embed"])
            self.lstm = nn.LSTM(m["embed"], m["hidden"], num_layers=m["layers"], batch_first=True)
            self.decoder = nn.Linear(m["hidden"], m["classes"])

        def forward(self, x):
            h, _ = self.lstm(self.embed(x))
            return self.decoder(h.reshape(-1, h.shape[-1]))

    torch.manual_seed(1)
    net = RNNLM()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=m["lr"])
    x = torch.randint(0, m["vocab"], (batch, m["seq"]))
    y = torch.randint(0, m["classes"], (batch * m["seq"],))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    net.train()
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return batch * m["seq"] * iters / (time.perf_counter() - t0)


def kiln_run(kiln: str, config: Path, batch: int, iters: int, warmup: int, threads: int) -> dict:
    cmd = [kiln, "bench", "train", str(config), "--device", "cpu", "--batch", str(batch), "--iters", str(iters),
           "--warmup", str(warmup), "--json"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"compare_rnnlm: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", help="kiln binary (default: the newest build*/tools/kiln)")
    ap.add_argument("--config", default=CONFIG, help=f"model config (default {CONFIG})")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--iters", type=int, default=0, help="timed steps per run (default: ~256 sequences, 3..20)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", action="store_true", help="also print kiln's per-layer ms per step")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    kiln = find_kiln(args.kiln)
    config = Path(args.config)
    if not config.is_absolute():
        config = REPO / config
    m = model_shape(config)
    print(f"RNNLM (DyNet benchmark shape): vocab {m['vocab']}, embedding {m['embed']}, LSTM {m['layers']}x{m['hidden']},"
          f" sequence length {m['seq']}, SGD; CPU, {args.threads} threads")
    print(f"kiln: {kiln}; PyTorch {torch.__version__}")
    print(f"{'batch':>5} {'iters':>5} {'kiln tok/s':>11} {'torch tok/s':>12} {'kiln/torch':>10}")
    for b in args.batches:
        iters = args.iters or max(3, min(20, 256 // b))
        k = kiln_run(kiln, config, b, iters, args.warmup, args.threads)
        kt = k["train_tokens_per_s"]
        tt = torch_tokens_per_s(torch, m, b, iters, args.warmup)
        print(f"{b:>5} {iters:>5} {kt:>11.1f} {tt:>12.1f} {kt / tt:>10.2f}", flush=True)
        if args.layers:
            parts = ", ".join(f"{l['name']} {l['forward_ms']:.1f}+{l['backward_ms']:.1f}" for l in k["layers"])
            print(f"      kiln ms/step (forward+backward): {parts}, update {k['update_ms']:.1f}")


if __name__ == "__main__":
    main()
