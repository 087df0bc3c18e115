"""``python -m kiosk``: the same as ``otklik kiosk``, without loading the other areas' commands."""

import logging

from kiosk.cli import kiosk

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kiosk(prog_name="python -m kiosk")
