"""The real related-server as a child process, for tests and benchmarks.

Shared by tests/ and bench/ (bench/ takes nothing from tests/):
  * generate_stubs(): compiles related.proto, grpc.health.v1 and
    grpc.reflection.v1alpha into Python modules in a temp dir, the way a
    website backend in another language would generate its own client.
  * ServerProcess: starts the real binary on 127.0.0.1 with port 0, learns the
    ports from its "listening grpc=... metrics=..." stderr line, waits for the
    health service to say SERVING, and stops it with SIGTERM.
  * scrape_metrics(): a server's /metrics as name{labels} -> value.

Every wait is bounded; nothing sleeps as synchronisation.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
import urllib.request

import grpc
import grpc_tools
from grpc_tools import protoc

# How long the server may take to print its listening line and then to report
# SERVING. Generous on purpose: a sanitizer build on a busy 2-core box is slow.
START_TIMEOUT_S = 20.0
# How long SIGTERM may take to drain and exit.
STOP_TIMEOUT_S = 20.0
# Deadline for every ordinary RPC a test makes.
RPC_TIMEOUT_S = 10.0

_LISTENING_RE = re.compile(r"grpc=(\S+) metrics=(\S+)")

_REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
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
