#!/usr/bin/python3
"""Writes what the torchvision golden test (tests/train/torchvision_test.cpp) compares kiln with:
a torchvision model's weights as safetensors (state_dict names; num_batches_tracked left out) and,
in float64, its logits in evaluation and in training mode and the gradients of one training step.

    /usr/bin/python3 tests/train/torchvision_golden.py MODEL OUT_DIR [--size S] [--batch N]

MODEL: resnet18 or googlenet (torchvision.models; GoogLeNet without its auxiliary classifiers as
models/googlenet.toml; random initialisation with the BatchNorm
parameters and running statistics randomised too, so that they matter). OUT_DIR gets:
  weights.safetensors   the float32 state_dict
  golden.txt            input x (N, 3, S, S), labels, logits_eval, logits_train, loss_train, and
                        grad.<name> (mean cross-entropy over the batch, training mode with dropout off
                        mode) of the parameters in CHECKED_GRADIENTS, one tensor per two lines as the other golden files
Needs Debian's python3-torchvision. The gradients near the input are ill-conditioned (batch
statistics through 18 layers): PyTorch's float32 differs from its float64 there by up to 1% of a
tensor's largest gradient (layer1.0.conv1.weight), so the test compares them at that scale.
"""
import argparse
import json
import os
import struct

import torch
import torchvision


# Gradients compared: the first and last layers, a BatchNorm, a block's conv and a projection shortcut
# (all of them would be 100 MB of text for ResNet-18).
CHECKED_GRADIENTS = {
    "resnet18": ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                 "layer2.0.downsample.1.weight", "layer4.1.bn2.bias", "fc.bias"],
    "googlenet": ["conv1.conv.weight", "conv1.bn.weight", "conv3.bn.bias", "inception3a.branch2.1.conv.weight",
                  "inception4c.branch4.1.conv.weight", "inception4e.branch3.1.bn.weight", "inception5b.branch1.bn.bias",
                  "fc.bias"],
}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write(f, name, t):
    t = t.detach().to(torch.float64)
    f.write(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)}\n")
    f.write(" ".join(f"{v:.17g}" for v in t.reshape(-1).tolist()) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    a = p.parse_args()
    torch.manual_seed(7)
    if a.model == "googlenet":
        model = torchvision.models.googlenet(aux_logits=False, init_weights=True)
    else:
        model = getattr(torchvision.models, a.model)()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    os.makedirs(a.out, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_safetensors(os.path.join(a.out, "weights.safetensors"), state)
    model = model.double()
    x = torch.randn(a.batch, 3, a.size, a.size, dtype=torch.float64)
    labels = torch.randint(0, 1000, (a.batch,))
    with open(os.path.join(a.out, "golden.txt"), "w") as f:
        write(f, "x", x)
        write(f, "labels", labels)
        model.eval()
        with torch.no_grad():
            write(f, "logits_eval", model(x))
        model.train()
        for m in model.modules():  # dropout draws differ between frameworks: off in both (the test does so too)
            if isinstance(m, torch.nn.Dropout):
                m.eval()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        write(f, "logits_train", logits)
        write(f, "loss_train", loss.reshape(1))
        params = dict(model.named_parameters())
        for name in CHECKED_GRADIENTS[a.model]:
            write(f, "grad." + name, params[name].grad)


if __name__ == "__main__":
    main()
