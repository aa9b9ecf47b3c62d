#!/usr/bin/python3
"""The API as buf (npm @bufbuild/buf, pinned in tests/api/package.json) sees it.

  * buf lint with the STANDARD rules (tests/api/buf.yaml) on proto/ reports
    one finding only: SERVICE_SUFFIX on RelatedArticles, a name we keep.
  * buf curl against the real server, through server reflection alone:
    --list-services and --list-methods name every service and method that
    the .proto files define, and GetRelated and the health Check succeed.

buf comes from `npm ci --prefix tests/api` (scripts/install-deps.sh runs it).

Run:
  /usr/bin/python3 tests/api/buf_test.py \
      --server build/related-server --proto_dir proto
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "python"))

import related_testlib  # noqa: E402
from related_testlib import RPC_TIMEOUT_S  # noqa: E402

DEFAULT_BUF = os.path.join(_HERE, "node_modules", ".bin", "buf")
BUF_CONFIG = os.path.join(_HERE, "buf.yaml")
# One buf command may take this long (node start-up, reflection round trips).
BUF_TIMEOUT_S = 60.0
# buf lint's exit code when it ran and found something.
LINT_FINDINGS_EXIT = 100

SEED_ARTICLES = (("buf/a", [1.0, 0.0]), ("buf/b", [0.8, 0.6]))


def run_buf(args, cwd=None):
    """Runs buf with `args`; returns the CompletedProcess (text). Fails the
    test if buf is not installed or does not finish in time."""
    buf = related_testlib.ServerTestCase.CONFIG.buf
    if not os.access(buf, os.X_OK):
        raise AssertionError(f"buf not found at {buf}: run scripts/install-deps.sh "
                             f"(it runs npm ci --prefix tests/api)")
    # A cache of its own: parallel tests and a read-only HOME stay out of it.
    with tempfile.TemporaryDirectory(prefix="buf-cache-") as cache:
        env = dict(os.environ, BUF_CACHE_DIR=cache)
        try:
            return subprocess.run([buf, *args], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=BUF_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"buf {' '.join(args)} did not finish in "
                                 f"{BUF_TIMEOUT_S:.0f}s") from None


def describe(done):
    return (f"buf {' '.join(done.args[1:])} exited with {done.returncode}\n"
            f"stdout: {done.stdout.strip()}\nstderr: {done.stderr.strip()}")


class BufLintTest(unittest.TestCase):

    def test_lint_reports_only_service_suffix(self):
        """buf lint (STANDARD) on proto/: one finding, SERVICE_SUFFIX on RelatedArticles"""
        proto_dir = related_testlib.ServerTestCase.CONFIG.proto_dir
        # buf.yaml names the module "proto", relative to the input directory.
        self.assertEqual(os.path.basename(proto_dir), "proto", "--proto_dir must end in proto/")
        done = run_buf(["lint", os.path.dirname(proto_dir), "--config", BUF_CONFIG,
                        "--error-format", "json"])
        self.assertIn(done.returncode, (0, LINT_FINDINGS_EXIT), describe(done))
        findings = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        found = [(f["type"], f"{os.path.relpath(f['path'], os.path.dirname(proto_dir))}:"
                  f"{f['start_line']}", f["message"]) for f in findings]
        others = [f for f in found if f[0] != "SERVICE_SUFFIX"]
        if others:
            self.fail("buf lint findings besides SERVICE_SUFFIX:\n  "
                      + "\n  ".join(" ".join(f) for f in others))
        self.assertEqual([f[2] for f in found],
                         ['Service name "RelatedArticles" should be suffixed with "Service".'])


class BufCurlTest(related_testlib.ServerTestCase):

    @classmethod
    def server_flags(cls, config):
        return ["--dim=2", "--index=exact"]

    @classmethod
    def set_up_data(cls):
        pb2 = cls.pb.related_pb2
        request = pb2.UpsertArticlesRequest(articles=[
            pb2.Article(id=article_id, embedding=embedding,
                        metadata=pb2.ArticleMetadata(title=article_id.upper()))
            for article_id, embedding in SEED_ARTICLES])
        cls.stub.UpsertArticles(request, timeout=RPC_TIMEOUT_S)

    def curl(self, *args):
        """buf curl over plaintext HTTP/2 with the schema from reflection;
        args end with the URL path ("" for the listings). Returns stdout."""
        *flags, path = args
        done = run_buf(["curl", "--protocol", "grpc", "--http2-prior-knowledge",
                        "--connect-timeout", "10", *flags,
                        f"http://{self.server.grpc_address}{path}"])
        if done.returncode != 0:
            self.fail(describe(done))
        return done.stdout

    @classmethod
    def methods_in_protos(cls):
        """Every service/method the .proto files define, as buf lists them."""
        schemas = [os.path.join(cls.config.proto_dir, "related", "v1", "related.proto"),
                   related_testlib.HEALTH_PROTO, related_testlib.REFLECTION_PROTO]
        done = run_buf(["curl", "--list-methods",
                        *[arg for schema in schemas for arg in ("--schema", schema)]])
        if done.returncode != 0:
            raise AssertionError(describe(done))
        return sorted(done.stdout.split())

    def test_list_services(self):
        """buf curl --list-services: the services the .proto files define"""
        want = sorted({m.split("/")[0] for m in self.methods_in_protos()})
        self.assertEqual(sorted(self.curl("--list-services", "").split()), want)

    def test_list_methods(self):
        """buf curl --list-methods: every method of every service, through reflection"""
        want = self.methods_in_protos()
        self.assertIn("related.v1.RelatedArticles/GetRelated", want)
        self.assertEqual(sorted(self.curl("--list-methods", "").split()), want)

    def test_get_related(self):
        """buf curl related.v1.RelatedArticles/GetRelated returns the other stored article"""
        reply = json.loads(self.curl("-d", json.dumps({"article_id": "buf/a"}),
                                     "/related.v1.RelatedArticles/GetRelated"))
        self.assertEqual([(a["articleId"], a["metadata"]["title"]) for a in reply["articles"]],
                         [("buf/b", "BUF/B")])

    def test_health_check(self):
        """buf curl grpc.health.v1.Health/Check is SERVING"""
        reply = json.loads(self.curl("-d", "{}", "/grpc.health.v1.Health/Check"))
        self.assertEqual(reply, {"status": "SERVING"})


def _buf_flag(parser):
    parser.add_argument("--buf", default=DEFAULT_BUF,
                        help="buf binary (default: %(default)s)")


if __name__ == "__main__":
    related_testlib.parse_args_then_run(__doc__.split("\n\n")[0], extra_args=_buf_flag)
