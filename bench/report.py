"""Pairs the RESULT lines of a bench/run.sh run (stdin or files) and prints, per comparison
and measure, each figure beside its peer's with the ratio. The peer is the side named
"peer: ..."; the ratio is how far ScraperX leads it: value / peer for rates, peer / value
for memory and latency (units MiB, ms and s), so above 1 means ScraperX is ahead.

    python3 bench/report.py results.tsv [--markdown]
"""

import sys
from collections import OrderedDict

LOWER_IS_BETTER = {"MiB", "ms", "s"}


def read(lines):
    table = OrderedDict()
    for line in lines:
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 6 or parts[0] != "RESULT":
            continue
        _, comparison, measure, side, value, unit = parts
        table.setdefault((comparison, measure), []).append((side, float(value), unit))
    return table


def ratio(value, peer, unit):
    if not peer or not value:
        return ""
    r = peer / value if unit in LOWER_IS_BETTER else value / peer
    return f"{r:.2f}x"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    lines = []
    for path in args or ["-"]:
        lines += (sys.stdin if path == "-" else open(path)).readlines()
    table = read(lines)
    current = None
    for (comparison, measure), sides in table.items():
        if comparison != current:
            current = comparison
            if markdown:
                print(f"\n### {comparison}\n\n| measure | side | figure | vs peer |\n|---|---|---|---|")
            else:
                print(f"\n== {comparison} ==")
        peers = [v for s, v, _ in sides if s.startswith("peer:")]
        peer = peers[0] if peers else None
        for side, value, unit in sides:
            r = "" if side.startswith("peer:") or peer is None else ratio(value, peer, unit)
            figure = f"{value:,.1f} {unit}"
            if markdown:
                print(f"| {measure} | {side} | {figure} | {r} |")
            else:
                print(f"{measure:<34} {side:<62} {figure:>18} {r:>8}")


if __name__ == "__main__":
    main()
