#!/usr/bin/python3
"""Regenerates the golden fixtures in tests/recurrent/golden/ from PyTorch's nn.LSTM, nn.GRU and nn.RNN
(Debian: apt-get install python3-torch).

Each fixture: a 2-layer recurrent net (input 3, hidden 4) on a batch of N=3 sequences of T=5 steps,
with initial states. The objective is L = sum(R * output) for a fixed random R. The fixture holds
the parameters (PyTorch's names), the inputs, R, and PyTorch's results: the output, the final
states h_n (and c_n), and the gradients of L with respect to x, h0 (c0) and every parameter
("grad.<name>"). Computed in float64 and written with 17 significant digits.
  lstm2.txt        nn.LSTM, batch first
  bilstm2.txt      nn.LSTM, bidirectional, time first
  rnn_tanh2.txt    nn.RNN (tanh), batch first
  birnn_relu2.txt  nn.RNN (relu), bidirectional, batch first
  gru2.txt         nn.GRU, batch first
  bigru2.txt       nn.GRU, bidirectional, time first

Format, one tensor per two lines:   <name> <rank> <dim0> <dim1> ...
                                    <values, row-major, space separated>
Usage: /usr/bin/python3 tests/recurrent/make_golden.py [output folder]
"""
import os
import sys

import torch

N, T, F, H, L = 3, 5, 3, 4, 2


def fixture(path, module, lstm, batch_first, directions):
    x = torch.randn(*((N, T, F) if batch_first else (T, N, F)), dtype=torch.float64, requires_grad=True)
    h0 = (0.5 * torch.randn(L * directions, N, H, dtype=torch.float64)).requires_grad_()
    inputs = [("x", x), ("h0", h0)]
    if lstm:
        c0 = (0.5 * torch.randn(L * directions, N, H, dtype=torch.float64)).requires_grad_()
        inputs.append(("c0", c0))
        out, (hn, cn) = module(x, (h0, c0))
        finals = [("h_n", hn), ("c_n", cn)]
    else:
        out, hn = module(x, h0)
        finals = [("h_n", hn)]
    r = torch.randn(*out.shape, dtype=torch.float64)
    (out * r).sum().backward()

    tensors = inputs + [("r", r)]
    tensors += [(name, p) for name, p in module.named_parameters()]
    tensors += [("output", out)] + finals + [("grad." + name, t.grad) for name, t in inputs]
    tensors += [("grad." + name, p.grad) for name, p in module.named_parameters()]
    with open(path, "w") as f:
        for name, t in tensors:
            t = t.detach()
            f.write(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)}\n")
            f.write(" ".join(f"{v:.17g}" for v in t.reshape(-1).tolist()) + "\n")
    print(f"wrote {len(tensors)} tensors to {path}")


folder = sys.argv[1] if len(sys.argv) > 1 else "tests/recurrent/golden"
# The seed is set before each fixture (2024 first, as when lstm2.txt was the only one).
torch.manual_seed(2024)
fixture(os.path.join(folder, "lstm2.txt"), torch.nn.LSTM(F, H, num_layers=L, batch_first=True).double(), True, True, 1)
torch.manual_seed(2025)
fixture(os.path.join(folder, "bilstm2.txt"),
        torch.nn.LSTM(F, H, num_layers=L, bidirectional=True).double(), True, False, 2)
torch.manual_seed(2026)
fixture(os.path.join(folder, "rnn_tanh2.txt"),
        torch.nn.RNN(F, H, num_layers=L, batch_first=True).double(), False, True, 1)
torch.manual_seed(2027)
fixture(os.path.join(folder, "birnn_relu2.txt"),
        torch.nn.RNN(F, H, num_layers=L, nonlinearity="relu", batch_first=True, bidirectional=True).double(),
        False, True, 2)
torch.manual_seed(2028)
fixture(os.path.join(folder, "gru2.txt"), torch.nn.GRU(F, H, num_layers=L, batch_first=True).double(), False, True, 1)
torch.manual_seed(2029)
fixture(os.path.join(folder, "bigru2.txt"), torch.nn.GRU(F, H, num_layers=L, bidirectional=True).double(), False, False, 2)
