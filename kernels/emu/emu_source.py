#!/usr/bin/env python3
"""The emulate build's view of a CUDA source file (run by cmake/KilnGpu.cmake, never by hand).

    emu_source.py INPUT OUTPUT

Writes INPUT to OUTPUT with two rewrites that a macro cannot make, so that kernels stay plain
CUDA and the emulator still sees what a GPU enforces (kernels/emu/README.md):

  - `__launch_bounds__(N, ...) name(params) {` gets `KILN_EMU_LAUNCH_BOUNDS(N, ...);` as the
    first statement of the body: a launch with more than N threads per block is refused, as a GPU
    refuses it (cudaErrorLaunchOutOfResources).
  - `__shared__ T a[4][8], b;` inside a function becomes
    `auto& a = ::kiln::emu::detail::shared_var<T[4][8], decltype([] {})>(); auto& b = ...;`:
    references to memory allocated for the block when a thread first reaches the declaration
    (the lambda type tells one declaration, and one template instantiation, from another), filled with 0xff bytes (NaN as float) and freed when the block
    ends, so every block starts with fresh poisoned shared memory and AddressSanitizer sees
    overruns.

Every line keeps its number (`#line 1 "INPUT"` first), so messages and __FILE__ name INPUT.
Comments, strings and preprocessor lines are left alone.
"""
import os
import re
import sys

IDENT = re.compile(r"[A-Za-z_]\w*")


def mask_source(text):
    """The text with comments, string/char literals and preprocessor lines blanked out (same
    length, newlines kept), so that scanning never looks inside them."""
    out = list(text)
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":  # a preprocessor line, with its continuations
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out[i] = " "
                    i += 2
                    continue
                out[i] = " "
                i += 1
            continue
        line_start = False
        if c == "\n":
            line_start = True
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if text[k] != "\n":
                    out[k] = " "
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and (text[i - 1].isalnum()):  # digit separator 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                if text[k] != "\n":
                    out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def match_paren(masked, i, open_="(", close=")"):
    """Index just past the bracket that closes the one at i."""
    depth = 0
    for j in range(i, len(masked)):
        if masked[j] == open_:
            depth += 1
        elif masked[j] == close:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced brackets")


def skip_ws(masked, i):
    while i < len(masked) and masked[i].isspace():
        i += 1
    return i


def launch_bounds_edits(text, masked):
    edits = []
    for m in re.finditer(r"\b__launch_bounds__\s*\(", masked):
        open_ = m.end() - 1
        close = match_paren(masked, open_)
        args = text[open_ + 1 : close - 1]
        i = skip_ws(masked, close)
        name = IDENT.match(masked, i)
        if not name:
            continue
        i = skip_ws(masked, name.end())
        if i >= len(masked) or masked[i] != "(":
            continue
        i = skip_ws(masked, match_paren(masked, i))
        if i >= len(masked) or masked[i] != "{":
            continue  # a declaration, not the definition
        edits.append((i + 1, i + 1, f" KILN_EMU_LAUNCH_BOUNDS({' '.join(args.split())});"))
    return edits


def function_scope_at(masked, pos):
    """Whether pos lies inside a function body: some enclosing '{' is not a namespace's, a class's
    or an extern block's."""
    depth_stack = []
    for j in range(pos):
        c = masked[j]
        if c == "{":
            head = masked[max(0, j - 200) : j]
            kind = "block"
            if re.search(r"\bnamespace\b[\w:\s]*$", head) or re.search(r'\bextern\s*$', head):
                kind = "scope"
            elif re.search(r"\b(struct|class|union|enum)\b[^;{}()]*$", head):
                kind = "scope"
            depth_stack.append(kind)
        elif c == "}" and depth_stack:
            depth_stack.pop()
    return "block" in depth_stack


DECL = re.compile(
    r"^(?P<type>.*?)(?P<ptr>[\s*&]*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(?:\[[^\]]*\]\s*)*)$",
    re.S)
NEXT = re.compile(r"^\s*(?P<ptr>[*&\s]*?)\s*(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(?:\[[^\]]*\]\s*)*)$",
                  re.S)
ALIGN = re.compile(r"\b(__align__|alignas)\s*\([^()]*\)")


def split_top(s):
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([<{":
            depth += 1
        elif c in ")]>}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def shared_edits(text, masked):
    edits = []
    for m in re.finditer(r"\b__shared__\b", masked):
        before = masked[max(0, m.start() - 40) : m.start()]
        if re.search(r"\bextern\s*$", before):
            continue
        end = masked.find(";", m.end())
        if end < 0 or not function_scope_at(masked, m.start()):
            continue
        body = text[m.end() : end]
        if "=" in body or "(" in ALIGN.sub("", body):
            continue  # not a plain declaration: leave it to the macro (static thread_local)
        pieces = split_top(body)
        first = DECL.match(ALIGN.sub("", pieces[0]).strip())
        if not first:
            continue
        base = " ".join(first.group("type").split())
        if not base:
            continue
        decls = [(first.group("ptr"), first.group("name"), first.group("dims"))]
        ok = True
        for p in pieces[1:]:
            n = NEXT.match(p)
            if not n:
                ok = False
                break
            decls.append((n.group("ptr"), n.group("name"), n.group("dims")))
        if not ok:
            continue
        out = []
        for ptr, name, dims in decls:
            type_ = f"{base}{''.join(ptr.split())}{''.join(dims.split())}"
            out.append(f"auto& {name} = ::kiln::emu::detail::shared_var<{type_}, decltype([] {{}})>()")
        # Keep the line count: the replacement is on the first line, the old newlines follow.
        replacement = "; ".join(out)
        newlines = text[m.start() : end].count("\n")
        edits.append((m.start(), end, replacement + "\n" * newlines))
    return edits


def transform(text, path):
    masked = mask_source(text)
    edits = launch_bounds_edits(text, masked) + shared_edits(text, masked)
    edits.sort()
    out, last = [], 0
    for start, end, rep in edits:
        out.append(text[last:start])
        out.append(rep)
        last = end
    out.append(text[last:])
    return f'#line 1 "{path}"\n' + "".join(out)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    result = transform(text, src)
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    try:
        with open(dst, encoding="utf-8") as f:
            if f.read() == result:
                return  # unchanged: keep the timestamp
    except OSError:
        pass
    with open(dst, "w", encoding="utf-8") as f:
        f.write(result)


if __name__ == "__main__":
    main()
