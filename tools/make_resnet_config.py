#!/usr/bin/env python3
"""Writes kiln configs for residual networks (He et al. 2015), layer names as torchvision's
state_dict has them, so torchvision's weights load with `--weights` and kiln's load into torchvision.

    python3 tools/make_resnet_config.py resnet18 > models/resnet18.toml
    python3 tools/make_resnet_config.py resnet20 --input 1,28,28 --classes 10 --data fashion > models/resnet20_fashion.toml

ImageNet models (224x224, 1000 classes): resnet18 and resnet34 (basic blocks [2,2,2,2] and
[3,4,6,3]), resnet50 (bottleneck blocks [3,4,6,3], stride on the 3x3 conv as torchvision): conv1
7x7/2 (no bias) → bn1 → relu → maxpool 3/2 pad 1 → layer1..layer4 → avgpool (global) → fc.
Each block's convolutions are layerS.B.conv1.. with BatchNorm layerS.B.bn1..; a block that changes
the shape adds its projection shortcut layerS.B.downsample.0 (1x1 conv) and .1 (BatchNorm); the
block's sum is an Add and a ReLU (parameter-free, so their names are kiln's own).
CIFAR models: resnet20 (3 stages of 16/32/64 channels, 3 basic blocks each, conv1 3x3, no
maxpool; projection shortcuts, He et al.'s option B), for 32x32 (or 28x28) inputs.
Standard library only.
"""
import argparse


def layer(kind, name, inputs=None, **keys):
    lines = ["[[layer]]", f'type = "{kind}"', f'name = "{name}"']
    if inputs:
        lines.append("inputs = [" + ", ".join(f'"{i}"' for i in inputs) + "]")
    for k, v in keys.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = "[" + ", ".join(str(x) for x in v) + "]"
        lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


class Builder:
    def __init__(self):
        self.out = []
        self.last = "data"

    def add(self, kind, name, inputs=None, **keys):
        self.out.append(layer(kind, name, inputs, **keys))
        self.last = name
        return name

    def conv_bn(self, prefix, conv, bn, src, channels, kernel, stride, relu):
        self.add("Conv2d", f"{prefix}.{conv}", [src], out_channels=channels, kernel=kernel, stride=stride,
                 pad=kernel // 2, bias=False)
        name = self.add("BatchNorm2d", f"{prefix}.{bn}")
        if relu:
            name = self.add("ReLU", f"{prefix}.relu{bn[-1]}")
        return name

    def block(self, prefix, src, in_ch, width, stride, bottleneck):
        out_ch = width * 4 if bottleneck else width
        if bottleneck:
            h = self.conv_bn(prefix, "conv1", "bn1", src, width, 1, 1, True)
            h = self.conv_bn(prefix, "conv2", "bn2", h, width, 3, stride, True)
            h = self.conv_bn(prefix, "conv3", "bn3", h, out_ch, 1, 1, False)
        else:
            h = self.conv_bn(prefix, "conv1", "bn1", src, width, 3, stride, True)
            h = self.conv_bn(prefix, "conv2", "bn2", h, width, 3, 1, False)
        shortcut = src
        if stride != 1 or in_ch != out_ch:
            self.add("Conv2d", f"{prefix}.downsample.0", [src], out_channels=out_ch, kernel=1, stride=stride,
                     bias=False)
            shortcut = self.add("BatchNorm2d", f"{prefix}.downsample.1")
        self.add("Add", f"{prefix}.add", [h, shortcut])
        return self.add("ReLU", f"{prefix}.relu"), out_ch


IMAGENET = {"resnet18": ([2, 2, 2, 2], False), "resnet34": ([3, 4, 6, 3], False), "resnet50": ([3, 4, 6, 3], True)}

DATA = {
    "synthetic": '[data]\nsource = "synthetic"\nsize = 256\ntest_size = 64\n',
    "fashion": ('[data]\nsource = "idx"\n'
                'train_images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"\n'
                'train_labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"\n'
                'test_images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"\n'
                'test_labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"\n'
                'mean = [0.2860]\nstd = [0.3530]\n'),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=sorted(IMAGENET) + ["resnet20"])
    p.add_argument("--input", default=None, help="C,H,W (default 3,224,224; resnet20 3,32,32)")
    p.add_argument("--classes", type=int, default=None, help="default 1000 (resnet20: 10)")
    p.add_argument("--data", choices=sorted(DATA), default="synthetic")
    a = p.parse_args()
    cifar = a.model == "resnet20"
    shape = [int(v) for v in (a.input or ("3,32,32" if cifar else "3,224,224")).split(",")]
    classes = a.classes or (10 if cifar else 1000)
    b = Builder()
    if cifar:
        src = b.conv_bn("stem", "conv1", "bn1", "data", 16, 3, 1, True)
        stages, widths, bottleneck, ch = [3, 3, 3], [16, 32, 64], False, 16
    else:
        b.add("Conv2d", "conv1", ["data"], out_channels=64, kernel=7, stride=2, pad=3, bias=False)
        b.add("BatchNorm2d", "bn1")
        b.add("ReLU", "relu")
        src = b.add("MaxPool2d", "maxpool", kernel=3, stride=2, pad=1)
        stages, bottleneck = IMAGENET[a.model]
        widths, ch = [64, 128, 256, 512], 64
    for s, (blocks, width) in enumerate(zip(stages, widths)):
        for i in range(blocks):
            stride = 2 if (i == 0 and s > 0) else 1
            src, ch = b.block(f"layer{s + 1}.{i}", src, ch, width, stride, bottleneck)
    b.add("AdaptiveAvgPool2d", "avgpool", output_size=1)
    b.add("Flatten", "flatten")
    b.add("Linear", "fc", out_features=classes)
    b.add("SoftmaxCrossEntropy", "loss")
    title = f"{a.model} ({'CIFAR-style' if cifar else 'torchvision layer names'})"
    print(f"# {title}, written by tools/make_resnet_config.py "
          f"{a.model}{' --input ' + a.input if a.input else ''}"
          f"{' --classes ' + str(a.classes) if a.classes else ''} --data {a.data}")
    print(f'\n[model]\nname = "{a.model}"\ninput = [{", ".join(map(str, shape))}]\nclasses = {classes}\n')
    print("\n".join(b.out))
    print(DATA[a.data])
    if cifar:
        print('[solver]\ntype = "sgd"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 1e-4\nnesterov = true\n')
        print('[schedule]\ntype = "cosine"\nwarmup_steps = 100\n')
        print("[train]\nepochs = 2\nbatch = 128\nseed = 1\nlog_every = 50\neval_batch = 500")
    else:
        print('[solver]\ntype = "sgd"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 1e-4\n')
        print("[train]\nepochs = 1\nbatch = 32\nseed = 1\nlog_every = 1")


if __name__ == "__main__":
    main()
