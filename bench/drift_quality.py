"""Drift decision quality on simulated windows.

For each window size, many seeded windows are drawn from the reference distributions (no
drift) and from two drifted versions: a 0.5-sd mean shift of one numeric feature and a
15-point swing of one category's share. Each window is binned with the reference profile and
judged by the monitor's own rule (``score_feature`` + ``DriftRule``), and for comparison by the
same rule without its chi-square guard (at least 200 rows and PSI > 0.2 or a share shift over
0.10), to show what the guard is for.

Goals: false alarms (any feature) <= 1% at every size; detection >= 95% at sizes >= 1k.

    .venv/bin/python bench/drift_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from inferwatch.core import BinnedFeature, DriftRule, score_feature

REFERENCE_ROWS = 100_000
SIZES = (200, 1_000, 10_000, 100_000, 1_000_000)
WINDOWS = {200: 2_000, 1_000: 1_000, 10_000: 300, 100_000: 100, 1_000_000: 20}
PLAN_SHARES = np.array([0.4, 0.3, 0.2, 0.1])
REGION_SHARES = np.array([0.25, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.015, 0.005])
SWING = 0.15


def swung(shares: np.ndarray, j: int, delta: float) -> np.ndarray:
    """Move category ``j`` by ``delta`` and scale the others so the shares still sum to 1."""
    out = shares.copy()
    out[j] += delta
    rest = np.arange(shares.size) != j
    out[rest] *= (1 - out[j]) / shares[rest].sum()
    return out


class Simulation:
    """Three numeric features (normal, skewed, discrete) and two categorical (4 and 12 levels)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.numeric = {
            "normal": BinnedFeature.numeric("normal", self.draw_numeric("normal", REFERENCE_ROWS)),
            "skewed": BinnedFeature.numeric("skewed", self.draw_numeric("skewed", REFERENCE_ROWS)),
            "count": BinnedFeature.numeric("count", self.draw_numeric("count", REFERENCE_ROWS)),
        }
        self.categorical = {}
        for name, shares in (("plan", PLAN_SHARES), ("region", REGION_SHARES)):
            cats = [f"{name}{i}" for i in range(shares.size)]
            codes = rng.choice(shares.size, REFERENCE_ROWS, p=shares)
            values = np.array(cats, dtype=object)[codes]
            self.categorical[name] = (BinnedFeature.categorical(name, values, cats), shares)

    def draw_numeric(self, name: str, n: int, shift: float = 0.0) -> np.ndarray:
        if name == "normal":
            return self.rng.normal(shift, 1.0, n)
        if name == "skewed":
            return self.rng.exponential(1.0, n)
        return self.rng.poisson(3.0, n).astype(np.float64)

    def window(self, n: int, scenario: str) -> dict[str, tuple[BinnedFeature, np.ndarray]]:
        """Fine-bin counts per feature for one window of ``n`` rows."""
        out = {}
        for name, f in self.numeric.items():
            shift = 0.5 if (scenario == "shift" and name == "normal") else 0.0
            x = self.draw_numeric(name, n, shift)
            out[name] = (f, np.bincount(f.fine_index(x), minlength=f.n_fine))
        for name, (f, shares) in self.categorical.items():
            p = swung(shares, 1, SWING) if (scenario == "swing" and name == "plan") else shares
            counts = np.append(self.rng.multinomial(n, p), 0)  # + the empty "other" bin
            out[name] = (f, counts)
        return out


def judge(
    window: dict[str, tuple[BinnedFeature, np.ndarray]], rule: DriftRule
) -> dict[str, tuple[bool, bool]]:
    """Per feature: (monitor rule, the same rule without the chi-square guard)."""
    out = {}
    for name, (f, counts) in window.items():
        s = score_feature(f, counts)
        psi = s.scores.get("psi", 0.0)
        monitor = rule.decide(psi, s.share, s.p_value, s.rows)
        no_guard = rule.decide(psi, s.share, 0.0, s.rows)
        out[name] = (monitor, no_guard)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the windows")
    args = parser.parse_args()
    rng = np.random.default_rng(20240601)
    sim = Simulation(rng)
    rule = DriftRule()
    rows = []
    ok = True
    start = time.perf_counter()
    for n in SIZES:
        k = max(WINDOWS[n] // (4 if args.quick else 1), 5)
        fa = np.zeros(2)
        shift = np.zeros(2)
        swing = np.zeros(2)
        for _ in range(k):
            j = judge(sim.window(n, "none"), rule)
            fa += [any(v[0] for v in j.values()), any(v[1] for v in j.values())]
            shift += judge(sim.window(n, "shift"), rule)["normal"]
            swing += judge(sim.window(n, "swing"), rule)["plan"]
        fa, shift, swing = fa / k, shift / k, swing / k
        passed = fa[0] <= 0.01 and (n < 1_000 or (shift[0] >= 0.95 and swing[0] >= 0.95))
        ok &= passed
        rows.append((n, k, fa, shift, swing, passed))
    took = time.perf_counter() - start

    print(
        f"reference rows {REFERENCE_ROWS:,}; features: normal, skewed, count (numeric), "
        f"plan (4 levels), region (12 levels)"
    )
    print(
        f"rule: rows >= {rule.min_window_rows}, (PSI > {rule.psi_threshold} or share shift > "
        f"{rule.share_threshold}), chi-square p < {rule.alpha}; "
        "'no guard' = the same without chi-square"
    )
    print()
    head = (
        "window rows",
        "windows",
        "false alarm",
        "(no guard)",
        "0.5sd shift",
        "(no guard)",
        "15pt swing",
        "(no guard)",
        "goal",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for n, k, fa, shift, swing, passed in rows:
        det = "-" if n < 1_000 else None
        cells = [
            f"{n:,}",
            str(k),
            f"{fa[0]:.1%}",
            f"{fa[1]:.1%}",
            det or f"{shift[0]:.1%}",
            det or f"{shift[1]:.1%}",
            det or f"{swing[0]:.1%}",
            det or f"{swing[1]:.1%}",
            "PASS" if passed else "FAIL",
        ]
        if n < 1_000:  # detection goals start at 1k; still show the numbers in brackets
            cells[4] = f"({shift[0]:.1%})"
            cells[6] = f"({swing[0]:.1%})"
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        f"goals: false alarms <= 1% at every size, detection >= 95% at >= 1k rows -> "
        f"{'PASS' if ok else 'FAIL'}   ({took:.0f} s)"
    )


if __name__ == "__main__":
    main()
