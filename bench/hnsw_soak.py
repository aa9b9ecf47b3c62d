#!/usr/bin/python3
"""HNSW resident memory under an edit-heavy write load: does it level off?

Issue 15's target, in one command against one real server:
  HNSW soak with 50% of writes replacing existing articles, 10 minutes:
  mean RSS in the last third / mean RSS in the second third  <= 1.05

What it does: starts related-server with --index=hnsw and a --data_dir in a
temp dir (write-ahead log with fsync, as in production; extra server flags
after "--" are passed through), imports N clustered articles (fixed seed)
with ImportArticles and waits until every related list is ready. Then, for
--seconds, writer threads send UpsertArticles batches in which each article
is, by a coin toss (--replace_share, 0.5), either
  * a replacement: an existing ID with a NEW vector. The HNSW index cannot
    update a vector in place, so the old one stays in it as a tombstone; or
  * a new article, whose batch is followed by a DeleteArticles of as many of
    the writer's oldest articles (the site expiring old stories), so the
    live count stays N. The deleted slots are tombstones too.
A reader thread sends GetRelated for a fixed set of "anchor" articles, which
are replaced but never deleted, so every read must succeed with a box.
Every --sample_every seconds it reads the server's VmRSS from
/proc/<pid>/status and scrapes /metrics for any series whose name contains
"tombstone" or "compaction" (printed if the server exports them). The data
and the choice of writes come from fixed seeds, so two runs at the same
settings send the same mix of writes. The server snapshots as in production
(every 10 minutes by default: near the end of a 10-minute soak); the report
says when a snapshot was logged.

At the end it prints mean and max RSS of each third of the soak, the ratio
last-third mean / second-third mean against the target, the writes done and
the error count.

Run (the default is the issue's 10 minutes, plus a few seconds of set-up):
  /usr/bin/python3 bench/hnsw_soak.py --server build/related-server
  /usr/bin/python3 bench/hnsw_soak.py --seconds=120 -- --compaction_threshold=0.2

Exit code: 0 when everything ran and every call succeeded, whether or not the
target holds (this is a measurement); 1 if anything failed to run, a call
failed, or a reply was wrong (see "errors").
"""

import itertools
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support", "python"))

import grpc  # noqa: E402
import numpy  # noqa: E402  (Debian's python3-numpy)

import bench_common  # noqa: E402
import related_server  # noqa: E402
from bench_common import IMPORT_BATCH, BenchError  # noqa: E402
from related_server import RPC_TIMEOUT_S, SetupError  # noqa: E402

SEED = 20261215
LISTS_READY_TIMEOUT_S = 300.0
METRICS_TIMEOUT_S = 5.0
MAX_SECONDS = 4 * 3600
# A writer more than this far behind its schedule (a stall) starts afresh
# instead of sending a burst to catch up.
MAX_BACKLOG_S = 1.0
# Most error messages kept for the report (all are counted).
MAX_ERROR_MESSAGES = 5
TARGET_RATIO = 1.05
WATCHED = re.compile(r"tombstone|compaction", re.IGNORECASE)
_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)")
_INDEX_MEMORY = "related_index_memory_bytes"


