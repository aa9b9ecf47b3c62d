"""What the Python bench scripts share: their common flags, starting the
server, their error, the import stream and the wait until every related
list is ranked.

Each script makes its own corpus (its seed, IDs and metadata differ); this
module only moves the articles in and waits for the server to be ready."""

import argparse
import os
import time

import grpc

import related_server
from related_server import RPC_TIMEOUT_S

IMPORT_BATCH = 500
IMPORT_TIMEOUT_S = 900.0


class BenchError(Exception):
    """Something did not run or a call did not succeed: the figures are void."""


def bench_parser(doc, articles, articles_help, dim, usage=None):
    """An argument parser described by the first paragraph of the script's
    docstring `doc`, showing every default, with the flags every bench script
    shares: which server binary and protos to use, and the corpus it loads
    (its size and embedding dimension)."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], usage=usage,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--server", default=related_server.DEFAULT_SERVER,
                        help="related-server binary")
    parser.add_argument("--proto_dir", default=related_server.DEFAULT_PROTO_DIR,
                        help="the repo's proto/ dir")
    parser.add_argument("--articles", type=int, default=articles,
                        help=articles_help)
    parser.add_argument("--dim", type=int, default=dim,
                        help="embedding dimension")
    return parser


def serve(server, proto_dir, work_dir):
    """Generates the stubs into work_dir, starts `server` (a
    related_server.ServerProcess) and waits until it is SERVING; returns
    the stubs and a channel to it (the caller closes it)."""
    pb = related_server.generate_stubs(os.path.abspath(proto_dir), work_dir)
    server.start()
    channel = grpc.insecure_channel(server.grpc_address)
    server.wait_until_serving(pb, channel)
    return pb, channel


def failure_detail(err):
    """One line saying what failed: the status of a failed call, or the error."""
    if isinstance(err, grpc.RpcError):
        return f"{err.code().name}: {err.details()}"
    return str(err)


def timed_import(stub, requests, count):
    """Streams the ImportArticlesRequest iterator `requests` (count articles
    in all); returns the seconds until the call returned."""
    started = time.monotonic()
    reply = stub.ImportArticles(requests, timeout=IMPORT_TIMEOUT_S)
    if reply.upserted != count:
        raise BenchError(f"ImportArticles upserted {reply.upserted}, want {count}")
    return time.monotonic() - started


def wait_until_lists_ready(pb, stub, count, timeout_s):
    """Polls GetStats until no related list is stale (bounded by timeout_s),
    so that GetRelated reads precomputed boxes; returns the stats."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = stub.GetStats(pb.related_pb2.GetStatsRequest(), timeout=RPC_TIMEOUT_S)
        if stats.article_count != count:
            raise BenchError(f"GetStats.article_count {stats.article_count}, want {count}")
        if not stats.related_lists_precomputed:
            raise BenchError("GetStats.related_lists_precomputed is false: GetRelated "
                             "would search instead of reading a precomputed box")
        if stats.related_lists_stale == 0:
            return stats
        if time.monotonic() > deadline:
            raise BenchError(f"{stats.related_lists_stale} related lists still stale "
                             f"{timeout_s:.0f}s after the import returned")
        time.sleep(0.1)  # poll interval; the loop is bounded by the deadline


def cpu_seconds(pid):
    """User + system CPU seconds of `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
