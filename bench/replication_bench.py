#!/usr/bin/python3
"""Replicated mode against standalone, side by side in one run.

Issue 16's measures, one command, real processes on loopback: a 3-node
NATS JetStream cluster (the stream at 3 replicas), related-server replicas,
and a standalone related-server with its fsync'd write-ahead log.

  import of N x 384 (ImportArticles), until every list is ready on every
    replica, replicated / standalone                       target <= 1.5
    (also with 1 replica, which isolates the log's own cost: with 3, three
    servers build three HNSW graphs on the same cores)
  write acknowledgement (UpsertArticles of 10), p50/p99,
    replicated / standalone fsync log                      target p99 <= 2
  replication lag at 1,000 articles/s (and at 200, which 3 replicas on
    2 cores sustain): acknowledged on replica A until GetArticle finds it
    on replica B, p50/p99                                  target p99 <= 50 ms
  GetRelated on a replica / on the standalone server (h2load): mean latency
    at 1x1 and calls/s at 4x16                             target unchanged

Standalone and replicated runs take turns within each measure, so noise
on the machine hits both alike. Run (about 10 minutes with the defaults):
  /usr/bin/python3 bench/replication_bench.py --server build/related-server

Exit code: 0 when every run worked, whether or not a target holds (this is
a measurement); 1 if anything failed to run or a call did not succeed.
"""

import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support", "python"))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
import numpy  # noqa: E402

import h2load_compare as h2  # noqa: E402  (data, import, h2load runner)
import related_server  # noqa: E402
import bench_common  # noqa: E402
from bench_common import BenchError  # noqa: E402
from nats_cluster import NatsCluster  # noqa: E402
from related_server import RPC_TIMEOUT_S, SetupError  # noqa: E402

WRITE_BATCH = 10
# The target's rate, and one that these 2 cores sustain with 3 replicas
# applying every write (each replica spends 0.8-0.9 ms of CPU per article
# at 100k articles, measured in the lag lines' "CPU per article").
LAG_RATES_ARTICLES_S = (1000, 200)
LAG_WRITERS = 4
READY_TIMEOUT_S = 1800.0


