"""Shared helpers for the Python tests that talk to a real related-server.

What lives here:
  * generate_stubs(): compiles related.proto, grpc.health.v1 and
    grpc.reflection.v1alpha into Python modules in a temp dir, the way a
    website backend in another language would generate its own client.
  * ServerProcess: starts the real binary on 127.0.0.1 with port 0, learns the
    ports from its "listening grpc=... metrics=..." stderr line, waits for the
    health service to say SERVING, and stops it with SIGTERM.
  * reflect(), reflected_files(), descriptor_pool_of(): what a client that
    knows no .proto does with server reflection (grpc.reflection.v1alpha).
  * parse_args_then_run(): the shared command line (--server, --proto_dir, ...)
    followed by unittest with one line per check; run_server_tests() the
    same for a test class that starts its own servers (--server, --proto_dir).
  * scrape_metrics(): a server's /metrics as name{labels} -> value.

Every wait is bounded; nothing sleeps as synchronisation.
"""

import argparse
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest
import urllib.request

import grpc
import grpc_tools
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from grpc_tools import protoc

# How long the server may take to print its listening line and then to report
# SERVING. Generous on purpose: a sanitizer build on a busy 2-core box is slow.
START_TIMEOUT_S = 20.0
# How long SIGTERM may take to drain and exit.
STOP_TIMEOUT_S = 20.0
# Deadline for every ordinary RPC a test makes.
RPC_TIMEOUT_S = 10.0

_LISTENING_RE = re.compile(r"grpc=(\S+) metrics=(\S+)")

_REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_PROTO_DIR = os.path.join(_REPO_ROOT, "proto")
DEFAULT_SERVER = os.path.join(_REPO_ROOT, "build", "related-server")

# Where Debian's grpc-proto package puts the standard gRPC service protos.
_GRPC_PROTO_DIR = "/usr/share/grpc-proto"
HEALTH_PROTO = os.path.join(_GRPC_PROTO_DIR, "grpc/health/v1/health.proto")
REFLECTION_PROTO = os.path.join(_GRPC_PROTO_DIR, "grpc/reflection/v1alpha/reflection.proto")
# Well-known types (google/protobuf/timestamp.proto) shipped with grpc_tools.
_WELL_KNOWN_PROTO_DIR = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")

# The generated modules for the standard protos are placed under this package
# name instead of grpc/..., which would collide with the installed `grpc`
# package. Only the Python module path changes: the proto package (and so the
# service names on the wire, grpc.health.v1.Health etc.) stays the same.
_STD_PACKAGE = "stdgrpc"


def unit(values):
    """`values` scaled to length 1, as the server stores embeddings."""
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def cosine(unit_a, unit_b):
    """Cosine similarity of two unit vectors."""
    return sum(a * b for a, b in zip(unit_a, unit_b))


class SetupError(Exception):
    """The test environment could not be prepared (stubs, server start)."""


def generate_stubs(proto_dir, out_dir):
    """Compiles the protos into out_dir and imports them.

    Returns a namespace with related_pb2, related_pb2_grpc, health_pb2,
    health_pb2_grpc, reflection_pb2 and reflection_pb2_grpc.
    Raises SetupError if a proto is missing or protoc fails.
    """
    related_rel = os.path.join("related", "v1", "related.proto")
    if not os.path.isfile(os.path.join(proto_dir, related_rel)):
        raise SetupError(f"{related_rel} not found under --proto_dir {proto_dir}")
    for path in (HEALTH_PROTO, REFLECTION_PROTO):
        if not os.path.isfile(path):
            raise SetupError(f"{path} not found (Debian package grpc-proto)")

    staging = os.path.join(out_dir, "_staging")
    os.makedirs(os.path.join(staging, _STD_PACKAGE), exist_ok=True)
    shutil.copy(HEALTH_PROTO, os.path.join(staging, _STD_PACKAGE, "health.proto"))
    shutil.copy(REFLECTION_PROTO, os.path.join(staging, _STD_PACKAGE, "reflection.proto"))

    _run_protoc([proto_dir, _WELL_KNOWN_PROTO_DIR], out_dir, [related_rel])
    _run_protoc([staging], out_dir,
                [f"{_STD_PACKAGE}/health.proto", f"{_STD_PACKAGE}/reflection.proto"])
    # Make the generated dirs regular packages, so that no other "related"
    # package further down sys.path can shadow them.
    for package in ("related", os.path.join("related", "v1"), _STD_PACKAGE):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()

    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    from related.v1 import related_pb2, related_pb2_grpc  # noqa: E402
    from stdgrpc import health_pb2, health_pb2_grpc  # noqa: E402
    from stdgrpc import reflection_pb2, reflection_pb2_grpc  # noqa: E402
    return types.SimpleNamespace(
        related_pb2=related_pb2, related_pb2_grpc=related_pb2_grpc,
        health_pb2=health_pb2, health_pb2_grpc=health_pb2_grpc,
        reflection_pb2=reflection_pb2, reflection_pb2_grpc=reflection_pb2_grpc)


