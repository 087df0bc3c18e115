"""Simulated false-alarm and detection rates of the alert rules, on streams whose truth is known.

    python -m tests.bench.sim_alerts [--trials 400] [--seed 1]

For each kind of branch (busy, medium, quiet) presses arrive as a Poisson stream at the
branch's rate; each is unhappy with the branch's usual probability for this hour of the week.
The baseline is what ``hub.alerts._change`` reads: the clock hours each window touches in
each of the past 8 weeks, drawn from the same truth.  The rule runs after every press, as the
hub runs it after every commit, over its three windows, with the defaults of
``hub.branches.BranchSettings`` and the rule's own decision ``hub.alerts.strongest_change``.

- false alarm: a normal period (default 2 hours; the rate did not change) in which the rule
  fired at least once;
- detection: the rate jumped at the start of the period and the rule fired within it (median
  minutes from the jump to the alert).

The fixed 50 %-in-15-minutes rule (``unhappy_share``, at least 4 presses) runs on the same
streams, side by side.  The silent-kiosk rule is simulated the same way: a working kiosk's
natural gaps (false alarms per kiosk and 12-hour day) and a kiosk that stops at a random
moment (minutes to the alert).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import statistics
from dataclasses import dataclass

from hub.alerts import CHANGE_SCALES, strongest_change
from hub.branches import BranchSettings

S = BranchSettings("sim")  # the defaults; --alpha etc. override them to explore


@dataclass
class Branch:
    name: str
    per_hour: float
    usual: float  # unhappy share at this hour of the week
    jumped: float  # the share after a real change


BRANCHES = [
    Branch("busy, bad hour normal", 100, 0.40, 0.60),
    Branch("medium", 25, 0.15, 0.40),
    Branch("quiet", 6, 0.10, 0.50),
]


def poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the small means here; a normal approximation above 50.
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def arrivals(rng: random.Random, per_hour: float, start_min: float, end_min: float) -> list[float]:
    times, t = [], start_min
    while True:
        t += rng.expovariate(per_hour / 60)
        if t >= end_min:
            return times
        times.append(t)


def one_period(rng: random.Random, b: Branch, rate_now: float, hours: float) -> tuple[float | None, float | None]:
    """Minutes into the test period at which the change rule and the fixed rule first fire (None: never)."""
    windows = [max(1, round(S.change_window_min * scale)) for scale in CHANGE_SCALES]
    warmup = max(windows)
    # The baseline: the clock hours each window touches, in each past week, from the same truth.
    baselines = []
    for window in windows:
        n0 = poisson(rng, S.change_weeks * (math.ceil(window / 60) + 1) * b.per_hour)
        baselines.append((n0, sum(rng.random() < b.usual for _ in range(n0))))
    # Normal presses fill the longest window first, then the test period at rate_now.
    presses = [(t, rng.random() < b.usual) for t in arrivals(rng, b.per_hour, 0, warmup)]
    presses += [(t, rng.random() < rate_now) for t in arrivals(rng, b.per_hour, warmup, warmup + 60 * hours)]
    times = [t for t, _ in presses]
    unhappy = list(itertools.accumulate((u for _, u in presses), initial=0))  # unhappy[i] = among the first i

    def window(i: int, minutes: float) -> tuple[int, int]:
        first = bisect.bisect_right(times, times[i] - minutes)
        return i + 1 - first, unhappy[i + 1] - unhappy[first]

    change_at = fixed_at = None
    for i, t in enumerate(times):
        if t < warmup:
            continue
        if change_at is None:
            counts = [(*window(i, w), n0, k0) for w, (n0, k0) in zip(windows, baselines, strict=True)]
            if strongest_change(counts, S)[1] >= 0:
                change_at = t - warmup
        n, k = window(i, S.unhappy_window_min)
        if fixed_at is None and n >= S.unhappy_min_responses and 100 * k >= S.unhappy_share_pct * n:
            fixed_at = t - warmup
        if change_at is not None and fixed_at is not None:
            break
    return change_at, fixed_at


def rates(rng: random.Random, b: Branch, trials: int, hours: float) -> dict[str, str]:
    null = [one_period(rng, b, b.usual, hours) for _ in range(trials)]
    jump = [one_period(rng, b, b.jumped, hours) for _ in range(trials)]

    def share(rows: list, i: int) -> float:
        return 100 * sum(r[i] is not None for r in rows) / len(rows)

    def delay(rows: list, i: int) -> str:
        found = [r[i] for r in rows if r[i] is not None]
        return f"{statistics.median(found):.0f}" if found else "-"

    return {
        "branch": b.name,
        "presses/h": f"{b.per_hour:g}",
        "usual→jump": f"{100 * b.usual:.0f}→{100 * b.jumped:.0f}%",
        "change: false alarm": f"{share(null, 0):.1f}%",
        "change: detected": f"{share(jump, 0):.0f}%",
        "change: min to alert": delay(jump, 0),
        "fixed 50%: false alarm": f"{share(null, 1):.1f}%",
        "fixed 50%: detected": f"{share(jump, 1):.0f}%",
    }


def silent(rng: random.Random, per_hour: float, trials: int) -> dict[str, str]:
    """The kiosk_silent rule with history at this rate: false alarms in normal 12-hour days, and
    minutes from a kiosk's last press (it broke at a random moment) to the alert."""
    need = max(S.silent_after_min, 60 * S.silent_expected_min / per_hour)  # minutes of silence it takes
    false_days = 0
    for _ in range(trials):
        times = [0.0, *arrivals(rng, per_hour, 0, 720), 720.0]
        false_days += any(b - a >= need for a, b in itertools.pairwise(times))
    return {
        "kiosk presses/h": f"{per_hour:g}",
        "silence it takes (min)": f"{need:.0f}",
        "false alarms per kiosk-day": f"{100 * false_days / trials:.2f}%",
    }


def table(rows: list[dict[str, str]]) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = ["  ".join(k.rjust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].rjust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=2.0, help="Length of each simulated period.")
    parser.add_argument("--alpha", type=float, default=S.change_alpha)
    parser.add_argument("--min-responses", type=int, default=S.change_min_responses)
    parser.add_argument("--window", type=int, default=S.change_window_min)
    parser.add_argument("--silent-expected", type=float, default=S.silent_expected_min)
    args = parser.parse_args()
    S.change_alpha, S.change_min_responses, S.change_window_min = args.alpha, args.min_responses, args.window
    S.silent_expected_min = args.silent_expected
    rng = random.Random(args.seed)
    windows = "/".join(str(round(S.change_window_min * x)) for x in CHANGE_SCALES)
    print(f"change rule: windows {windows} min, baseline the same hours of {S.change_weeks} weeks, "
          f"alpha {S.change_alpha:g} (/{len(CHANGE_SCALES)} per window), at least {S.change_min_responses} "
          f"presses; evaluated after every press; {args.trials} periods of {args.hours:g} h per cell, "
          f"seed {args.seed}")  # fmt: skip
    print(table([rates(rng, b, args.trials, args.hours) for b in BRANCHES]))
    print()
    print(f"silent kiosk: no press for {S.silent_after_min:g} min and >= {S.silent_expected_min:g} presses "
          f"expected meanwhile; {args.trials} working 12-hour days per row")  # fmt: skip
    print(table([silent(rng, r, args.trials) for r in (60, 20, 6)]))


if __name__ == "__main__":
    main()