def parse_args():
    parser = bench_common.bench_parser(__doc__, 100000, "articles imported first", 384)
    parser.add_argument("--writes", type=int, default=300,
                        help="acknowledged writes per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lag_seconds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=5, help="h2load -D per run")
    parser.add_argument("--warm_up", type=int, default=1)
    parser.add_argument("--h2load", default="h2load")
    return parser.parse_args()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Node:
    """A related-server with its channel and stub."""

    def __init__(self, args, pb, work_dir, name, flags):
        data_dir = os.path.join(work_dir, name)
        self.name = name
        self.process = related_server.ServerProcess(
            os.path.abspath(args.server),
            [f"--dim={args.dim}", "--index=hnsw", f"--data_dir={data_dir}", *flags])
        self.process.start()
        self.channel = grpc.insecure_channel(self.process.grpc_address)
        self.process.wait_until_serving(pb, self.channel, timeout_s=120)
        self.stub = pb.related_pb2_grpc.RelatedArticlesStub(self.channel)

    def stop(self):
        self.channel.close()
        code = self.process.stop()
        if code != 0:
            raise BenchError(f"{self.name} exited with {code}\n{self.process.log_tail(10)}")


def replica_flags(cluster, stream):
    return [f"--nats_url={cluster.url}", f"--nats_stream={stream}",
            f"--nats_subject={stream}.writes"]


def wait_ready(pb, nodes, count):
    """Until every node holds `count` articles with no stale list; seconds waited."""
    started = time.monotonic()
    while True:
        ready = 0
        for node in nodes:
            stats = node.stub.GetStats(pb.related_pb2.GetStatsRequest(), timeout=RPC_TIMEOUT_S)
            ready += stats.article_count == count and stats.related_lists_stale == 0
        if ready == len(nodes):
            return time.monotonic() - started
        if time.monotonic() - started > READY_TIMEOUT_S:
            raise BenchError(f"not every replica ready {READY_TIMEOUT_S:.0f}s after the import")
        time.sleep(0.2)  # poll interval, bounded by the deadline


def measure_import(args, pb, label, target, others):
    """Imports into `target`; seconds until every list is ready on it and `others`."""
    started = time.monotonic()
    h2.import_articles(pb, target.channel, args.articles, args.dim)
    returned = time.monotonic() - started
    wait_ready(pb, [target, *others], args.articles)
    total = time.monotonic() - started
    print(f"  import {label}: {total:.1f}s (the call returned after {returned:.1f}s)",
          file=sys.stderr, flush=True)
    return total


def write_batches(pb, dim, count, prefix, seed):
    rng = numpy.random.default_rng(seed)
    out = []
    for b in range(count):
        request = pb.related_pb2.UpsertArticlesRequest()
        for i in range(WRITE_BATCH):
            article = request.articles.add(id=f"{prefix}/{b}/{i}")
            article.embedding.extend(rng.standard_normal(dim).astype(numpy.float32).tolist())
            article.metadata.title = f"write {b}.{i}"
        out.append(request)
    return out


def measure_writes(args, pb, modes):
    """Acknowledgement latency (ms) of batches of 10 per mode ({name: node}),
    the modes taking turns in a rotated order each round."""
    times = {mode: [] for mode in modes}
    names = list(modes)
    for r in range(args.rounds):
        shift = r % len(names)
        for mode in names[shift:] + names[:shift]:
            for request in write_batches(pb, args.dim, args.writes, f"w{r}-{mode}", r):
                started = time.perf_counter()
                modes[mode].stub.UpsertArticles(request, timeout=RPC_TIMEOUT_S)
                times[mode].append((time.perf_counter() - started) * 1e3)
    return times


def cpu_now(pids):
    return [bench_common.cpu_seconds(pid) for pid in pids]


def measure_lag(args, pb, writer_node, reader_node, rate_articles_s, cpu_pids):
    """Writes at `rate_articles_s` to one replica; lag (ms) until another shows
    each batch. Also the CPU seconds each process of `cpu_pids` (a dict of
    lists) used per article written, and the cores they used together."""
    batches = write_batches(pb, args.dim, rate_articles_s // WRITE_BATCH * args.lag_seconds,
                            f"lag{rate_articles_s}", rate_articles_s)
    acked = {}  # batch -> ack time
    done = threading.Event()
    lags = []

    def watch():
        get = pb.related_pb2.GetArticleRequest
        for b, request in enumerate(batches):
            article_id = request.articles[0].id
            while True:
                try:
                    reader_node.stub.GetArticle(get(article_id=article_id), timeout=RPC_TIMEOUT_S)
                    break
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.NOT_FOUND or done.is_set():
                        return
                    # Poll every millisecond: the lag's resolution, without
                    # a busy loop taking the replicas' CPU.
                    time.sleep(0.001)
            seen = time.perf_counter()
            while b not in acked:  # seen before the writer's ack returned
                time.sleep(0.0001)
            lags.append(max(0.0, seen - acked[b]) * 1e3)

    watcher = threading.Thread(target=watch)
    watcher.start()
    # Several writers, each pacing its share, so that the rate holds even
    # when one acknowledgement takes longer than the interval.
    interval = WRITE_BATCH / rate_articles_s
    cpu_before = {kind: cpu_now(pids) for kind, pids in cpu_pids.items()}
    start = time.perf_counter()

    def write(first):
        for b in range(first, len(batches), LAG_WRITERS):
            pause = start + b * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            writer_node.stub.UpsertArticles(batches[b], timeout=RPC_TIMEOUT_S)
            acked[b] = time.perf_counter()

    writers = [threading.Thread(target=write, args=(w,)) for w in range(LAG_WRITERS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    rate = len(batches) * WRITE_BATCH / (time.perf_counter() - start)
    watcher.join(60)
    done.set()
    elapsed = time.perf_counter() - start
    if len(lags) != len(batches):
        raise BenchError(f"lag: {len(lags)} of {len(batches)} batches seen on the other replica")
    articles = len(batches) * WRITE_BATCH
    cpu = {kind: [(after - before) / articles for before, after in
                  zip(cpu_before[kind], cpu_now(pids))]
           for kind, pids in cpu_pids.items()}
    cores = sum(sum(per) for per in cpu.values()) * articles / elapsed
    return lags, rate, cpu, cores


def measure_reads(args, pb, standalone, replica, work_dir):
    """h2load GetRelated on both: (1x1 mean us, 4x16 calls/s) lists per mode."""
    request = pb.related_pb2.GetRelatedRequest(article_id=h2.article_id(args.articles // 2))
    body = os.path.join(work_dir, "GetRelated.grpc")
    with open(body, "wb") as out:
        out.write(h2.grpc_frame(request.SerializeToString()))
    sizes = {n.name: len(n.stub.GetRelated(request, timeout=RPC_TIMEOUT_S).SerializeToString())
             for n in (standalone, replica)}
    results = {"standalone": {"1x1": [], "4x16": []}, "replicated": {"1x1": [], "4x16": []}}
    for r in range(args.rounds):
        for shape, c, m in (("1x1", 1, 1), ("4x16", 4, 16)):
            order = [("standalone", standalone), ("replicated", replica)]
            if r % 2:
                order.reverse()
            for mode, node in order:
                result = h2.run_h2load(args, node.process.grpc_address, "GetRelated", body,
                                       c, m, sizes[node.name])
                results[mode][shape].append(result)
    return results


def report(imports, writes, lags, reads):
    line = "-" * 78
    print(line)
    s, r3, r1 = imports["standalone"], imports["replicated x3"], imports["replicated x1"]
    print(f"import to every list ready: standalone {s:.1f}s, 3 replicas {r3:.1f}s "
          f"(ratio {r3 / s:.2f}, target <= 1.5), 1 replica {r1:.1f}s (ratio {r1 / s:.2f})")
    sw = writes["standalone"]
    print(f"write ack (batch of {WRITE_BATCH}), {len(sw)} each: standalone fsync p50 "
          f"{percentile(sw, 50):.2f} ms p99 {percentile(sw, 99):.2f} ms")
    for mode in ("replicated x3", "replicated x1"):
        rw = writes[mode]
        print(f"  {mode}: p50 {percentile(rw, 50):.2f} ms p99 {percentile(rw, 99):.2f} ms; "
              f"p99 ratio {percentile(rw, 99) / percentile(sw, 99):.2f} (target <= 2)")
    for (lag, rate, cpu, cores), asked in zip(lags, LAG_RATES_ARTICLES_S):
        print(f"replication lag, {asked} articles/s asked, {rate:.0f} reached, {len(lag)} "
              f"batches: p50 {percentile(lag, 50):.1f} ms, p99 {percentile(lag, 99):.1f} ms "
              f"(target <= 50 ms at 1000)")
        replicas = "/".join(f"{seconds * 1e3:.2f}" for seconds in cpu["replicas"])
        per_article = sum(sum(per) for per in cpu.values())
        print(f"  CPU per article: each related-server replica {replicas} ms (the writer "
              f"first), the NATS nodes {sum(cpu['nats']) * 1e3:.2f} ms together; "
              f"{cores:.2f} cores busy, {asked} articles/s would need "
              f"{per_article * asked:.2f} (this machine: {os.cpu_count()})")
    lat = [b["mean_us"] / a["mean_us"] for a, b in zip(reads["standalone"]["1x1"],
                                                      reads["replicated"]["1x1"])]
    thr = [b["calls_per_s"] / a["calls_per_s"] for a, b in zip(reads["standalone"]["4x16"],
                                                              reads["replicated"]["4x16"])]
    print(f"GetRelated replica / standalone: 1x1 mean latency ratio {statistics.median(lat):.2f} "
          f"[{min(lat):.2f}..{max(lat):.2f}], 4x16 calls/s ratio {statistics.median(thr):.2f} "
          f"[{min(thr):.2f}..{max(thr):.2f}] (target: unchanged)")
    print(line)


def run(args, pb, work_dir):
    cluster = NatsCluster(os.path.join(work_dir), size=3)
    cluster.start()
    nodes = []
    try:
        imports = {}
        standalone = Node(args, pb, work_dir, "standalone", [])
        nodes.append(standalone)
        imports["standalone"] = measure_import(args, pb, "standalone", standalone, [])
        alone = Node(args, pb, work_dir, "alone", replica_flags(cluster, "bench-one"))
        nodes.append(alone)
        imports["replicated x1"] = measure_import(args, pb, "1 replica", alone, [])
        replicas = [Node(args, pb, work_dir, f"replica-{i}", replica_flags(cluster, "bench-three"))
                    for i in range(3)]
        nodes.extend(replicas)
        imports["replicated x3"] = measure_import(args, pb, "3 replicas", replicas[0],
                                                  replicas[1:])
        writes = measure_writes(args, pb, {"standalone": standalone,
                                           "replicated x3": replicas[0],
                                           "replicated x1": alone})
        cpu_pids = {"replicas": [node.process.pid for node in replicas],
                    "nats": [node.proc.pid for node in cluster.nodes]}
        lags = [measure_lag(args, pb, replicas[0], replicas[1], rate, cpu_pids)
                for rate in LAG_RATES_ARTICLES_S]
        wait_ready(pb, [standalone], args.articles + args.rounds * args.writes * WRITE_BATCH)
        reads = measure_reads(args, pb, standalone, replicas[1], work_dir)
        report(imports, writes, lags, reads)
        for node in nodes:
            node.stop()
        nodes.clear()
    finally:
        for node in nodes:
            node.process.kill()
        cluster.stop()


def main():
    args = parse_args()
    # Several servers share these cores: OpenMP's idle threads must sleep,
    # not spin (libgomp spins by default, stealing the others' CPU). Every
    # server of the run, standalone too, gets the same setting.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} for every server")
    sys.stdout.reconfigure(line_buffering=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replication-bench-") as work_dir:
        try:
            pb = related_server.generate_stubs(os.path.abspath(args.proto_dir), work_dir)
            run(args, pb, work_dir)
        except (BenchError, SetupError, grpc.RpcError) as err:
            detail = (f"{err.code().name}: {err.details()}"
                      if isinstance(err, grpc.RpcError) else str(err))
            print(f"replication_bench: FAILED: {detail}", file=sys.stderr)
            return 1
    print(f"finished in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
