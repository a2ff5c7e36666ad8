"""A local OpenAI-compatible chat server on 127.0.0.1 for the LLM backend's tests.

It answers POST /chat/completions by numbering back the lines it was sent, transformed:
translation requests (numbered lines) come back as ``<text> [tgt]``; post-edit requests
(``N. source => machine translation``) come back as ``<machine translation> (edited)``.
``script`` lists what to do for the next requests, in order, then ``ok`` for the rest:

    ok            a correct reply
    drop          one line too few (the 1:1 check must reject it)
    extra         one line too many
    prose         an unnumbered chatty reply
    slow          sleep ``slow_seconds`` before replying (the client must time out)
    error         HTTP 500 whose body echoes the Authorization header (the key must be scrubbed)
    drop-term     a correct count, but every glossary term replaced by "???"

Every request is recorded (path, headers, JSON body) in ``requests``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_LINE = re.compile(r"^(\d+)\.\s?(.*)$")


class StubServer:
    def __init__(self, script: list[str] | None = None, slow_seconds: float = 3.0, glossary_terms: tuple[str, ...] = ()):
        self.script = list(script or [])
        self.slow_seconds = slow_seconds
        self.glossary_terms = glossary_terms
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                action = stub.script.pop(0) if stub.script else "ok"
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": "not found"})
                if action == "slow":
                    time.sleep(stub.slow_seconds)
                if action == "error":
                    return self._send(500, {"error": f"bad request from {self.headers.get('Authorization', '')}"})
                reply = stub.reply(body, action)
                self._send(200, {"id": "stub", "object": "chat.completion", "model": body.get("model"),
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                              "finish_reason": "stop"}]})

            def _send(self, code, payload):
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reply(self, body: dict, action: str) -> str:
        user = body["messages"][-1]["content"]
        lines = []
        in_context = False
        for raw in user.splitlines():
            if raw.startswith("Context"):
                in_context = True
            elif raw.startswith("Lines to edit"):
                in_context = False
            match = _LINE.match(raw)
            if match and not in_context:
                number, text = match.groups()
                text = text.split(" => ", 1)[1] + " (edited)" if " => " in text else f"{text} [{body.get('model')}]"
                if action == "drop-term":
                    for term in self.glossary_terms:
                        text = text.replace(term, "???")
                lines.append(f"{number}. {text}")
        if action == "drop":
            lines = lines[:-1]
        elif action == "extra":
            lines.append(f"{len(lines) + 1}. an extra line")
        elif action == "prose":
            return "Sure! Here are your subtitles, translated with care."
        return "\n".join(lines)

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
