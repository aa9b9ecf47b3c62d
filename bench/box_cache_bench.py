#!/usr/bin/python3
"""How often GetRelated is served from the BoxCache, over real news, with a
steady write stream beside the reads.

What it does: embeds the AG News articles (bench/quality/embed_agnews.py,
256 dimensions), starts related-server, imports them and waits until every
related list is ranked. Then it runs `related-cli bench` over every article
ID in turn (default boxes, as article pages ask), first alone, then for each
kind of write and each rate while a thread writes at that rate, one article
per UpsertArticles call:
  same      an article again, unchanged (a newsroom's system saving it again)
  headline  an article with a new headline
  new       a new article close to an existing one (a follow-up story)
Each line gives the calls, the share of them served from the cache (the
difference of related_getrelated_box_cache_hits_total), the readers'
latency, the writes done, and how many cached boxes of an older state were
checked (related_getrelated_box_cache_checks_total): still current, or
changed and encoded again.

Every write starts a new index state generation; a cached box of an older
one is served only if the versions it was read from are unchanged
(server/service/box_cache.h, server/core/box_source.h). The rows with
writes say how much of the cache a write stream leaves in use.

Run (about two minutes with the defaults):
  /usr/bin/python3 bench/box_cache_bench.py

Exit code: 0 when every run worked; 1 if anything failed to run or a call
did not succeed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from random import Random

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "support", "python"))
sys.path.insert(0, HERE)

from google.protobuf import json_format  # noqa: E402

import bench_common  # noqa: E402
import related_server  # noqa: E402
from bench_common import BenchError  # noqa: E402
from related_server import RPC_TIMEOUT_S, SetupError  # noqa: E402

EMBEDDER = os.path.join(HERE, "quality", "embed_agnews.py")
DIMENSION = 256  # embed_agnews.py's
HITS = "related_getrelated_box_cache_hits_total"
CHECKS = 'related_getrelated_box_cache_checks_total{{result="{}"}}'
COUNTERS = (HITS, CHECKS.format("current"), CHECKS.format("changed"))
WRITE_KINDS = ("same", "headline", "new")


def counters(server):
    """The cache's counters now, in COUNTERS' order."""
    metrics = related_server.scrape_metrics(server.metrics_address)
    return [metrics.get(name, 0.0) for name in COUNTERS]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--server", default=related_server.DEFAULT_SERVER,
                        help="related-server binary")
    parser.add_argument("--proto_dir", default=related_server.DEFAULT_PROTO_DIR,
                        help="the repo's proto/ dir")
    parser.add_argument("--dataset", default=os.path.join(
        REPO, "..", "shared", "datasets", "agnews.jsonl"),
        help="news articles, one JSON object a line (text, category)")
    parser.add_argument("--cli", default=os.path.join(REPO, "build", "related-cli"),
                        help="related-cli binary")
    parser.add_argument("--write_rates", default="1,10,100",
                        help="upserts a second during each run, comma-separated")
    parser.add_argument("--write_kinds", default=",".join(WRITE_KINDS),
                        help="what the writes change (see above), comma-separated")
    parser.add_argument("--seconds", type=float, default=10,
                        help="length of each run")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="related-cli bench --concurrency")
    parser.add_argument("--show_server_log", action="store_true")
    args = parser.parse_args()
    try:
        args.write_rates = [float(r) for r in args.write_rates.split(",")]
    except ValueError:
        parser.error(f"--write_rates: not a list of numbers: {args.write_rates!r}")
    if any(r <= 0 or r > 1000 for r in args.write_rates):
        parser.error("--write_rates: each in (0, 1000]")
    args.write_kinds = args.write_kinds.split(",")
    if any(kind not in WRITE_KINDS for kind in args.write_kinds):
        parser.error(f"--write_kinds: each one of {', '.join(WRITE_KINDS)}")
    if not 1 <= args.seconds <= 600 or not 1 <= args.concurrency <= 64:
        parser.error("need --seconds in [1, 600] and --concurrency in [1, 64]")
    if not os.path.isfile(args.dataset):
        parser.error(f"--dataset: no such file: {args.dataset}")
    return args


def embed(dataset, out):
    """The data set in related-cli's import format; returns its lines."""
    done = subprocess.run(["/usr/bin/python3", EMBEDDER, dataset, out],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"embed_agnews.py failed:\n{done.stderr}")
    print((done.stdout + done.stderr).strip(), flush=True)
    with open(out) as lines:
        return [line for line in lines if line.strip()]


def cli(args, address, *command, stdin=None):
    done = subprocess.run([args.cli, f"--address={address}", *command], input=stdin,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"related-cli {' '.join(command)} failed "
                         f"(exit {done.returncode}):\n{done.stderr}")
    return done.stdout


def to_article(pb, line):
    """An import line as the API's Article: id, embedding and text at the
    top, everything else its metadata."""
    fields = json.loads(line)
    top = {key: fields.pop(key) for key in ("id", "embedding", "text") if key in fields}
    return json_format.ParseDict({**top, "metadata": fields}, pb.related_pb2.Article())


