"""Shared helpers for the Python tests that talk to a real related-server.

What lives here:
  * the server process, the generated stubs and the metrics scrape of
    support/python/related_server.py (shared with bench/), re-exported;
  * reflect(), reflected_files(), descriptor_pool_of(): what a client that
    knows no .proto does with server reflection (grpc.reflection.v1alpha).
  * parse_args_then_run(): the shared command line (--server, --proto_dir, ...)
    followed by unittest with one line per check; run_server_tests() the
    same for a test class that starts its own servers (--server, --proto_dir).

Every wait is bounded; nothing sleeps as synchronisation.
"""

import argparse
import math
import os
import sys
import tempfile
import unittest

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, text_format

# support/python: what tests and benchmarks share (the server process,
# stubs, metrics, a NATS cluster). Tests import it through this module.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "support", "python"))

from related_server import (  # noqa: E402,F401  (re-exported for the tests)
    DEFAULT_PROTO_DIR, DEFAULT_SERVER, HEALTH_PROTO, REFLECTION_PROTO,
    RPC_TIMEOUT_S, START_TIMEOUT_S, STOP_TIMEOUT_S, ServerProcess, SetupError,
    generate_stubs, scrape_metrics)


def unit(values):
    """`values` scaled to length 1, as the server stores embeddings."""
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def cosine(unit_a, unit_b):
    """Cosine similarity of two unit vectors."""
    return sum(a * b for a, b in zip(unit_a, unit_b))


class ReflectionError(Exception):
    """The reflection service answered with an error_response, or not once."""


# Most rounds of file_by_filename look-ups for dependencies of dependencies.
_MAX_DEPENDENCY_DEPTH = 10


def reflect(pb, channel, **request_fields):
    """Sends one ServerReflectionRequest (e.g. list_services="") on its own
    stream and returns the one response. Raises ReflectionError if the
    server answers with an error_response (its code and message are in the
    exception's text), or with other than one response."""
    stub = pb.reflection_pb2_grpc.ServerReflectionStub(channel)
    request = pb.reflection_pb2.ServerReflectionRequest(**request_fields)
    asked = ", ".join(f"{key}({value!r})" for key, value in request_fields.items())
    replies = list(stub.ServerReflectionInfo(iter([request]), timeout=RPC_TIMEOUT_S))
    if len(replies) != 1:
        raise ReflectionError(f"reflection {asked}: {len(replies)} responses, want 1")
    reply = replies[0]
    if reply.HasField("error_response"):
        error = reply.error_response
        code = next((c.name for c in grpc.StatusCode if c.value[0] == error.error_code),
                    f"code {error.error_code}")
        raise ReflectionError(f"reflection {asked} answered {code} "
                              f"{error.error_message!r}")
    return reply


def reflected_files(pb, channel, symbol):
    """The file defining `symbol` and every file it depends on, as a dict
    name -> FileDescriptorProto: file_containing_symbol, then
    file_by_filename for each dependency the server did not send along.
    Raises ReflectionError if the server cannot describe one of them."""
    files = {}

    def add(reply):
        for blob in reply.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(blob)
            files[proto.name] = proto

    add(reflect(pb, channel, file_containing_symbol=symbol))
    for _ in range(_MAX_DEPENDENCY_DEPTH):
        missing = {d for f in files.values() for d in f.dependency} - set(files)
        if not missing:
            return files
        for name in sorted(missing):
            add(reflect(pb, channel, file_by_filename=name))
            if name not in files:
                raise ReflectionError(f"reflection file_by_filename({name!r}) "
                                      f"did not return {name}")
    raise ReflectionError(f"dependencies of {symbol} nest deeper than "
                          f"{_MAX_DEPENDENCY_DEPTH} levels")


def descriptor_pool_of(files):
    """A new DescriptorPool holding `files` (name -> FileDescriptorProto),
    each added after its dependencies."""
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name):
        if name not in added:
            added.add(name)
            for dependency in files[name].dependency:
                add(dependency)
            pool.Add(files[name])

    for name in sorted(files):
        add(name)
    return pool


