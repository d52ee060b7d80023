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
                        sink.write(json.dumps({"t": time.time(), "topic": str(message.topic),
                                               "payload": json.loads(message.payload)}, ensure_ascii=False) + "\n")
                        sink.flush()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