def parse_args():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = bench_common.bench_parser(
        __doc__, 20000, "live articles, imported first and kept", 128,
        usage="%(prog)s [options] [-- extra related-server flags]")
    parser.add_argument("--seconds", type=float, default=600,
                        help="length of the soak")
    parser.add_argument("--write_rate", type=float, default=500,
                        help="target upserted articles/s over all writers; 0: as fast "
                             "as they go")
    parser.add_argument("--writers", type=int, default=2,
                        help="writer threads")
    parser.add_argument("--batch", type=int, default=10,
                        help="articles per UpsertArticles call")
    parser.add_argument("--replace_share", type=float, default=0.5,
                        help="share of written articles that replace an existing one")
    parser.add_argument("--read_rate", type=float, default=100,
                        help="GetRelated calls/s from one reader thread; 0: none")
    parser.add_argument("--anchors", type=int, default=1000,
                        help="articles that are replaced but never deleted, the "
                             "reader's queries")
    parser.add_argument("--sample_every", type=float, default=2.0,
                        help="RSS and /metrics sampling period, seconds")
    parser.add_argument("--progress_every", type=float, default=30.0,
                        help="progress line on stderr every this many seconds")
    parser.add_argument("--show_server_log", action="store_true")
    args = parser.parse_args(argv)
    args.server_flags = extra
    if args.articles < 100 or args.dim < 2:
        parser.error("need --articles >= 100 and --dim >= 2")
    if not 3 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in [3, {MAX_SECONDS}]")
    if args.writers < 1 or args.batch < 1 or args.write_rate < 0 or args.read_rate < 0:
        parser.error("need --writers >= 1, --batch >= 1, --write_rate >= 0, --read_rate >= 0")
    if not 0 <= args.replace_share <= 1:
        parser.error("--replace_share must be in [0, 1]")
    if not 1 <= args.anchors <= args.articles // 2:
        parser.error("--anchors must be in [1, articles/2]")
    if (args.articles - args.anchors) // args.writers < 2 * args.batch:
        # Each writer's ring of deletable articles must outlast a batch.
        parser.error("need (articles - anchors) / writers >= 2 x batch")
    if args.sample_every <= 0 or args.progress_every <= 0:
        parser.error("--sample_every and --progress_every must be > 0")
    return args


# ---- data ------------------------------------------------------------------

