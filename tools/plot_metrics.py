#!/usr/bin/env python3
"""Plots a kiln training run: DIR/metrics.csv -> DIR/metrics.png (loss and accuracy).

    python3 tools/plot_metrics.py DIR [--out FILE]

metrics.csv is written by `kiln train` (tools/train/trainer.cpp): one "train" row every log_every
steps (the mean over those steps) and one "epoch" row per epoch (with the test loss and accuracy
when there is a test set). A regression run's file has train_rmse, test_rmse and test_r2 in
place of the accuracies: the second panel then plots the RMSE. Needs matplotlib (Debian: apt-get install python3-matplotlib).
`kiln train` runs this script at the end of a run when matplotlib is installed.
"""
import argparse
import csv
import os
import sys


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def column(rows, key):
    xs, ys = [], []
    for r in rows:
        v = r.get(key, "")
        if v not in ("", None):
            xs.append(int(r["step"]))
            ys.append(float(v))
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="a kiln train output folder (holding metrics.csv)")
    ap.add_argument("--out", help="the PNG to write (default DIR/metrics.png)")
    args = ap.parse_args()
    csv_path = os.path.join(args.dir, "metrics.csv")
    if not os.path.exists(csv_path):
        sys.exit(f"plot_metrics: no {csv_path}")
    rows = read_rows(csv_path)
    if not rows:
        sys.exit(f"plot_metrics: {csv_path} has no rows")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in rows if r["kind"] == "train"]
    epoch = [r for r in rows if r["kind"] == "epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for rows_, key, label, style in [(train, "train_loss", "train", "-"), (epoch, "test_loss", "test", "o-")]:
        x, y = column(rows_, key)
        if x:
            ax_loss.plot(x, y, style, label=label)
    regression = "train_rmse" in rows[0]
    second, scale = ("rmse", 1) if regression else ("accuracy", 100)
    for rows_, key, label, style in [(train, f"train_{second}", "train", "-"), (epoch, f"test_{second}", "test", "o-")]:
        x, y = column(rows_, key)
        if x:
            ax_acc.plot(x, [scale * v for v in y], style, label=label)
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    if regression:
        ax_acc.set(xlabel="step", ylabel="RMSE", title="RMSE")
    else:
        ax_acc.set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(os.path.basename(os.path.abspath(args.dir)))
    fig.tight_layout()
    out = args.out or os.path.join(args.dir, "metrics.png")
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
