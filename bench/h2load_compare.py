#!/usr/bin/python3
"""GetRelated and Ping against gRPC's own health Check, measured by h2load.

Issue 14's targets, in one command against one real server:
  GetRelated mean latency at 1 connection x 1 stream / health Check  <= 1.0
  GetRelated calls/s at 4 connections x 16 streams / health Check    >= 0.9
  GetRelated calls/s at 64 connections x 1 stream / health Check     >= 0.9
Ping's ratios are printed beside them for reference (no target).

What it does: starts related-server (--index=hnsw), imports N clustered
articles (fixed seed) with ImportArticles, waits until every related list is
ready, then runs h2load (Debian's nghttp2-client) in three shapes. In each
shape the three methods take turns, in a rotated order every round
(Check GetRelated Ping, GetRelated Ping Check, ...), so that noise on the
machine hits all three alike. Ratios are taken within a round, then the
median over rounds is printed with the range.

By default the server and h2load share every core, as when issue 14's
targets were set. Then h2load's reading (about 1 KB per GetRelated
response against a few bytes for Check) takes CPU the server would have
had. --pin gives the server one core and h2load another, so the server's
own cost per call decides its throughput, as when callers run on machines
of their own.
Each method's line says how busy each side was (share of one core).

Run (about 3 minutes with the defaults on a 2-core machine):
  /usr/bin/python3 bench/h2load_compare.py --server build/related-server

Exit code: 0 when every run worked, whether or not a target holds (this is
a measurement); 1 if anything failed to run or a call did not succeed.
"""

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support", "python"))

import grpc  # noqa: E402
import numpy  # noqa: E402  (Debian's python3-numpy, pulled in by python3-sklearn)

import bench_common  # noqa: E402
import related_server  # noqa: E402
from bench_common import IMPORT_BATCH, BenchError  # noqa: E402
from related_server import RPC_TIMEOUT_S, SetupError  # noqa: E402

SEED = 20261206
LISTS_READY_TIMEOUT_S = 120.0
# h2load's own time limit on top of warm-up + duration (connect, drain).
H2LOAD_SLACK_S = 30.0

# (label, connections, streams per connection). h2load runs one thread
# (-t 1): it can keep at most one core busy.
SHAPES = (("1x1", 1, 1), ("4x16", 4, 16), ("64x1", 64, 1))
# The baseline first; each round rotates this order by one.
METHODS = ("Check", "GetRelated", "Ping")
PATHS = {
    "Check": "/grpc.health.v1.Health/Check",
    "GetRelated": "/related.v1.RelatedArticles/GetRelated",
    "Ping": "/related.v1.RelatedArticles/Ping",
}
# (shape, measure, method, target description, holds(ratio)); measure is
# "latency" (mean latency ratio) or "throughput" (calls/s ratio).
TARGETS = (
    ("1x1", "latency", "GetRelated", "<= 1.0", lambda r: r <= 1.0),
    ("4x16", "throughput", "GetRelated", ">= 0.9", lambda r: r >= 0.9),
    ("64x1", "throughput", "GetRelated", ">= 0.9", lambda r: r >= 0.9),
)


def parse_args():
    parser = bench_common.bench_parser(__doc__, 20000, "articles to import", 384)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per shape, each running all three methods")
    parser.add_argument("--seconds", type=int, default=5,
                        help="h2load -D: measured seconds per run")
    parser.add_argument("--warm_up", type=int, default=1,
                        help="h2load --warm-up-time per run")
    parser.add_argument("--h2load", default="h2load", help="h2load binary")
    parser.add_argument("--pin", action="store_true",
                        help="after the import, pin the server to one core and "
                             "h2load to the others (needs 2 cores)")
    parser.add_argument("--shapes", default=",".join(s[0] for s in SHAPES),
                        help="the shapes to run, comma-separated (a target whose "
                             "shape is left out is not judged)")
    parser.add_argument("--show_server_log", action="store_true")
    args = parser.parse_args()
    known = {s[0]: s for s in SHAPES}
    names = args.shapes.split(",")
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"--shapes: unknown {unknown}; known: {','.join(known)}")
    args.shapes = [known[name] for name in names]
    if args.articles < 2 or args.dim < 2 or args.rounds < 1 or args.seconds < 1:
        parser.error("need --articles >= 2, --dim >= 2, --rounds >= 1, --seconds >= 1")
    return args


# ---- data ------------------------------------------------------------------

