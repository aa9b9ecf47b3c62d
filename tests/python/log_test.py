#!/usr/bin/python3
"""The server's log as a log collector reads it: --log_format=json gives one
JSON object per line (time, level, message, fields), including the start-up
lines tests and scripts parse; --access_log_sample=1 adds a line per RPC with
method, code, duration, peer and article ID; no token is ever written; and
--log_format=text keeps the plain lines.
"""

import datetime
import json
import os

import grpc

import related_testlib
from related_testlib import RPC_TIMEOUT_S, ServerProcess

DIM = 4
WRITE_TOKEN = "log-test-secret-token-6f1d"


class LogTest(related_testlib.StubsTestCase):
    TMP_PREFIX = "related-log-"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token_file = os.path.join(cls._tmp.name, "write.token")
        with open(cls.token_file, "w") as f:
            f.write(WRITE_TOKEN + "\n")

    def run_server(self, *flags):
        """Starts a server, makes a write and two lookups, stops it; its lines."""
        server = ServerProcess(self.CONFIG.server, [
            "--index=exact", f"--dim={DIM}", f"--write_token_file={self.token_file}", *flags])
        server.start()
        channel = grpc.insecure_channel(server.grpc_address)
        try:
            server.wait_until_serving(self.pb, channel)
            stub = self.pb.related_pb2_grpc.RelatedArticlesStub(channel)
            pb = self.pb.related_pb2
            stub.UpsertArticles(pb.UpsertArticlesRequest(articles=[
                pb.Article(id=f"log-{i}", embedding=[1.0, float(i), 0.5, 0.25]) for i in range(3)]),
                metadata=[("authorization", f"Bearer {WRITE_TOKEN}")], timeout=RPC_TIMEOUT_S)
            stub.GetRelated(pb.GetRelatedRequest(article_id="log-1"), timeout=RPC_TIMEOUT_S)
            with self.assertRaises(grpc.RpcError):
                stub.GetRelated(pb.GetRelatedRequest(article_id="no-such-article"),
                                timeout=RPC_TIMEOUT_S)
        finally:
            channel.close()
            self.assertEqual(server.stop(), 0, server.log_tail())
        return server.log_tail(1000).split("\n")[1:]  # after the tail's header line

    def test_json_lines_with_an_access_log(self):
        """every line is a JSON object with time, level and message; RPCs are logged"""
        lines = self.run_server("--log_format=json", "--access_log_sample=1")
        records = []
        for line in lines:
            record = json.loads(line)  # fails on any non-JSON line
            for key in ("time", "level", "message"):
                self.assertIn(key, record, line)
            datetime.datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            self.assertIn(record["level"], ("info", "warning", "error"))
            records.append(record)
        messages = [r["message"] for r in records]
        self.assertTrue(any(m.startswith("listening grpc=") for m in messages), messages)
        self.assertTrue(any(m.startswith("serving 0 articles") for m in messages), messages)
        self.assertIn("stopped", messages)
        rpcs = [r for r in records if r["message"] == "rpc"]
        found = [r for r in rpcs if r.get("method") == "GetRelated" and r.get("code") == "OK"]
        self.assertEqual(len(found), 1, rpcs)
        self.assertEqual(found[0]["article_id"], "log-1")
        self.assertTrue(found[0]["peer"], found[0])
        float(found[0]["duration_ms"])
        missing = [r for r in rpcs if r.get("article_id") == "no-such-article"]
        self.assertEqual([r["code"] for r in missing], ["NOT_FOUND"])
        self.assertTrue(any(r.get("method") == "UpsertArticles" for r in rpcs), rpcs)
        self.assertFalse(any(WRITE_TOKEN in line for line in lines), "a token was logged")

    def test_text_lines_without_an_access_log_by_default(self):
        """the default is text: 'related-server: message', and no access log"""
        lines = self.run_server()
        self.assertTrue(lines)
        for line in lines:
            self.assertTrue(line.startswith("related-server: "), line)
        self.assertFalse(any(" rpc " in line or line.endswith(" rpc") for line in lines), lines)
        self.assertFalse(any(WRITE_TOKEN in line for line in lines), "a token was logged")

    def test_a_bad_log_format_is_a_one_line_error(self):
        """--log_format=xml exits 2 with one line"""
        import subprocess
        run = subprocess.run([self.CONFIG.server, "--log_format=xml"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(run.returncode, 2)
        self.assertIn("--log_format must be 'text' or 'json'", run.stderr)
        self.assertEqual(len(run.stderr.strip().split("\n")), 1, run.stderr)


if __name__ == "__main__":
    related_testlib.run_server_tests(LogTest, __doc__.split("\n")[0])
