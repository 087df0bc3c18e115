"""A pure-Python MQTT broker (amqtt) for `otklik demo` on a machine without Mosquitto.

Demo only: MQTT 3.1.1, anonymous, on 127.0.0.1. Production uses Mosquitto
with the configuration in deploy/ (TLS, per-kiosk passwords, ACLs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging


async def serve(port: int) -> None:
    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
