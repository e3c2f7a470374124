#!/usr/bin/env python3
"""Writes models/googlenet.toml: GoogLeNet (Inception v1, Szegedy et al. 2014) as torchvision builds
it, with torchvision's layer names, so torchvision.models.googlenet(aux_logits=False)'s state_dict
keys are kiln's parameter and buffer names.

    python3 tools/make_googlenet_config.py > models/googlenet.toml

Every convolution is torchvision's BasicConv2d: Conv2d (no bias) → BatchNorm2d (eps 0.001) → ReLU,
named <block>.conv, <block>.bn. Stem: conv1 7x7/2 → maxpool1 3/2 (ceil mode) → conv2 1x1 → conv3 3x3
→ maxpool2. Inception blocks 3a, 3b, (maxpool3), 4a-4e, (maxpool4 2/2), 5a, 5b, each the Concat of
four branches: branch1 1x1; branch2 1x1 → 3x3; branch3 1x1 → 3x3 (torchvision's choice; the paper
has 5x5); branch4 3x3/1 max-pool (ceil mode) → 1x1. Then AdaptiveAvgPool2d(1) → Dropout 0.2 →
Linear 1000. The auxiliary classifiers are left out (torchvision's aux_logits=False).
Standard library only.
"""

# (name, in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection), torchvision's table.
INCEPTION = [
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("maxpool3", 3, 2),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),
    ("maxpool4", 2, 2),
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
]


def layer(kind, name, inputs=None, **keys):
    lines = ["[[layer]]", f'type = "{kind}"', f'name = "{name}"']
    if inputs:
        lines.append("inputs = [" + ", ".join(f'"{i}"' for i in inputs) + "]")
    for k, v in keys.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
    return "\n".join(lines) + "\n"


def basic_conv(out, name, src, channels, kernel, stride=1, pad=0):
    out.append(layer("Conv2d", f"{name}.conv", [src], out_channels=channels, kernel=kernel, stride=stride, pad=pad,
                     bias=False))
    out.append(layer("BatchNorm2d", f"{name}.bn", eps=0.001))
    out.append(layer("ReLU", f"{name}.relu"))
    return f"{name}.relu"


def inception(out, name, src, c1, c3r, c3, c5r, c5, proj):
    b1 = basic_conv(out, f"{name}.branch1", src, c1, 1)
    b2 = basic_conv(out, f"{name}.branch2.0", src, c3r, 1)
    b2 = basic_conv(out, f"{name}.branch2.1", b2, c3, 3, pad=1)
    b3 = basic_conv(out, f"{name}.branch3.0", src, c5r, 1)
    b3 = basic_conv(out, f"{name}.branch3.1", b3, c5, 3, pad=1)
    out.append(layer("MaxPool2d", f"{name}.branch4.0", [src], kernel=3, stride=1, pad=1, ceil_mode=True))
    b4 = basic_conv(out, f"{name}.branch4.1", f"{name}.branch4.0", proj, 1)
    out.append(layer("Concat", f"{name}.concat", [b1, b2, b3, b4]))
    return f"{name}.concat"


def main():
    out = []
    src = basic_conv(out, "conv1", "data", 64, 7, stride=2, pad=3)
    out.append(layer("MaxPool2d", "maxpool1", [src], kernel=3, stride=2, ceil_mode=True))
    src = basic_conv(out, "conv2", "maxpool1", 64, 1)
    src = basic_conv(out, "conv3", src, 192, 3, pad=1)
    out.append(layer("MaxPool2d", "maxpool2", [src], kernel=3, stride=2, ceil_mode=True))
    src = "maxpool2"
    for row in INCEPTION:
        if row[0].startswith("maxpool"):
            out.append(layer("MaxPool2d", row[0], [src], kernel=row[1], stride=row[2], ceil_mode=True))
            src = row[0]
        else:
            src = inception(out, row[0], src, *row[2:])
    out.append(layer("AdaptiveAvgPool2d", "avgpool", [src], output_size=1))
    out.append(layer("Flatten", "flatten"))
    out.append(layer("Dropout", "dropout", p=0.2))
    out.append(layer("Linear", "fc", out_features=1000))
    out.append(layer("SoftmaxCrossEntropy", "loss"))
    print("# googlenet (Inception v1, torchvision layer names), written by tools/make_googlenet_config.py")
    print('\n[model]\nname = "googlenet"\ninput = [3, 224, 224]\nclasses = 1000\n')
    print("\n".join(out))
    print('[data]\nsource = "synthetic"\nsize = 256\ntest_size = 64\n')
    print('[solver]\ntype = "sgd"\nlr = 0.01\nmomentum = 0.9\nweight_decay = 2e-4\n')
    print("[train]\nepochs = 1\nbatch = 32\nseed = 1\nlog_every = 1")


if __name__ == "__main__":
    main()
