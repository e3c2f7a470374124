#!/usr/bin/python3
"""Regenerates tests/lstm/golden/lstm2.txt from PyTorch's nn.LSTM (Debian: apt-get install python3-torch).

A 2-layer, batch-first LSTM (input 3, hidden 4) on a batch of N=3 sequences of T=5 steps, with
initial states h0 and c0. The objective is L = sum(R * output) for a fixed random R. The fixture
holds the parameters (nn.LSTM's names), the inputs, R, and PyTorch's results: the output, the final
states h_n and c_n, and the gradients of L with respect to x, h0, c0 and every parameter
("grad.<name>"). Computed in float64 and written with 17 significant digits.

Format, one tensor per two lines:   <name> <rank> <dim0> <dim1> ...
                                    <values, row-major, space separated>
Usage: /usr/bin/python3 tests/lstm/make_golden.py [output file]
"""
import sys

import torch

torch.manual_seed(2024)
N, T, F, H, L = 3, 5, 3, 4, 2

lstm = torch.nn.LSTM(F, H, num_layers=L, batch_first=True).double()
x = torch.randn(N, T, F, dtype=torch.float64, requires_grad=True)
h0 = (0.5 * torch.randn(L, N, H, dtype=torch.float64)).requires_grad_()
c0 = (0.5 * torch.randn(L, N, H, dtype=torch.float64)).requires_grad_()
r = torch.randn(N, T, H, dtype=torch.float64)

out, (hn, cn) = lstm(x, (h0, c0))
(out * r).sum().backward()

tensors = [("x", x), ("h0", h0), ("c0", c0), ("r", r)]
tensors += [(name, p) for name, p in lstm.named_parameters()]
tensors += [("output", out), ("h_n", hn), ("c_n", cn), ("grad.x", x.grad), ("grad.h0", h0.grad), ("grad.c0", c0.grad)]
tensors += [("grad." + name, p.grad) for name, p in lstm.named_parameters()]

path = sys.argv[1] if len(sys.argv) > 1 else "tests/lstm/golden/lstm2.txt"
with open(path, "w") as f:
    for name, t in tensors:
        t = t.detach()
        f.write(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)}\n")
        f.write(" ".join(f"{v:.17g}" for v in t.reshape(-1).tolist()) + "\n")
print(f"wrote {len(tensors)} tensors to {path}")