def written(pb, article, kind, serial, random):
    """The article a write of `kind` sends, made from a stored `article`;
    `serial` numbers the writes of the whole run."""
    out = pb.related_pb2.Article()
    out.CopyFrom(article)
    if kind == "headline":
        out.metadata.title = f"{article.metadata.title} (updated {serial})"
    elif kind == "new":
        out.id = f"follow-up-{serial}"
        out.metadata.title = f"Follow-up {serial}: {article.metadata.title}"
        del out.embedding[:]
        out.embedding.extend(v + random.gauss(0.0, 0.02) for v in article.embedding)
    return out


class Writer(threading.Thread):
    """Writes one article per UpsertArticles call, made from `articles` in
    turn as `kind` says, at `rate` calls a second until stopped."""

    serial = 0  # over every Writer of the run, so new IDs stay new

    def __init__(self, pb, stub, articles, kind, rate):
        super().__init__(daemon=True)
        random = Random(Writer.serial)
        self.requests = []
        for article in articles:
            Writer.serial += 1
            self.requests.append(pb.related_pb2.UpsertArticlesRequest(
                articles=[written(pb, article, kind, Writer.serial, random)]))
        self.stub, self.rate = stub, rate
        self.stop = threading.Event()
        self.done = 0
        self.error = None

    def run(self):
        started = time.monotonic()
        try:
            while not self.stop.is_set():
                request = self.requests[self.done % len(self.requests)]
                self.stub.UpsertArticles(request, timeout=RPC_TIMEOUT_S)
                self.done += 1
                # Paced from the start, so a slow call is made up for.
                self.stop.wait(max(0.0, started + self.done / self.rate - time.monotonic()))
        except Exception as err:  # noqa: BLE001  (reported by the main thread)
            self.error = err


def measure(args, pb, stub, server, ids_file, articles, kind, rate):
    before = counters(server)
    writer = Writer(pb, stub, articles, kind, rate) if rate > 0 else None
    if writer is not None:
        writer.start()
    try:
        report = json.loads(cli(args, server.grpc_address, "--json", "bench",
                                f"--ids_file={ids_file}",
                                f"--concurrency={args.concurrency}",
                                f"--duration={args.seconds:g}s"))
    finally:
        if writer is not None:
            writer.stop.set()
            writer.join(RPC_TIMEOUT_S + 5)
    if writer is not None and writer.error is not None:
        raise BenchError(f"an upsert failed: {bench_common.failure_detail(writer.error)}")
    if report["failed"]:
        raise BenchError(f"{report['failed']} GetRelated calls failed: {report}")
    hits, current, changed = (now - then for now, then in zip(counters(server), before))
    latency = report["latency_ms"]
    print(f"{kind:<8} writes/s {rate:>4g} (done {writer.done if writer else 0:>5}): "
          f"calls {report['calls']:>7}  {report['calls_per_second']:>8.0f}/s  "
          f"from the cache {hits / report['calls']:6.1%}  "
          f"latency ms p50 {latency['p50']:.3f} p99 {latency['p99']:.3f}  "
          f"checked after a write: {current:.0f} current, {changed:.0f} changed", flush=True)


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="related-box-cache-") as work:
        lines = embed(args.dataset, os.path.join(work, "articles.jsonl"))
        ids_file = os.path.join(work, "ids")
        with open(ids_file, "w") as out:
            out.writelines(json.loads(line)["id"] + "\n" for line in lines)
        server = related_server.ServerProcess(
            os.path.abspath(args.server),
            [f"--dim={DIMENSION}", f"--data_dir={os.path.join(work, 'data')}"],
            args.show_server_log)
        try:
            pb, channel = bench_common.serve(server, args.proto_dir, work)
            with channel:
                stub = pb.related_pb2_grpc.RelatedArticlesStub(channel)
                cli(args, server.grpc_address, "import", os.path.join(work, "articles.jsonl"))
                bench_common.wait_until_lists_ready(pb, stub, len(lines), 120.0)
                print(f"{len(lines)} articles imported, every list ranked; "
                      f"related-cli bench over all of them in turn, {args.concurrency} in "
                      f"flight, {args.seconds:g} s a run", flush=True)
                articles = [to_article(pb, line) for line in lines[:2000]]
                measure(args, pb, stub, server, ids_file, articles, "none", 0)
                for kind in args.write_kinds:
                    for rate in args.write_rates:
                        measure(args, pb, stub, server, ids_file, articles, kind, rate)
        finally:
            code = server.stop()
        if code != 0:
            raise BenchError(f"server exit code {code} after SIGTERM\n{server.log_tail()}")


if __name__ == "__main__":
    try:
        main()
    except (BenchError, SetupError, OSError) as err:
        print(f"box_cache_bench: {bench_common.failure_detail(err)}", file=sys.stderr)
        sys.exit(1)
