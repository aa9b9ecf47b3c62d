"""A minimal NATS client over a socket (the text protocol), for tests.

Debian ships no Python NATS client, and the tests need only a few requests:
publish with headers and wait for JetStream's acknowledgement, and ask the
JetStream API for one stored entry. Request/reply on one inbox, one request
at a time.
"""

import base64
import json
import socket


class NatsWireError(Exception):
    pass


class NatsWire:
    INBOX = "_INBOX.related_test"

    def __init__(self, port, timeout_s=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.buf = b""
        self._line()  # INFO {...}
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                   b'"no_responders":true,"protocol":1}\r\nPING\r\n')
        self._expect_pong()
        self._send(f"SUB {self.INBOX} 1\r\n".encode())

    def close(self):
        self.sock.close()

    def request(self, subject, payload=b"", headers=None):
        """Publishes with a reply inbox; returns the reply's payload."""
        if headers:
            head = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            head = head.encode()
            self._send(f"HPUB {subject} {self.INBOX} {len(head)} {len(head) + len(payload)}\r\n"
                       .encode() + head + payload + b"\r\n")
        else:
            self._send(f"PUB {subject} {self.INBOX} {len(payload)}\r\n".encode() + payload + b"\r\n")
        return self._reply()

    def stored_entry(self, stream, sequence):
        """(headers dict, payload bytes) of entry `sequence` of `stream`."""
        reply = json.loads(self.request(f"$JS.API.STREAM.MSG.GET.{stream}",
                                        json.dumps({"seq": sequence}).encode()))
        if "error" in reply:
            raise NatsWireError(reply["error"])
        message = reply["message"]
        headers = {}
        raw = base64.b64decode(message.get("hdrs", "")).decode()
        for line in raw.split("\r\n")[1:]:
            if ": " in line:
                key, value = line.split(": ", 1)
                headers[key] = value
        return headers, base64.b64decode(message.get("data", ""))

    def _send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise NatsWireError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def _bytes(self, count):
        while len(self.buf) < count + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise NatsWireError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:count], self.buf[count + 2:]
        return data

    def _expect_pong(self):
        while True:
            line = self._line()
            if line == "PONG":
                return
            if line.startswith("-ERR"):
                raise NatsWireError(line)

    def _reply(self):
        while True:
            line = self._line()
            if line == "PING":
                self._send(b"PONG\r\n")
            elif line.startswith("-ERR"):
                raise NatsWireError(line)
            elif line.startswith("MSG "):
                return self._bytes(int(line.split()[-1]))
            elif line.startswith("HMSG "):
                fields = line.split()
                header_len, total = int(fields[-2]), int(fields[-1])
                data = self._bytes(total)
                return data[header_len:]
