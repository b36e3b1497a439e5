"""How often the "reasoned around rises with budget" test fires on null stores, and its power.

Null stores (analysis/trace_null.py): along each trace every probe's decision is an independent draw
with the item's own refusal probability (uniform in [0.2, 0.8]), so traces flip and are reasoned
around, but nothing depends on the budget. The planted stores add a rise: a share of the traces that
refused at the start comply at the longest budget. Every store is analysed by
`analysis.crystallize.crystallization`, the function `overthink analyze` runs.

    PYTHONPATH=src python benchmarks/crystallize_null.py --stores 200 --items 30 --boot 400
"""

from __future__ import annotations

import argparse
import time

from overthink.analysis.trace_null import rise_findings

BUDGETS = (0, 200, 400, 800)
EVERY = 50


def rate(stores: int, items: int, boot: int, rise: float, seed: int) -> tuple[int, float]:
    """(stores where the test said "rises", seconds per store)."""
    started = time.perf_counter()
    hits = rise_findings(stores, items, boot, rise, seed, BUDGETS, EVERY)
    return hits, (time.perf_counter() - started) / stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--boot", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for rise in (0.0, 0.5, 1.0):
        hits, each = rate(args.stores, args.items, args.boot, rise, args.seed)
        print(f"planted rise {rise:.1f}: 'rises' on {hits}/{args.stores} stores ({hits / args.stores:.3f}); "
              f"{each:.2f} s per store")


if __name__ == "__main__":
    main()