def _run_protoc(include_dirs, out_dir, files):
    args = ["grpc_tools.protoc"]
    args += [f"-I{d}" for d in include_dirs]
    args += [f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    args += files
    rc = protoc.main(args)
    if rc != 0:
        raise SetupError(f"protoc failed with exit code {rc}: {' '.join(args)}")


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


class ServerProcess:
    """One related-server child process, bound to 127.0.0.1 with OS-chosen ports."""

    def __init__(self, server_path, extra_args=(), echo_log=False):
        self.server_path = server_path
        self.args = [server_path,
                     "--grpc_address=127.0.0.1:0",
                     "--metrics_address=127.0.0.1:0",
                     *extra_args]
        self.echo_log = echo_log
        self.grpc_address = None
        self.metrics_address = None
        self._proc = None
        self._lines = []
        self._lines_lock = threading.Lock()
        self._listening = threading.Event()
        self._reader = None

    def start(self, timeout_s=START_TIMEOUT_S):
        """Starts the binary and waits for its listening line.

        Raises SetupError with the server's output if it exits or stays silent.
        """
        if not (os.path.isfile(self.server_path) and os.access(self.server_path, os.X_OK)):
            raise SetupError(f"server binary not found or not executable: {self.server_path}")
        self._proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

        deadline = time.monotonic() + timeout_s
        while not self._listening.wait(0.05):
            if self._proc.poll() is not None:
                self._reader.join(2.0)
                raise SetupError(f"server exited with code {self._proc.returncode} before "
                                 f"listening; args={self.args}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise SetupError(f"no 'listening grpc=... metrics=...' line within "
                                 f"{timeout_s:.0f}s; args={self.args}\n{self.log_tail()}")

    def _read_output(self):
        for line in self._proc.stdout:
            with self._lines_lock:
                self._lines.append(line.rstrip("\n"))
            if self.echo_log:
                sys.stderr.write(f"[server] {line}")
            if not self._listening.is_set() and "listening" in line:
                match = _LISTENING_RE.search(line)
                if match:
                    self.grpc_address, self.metrics_address = match.group(1), match.group(2)
                    self._listening.set()
        self._proc.stdout.close()  # at EOF: the server has exited

    @property
    def pid(self):
        """The server's process ID (for /proc readings), None before start."""
        return self._proc.pid if self._proc is not None else None

    def exit_code(self):
        """None while the server runs (or before start), else its exit code."""
        return self._proc.poll() if self._proc is not None else None

    def log_tail(self, lines=40):
        with self._lines_lock:
            tail = self._lines[-lines:]
        return "--- server output (last %d lines) ---\n%s" % (len(tail), "\n".join(tail))

    def wait_until_serving(self, stubs, channel, service="", timeout_s=START_TIMEOUT_S):
        """Polls grpc.health.v1 Check until `service` is SERVING.

        Raises SetupError if that does not happen within timeout_s.
        """
        health = stubs.health_pb2_grpc.HealthStub(channel)
        serving = stubs.health_pb2.HealthCheckResponse.SERVING
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SetupError(f"server exited with code {self._proc.returncode} while "
                                 f"waiting for SERVING\n{self.log_tail()}")
            remaining = max(0.1, min(2.0, deadline - time.monotonic()))
            try:
                reply = health.Check(stubs.health_pb2.HealthCheckRequest(service=service),
                                     timeout=remaining, wait_for_ready=True)
                if reply.status == serving:
                    return
                last = stubs.health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as err:
                last = f"{err.code().name}: {err.details()}"
            # Poll interval while the server is still NOT_SERVING; the loop is
            # bounded by the deadline above.
            time.sleep(0.05)
        raise SetupError(f"health Check({service!r}) not SERVING within {timeout_s:.0f}s "
                         f"(last: {last})\n{self.log_tail()}")

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """Sends SIGTERM and waits; returns the exit code (None if it had to be killed)."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        if self._reader is not None:
            self._reader.join(2.0)
        return self._proc.returncode

    def kill(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5.0)


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


def scrape_metrics(metrics_address, timeout_s=RPC_TIMEOUT_S):
    """name{labels} -> value, from the server's /metrics at `metrics_address`."""
    url = f"http://{metrics_address}/metrics"
    text = urllib.request.urlopen(url, timeout=timeout_s).read().decode()
    out = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            out[match.group(1)] = float(match.group(2))
    return out


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