def clustered_embeddings(count, dim, seed):
    """count vectors around count/100 random centres (fixed seed), float32."""
    rng = numpy.random.default_rng(seed)
    centres = rng.standard_normal((max(1, count // 100), dim), dtype=numpy.float32)
    which = rng.integers(0, len(centres), size=count)
    noise = rng.standard_normal((count, dim), dtype=numpy.float32)
    return centres[which] + 0.35 * noise, which


def article_id(i):
    return f"bench/{i:06d}"


def import_articles(pb, channel, count, dim):
    """Streams `count` articles in ImportArticlesRequest batches; returns seconds."""
    pb2 = pb.related_pb2
    vectors, clusters = clustered_embeddings(count, dim, SEED)

    def batches():
        for start in range(0, count, IMPORT_BATCH):
            request = pb2.ImportArticlesRequest()
            for i in range(start, min(count, start + IMPORT_BATCH)):
                article = request.articles.add(id=article_id(i))
                article.embedding.extend(vectors[i].tolist())
                article.metadata.title = f"Benchmark article {i}"
                article.metadata.url = f"https://news.example/bench/{i}"
                article.metadata.section = f"section-{clusters[i] % 12}"
                article.metadata.language = "en"
            yield request

    stub = pb.related_pb2_grpc.RelatedArticlesStub(channel)
    return bench_common.timed_import(stub, batches(), count)


# ---- requests ----------------------------------------------------------------

def grpc_frame(message_bytes):
    """The 5-byte gRPC message prefix (not compressed, big-endian length) + message."""
    return b"\x00" + len(message_bytes).to_bytes(4, "big") + message_bytes


def requests_for(pb, query_id):
    """method -> (request message, its response class)."""
    return {
        "Check": (pb.health_pb2.HealthCheckRequest(service=""),
                  pb.health_pb2.HealthCheckResponse),
        "GetRelated": (pb.related_pb2.GetRelatedRequest(article_id=query_id),
                       pb.related_pb2.GetRelatedResponse),
        "Ping": (pb.related_pb2.PingRequest(), pb.related_pb2.PingResponse),
    }


def call_once(channel, method, request, response_class):
    """One grpcio call of the exact bytes h2load sends; returns the response
    bytes. Raises BenchError unless the call ends with grpc-status 0."""
    call = channel.unary_unary(PATHS[method], request_serializer=None,
                               response_deserializer=None)
    try:
        raw = call(request.SerializeToString(), timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as err:
        raise BenchError(f"{method}: grpc-status {err.code().name}: {err.details()}")
    response_class.FromString(raw)  # it parses as the expected response
    return raw


def check_calls(pb, channel, requests, when):
    """Calls every method once; returns method -> response size in bytes."""
    sizes = {}
    for method in METHODS:
        request, response_class = requests[method]
        raw = call_once(channel, method, request, response_class)
        sizes[method] = len(raw)
        if (method == "Check" and response_class.FromString(raw).status
                != pb.health_pb2.HealthCheckResponse.SERVING):
            raise BenchError(f"health Check is not SERVING {when}")
    return sizes


def check_precomputed(pb, channel, query_id, want_size):
    """The query is answered from its precomputed box, and is a full box."""
    stub = pb.related_pb2_grpc.RelatedArticlesStub(channel)
    request = pb.related_pb2.GetRelatedRequest(article_id=query_id)
    request.policy.debug = True
    reply = stub.GetRelated(request, timeout=RPC_TIMEOUT_S)
    if not reply.debug.precomputed:
        raise BenchError(f"GetRelated({query_id}) did not come from its precomputed box")
    if not reply.articles:
        raise BenchError(f"GetRelated({query_id}) returned no articles")
    reply.ClearField("debug")
    if len(reply.SerializeToString()) != want_size:
        raise BenchError("GetRelated with and without policy.debug differ beyond debug")


# ---- h2load ------------------------------------------------------------------

# What h2load sees: HTTP/2 status codes, DATA bytes and timings. It does not
# read trailers, so a gRPC error (HTTP 200 with grpc-status != 0 in the
# trailers, and no message) counts as "succeeded". Hence:
#   * every method is called once through grpcio before and after the runs
#     (grpc-status 0 and a response that parses);
#   * h2load's failed/errored/timeout counts must be 0 and every status 2xx;
#   * its DATA byte count must reach succeeded x the response's framed size.
#     h2load counts bytes during warm-up too but requests only afterwards,
#     so this is a lower bound: it catches a method that answers with
#     trailers only (every gRPC error), not the odd failed call among many.
_FINISHED = re.compile(r"^finished in \S+, ([\d.]+) req/s")
_REQUESTS = re.compile(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout")
_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
_TRAFFIC_DATA = re.compile(r"\((\d+)\) data")
_TIME_FOR_REQUEST = re.compile(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)")


def micros(text):
    """h2load's "95us", "1.2ms", "2s" as microseconds."""
    for suffix, scale in (("us", 1.0), ("ms", 1e3), ("s", 1e6)):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * scale
    raise ValueError(f"unknown time unit in {text!r}")


def parse_h2load(output):
    """-> dict(calls_per_s, mean_us, succeeded, failed, errored, timeout, non_2xx,
    data_bytes). Raises BenchError if a line is missing."""
    found = {}
    for line in output.splitlines():
        line = line.strip()
        if m := _FINISHED.match(line):
            found["calls_per_s"] = float(m.group(1))
        elif m := _REQUESTS.match(line):
            found.update(succeeded=int(m.group(4)), failed=int(m.group(5)),
                         errored=int(m.group(6)), timeout=int(m.group(7)))
        elif m := _STATUS.match(line):
            found["non_2xx"] = sum(int(m.group(i)) for i in (2, 3, 4))
        elif line.startswith("traffic:") and (m := _TRAFFIC_DATA.search(line)):
            found["data_bytes"] = int(m.group(1))
        elif m := _TIME_FOR_REQUEST.match(line):
            found["mean_us"] = micros(m.group(3))
    missing = {"calls_per_s", "succeeded", "non_2xx", "data_bytes", "mean_us"} - set(found)
    if missing:
        raise BenchError(f"h2load output lacks {sorted(missing)}:\n{output}")
    return found


# ---- cores -------------------------------------------------------------------

def pin_cores(pid):
    """Pins every thread of process `pid` to the first core this script may
    use (threads it starts later inherit it); returns the set of cores left
    for h2load. Raises BenchError with fewer than two cores."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise BenchError(f"--pin needs two cores, this process may use {cores}")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cores[0]})
        except ProcessLookupError:
            pass  # a thread that ended since the listing
    return set(cores[1:])


def run_h2load(args, address, method, body_path, connections, streams, response_size,
               server_pid=None, h2load_cores=None):
    """One h2load run, checked (see above); its parsed figures. With
    `server_pid`, also how busy the server and h2load were; with
    `h2load_cores`, h2load runs on those cores only."""
    command = [args.h2load, "-c", str(connections), "-m", str(streams), "-t", "1",
               "-D", str(args.seconds), f"--warm-up-time={args.warm_up}",
               "-H", "content-type: application/grpc", "-H", "te: trailers",
               "-d", body_path, f"http://{address}{PATHS[method]}"]
    server_cpu = bench_common.cpu_seconds(server_pid) if server_pid else 0.0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=args.seconds + args.warm_up + H2LOAD_SLACK_S,
                              preexec_fn=(lambda: os.sched_setaffinity(0, h2load_cores))
                              if h2load_cores else None)
    except FileNotFoundError:
        raise BenchError(f"{args.h2load} not found (Debian package nghttp2-client)")
    except subprocess.TimeoutExpired:
        raise BenchError(f"h2load did not finish in time: {' '.join(command)}")
    if done.returncode != 0:
        raise BenchError(f"h2load exited with {done.returncode}: {' '.join(command)}\n"
                         f"{done.stdout}{done.stderr}")
    result = parse_h2load(done.stdout)
    # Who was busy: the share of one core each used over the whole run
    # (warm-up included, which h2load's own figures leave out).
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if server_pid:
        result["server_busy"] = (bench_common.cpu_seconds(server_pid) - server_cpu) / wall
    result["h2load_busy"] = (after.ru_utime + after.ru_stime
                             - children.ru_utime - children.ru_stime) / wall
    label = f"{method} at {connections}x{streams}"
    if result["succeeded"] == 0:
        raise BenchError(f"{label}: h2load completed no request\n{done.stdout}")
    bad = {k: result[k] for k in ("failed", "errored", "timeout", "non_2xx") if result[k]}
    if bad:
        raise BenchError(f"{label}: h2load reports {bad}\n{done.stdout}")
    framed = 5 + response_size
    if result["data_bytes"] < result["succeeded"] * framed:
        raise BenchError(f"{label}: {result['data_bytes']} DATA bytes for "
                         f"{result['succeeded']} calls of {framed} bytes each: some "
                         f"responses carried no message (a gRPC error)")
    return result


# ---- report ------------------------------------------------------------------

def spread(values, fmt):
    """"median [min..max]" of values."""
    return (f"{fmt(statistics.median(values))} "
            f"[{fmt(min(values))}..{fmt(max(values))}]")


def cpu_per_call_us(result):
    """The server's CPU per call: its busy share over the run (warm-up
    included) at the measured rate, assuming the warm-up's rate was the same."""
    return result["server_busy"] / result["calls_per_s"] * 1e6


def print_report(results, rounds, shapes):
    """results[(shape, method)] is a list of per-round h2load results."""
    print(f"h2load, median [min..max] of {rounds} round(s); ratios taken within a round; "
          f"busy: the share of one core each side used:")
    ratios = {}
    for shape, connections, streams in shapes:
        print(f"{shape} ({connections} connection(s) x {streams} stream(s)):")
        for method in METHODS:
            runs = results[(shape, method)]
            print(f"  {method:<10} mean latency "
                  f"{spread([r['mean_us'] for r in runs], lambda v: f'{v:.0f}us'):<24}"
                  f" calls/s {spread([r['calls_per_s'] for r in runs], lambda v: f'{v:.0f}'):<24}"
                  f" busy: server {statistics.median(r['server_busy'] for r in runs):.2f},"
                  f" h2load {statistics.median(r['h2load_busy'] for r in runs):.2f};"
                  f" server CPU/call "
                  f"{statistics.median(cpu_per_call_us(r) for r in runs):.1f}us")
        for method in ("GetRelated", "Ping"):
            mine, base = results[(shape, method)], results[(shape, "Check")]
            ratios[(shape, "latency", method)] = [
                m["mean_us"] / b["mean_us"] for m, b in zip(mine, base)]
            ratios[(shape, "throughput", method)] = [
                m["calls_per_s"] / b["calls_per_s"] for m, b in zip(mine, base)]

    print("ratios against health Check:")
    for shape, measure, method, target, holds in TARGETS:
        if (shape, measure, method) not in ratios:
            continue  # its shape was not run
        for who in (method, "Ping"):
            values = ratios[(shape, measure, who)]
            what = "mean latency" if measure == "latency" else "calls/s"
            verdict = (f"target {target}: {'holds' if holds(statistics.median(values)) else 'MISSED'}"
                       if who == method else "(reference, no target)")
            print(f"  {who:<10} {what:<12} / Check at {shape:<4}: "
                  f"{spread(values, lambda v: f'{v:.2f}')}  {verdict}")


# ---- main --------------------------------------------------------------------

def measure(args, server, pb, channel, work_dir):
    import_s = import_articles(pb, channel, args.articles, args.dim)
    bench_common.wait_until_lists_ready(
        pb, pb.related_pb2_grpc.RelatedArticlesStub(channel), args.articles,
        LISTS_READY_TIMEOUT_S)
    print(f"imported {args.articles} articles (dim {args.dim}, hnsw) in {import_s:.1f}s; "
          f"every related list ready")

    if args.pin:
        h2load_cores = pin_cores(server.pid)
        print(f"server pinned to cores {sorted(os.sched_getaffinity(server.pid))}, "
              f"h2load to cores {sorted(h2load_cores)} (--pin)")
    else:
        h2load_cores = None
        print(f"server and h2load share cores {sorted(os.sched_getaffinity(0))}")

    query_id = article_id(args.articles // 2)
    requests = requests_for(pb, query_id)
    sizes = check_calls(pb, channel, requests, "before the runs")
    check_precomputed(pb, channel, query_id, sizes["GetRelated"])
    bodies = {}
    for method, (request, _) in requests.items():
        bodies[method] = os.path.join(work_dir, f"{method}.grpc")
        with open(bodies[method], "wb") as out:
            out.write(grpc_frame(request.SerializeToString()))

    results = {(shape, method): [] for shape, _, _ in args.shapes for method in METHODS}
    total = len(args.shapes) * args.rounds * len(METHODS)
    run = 0
    for shape, connections, streams in args.shapes:
        for round_index in range(args.rounds):
            shift = round_index % len(METHODS)
            for method in METHODS[shift:] + METHODS[:shift]:
                run += 1
                result = run_h2load(args, server.grpc_address, method, bodies[method],
                                    connections, streams, sizes[method],
                                    server_pid=server.pid, h2load_cores=h2load_cores)
                results[(shape, method)].append(result)
                print(f"  run {run}/{total}: {shape} round {round_index + 1} {method}: "
                      f"{result['calls_per_s']:.0f} calls/s, mean {result['mean_us']:.0f}us",
                      file=sys.stderr, flush=True)
    if check_calls(pb, channel, requests, "after the runs") != sizes:
        raise BenchError("a response's size changed during the runs")
    print_report(results, args.rounds, args.shapes)


def main():
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in step with the progress on stderr
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="h2load-compare-") as work_dir:
        server = related_server.ServerProcess(
            os.path.abspath(args.server), [f"--dim={args.dim}", "--index=hnsw"],
            echo_log=args.show_server_log)
        channel = None
        try:
            pb, channel = bench_common.serve(server, args.proto_dir, work_dir)
            print(f"server {args.server} on {server.grpc_address}")
            measure(args, server, pb, channel, work_dir)
        except (BenchError, SetupError, grpc.RpcError) as err:
            print(f"h2load_compare: FAILED: {bench_common.failure_detail(err)}\n"
                  f"{server.log_tail(10)}", file=sys.stderr)
            server.kill()
            return 1
        finally:
            if channel is not None:
                channel.close()
        code = server.stop()
        if code != 0:
            print(f"h2load_compare: FAILED: server exit code {code} after SIGTERM\n"
                  f"{server.log_tail(10)}", file=sys.stderr)
            return 1
    print(f"finished in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
