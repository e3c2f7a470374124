#!/usr/bin/python3
"""Regenerates the golden fixtures in tests/layers/golden/ from PyTorch's normalisation layers
(Debian: apt-get install python3-torch).

Each fixture: a layer with random affine parameters and running statistics, one training-mode
forward of x (the output y, the running statistics after it), the gradients of L = sum(R * y) for
a fixed random R with respect to x, weight and bias, and an evaluation-mode forward of x2 (y_eval,
with the updated running statistics). Computed in float64, written with 17 significant digits.
  batchnorm2d.txt   nn.BatchNorm2d(3), x (4, 3, 2, 5), momentum 0.1
  batchnorm1d.txt   nn.BatchNorm1d(4, momentum=0.3, eps=1e-3), x (6, 4)

Format, one tensor per two lines:   <name> <rank> <dim0> <dim1> ...
                                    <values, row-major, space separated>
Usage: /usr/bin/python3 tests/layers/make_golden.py [output folder]
"""
import os
import sys

import torch


def fixture(path, layer, shape):
    layer = layer.double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.uniform_(-0.5, 0.5)
        layer.running_mean.uniform_(-0.2, 0.2)
        layer.running_var.uniform_(0.5, 1.5)
    out = [("weight", layer.weight.detach().clone()), ("bias", layer.bias.detach().clone()),
           ("running_mean_before", layer.running_mean.clone()), ("running_var_before", layer.running_var.clone())]
    x = (2 * torch.randn(*shape, dtype=torch.float64) + 0.5).requires_grad_()
    r = torch.randn(*shape, dtype=torch.float64)
    layer.train()
    y = layer(x)
    (r * y).sum().backward()
    out += [("x", x.detach()), ("r", r), ("y", y.detach()), ("running_mean", layer.running_mean.clone()),
            ("running_var", layer.running_var.clone()), ("grad.x", x.grad), ("grad.weight", layer.weight.grad),
            ("grad.bias", layer.bias.grad)]
    layer.eval()
    x2 = torch.randn(*shape, dtype=torch.float64)
    out += [("x2", x2), ("y_eval", layer(x2).detach())]
    with open(path, "w") as f:
        for name, t in out:
            f.write(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)}\n")
            f.write(" ".join(f"{v:.17g}" for v in t.reshape(-1).tolist()) + "\n")


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "golden")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(3)
    fixture(os.path.join(folder, "batchnorm2d.txt"), torch.nn.BatchNorm2d(3), (4, 3, 2, 5))
    fixture(os.path.join(folder, "batchnorm1d.txt"), torch.nn.BatchNorm1d(4, momentum=0.3, eps=1e-3), (6, 4))


if __name__ == "__main__":
    main()
