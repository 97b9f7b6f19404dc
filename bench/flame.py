"""Turns `perf script` output (stdin) into folded stacks and a flame graph SVG, with no tool
beyond Python: `perf record -F 499 -g -p PID -- sleep 20; perf script | python3
bench/flame.py out.svg` writes out.svg and out.folded, and prints the twenty functions with
the most samples (self and total) for BENCHMARKS.md.
"""

import html
import sys
from collections import Counter


def stacks(lines):
    frames, comm = [], None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield comm, list(reversed(frames))
            frames, comm = [], None
        elif not line.startswith((" ", "\t")):
            comm = line.split()[0]
        else:
            parts = line.strip().split(" ", 1)
            name = parts[1] if len(parts) > 1 else parts[0]
            name = name.split(" (")[0]
            name = name.split("+0x")[0]
            frames.append(name or "[unknown]")
    if frames:
        yield comm, list(reversed(frames))


def svg(folded, total, path, width=1600, row=16):
    tree = {}
    for stack, n in folded.items():
        node = tree
        for frame in stack:
            child = node.setdefault(frame, [0, {}])
            child[0] += n
            node = child[1]
    out, depth_max = [], [0]

    def draw(node, x, depth):
        depth_max[0] = max(depth_max[0], depth)
        for name, (n, children) in sorted(node.items()):
            w = width * n / total
            if w >= 0.5:
                y = depth * row
                hue = 20 + (hash(name) % 40)
                label = html.escape(name)
                text = html.escape(name[: int(w / 7)]) if w > 30 else ""
                out.append(
                    f'<g><title>{label} ({n} samples, {100 * n / total:.1f}%)</title>'
                    f'<rect x="{x:.1f}" y="{{Y{y}}}" width="{w:.1f}" height="{row - 1}" fill="hsl({hue},90%,60%)"/>'
                    f'<text x="{x + 2:.1f}" y="{{T{y}}}" font-size="11" font-family="monospace">{text}</text></g>'
                )
                draw(children, x, depth + 1)
            x += w

    draw(tree, 0.0, 0)
    height = (depth_max[0] + 1) * row
    body = "\n".join(out)
    for d in range(depth_max[0] + 1):
        y = d * row
        body = body.replace(f"{{Y{y}}}", str(height - y - row)).replace(f"{{T{y}}}", str(height - y - 4))
    with open(path, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">\n{body}\n</svg>\n')


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "flame.svg"
    folded, self_n, total_n = Counter(), Counter(), Counter()
    for comm, frames in stacks(sys.stdin):
        stack = tuple([comm or "?"] + frames)
        folded[stack] += 1
        self_n[frames[-1]] += 1
        for f in set(frames):
            total_n[f] += 1
    total = sum(folded.values()) or 1
    with open(target.rsplit(".", 1)[0] + ".folded", "w") as f:
        for stack, n in folded.most_common():
            f.write(";".join(stack) + f" {n}\n")
    svg(folded, total, target)
    print(f"{total} samples")
    print("self:")
    for name, n in self_n.most_common(20):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("total (inclusive):")
    for name, n in total_n.most_common(20):
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
