"""CSV exports: raw events over a period, aggregate rows, and the monthly employee report.

Every CSV the project writes goes through ``SafeWriter`` (the dashboard's downloads too):
a cell a spreadsheet would run as a formula is written as text.

Events are the one export that reads raw rows (it *is* the raw data); it walks the spine's
(branch, kiosk, ts) index kiosk by kiosk, so a month of one branch does not scan a year.
Period bounds are branch-local, as everywhere in the analytics layer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from hub import branches, retention, roster, scores
from hub.store import Database
from otklik.times import read_ts, utc_range

EVENT_COLUMNS = ("id", "branch", "kiosk", "ts", "local_time", "score", "employee", "attribution", "flags", "ts_source")
SUMMARY_COLUMNS = ("responses", "n1", "n2", "n3", "n4", "index", "positive_share", "positive_low", "positive_high",
                   "very_unhappy_share", "flagged", "flagged_cooldown", "flagged_burst", "flagged_hours",
                   "flagged_clock", "flagged_other")  # fmt: skip
MONTHLY_COLUMNS = ("month", "branch", "employee", "name", "responses", "index", "adjusted_index", "rank",
                   "branch_rank", "very_unhappy_share", "positive_share", "positive_low", "positive_high",
                   "flagged")  # fmt: skip


# What Excel, LibreOffice and Google Sheets take as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """A cell that a spreadsheet shows as text: a leading quote before anything it would evaluate.

    Only text is touched: numbers stay numbers (a negative score is not a formula).
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter(csv.DictWriter):
    """``csv.DictWriter`` whose every text cell has passed ``safe_cell``; names and notes are typed by people.

    ``decimal`` writes floats with another decimal separator (a number, so never escaped: -1,5 is
    no formula).
    """

    def __init__(self, f: Any, fieldnames: Sequence[str], *args: Any, decimal: str = ".", **kwargs: Any) -> None:
        super().__init__(f, fieldnames, *args, **kwargs)
        self.decimal = decimal

    def _cell(self, value: Any) -> Any:
        if isinstance(value, float) and self.decimal != ".":
            return repr(value).replace(".", self.decimal)
        return safe_cell(value)

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: self._cell(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written for the program that opens it.

    The plain file (UTF-8, comma, dot) is for scripts and for spreadsheets that ask. Excel on
    Windows, opened by a double click, reads a file without a byte-order mark in the ANSI code
    page (Cyrillic and Persian come out garbled) and splits lines at the list separator of the
    Windows region, which is ';' wherever the decimal separator is a comma (Russian): its
    variant carries the BOM, that separator, and decimals written the way that region reads them.
    """

    delimiter: str = ","
    decimal: str = "."
    bom: bool = False

    @classmethod
    def excel(cls, decimal: str) -> CsvDialect:
        """Excel's reading in a region whose decimal separator is ``decimal`` (Babel's symbol for the locale)."""
        return cls(delimiter=";", decimal=",", bom=True) if decimal == "," else cls(bom=True)


def csv_text(rows: Sequence[Mapping[str, Any]], dialect: CsvDialect = CsvDialect()) -> str:
    """Rows as CSV text (columns from the first row), every text cell passed through ``safe_cell``."""
    out = io.StringIO()
    if dialect.bom:
        out.write("\ufeff")
    if rows:
        writer = SafeWriter(
            out, list(rows[0]), extrasaction="ignore", delimiter=dialect.delimiter, decimal=dialect.decimal
        )
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def events(
    db: Database,
    *,
    branch: str | None = None,
    kiosk: str | None = None,
    start: Any = None,
    end: Any = None,
    flagged_only: bool = False,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Events with their local time, attribution and flags, oldest first per kiosk."""
    produced = 0
    for b in [branch] if branch else branches.known_branches(db):
        zone = branches.get(db, b).zone
        lo, hi = utc_range(zone, start, end)
        if start is not None:
            # Silence would read as "no presses"; an archived period is refused, naming the archive.
            retention.check_kept(db, lo)
        for k in [kiosk] if kiosk else branches.known_kiosks(db, b):
            sql = (
                "SELECT e.id, e.branch, e.kiosk, e.ts, e.score, COALESCE(a.employee, e.employee, ''), "
                "COALESCE(a.source, CASE WHEN e.employee IS NOT NULL THEN 'event' ELSE '' END), "
                "e.flags, e.ts_source FROM events e LEFT JOIN attribution a ON a.event_id = e.id "
                "WHERE e.branch = ? AND e.kiosk = ? AND e.ts >= ? AND e.ts < ?"
            )
            if flagged_only:
                sql += " AND e.flags != ''"
            for r in db.execute(sql + " ORDER BY e.ts", [b, k, lo, hi]):
                local = read_ts(r[3]).astimezone(zone)
                yield {
                    "id": r[0],
                    "branch": r[1],
                    "kiosk": r[2],
                    "ts": r[3],
                    "local_time": local.strftime("%Y-%m-%d %H:%M:%S"),
                    "score": r[4],
                    "employee": r[5],
                    "attribution": r[6],
                    "flags": r[7],
                    "ts_source": r[8],
                }
                produced += 1
                if limit is not None and produced >= limit:
                    return


