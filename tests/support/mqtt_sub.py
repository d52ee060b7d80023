"""`python -m tests.support.mqtt_sub PORT TOPIC OUT`: every message as a JSON line (a wallboard's view).

Runs as its own process beside the synchronous lab traffic; reconnects when the broker returns.
"""

import asyncio
import json
import sys
import time

import aiomqtt


async def main(port: int, topic: str, out: str) -> None:
    with open(out, "a", encoding="utf-8") as sink:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", port) as client:
                    await client.subscribe(topic, qos=1)
                    async for message in client.messages:
                        # an empty payload clears a retained topic (a standing notice ended): null
                        payload = json.loads(message.payload) if message.payload else None
                        sink.write(json.dumps({"t": time.time(), "topic": str(message.topic),
                                               "payload": payload}, ensure_ascii=False) + "\n")
                        sink.flush()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)


def retained(port: int, topic: str, seconds: float = 5.0) -> dict | None:
    """What a subscriber arriving now is told first on `topic` (its retained message), or None."""

    async def first() -> dict | None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(topic, qos=1)
            try:
                async with asyncio.timeout(seconds):
                    async for message in client.messages:
                        return json.loads(message.payload)
            except TimeoutError:
                return None
        return None

    return asyncio.run(first())


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