class ServerTestCase(unittest.TestCase):
    """Starts one server (and the stubs) for the whole class; stops it with SIGTERM.

    CONFIG is filled by parse_args_then_run(); subclasses may override
    server_flags() to start the server differently.
    """

    CONFIG = None

    @classmethod
    def server_flags(cls, config):
        return [f"--dim={config.dim}", f"--index={config.index}"]

    @classmethod
    def setUpClass(cls):
        config = ServerTestCase.CONFIG
        cls.config = config
        cls._tmp = tempfile.TemporaryDirectory(prefix="related-test-")
        cls.server = None
        cls.channel = None
        try:
            cls.pb = generate_stubs(config.proto_dir, cls._tmp.name)
            cls.server = ServerProcess(config.server, cls.server_flags(config),
                                       config.show_server_log)
            cls.server.start()
            cls.channel = grpc.insecure_channel(cls.server.grpc_address)
            cls.server.wait_until_serving(cls.pb, cls.channel)
            cls.stub = cls.pb.related_pb2_grpc.RelatedArticlesStub(cls.channel)
            cls.set_up_data()
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def set_up_data(cls):
        """Called once the server is SERVING; subclasses store their fixtures.
        If it raises, the server is killed and no test runs."""

    @classmethod
    def _cleanup(cls):
        if cls.channel is not None:
            cls.channel.close()
            cls.channel = None
        if cls.server is not None:
            cls.server.kill()
        cls._tmp.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.channel = None
        code = cls.server.stop()
        log = cls.server.log_tail()
        cls._cleanup()
        if code is None:
            raise AssertionError(f"server did not exit within {STOP_TIMEOUT_S:.0f}s of "
                                 f"SIGTERM and was killed\n{log}")
        if code != 0:
            raise AssertionError(f"server exited with code {code} after SIGTERM, want 0\n{log}")
        print("server stopped by SIGTERM with exit code 0", file=sys.stderr)

    def assertProtoEqual(self, got, want, msg=""):
        """Like assertEqual for protobuf messages, printing both in text form."""
        if got != want:
            self.fail(f"{msg}\n  got:  {text_format.MessageToString(got, as_one_line=True)}"
                      f"\n  want: {text_format.MessageToString(want, as_one_line=True)}")

    def assertRpcError(self, code, call, *args, fragments=(), **kwargs):
        """Asserts that call(*args, **kwargs) fails with `code` and a message
        containing every string in `fragments` (e.g. the offending field).
        Returns the error."""
        try:
            reply = call(*args, timeout=RPC_TIMEOUT_S, **kwargs)
        except grpc.RpcError as caught:
            err = caught
        else:
            self.fail(f"want {code.name}, got OK: {reply}".rstrip())
        details = err.details() or ""
        self.assertEqual(err.code(), code,
                         f"want {code.name}, got {err.code().name}: {details!r}")
        for fragment in fragments:
            self.assertIn(fragment, details,
                          f"{code.name} message should mention {fragment!r}: {details!r}")
        return err


class StubsTestCase(unittest.TestCase):
    """For a test class that starts its own servers: a temporary directory
    and the generated stubs, shared by its tests. CONFIG (--server,
    --proto_dir) is set by run_server_tests."""

    CONFIG = None
    TMP_PREFIX = "related-test-"

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix=cls.TMP_PREFIX)
        cls.pb = generate_stubs(cls.CONFIG.proto_dir, cls._tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()


def run_server_tests(test_class, description):
    """For a test class that starts its own servers: parses --server and
    --proto_dir into test_class.CONFIG, then runs unittest on the rest."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--proto_dir", default=DEFAULT_PROTO_DIR)
    config, rest = parser.parse_known_args()
    config.server = os.path.abspath(config.server)
    config.proto_dir = os.path.abspath(config.proto_dir)
    test_class.CONFIG = config
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


class _OneLineResult(unittest.TextTestResult):
    """Prints each check as "test_name: first docstring line ... ok"."""

    def getDescription(self, test):
        doc = test.shortDescription()
        name = getattr(test, "_testMethodName", str(test))
        return f"{name}: {doc}" if doc else name


def parse_args_then_run(description, extra_args=None):
    """Parses the shared flags into ServerTestCase.CONFIG, then runs unittest
    (verbosity 2: one line per check) on the caller's __main__ module with
    any remaining arguments (e.g. a test name or -k PATTERN)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", default=DEFAULT_SERVER,
                        help="path to the related-server binary (default: %(default)s)")
    parser.add_argument("--proto_dir", default=DEFAULT_PROTO_DIR,
                        help="the repo's proto/ dir, holding related/v1/related.proto "
                             "(default: %(default)s)")
    parser.add_argument("--index", choices=("exact", "hnsw"), default="exact",
                        help="--index flag for the server (default: %(default)s)")
    parser.add_argument("--dim", type=int, default=8,
                        help="--dim flag for the server (default: %(default)s)")
    parser.add_argument("--show_server_log", action="store_true",
                        help="echo the server's output to stderr")
    if extra_args is not None:
        extra_args(parser)
    config, rest = parser.parse_known_args()
    config.server = os.path.abspath(config.server)
    config.proto_dir = os.path.abspath(config.proto_dir)
    ServerTestCase.CONFIG = config
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_OneLineResult)
    unittest.main(argv=[sys.argv[0], *rest], testRunner=runner)