def write_events(db: Database, out: IO[str], **filters: Any) -> int:
    writer = SafeWriter(out, EVENT_COLUMNS)
    writer.writeheader()
    n = 0
    for row in events(db, **filters):
        writer.writerow(row)
        n += 1
    return n


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A summary row as flat CSV columns."""
    flat = {k: v for k, v in row.items() if k not in ("counts", "flagged")}
    for s in ("1", "2", "3", "4"):
        flat[f"n{s}"] = row["counts"][s]
    flat["flagged"] = row["flagged"]["total"]
    for reason in scores.FLAG_REASONS:
        flat[f"flagged_{reason}"] = row["flagged"][reason]
    return flat


def write_aggregates(db: Database, out: IO[str], by: str = "day", **filters: Any) -> int:
    """``scores.report`` rows as CSV (by branch, kiosk, employee, hour, day, week or month)."""
    rows = [flatten(r) for r in scores.report(db, by, **filters)]
    keys = [k for k in ("branch", "kiosk", "employee", "period") if rows and k in rows[0]]
    extra = [k for k in ("adjusted_index", "rank") if rows and k in rows[0]]
    writer = SafeWriter(out, [*keys, *SUMMARY_COLUMNS, *extra], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)


def monthly_employees(
    db: Database,
    month: str,
    *,
    branch: str | None = None,
    min_responses: int = scores.DEFAULT_MIN_RESPONSES,
    weight: float = scores.DEFAULT_WEIGHT,
) -> list[dict[str, Any]]:
    """The motivation-programme report for one local month ('2026-11'): one row per employee and branch.

    ``rank`` is across every branch in the report, ``branch_rank`` within the branch; both
    use the shrunk index and leave out (None) anyone under ``min_responses``.
    """
    first = datetime.strptime(month, "%Y-%m").date()
    after = (first + timedelta(days=32)).replace(day=1)
    rows = [r for r in scores.report(db, "employee", branch=branch, start=first, end=after,
                                     min_responses=min_responses, weight=weight) if r["employee"]]  # fmt: skip
    by_branch: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_branch.setdefault(r["branch"], []).append(dict(r))
    branch_rank = {}
    for members in by_branch.values():
        for r in scores.rank(members, min_responses=min_responses, weight=weight):
            branch_rank[(r["branch"], r["employee"])] = r["rank"]
    names = roster.employee_names(db)
    out = [
        {
            "month": month,
            "branch": r["branch"],
            "employee": r["employee"],
            "name": names.get(r["employee"], ""),
            "responses": r["responses"],
            "index": r["index"],
            "adjusted_index": r["adjusted_index"],
            "rank": r["rank"],
            "branch_rank": branch_rank.get((r["branch"], r["employee"])),
            "very_unhappy_share": r["very_unhappy_share"],
            "positive_share": r["positive_share"],
            "positive_low": r["positive_low"],
            "positive_high": r["positive_high"],
            "flagged": r["flagged"]["total"],
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["branch"], r["employee"]))
    return out


def write_monthly(db: Database, out: IO[str], month: str, **options: Any) -> int:
    rows = monthly_employees(db, month, **options)
    writer = SafeWriter(out, MONTHLY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)