class Corpus:
    """Clustered vectors (fixed seed): articles/100 random centres, each
    article a centre plus noise, so that boxes hold real neighbours."""

    def __init__(self, articles, dim):
        rng = numpy.random.default_rng(SEED)
        self.centres = rng.standard_normal((max(1, articles // 100), dim),
                                           dtype=numpy.float32)
        self.dim = dim

    def vectors(self, rng, count):
        """(count, dim) float32 vectors around random centres; returns them
        and each one's centre index."""
        which = rng.integers(0, len(self.centres), size=count)
        noise = rng.standard_normal((count, self.dim), dtype=numpy.float32)
        return self.centres[which] + 0.35 * noise, which


def article_id(n):
    return f"soak/{n:08d}"


def fill_article(article, vector, cluster, n, version):
    article.embedding.extend(vector.tolist())
    article.metadata.title = f"Soak article {n} v{version}"
    article.metadata.url = f"https://news.example/soak/{n}"
    article.metadata.section = f"section-{cluster % 12}"
    article.metadata.language = "en"


def import_articles(pb, stub, corpus, count):
    """Streams articles 0..count-1 in ImportArticles batches; returns seconds."""
    rng = numpy.random.default_rng(SEED + 1)

    def batches():
        for start in range(0, count, IMPORT_BATCH):
            size = min(count, start + IMPORT_BATCH) - start
            vectors, clusters = corpus.vectors(rng, size)
            request = pb.related_pb2.ImportArticlesRequest()
            for k in range(size):
                article = request.articles.add(id=article_id(start + k))
                fill_article(article, vectors[k], clusters[k], start + k, 0)
            yield request

    return bench_common.timed_import(stub, batches(), count)


# ---- load --------------------------------------------------------------------

class Errors:
    """Counts failures from every thread and keeps the first few messages."""

    def __init__(self, stop):
        self._lock = threading.Lock()
        self._stop = stop
        self.count = 0
        self.messages = []

    def add(self, message, stop_run=False):
        with self._lock:
            self.count += 1
            if len(self.messages) < MAX_ERROR_MESSAGES:
                self.messages.append(message)
        if stop_run:
            self._stop.set()


class Pacer:
    """Spaces calls `interval` seconds apart (0: no pacing), waiting on the
    stop event so that a stop is seen at once."""

    def __init__(self, interval, stop):
        self._interval = interval
        self._stop = stop
        self._due = time.monotonic()

    def wait(self):
        if self._interval <= 0:
            return
        self._due += self._interval
        delay = self._due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        elif delay < -MAX_BACKLOG_S:
            self._due = time.monotonic()


class Writer(threading.Thread):
    """Owns a disjoint share of the live IDs, so no other writer deletes an
    article it is about to replace: its anchors (replaced, never deleted) and
    a ring of the others, oldest first at `head`. A new article takes the
    oldest slot of the ring, and that oldest article is deleted after the
    batch: the writer's live count stays constant."""

    def __init__(self, index, pb, stub, corpus, args, anchors, ring, new_numbers,
                 stop, errors):
        super().__init__(name=f"writer-{index}", daemon=True)
        self._pb, self._stub, self._corpus, self._args = pb, stub, corpus, args
        self._anchors, self._ring, self._head = anchors, ring, 0
        self._new_numbers = new_numbers  # shared itertools.count: unique new IDs
        self._stop_event, self._errors = stop, errors
        self._rng = numpy.random.default_rng(SEED + 100 + index)
        self._versions = {}
        per_writer_rate = args.write_rate / args.writers
        self._pacer = Pacer(args.batch / per_writer_rate if per_writer_rate else 0, stop)
        self.replaced = self.inserted = self.deleted = 0
        self.upsert_calls = self.delete_calls = 0

    def run(self):
        try:
            while not self._stop_event.is_set():
                self._write_one_batch()
                self._pacer.wait()
        except grpc.RpcError as err:
            # The batch may or may not have been applied: this writer's view of
            # its IDs is no longer certain, and the load is no longer the one
            # asked for. Stop the run.
            self._errors.add(f"{self.name}: {err.code().name}: {err.details()}",
                             stop_run=True)
        except BenchError as err:
            self._errors.add(f"{self.name}: {err}", stop_run=True)

    def _pick_for_replacement(self, taken):
        """A random live ID of this writer that is not yet in the batch."""
        owned = len(self._anchors) + len(self._ring)
        while True:
            k = int(self._rng.integers(0, owned))
            number = self._anchors[k] if k < len(self._anchors) else \
                self._ring[k - len(self._anchors)]
            if number not in taken:
                return number

    def _write_one_batch(self):
        pb2 = self._pb.related_pb2
        vectors, clusters = self._corpus.vectors(self._rng, self._args.batch)
        request = pb2.UpsertArticlesRequest()
        taken, expired = set(), []
        replaced = 0
        for k in range(self._args.batch):
            if self._rng.random() < self._args.replace_share:
                number = self._pick_for_replacement(taken)
                replaced += 1
            else:
                number = next(self._new_numbers)
                expired.append(self._ring[self._head])
                self._ring[self._head] = number
                self._head = (self._head + 1) % len(self._ring)
            taken.add(number)
            version = self._versions.get(number, 0) + 1
            self._versions[number] = version
            fill_article(request.articles.add(id=article_id(number)),
                         vectors[k], clusters[k], number, version)
        reply = self._stub.UpsertArticles(request, timeout=RPC_TIMEOUT_S)
        self.upsert_calls += 1
        if reply.upserted != self._args.batch:
            raise BenchError(f"UpsertArticles upserted {reply.upserted}, "
                             f"want {self._args.batch}")
        self.replaced += replaced
        self.inserted += self._args.batch - replaced
        if expired:
            self._delete_expired(expired)

    def _delete_expired(self, numbers):
        request = self._pb.related_pb2.DeleteArticlesRequest(
            article_ids=[article_id(n) for n in numbers])
        reply = self._stub.DeleteArticles(request, timeout=RPC_TIMEOUT_S)
        self.delete_calls += 1
        for n in numbers:
            self._versions.pop(n, None)
        if reply.deleted != len(numbers):
            raise BenchError(f"DeleteArticles deleted {reply.deleted}, "
                             f"want {len(numbers)} (all of them were live)")
        self.deleted += len(numbers)


class Reader(threading.Thread):
    """GetRelated for random anchors (never deleted): every call must succeed
    and return a non-empty box."""

    def __init__(self, pb, stub, anchors, rate, stop, errors):
        super().__init__(name="reader", daemon=True)
        self._pb, self._stub, self._anchors = pb, stub, anchors
        self._stop_event, self._errors = stop, errors
        self._rng = numpy.random.default_rng(SEED + 99)
        self._pacer = Pacer(1.0 / rate, stop)
        self.calls = self.empty = 0

    def run(self):
        while not self._stop_event.is_set():
            number = self._anchors[int(self._rng.integers(0, len(self._anchors)))]
            request = self._pb.related_pb2.GetRelatedRequest(article_id=article_id(number))
            try:
                reply = self._stub.GetRelated(request, timeout=RPC_TIMEOUT_S)
                self.calls += 1
                if not reply.articles:
                    self.empty += 1
                    self._errors.add(f"GetRelated({article_id(number)}) returned an empty box")
            except grpc.RpcError as err:
                self._errors.add(f"GetRelated({article_id(number)}): "
                                 f"{err.code().name}: {err.details()}")
            self._pacer.wait()


# ---- sampling ----------------------------------------------------------------

def rss_bytes(pid):
    """VmRSS of `pid` from /proc/<pid>/status, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def scrape_metrics(address):
    """series (name plus labels) -> value, for the watched series (names
    containing "tombstone" or "compaction") and the index memory gauge."""
    with urllib.request.urlopen(f"http://{address}/metrics",
                                timeout=METRICS_TIMEOUT_S) as reply:
        text = reply.read().decode("utf-8", "replace")
    found = {}
    for line in text.splitlines():
        match = _SERIES.match(line)
        if match is None:  # comments, blank lines
            continue
        series = match.group(1)
        name = series.split("{", 1)[0]
        # A histogram's _count and _sum say enough; its buckets would flood the line.
        if (WATCHED.search(name) and not name.endswith("_bucket")) or name == _INDEX_MEMORY:
            found[series] = float(match.group(2))
    return found


def snapshots_logged(server):
    """How many "snapshot ..." lines the server has logged so far."""
    return sum(1 for line in server.log_tail(1 << 30).splitlines()
               if line.startswith("related-server: snapshot "))


def take_sample(server, t):
    """RSS, the watched /metrics series and the snapshot count at time t."""
    code = server.exit_code()
    if code is not None:
        raise BenchError(f"the server exited with code {code} {t:.0f}s into the soak")
    metrics = scrape_metrics(server.metrics_address)
    return {"t": t, "rss": rss_bytes(server.pid), "metrics": metrics,
            "snapshots": snapshots_logged(server)}


# ---- report ------------------------------------------------------------------

def mb(value):
    return f"{value / 1e6:.1f} MB"


def watched_text(metrics):
    watched = {k: v for k, v in metrics.items() if k != _INDEX_MEMORY}
    if not watched:
        return "none exported"
    return ", ".join(f"{k}={v:g}" for k, v in sorted(watched.items()))


def thirds(samples, elapsed):
    """[(label, [rss...]) x 3] split by time since the soak started."""
    parts = [[], [], []]
    for s in samples:
        parts[min(2, int(3 * s["t"] / elapsed))].append(s["rss"])
    edges = [0, elapsed / 3, 2 * elapsed / 3, elapsed]
    labels = ("first third ", "second third", "last third  ")
    return [(f"{labels[i]} ({edges[i]:.0f}-{edges[i + 1]:.0f}s)", parts[i])
            for i in range(3)]


def print_report(run):
    samples, elapsed = run["samples"], run["elapsed"]
    writers, reader = run["writers"], run["reader"]
    upserted = sum(w.replaced + w.inserted for w in writers)
    print(f"writes: {upserted} articles upserted in {sum(w.upsert_calls for w in writers)} "
          f"calls ({sum(w.replaced for w in writers)} replaced with a new vector, "
          f"{sum(w.inserted for w in writers)} new), {sum(w.deleted for w in writers)} "
          f"deleted in {sum(w.delete_calls for w in writers)} calls; achieved "
          f"{upserted / elapsed:.0f} articles/s (target {run['target']})")
    if reader is not None:
        print(f"reads: {reader.calls} GetRelated ({reader.calls / elapsed:.0f}/s), "
              f"{reader.empty} empty boxes")
    print(f"CPU over the soak: server {run['server_cpu'] / elapsed:.2f} cores, "
          f"this client {run['client_cpu'] / elapsed:.2f} cores (machine: "
          f"{os.cpu_count()} cores)")
    means = []
    for label, values in thirds(samples, elapsed):
        if values:
            means.append(sum(values) / len(values))
            print(f"RSS {label}: mean {mb(means[-1])}  max {mb(max(values))}  "
                  f"({len(values)} samples)")
        else:
            means.append(None)
            print(f"RSS {label}: no samples")
    if means[1] and means[2]:
        ratio = means[2] / means[1]
        verdict = "holds" if ratio <= TARGET_RATIO else "MISSED"
        print(f"RSS last-third mean / second-third mean: {ratio:.3f}  "
              f"target <= {TARGET_RATIO}: {verdict}")
    print(f"RSS before the soak {mb(run['rss_before'])}, at the end {mb(samples[-1]['rss'])}; "
          f"GetStats index_memory_bytes {mb(run['stats_before'].index_memory_bytes)} -> "
          f"{mb(run['stats_after'].index_memory_bytes)}")
    print(f"tombstone/compaction series on /metrics: at the start "
          f"{watched_text(samples[0]['metrics'])}; at the end "
          f"{watched_text(samples[-1]['metrics'])}")
    times = [s["t"] for prev, s in zip(samples, samples[1:])
             if s["snapshots"] > prev["snapshots"]]
    print(f"snapshots logged during the soak: {samples[-1]['snapshots'] - samples[0]['snapshots']}"
          + (f" (first seen at {', '.join(f'{t:.0f}s' for t in times)})" if times else ""))


# ---- main --------------------------------------------------------------------

def progress_line(sample, writers, reader, errors):
    upserted = sum(w.replaced + w.inserted for w in writers)
    reads = reader.calls if reader is not None else 0
    index_memory = sample["metrics"].get(_INDEX_MEMORY)
    return (f"  t={sample['t']:.0f}s rss={mb(sample['rss'])} index_memory="
            f"{mb(index_memory) if index_memory is not None else '?'} "
            f"upserted={upserted} ({upserted / max(sample['t'], 1e-9):.0f}/s) "
            f"reads={reads} errors={errors.count} "
            f"tombstone/compaction: {watched_text(sample['metrics'])}")


def split_ids(args):
    """Initial IDs 0..N-1 dealt to the writers: (anchors, ring) per writer."""
    shares = []
    for w in range(args.writers):
        mine = range(w, args.articles, args.writers)
        shares.append(([n for n in mine if n < args.anchors],
                       [n for n in mine if n >= args.anchors]))
    return shares


def make_load(args, pb, stub, stop, errors):
    """The writer threads and the reader thread (None without reads), not started."""
    new_numbers = itertools.count(args.articles)
    corpus = Corpus(args.articles, args.dim)
    shares = split_ids(args)
    writers = [Writer(w, pb, stub, corpus, args, anchors, ring, new_numbers, stop, errors)
               for w, (anchors, ring) in enumerate(shares)]
    reader = (Reader(pb, stub, [n for anchors, _ in shares for n in anchors],
                     args.read_rate, stop, errors) if args.read_rate > 0 else None)
    return writers, reader


def sample_until_done(args, server, started, stop, load):
    """Samples every --sample_every seconds until --seconds have passed or a
    thread stopped the run; returns the samples (not the final one)."""
    writers, reader, errors = load
    samples = [take_sample(server, 0.0)]
    next_sample = started + args.sample_every
    next_progress = started + args.progress_every
    end = started + args.seconds
    while not stop.is_set():
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_sample:
            next_sample += args.sample_every
            samples.append(take_sample(server, now - started))
            if now >= next_progress:
                next_progress += args.progress_every
                print(progress_line(samples[-1], writers, reader, errors),
                      file=sys.stderr, flush=True)
        # Sampling period (not synchronisation): wake for the next sample,
        # the end, or a thread that stopped the run.
        stop.wait(max(0.0, min(next_sample, end) - time.monotonic()))
    return samples


def stop_threads(threads, stop, errors):
    """Signals the stop and joins every thread (bounded: each call it may be
    in has a deadline)."""
    stop.set()
    for thread in threads:
        thread.join(2 * RPC_TIMEOUT_S + 5)
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        errors.add(f"threads still running after the stop: {stuck}")


def soak(args, server, pb, stub):
    """Runs the load while sampling, prints the report; returns the Errors."""
    pid = server.pid
    stop = threading.Event()
    errors = Errors(stop)
    writers, reader = make_load(args, pb, stub, stop, errors)
    threads = writers + ([reader] if reader else [])
    stats_before = stub.GetStats(pb.related_pb2.GetStatsRequest(), timeout=RPC_TIMEOUT_S)
    rss_before = rss_bytes(pid)
    server_cpu_before, client_cpu_before = bench_common.cpu_seconds(pid), time.process_time()

    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        samples = sample_until_done(args, server, started, stop,
                                    (writers, reader, errors))
    finally:
        stop_threads(threads, stop, errors)
    elapsed = time.monotonic() - started
    samples.append(take_sample(server, elapsed))
    if elapsed < args.seconds - 1:
        print(f"soak stopped early, after {elapsed:.0f}s of {args.seconds:.0f}s",
              file=sys.stderr)
    stats_after = stub.GetStats(pb.related_pb2.GetStatsRequest(), timeout=RPC_TIMEOUT_S)
    if stats_after.article_count != args.articles:
        errors.add(f"GetStats.article_count {stats_after.article_count} after the soak, "
                   f"want {args.articles}")
    print_report(dict(
        samples=samples, elapsed=elapsed, writers=writers, reader=reader,
        target=f"{args.write_rate:g}/s" if args.write_rate else "none",
        rss_before=rss_before, stats_before=stats_before, stats_after=stats_after,
        server_cpu=bench_common.cpu_seconds(pid) - server_cpu_before,
        client_cpu=time.process_time() - client_cpu_before))
    return errors


def describe_load(args):
    rate = f"{args.write_rate:g} articles/s" if args.write_rate else "as fast as they go"
    reads = (f"1 reader at {args.read_rate:g} GetRelated/s on {args.anchors} anchors"
             if args.read_rate else "no reads")
    return (f"soak {args.seconds:g}s: {args.writers} writer thread(s) at {rate} in all, "
            f"batches of {args.batch}, {args.replace_share:.0%} replacing an existing "
            f"article with a new vector, the rest new articles with as many old ones "
            f"deleted; {reads}; RSS sampled every {args.sample_every:g}s")


def main():
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in step with the progress on stderr
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hnsw-soak-") as work_dir:
        flags = ["--index=hnsw", f"--dim={args.dim}",
                 f"--data_dir={os.path.join(work_dir, 'data')}", *args.server_flags]
        server = related_server.ServerProcess(os.path.abspath(args.server), flags,
                                               echo_log=args.show_server_log)
        channel = None
        try:
            pb, channel = bench_common.serve(server, args.proto_dir, work_dir)
            stub = pb.related_pb2_grpc.RelatedArticlesStub(channel)
            print(f"server {args.server} on {server.grpc_address} (metrics "
                  f"{server.metrics_address}), flags: {' '.join(flags)}")
            import_s = import_articles(pb, stub, Corpus(args.articles, args.dim),
                                       args.articles)
            bench_common.wait_until_lists_ready(pb, stub, args.articles,
                                                LISTS_READY_TIMEOUT_S)
            print(f"imported {args.articles} articles (dim {args.dim}) in {import_s:.1f}s; "
                  f"every related list ready; RSS {mb(rss_bytes(server.pid))}")
            print(describe_load(args))
            errors = soak(args, server, pb, stub)
        except (BenchError, SetupError, grpc.RpcError, OSError) as err:
            detail = bench_common.failure_detail(err)
            if not isinstance(err, SetupError):  # a SetupError carries the log already
                detail += "\n" + server.log_tail(10)
            print(f"hnsw_soak: FAILED: {detail}", file=sys.stderr)
            server.kill()
            return 1
        except BaseException:  # a bug here, or Ctrl-C: leave no server behind
            server.kill()
            raise
        finally:
            if channel is not None:
                channel.close()
        code = server.stop()
        if code != 0:
            errors.add(f"server exit code {code} after SIGTERM")
    print(f"errors: {errors.count}" + "".join(f"\n  {m}" for m in errors.messages))
    print(f"finished in {time.monotonic() - started:.0f}s")
    return 1 if errors.count else 0


if __name__ == "__main__":
    sys.exit(main())
