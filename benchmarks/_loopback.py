"""A minimal OpenAI-compatible chat server on 127.0.0.1 for benchmarks/scale.py (asyncio, HTTP/1.1 keep-alive).

Every POST to .../chat/completions gets the same chat completion: `reply_kb` kB of reasoning inside
<think>...</think>, then <answer>1</answer>, with usage that reports reasoning tokens (so the backend
needs no tokenizer calls); after `latency_ms`, or a 500 for a `fault_rate` share of requests. Anything
else is a 404. Run as a script it prints `port=N` and serves until killed, in its own process, so the
server's event loop never competes for the GIL with the client being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random

WORDS = ("so", "the", "count", "is", "apples", "then", "we", "add", "three", "check", "again", "each", "box",
         "holds", "more", "wait", "total", "distractor", "ignore", "probability", "step", "next", "answer")


def chat_reply(reply_kb: float, seed: int = 0) -> bytes:
    """The body of one successful chat completion carrying `reply_kb` kB of (non-repeating) reasoning."""
    rng = random.Random(seed)
    size = int(reply_kb * 1024)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    reasoning = " ".join(words)[:size]
    tokens = max(1, size // 4)
    body = {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n<answer>1</answer>"}}],
        "usage": {"prompt_tokens": 60, "completion_tokens": tokens + 5, "total_tokens": tokens + 65,
                  "completion_tokens_details": {"reasoning_tokens": tokens}},
    }
    return json.dumps(body).encode()


def _response(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Loopback:
    """The request handler: one coroutine per connection, requests served in order on it."""

    def __init__(self, reply_kb: float, latency_ms: float, fault_rate: float, seed: int = 0) -> None:
        self.ok = _response(200, chat_reply(reply_kb))
        self.fault = _response(500, b'{"error": {"message": "injected fault", "type": "error", "code": 500}}')
        self.missing = _response(404, b'{"error": {"message": "no such route", "type": "error", "code": 404}}')
        self.latency = latency_ms / 1000
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                if self.latency:
                    await asyncio.sleep(self.latency)
                if method != "POST" or not path.endswith("/chat/completions"):
                    writer.write(self.missing)
                elif self.fault_rate and self.rng.random() < self.fault_rate:
                    writer.write(self.fault)
                else:
                    self.served += 1
                    writer.write(self.ok)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(reply_kb: float, latency_ms: float, fault_rate: float, port: int = 0) -> None:
    """Serve forever; prints `port=N` once listening."""
    handler = Loopback(reply_kb, latency_ms, fault_rate)
    server = await asyncio.start_server(handler.handle, "127.0.0.1", port, backlog=1024)
    print(f"port={server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reply-kb", type=float, default=4.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.reply_kb, args.latency_ms, args.fault_rate, args.port))


if __name__ == "__main__":
    main()
