#!/usr/bin/env python3
"""Writes a regression table for models/regression_friedman.toml: Friedman's problem #1.

    python3 tools/make_regression_csv.py [DIR] [--train N] [--test N] [--seed S] [--noise SD]

DIR (default data/friedman1) gets train.csv and test.csv, each with a header row
x1,...,x10,y and one sample per line. The features are uniform on [0, 1]; only the first five
matter:

    y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise,   noise ~ N(0, SD^2), SD = 1

(J. H. Friedman, "Multivariate adaptive regression splines", Annals of Statistics 19, 1991; also
scikit-learn's make_friedman1). The variance of y is about 24 + SD^2, so a model that predicts
the mean has RMSE about 5; the noise alone leaves RMSE SD (R^2 about 0.96 at SD = 1).
Deterministic for a given seed (Python's random module); standard library only.
"""
import argparse
import math
import os
import random


def rows(n, rng, noise):
    for _ in range(n):
        x = [rng.random() for _ in range(10)]
        y = (10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4]
             + rng.gauss(0, noise))
        yield x, y


def write(path, n, rng, noise):
    with open(path, "w") as f:
        f.write(",".join([f"x{i + 1}" for i in range(10)] + ["y"]) + "\n")
        for x, y in rows(n, rng, noise):
            f.write(",".join(f"{v:.6f}" for v in x) + f",{y:.6f}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default="data/friedman1", help="output folder (default data/friedman1)")
    ap.add_argument("--train", type=int, default=5000, help="training rows (default 5000)")
    ap.add_argument("--test", type=int, default=1000, help="test rows (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--noise", type=float, default=1.0, help="noise standard deviation (default 1)")
    args = ap.parse_args()
    if args.train < 1 or args.test < 1 or args.noise < 0:
        ap.error("--train and --test must be >= 1 and --noise >= 0")
    os.makedirs(args.dir, exist_ok=True)
    rng = random.Random(args.seed)
    write(os.path.join(args.dir, "train.csv"), args.train, rng, args.noise)
    write(os.path.join(args.dir, "test.csv"), args.test, rng, args.noise)
    print(f"wrote {args.dir}/train.csv ({args.train} rows) and {args.dir}/test.csv ({args.test} rows)")


if __name__ == "__main__":
    main()
