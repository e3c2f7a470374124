#!/usr/bin/env python3
"""Writes kiln configs for VGG (Simonyan & Zisserman 2014) with torchvision's layer names, and for
ZF Net (Zeiler & Fergus 2013).

    python3 tools/make_vgg_config.py vgg16 > models/vgg16.toml
    python3 tools/make_vgg_config.py vgg19 > models/vgg19.toml
    python3 tools/make_vgg_config.py zfnet > models/zfnet.toml

VGG-16 / VGG-19 (configurations D and E, 224x224, 1000 classes): 3x3 convolutions (pad 1) with ReLU
in five stages of 64, 128, 256, 512, 512 channels, each ended by a 2x2 max-pool, then
AdaptiveAvgPool2d(7) → Flatten → Linear 4096 → ReLU → Dropout → Linear 4096 → ReLU → Dropout →
Linear 1000. Layers are named by their index in torchvision's `features` and `classifier`
Sequentials (features.0 is the first convolution, classifier.6 the last Linear), so
torchvision.models.vgg16()'s state_dict keys are kiln's parameter names.
ZF Net: AlexNet with a 7x7 stride-2 first convolution and a stride-2 second one (the paper's
feature maps: 110, 55, 26, 13, 13, 13, 6), LRN after the first two stages, dropout in the
classifier; kiln's own names (conv1.., fc6..), as torchvision has no ZF Net.
Standard library only.
"""
import argparse

VGG = {"vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}


def layer(kind, name, **keys):
    lines = ["[[layer]]", f'type = "{kind}"', f'name = "{name}"']
    for k, v in keys.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
    return "\n".join(lines) + "\n"


def vgg(stages):
    out, i = [], 0
    for convs, channels in zip(stages, [64, 128, 256, 512, 512]):
        for _ in range(convs):
            out.append(layer("Conv2d", f"features.{i}", out_channels=channels, kernel=3, pad=1))
            out.append(layer("ReLU", f"features.{i + 1}"))
            i += 2
        out.append(layer("MaxPool2d", f"features.{i}", kernel=2, stride=2))
        i += 1
    out.append(layer("AdaptiveAvgPool2d", "avgpool", output_size=7))
    out.append(layer("Flatten", "flatten"))
    for j, width in ((0, 4096), (3, 4096)):
        out.append(layer("Linear", f"classifier.{j}", out_features=width))
        out.append(layer("ReLU", f"classifier.{j + 1}"))
        out.append(layer("Dropout", f"classifier.{j + 2}", p=0.5))
    out.append(layer("Linear", "classifier.6", out_features=1000))
    return out


def zfnet():
    return [
        layer("Conv2d", "conv1", out_channels=96, kernel=7, stride=2, pad=1),
        layer("ReLU", "relu1"),
        layer("MaxPool2d", "pool1", kernel=3, stride=2, pad=1),
        layer("LRN", "norm1", size=5, alpha=1e-4, beta=0.75, k=2),
        layer("Conv2d", "conv2", out_channels=256, kernel=5, stride=2),
        layer("ReLU", "relu2"),
        layer("MaxPool2d", "pool2", kernel=3, stride=2, pad=1),
        layer("LRN", "norm2", size=5, alpha=1e-4, beta=0.75, k=2),
        layer("Conv2d", "conv3", out_channels=384, kernel=3, pad=1),
        layer("ReLU", "relu3"),
        layer("Conv2d", "conv4", out_channels=384, kernel=3, pad=1),
        layer("ReLU", "relu4"),
        layer("Conv2d", "conv5", out_channels=256, kernel=3, pad=1),
        layer("ReLU", "relu5"),
        layer("MaxPool2d", "pool5", kernel=3, stride=2),
        layer("Flatten", "flatten"),
        layer("Linear", "fc6", out_features=4096),
        layer("ReLU", "relu6"),
        layer("Dropout", "drop6", p=0.5),
        layer("Linear", "fc7", out_features=4096),
        layer("ReLU", "relu7"),
        layer("Dropout", "drop7", p=0.5),
        layer("Linear", "fc8", out_features=1000),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=sorted(VGG) + ["zfnet"])
    a = p.parse_args()
    layers = zfnet() if a.model == "zfnet" else vgg(VGG[a.model])
    print(f"# {a.model}, written by tools/make_vgg_config.py {a.model}")
    print(f'\n[model]\nname = "{a.model}"\ninput = [3, 224, 224]\nclasses = 1000\n')
    print("\n".join(layers))
    print(layer("SoftmaxCrossEntropy", "loss"))
    print('[data]\nsource = "synthetic"\nsize = 256\ntest_size = 64\n')
    print('[solver]\ntype = "sgd"\nlr = 0.01\nmomentum = 0.9\nweight_decay = 5e-4\n')
    print("[train]\nepochs = 1\nbatch = 32\nseed = 1\nlog_every = 1")


if __name__ == "__main__":
    main()
