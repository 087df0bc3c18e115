"""Build the dashboard's generated assets: ``python -m dashboard.build``.

1. Compiles the .po catalogs in dashboard/translations into .mo files (binary,
   git-ignored).
2. Copies Chart.js from dashboard/node_modules (installed by ``npm ci`` with the
   committed package-lock.json) into dashboard/static/vendor (git-ignored), so the
   app serves it itself: stores may have no internet, and no third-party code
   lives in the repository. ``--npm`` runs ``npm ci`` first.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

HERE = Path(__file__).parent
TRANSLATIONS = HERE / "translations"
VENDOR = HERE / "static" / "vendor"
VENDOR_FILES = {"chart.js/dist/chart.umd.js": "chart.umd.js"}


def compile_catalogs() -> list[Path]:
    written = []
    for po_path in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as f:
            write_mo(f, catalog)
        written.append(mo_path)
    return written


def copy_vendor(run_npm: bool = False) -> list[Path]:
    if run_npm or not (HERE / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    copied = []
    for source, name in VENDOR_FILES.items():
        src = HERE / "node_modules" / source
        if not src.exists():
            sys.exit(f"{src} is missing: run `npm ci` in {HERE}")
        shutil.copyfile(src, VENDOR / name)
        copied.append(VENDOR / name)
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npm", action="store_true", help="run `npm ci` even if node_modules exists")
    parser.add_argument("--no-js", action="store_true", help="only compile the message catalogs")
    args = parser.parse_args()
    for path in compile_catalogs():
        print(f"compiled {path}")
    if not args.no_js:
        for path in copy_vendor(args.npm):
            print(f"copied {path}")


if __name__ == "__main__":
    main()
