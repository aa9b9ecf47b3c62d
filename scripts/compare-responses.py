#!/usr/bin/python3
"""Compares the lookup answers of two related-server binaries, byte for byte.

For a refactoring that must not change behaviour: start the binary from
before and the one from after on the same deterministic data, send both the
same lookups, and compare the answers: GetRelated's raw response bytes,
SearchByVector's and BatchGetRelated's as parsed messages (see same()), and
every error's code and message. Lookups cover the precomputed box, the
widened search, every policy control and the debug output, after edits,
replacements and deletes.

    scripts/compare-responses.py OLD_SERVER NEW_SERVER [--articles=3000]

Each server runs pinned to one CPU (taskset), so that HNSW, whose parallel
insert is not deterministic, builds the same graph in both; `--index` picks
the kinds compared (both by default). Prints one line per kind and exits 1
if any response differs.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support", "python"))
import grpc  # noqa: E402
import related_server as lib  # noqa: E402

SECTIONS = ["world", "sport", "business", "science", "culture"]
LANGUAGES = ["en", "en", "en", "de", ""]
NOW = 1764300000  # fixed clock for every time-dependent policy
DIM = 24


def make_articles(pb, count, rng):
    """Clustered unit-ish vectors with varied metadata; a few near-duplicates."""
    centres = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(count // 40 + 1)]
    articles = []
    for i in range(count):
        centre = centres[i % len(centres)]
        if i % 97 == 5 and i > 0:  # a syndicated copy of the previous article
            vector = [v + rng.gauss(0, 0.01) for v in articles[-1].embedding]
        else:
            vector = [c + rng.gauss(0, 0.6) for c in centre]
        meta = pb.ArticleMetadata(
            title=f"Title {i} " + "x" * (i % 13), url=f"https://news.example/{i}",
            section=SECTIONS[i % 5], language=LANGUAGES[(i // 5) % 5])
        if i % 7:
            meta.published_at.seconds = NOW - (i * 3607) % (90 * 86400)
        if i % 3 == 0:
            meta.attributes["type"] = "opinion" if i % 2 else "news"
        if i % 11 == 0:
            meta.attributes["region"] = "eu"
        articles.append(pb.Article(id=f"a/{i:05d}", embedding=vector, metadata=meta))
    return articles


def load(stub, pb, articles, rng):
    """Import stream, then single edits, replacements and deletes."""
    batches = [pb.ImportArticlesRequest(articles=articles[i:i + 250])
               for i in range(0, len(articles), 250)]
    stub.ImportArticles(iter(batches), timeout=300)
    for i in range(0, len(articles), 37):  # edited headline, same vector
        a = pb.Article()
        a.CopyFrom(articles[i])
        a.metadata.title += " (updated)"
        stub.UpsertArticles(pb.UpsertArticlesRequest(articles=[a]), timeout=60)
    for i in range(3, len(articles), 53):  # new vector
        a = pb.Article()
        a.CopyFrom(articles[i])
        a.embedding[:] = [v + rng.gauss(0, 0.3) for v in a.embedding]
        stub.UpsertArticles(pb.UpsertArticlesRequest(articles=[a]), timeout=60)
    gone = [articles[i].id for i in range(11, len(articles), 61)]
    stub.DeleteArticles(pb.DeleteArticlesRequest(article_ids=gone), timeout=60)
    return set(gone)


def policies(pb):
    """Every control of RankingPolicy, alone and in a few combinations."""
    def policy(**fields):
        p = pb.RankingPolicy(**{k: v for k, v in fields.items()
                                if k not in ("now", "max_age", "half_life",
                                             "min_score", "dup", "lam", "weight")})
        if "now" in fields or "max_age" in fields or "half_life" in fields:
            p.now.seconds = NOW
        if "max_age" in fields:
            p.max_age.seconds = fields["max_age"]
        if "half_life" in fields:
            p.recency_half_life.seconds = fields["half_life"]
            p.recency_weight.value = fields.get("weight", 0.5)
        if "min_score" in fields:
            p.min_score.value = fields["min_score"]
        if "dup" in fields:
            p.duplicate_threshold.value = fields["dup"]
        if "lam" in fields:
            p.diversity_lambda.value = fields["lam"]
        return p
    return [
        None,
        policy(debug=True, now=True),
        policy(sections=["sport"], debug=True, now=True),
        policy(exclude_sections=["world", "business"]),
        policy(languages=["de"], debug=True, now=True),
        policy(max_age=86400 * 7, debug=True),
        policy(required_attributes={"type": "news"}),
        policy(required_attributes={"region": "eu"}, sections=["world"], debug=True, now=True),
        policy(min_score=0.6, debug=True, now=True),
        policy(dup=0.8, debug=True, now=True),
        policy(dup=1.0),
        policy(lam=0.5, debug=True, now=True),
        policy(half_life=86400 * 3, weight=0.7, debug=True),
        policy(candidates=12, debug=True, now=True),
        policy(sections=["culture"], languages=["en"], max_age=86400 * 30, lam=0.7,
               debug=True),
    ]


class Server:
    def __init__(self, binary, index):
        self.proc = lib.ServerProcess(binary, [f"--index={index}", f"--dim={DIM}"])
        self.proc.args = ["taskset", "-c", "0"] + self.proc.args  # one CPU

    def __enter__(self):
        self.proc.start()
        self.channel = grpc.insecure_channel(self.proc.grpc_address)
        return self

    def __exit__(self, *exc):
        self.channel.close()
        self.proc.stop()

    def raw(self, method, request):
        """The response's bytes as the server sent them, or the error."""
        call = self.channel.unary_unary(f"/related.v1.RelatedArticles/{method}",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=None)
        try:
            return call(request, timeout=60)
        except grpc.RpcError as err:
            return f"{err.code().name}: {err.details()}"


