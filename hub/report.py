"""Counts and the satisfaction index per branch and kiosk, for ``otklik report``."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from otklik import protocol


def kiosk_report(db: Database) -> list[dict[str, Any]]:
    """One row per branch and kiosk; flagged events are left out of the counts and shown apart."""
    rows = db.execute(
        """
        SELECT branch, kiosk,
            SUM(flags = '' AND score = 1), SUM(flags = '' AND score = 2),
            SUM(flags = '' AND score = 3), SUM(flags = '' AND score = 4),
            SUM(flags != '')
        FROM events GROUP BY branch, kiosk ORDER BY branch, kiosk
        """
    ).fetchall()
    report = []
    for branch, kiosk, c1, c2, c3, c4, flagged in rows:
        counts = {1: c1, 2: c2, 3: c3, 4: c4}
        index = protocol.satisfaction_index(counts)
        report.append(
            {
                "branch": branch,
                "kiosk": kiosk,
                "counts": {str(score): n for score, n in counts.items()},
                "responses": sum(counts.values()),
                "index": round(index, 1) if index is not None else None,
                "flagged": flagged,
            }
        )
    return report


def format_table(rows: list[dict[str, Any]]) -> str:
    header = f"{'branch':<12} {'kiosk':<12} {'1':>6} {'2':>6} {'3':>6} {'4':>6} {'resp':>7} {'index':>6} {'flagged':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        c = r["counts"]
        index = "-" if r["index"] is None else f"{r['index']:.1f}"
        lines.append(
            f"{r['branch']:<12} {r['kiosk']:<12} {c['1']:>6} {c['2']:>6} {c['3']:>6} {c['4']:>6} "
            f"{r['responses']:>7} {index:>6} {r['flagged']:>8}"
        )
    return "\n".join(lines)
