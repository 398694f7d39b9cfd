#!/usr/bin/env python3
"""Timeline of a decode step from a kernel_trace file (see kernel_trace.cpp).

Usage: kernel_timeline.py TRACE [--all]

Steps are cut at each embedding kernel (every forward pass starts with one). The decode steps are the
most common step length in the second half of the run; the last one is printed kernel by kernel
(the first and last layers; --all for every kernel), then every kernel class of the last 8 such steps:
launches per step, time running, and time on the critical path. A kernel's critical time is its end
minus the latest end before it, so a kernel that overlaps its predecessor (programmatic dependent
launch) is charged only for what it adds; the critical times of a step add up to its length.
"""
import collections
import re
import sys


def short_name(mangled):
    """The kernel's own name from its mangled form, with the matvec template arguments spelled out."""
    name = mangled[:40]
    for m in re.finditer(r"(\d+)([a-z_]+_kernel)", mangled):
        digits = m.group(1)
        for cut in range(len(digits)):
            if int(digits[cut:]) == len(m.group(2)):
                name = m.group(2)
    m = re.search(r"_kernelILNS\w*?WeightKindE(\d)ELi(\d+)ELb(\d)ELb(\d)ELi(\d+)E", mangled)
    if m:
        kind, tokens, norm, glu, rows = m.groups()
        kind = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"][int(kind)] if int(kind) < 7 else kind
        name += f"<{kind}, {tokens} tok, norm {norm}, glu {glu}, {rows} rows/warp>"
    return name


def read(path):
    kernels = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip("\n").split(" ", 6)
            if len(parts) != 7:
                sys.exit(f"{path}:{number}: expected 7 fields, got {len(parts)}")
            start, end, regs, grid_x, grid_y, block_x, mangled = parts
            kernels.append((int(start), int(end), short_name(mangled), int(regs), f"{grid_x}x{grid_y}x{block_x}"))
    kernels.sort()
    return kernels


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    kernels = read(sys.argv[1])
    steps, current = [], []
    for k in kernels:
        if k[2] == "embed_kernel" and current:
            steps.append(current)
            current = []
        current.append(k)
    if current:
        steps.append(current)
    if not steps:
        sys.exit("no kernels in the trace")
    length = collections.Counter(len(s) for s in steps[len(steps) // 2:]).most_common(1)[0][0]
    decode = [s for s in steps if len(s) == length][-8:]
    walls = [(s[-1][1] - s[0][0]) / 1000 for s in decode]
    print(f"{len(steps)} passes; the last {len(decode)} of {length} kernels, GPU time from first start to last end (us): "
          + " ".join(f"{w:.1f}" for w in walls))

    step = decode[-1]
    print(f"\n{'#':>3} {'kernel':58} {'grid':>14} {'regs':>4} {'start':>8} {'run':>7} {'critical':>8}")
    latest = step[0][0]
    for i, (start, end, name, regs, grid) in enumerate(step):
        if "--all" in sys.argv or i < 12 or i >= len(step) - 7:
            print(f"{i:3d} {name[:58]:58} {grid:>14} {regs:4d} {(start - step[0][0]) / 1000:8.1f} "
                  f"{(end - start) / 1000:7.1f} {max(0, end - latest) / 1000:8.1f}")
        latest = max(latest, end)

    classes = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for s in decode:
        latest = s[0][0]
        for start, end, name, regs, grid in s:
            c = classes[(name, grid)]
            c[0] += 1
            c[1] += (end - start) / 1000
            c[2] += max(0, end - latest) / 1000
            latest = max(latest, end)
    n = len(decode)
    print(f"\n{'kernel class (mean per step)':72} {'launches':>8} {'run us':>8} {'critical us':>11}")
    for (name, grid), (count, run, critical) in sorted(classes.items(), key=lambda kv: -kv[1][2]):
        print(f"{(name + ' ' + grid)[:72]:72} {count / n:8.0f} {run / n:8.1f} {critical / n:11.1f}")


if __name__ == "__main__":
    main()