def requests(pb, articles, gone, rng):
    """(method, request) pairs for every lookup compared."""
    ids = [a.id for a in articles]
    out = []
    for p in policies(pb):
        for i in range(0, len(ids), max(1, len(ids) // 60)):
            req = pb.GetRelatedRequest(article_id=ids[i])
            if p is not None:
                req.policy.CopyFrom(p)
            out.append(("GetRelated", req))
        for limit in (1, 5, 10, 11, 30):
            req = pb.GetRelatedRequest(article_id=ids[rng.randrange(len(ids))], limit=limit)
            if p is not None:
                req.policy.CopyFrom(p)
            out.append(("GetRelated", req))
        req = pb.GetRelatedRequest(article_id=ids[7], exclude_ids=ids[8:40:3])
        if p is not None:
            req.policy.CopyFrom(p)
        out.append(("GetRelated", req))
        vec = pb.SearchByVectorRequest(embedding=articles[rng.randrange(len(ids))].embedding,
                                       limit=rng.choice([0, 3, 10, 25]), exclude_ids=ids[:3])
        if p is not None:
            vec.policy.CopyFrom(p)
        out.append(("SearchByVector", vec))
        batch = pb.BatchGetRelatedRequest(article_ids=[ids[j] for j in range(5, len(ids), 211)]
                                          + ["missing/article"], limit=7)
        if p is not None:
            batch.policy.CopyFrom(p)
        out.append(("BatchGetRelated", batch))
    for g in sorted(gone)[:5]:
        out.append(("GetRelated", pb.GetRelatedRequest(article_id=g)))
    out.append(("GetRelated", pb.GetRelatedRequest(article_id="bad\x01id")))
    out.append(("GetRelated", pb.GetRelatedRequest(article_id=ids[0], limit=1000)))
    return out


def same(pb, method, a, b):
    """GetRelated: the same bytes. The others are serialised by protobuf,
    which writes map entries (attributes) in an unspecified order that
    differs between two runs of one binary: the same message."""
    if method == "GetRelated" or isinstance(a, str) or isinstance(b, str):
        return a == b
    response = getattr(pb, f"{method}Response")
    return response.FromString(a) == response.FromString(b)


def compare(old, new, index, count, stubs):
    pb = stubs.related_pb2
    answers = []
    for binary in (old, new):
        rng = random.Random(20261206)
        articles = make_articles(pb, count, rng)
        with Server(binary, index) as server:
            server.proc.wait_until_serving(stubs, server.channel)
            stub = stubs.related_pb2_grpc.RelatedArticlesStub(server.channel)
            gone = load(stub, pb, articles, rng)
            calls = requests(pb, articles, gone, rng)
            answers.append([server.raw(method, req) for method, req in calls])
    differ = [i for i, (a, b) in enumerate(zip(*answers))
              if not same(pb, calls[i][0], a, b)]
    errors = sum(1 for a in answers[0] if isinstance(a, str))
    empty = sum(1 for a in answers[0] if a == b"")
    total_bytes = sum(len(a) for a in answers[0] if isinstance(a, bytes))
    print(f"{index}: {len(answers[0])} lookups, {len(answers[0]) - len(differ)} identical, "
          f"{len(differ)} differ ({total_bytes} response bytes; {errors} errors and "
          f"{empty} empty responses, compared too)")
    for i in differ[:5]:
        request = str(calls[i][1]).replace("\n", " ")
        print(f"  differs: #{i} {calls[i][0]} {request}"[:300])
    return not differ


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--index", choices=("exact", "hnsw", "both"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as stub_dir:
        stubs = lib.generate_stubs(lib.DEFAULT_PROTO_DIR, stub_dir)
        kinds = ["exact", "hnsw"] if args.index == "both" else [args.index]
        ok = all([compare(os.path.abspath(args.old), os.path.abspath(args.new), kind,
                          args.articles, stubs) for kind in kinds])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
