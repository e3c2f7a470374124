#!/usr/bin/env python3
"""Checks that includes follow kiln's folder order, which is its dependency order:

    core/  <-  kernels/, cpu_fallback/  <-  layers/  <-  tools/

A file may include its own folder and the folders to its left, never one to its right (core/ is the
runtime and knows no op; the ops know no layer; the layers know no trainer). kernels/ and
cpu_fallback/ are the two backends of the same ops: cpu_fallback/ includes the op declarations and
shape contracts in kernels/ (kernels/X.h, kernels/shapes/X.h), never the other way round.
bench/ and tests/ sit on top and may include anything.

Usage: check_layout.py [repository root]   (exit 1 and one line per violation when the order breaks)
       check_layout.py --self-test          (plants violations in a scratch tree: they must be found)
"""
import os
import re
import sys
import tempfile

# folder -> the folders its files may include (besides system and third-party headers)
ALLOWED = {
    "core": {"core"},
    "kernels": {"core", "kernels"},
    "cpu_fallback": {"core", "kernels", "cpu_fallback"},
    "layers": {"core", "kernels", "cpu_fallback", "layers"},
    "tools": {"core", "kernels", "cpu_fallback", "layers", "tools"},
}
PROJECT_FOLDERS = set(ALLOWED) | {"tests", "bench"}
SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cu", ".cuh", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def violations(root):
    for folder, allowed in ALLOWED.items():
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        top = m.group(1).split("/")[0]
                        if top in PROJECT_FOLDERS and top not in allowed:
                            yield f"{rel}:{number}: includes \"{m.group(1)}\": {folder}/ may include only " \
                                  f"{', '.join(sorted(allowed))} (core <- kernels, cpu_fallback <- layers <- tools)"


def self_test():
    """The check must fail on a tree that breaks the order, and pass on one that keeps it."""
    planted = {
        "core/tensor.h": '#include "layers/net.h"\n',              # core above layers
        "kernels/conv2d.cu": '#include "cpu_fallback/parallel.h"\n',  # one backend on the other
        "cpu_fallback/conv2d.cpp": '#include "kernels/conv2d.h"\n',  # allowed
        "layers/net.cpp": '#include "tools/train/trainer.h"\n',     # layers above tools
        "tools/kiln_main.cpp": '#include "layers/net.h"\n',         # allowed
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in planted.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        found = sorted(line.split(":")[0] for line in violations(root))
    want = ["core/tensor.h", "kernels/conv2d.cu", "layers/net.cpp"]
    if found != want:
        print(f"check_layout self-test: expected violations in {want}, found {found}")
        return 1
    print(f"check_layout self-test: the {len(want)} planted violations were found, the allowed includes passed")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    root = os.path.abspath(root)
    missing = [f for f in ALLOWED if not os.path.isdir(os.path.join(root, f))]
    if missing:
        print(f"check_layout: {root} has no {', '.join(missing)}/ folder: not a kiln checkout", file=sys.stderr)
        return 2
    bad = list(violations(root))
    for line in bad:
        print(line)
    print(f"check_layout: {len(bad)} include(s) against the folder order" if bad else
          "check_layout: every include follows core <- kernels, cpu_fallback <- layers <- tools")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
