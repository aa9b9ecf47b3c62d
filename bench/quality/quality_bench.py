#!/usr/bin/python3
"""Relatedness quality of related-server on real news: AG News (7,600
articles, 4 categories), every article asked for its box with each
editorial control on and off. Two upstreams: LSA embeddings computed here
(embed_agnews.py) and sent as vectors, and text in: a model trained with
related-cli train on the same articles, the articles sent as text only and
embedded by the server (--embedder_model); and zero configuration ("self"):
a server with no model trains its first one itself once it holds 1,000
text-only articles: at the end of the import stream that brought them (so
on all of them), or, for articles sent in separate calls, on the first
1,000.

Reports per configuration: category precision@10 (share of the box in the
query's category), nDCG@10 (same-category as relevance) and how many boxes
contain a near-duplicate of their query (cosine above the upstream's default
threshold: 0.95 for LSA, 0.98 for the server's model). Plain exact kNN of
LSA is the baseline, measured in the same run.

  /usr/bin/python3 bench/quality/quality_bench.py \
      --dataset ../shared/datasets/agnews.jsonl --server build/related-server
"""

import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.normpath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, os.path.join(_REPO, "support", "python"))
sys.path.insert(0, _HERE)

import grpc  # noqa: E402
import related_server  # noqa: E402
import embed_agnews  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402

LIMIT = 10
# "Near-duplicate" for the dup boxes column: the default threshold of each
# upstream (the server's own model puts articles on one subject closer).
NEAR_DUPLICATE = {"LSA": 0.95, "text": 0.98, "self": 0.98}
BATCH = 200
NOW_SECONDS = 1795824000  # 2026-11-28T00:00:00Z, the newest synthetic date


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def import_articles(stubs, stub, rows, bodies=None, stream=True):
    """Sends `rows` with their embeddings, or, given `bodies` (id -> text),
    with their text and no embedding: in one import stream, or (`stream`
    false) in UpsertArticles calls of 500."""
    pb = stubs.related_pb2

    def batches():
        for start in range(0, len(rows), 500):
            request = pb.ImportArticlesRequest()
            for row in rows[start:start + 500]:
                if bodies is None:
                    a = request.articles.add(id=row["id"], embedding=row["embedding"])
                else:
                    a = request.articles.add(id=row["id"], text=bodies[row["id"]])
                a.metadata.title = row["title"]
                a.metadata.section = row["section"]
                a.metadata.language = row["language"]
                a.metadata.published_at.FromJsonString(row["published_at"])
            yield request

    if not stream:
        for batch in batches():
            stub.UpsertArticles(pb.UpsertArticlesRequest(articles=batch.articles),
                                timeout=120)
        return
    reply = stub.ImportArticles(batches(), timeout=600)
    assert reply.upserted == len(rows), reply


def policy(stubs, **controls):
    """A RankingPolicy with the given controls (others: server defaults)."""
    p = stubs.related_pb2.RankingPolicy()
    for name in ("duplicate_threshold", "diversity_lambda", "recency_weight", "min_score"):
        if name in controls:
            getattr(p, name).CopyFrom(wrappers_pb2.FloatValue(value=controls[name]))
    if "recency_half_life_hours" in controls:
        p.recency_half_life.seconds = int(controls["recency_half_life_hours"] * 3600)
    if "max_age_days" in controls:
        p.max_age.seconds = int(controls["max_age_days"] * 86400)
    if controls.get("now"):
        p.now.seconds = NOW_SECONDS
    return p


def evaluate(stubs, stub, rows, make_policy, same_section, near_duplicate):
    """Asks for every article's box; returns the quality figures."""
    pb = stubs.related_pb2
    category = {r["id"]: r["section"] for r in rows}
    groups = collections.defaultdict(list)
    for r in rows:
        groups[r["section"] if same_section else ""].append(r["id"])
    hits = ndcg = dup_boxes = short_boxes = shown = 0
    started = time.monotonic()
    for section, ids in groups.items():
        p = make_policy()
        if same_section:
            p.sections.append(section)
        for start in range(0, len(ids), BATCH):
            reply = stub.BatchGetRelated(
                pb.BatchGetRelatedRequest(article_ids=ids[start:start + BATCH],
                                          limit=LIMIT, policy=p), timeout=120)
            for result in reply.results:
                assert result.code == 0, result
                box = result.articles
                relevant = [category[a.article_id] == category[result.article_id] for a in box]
                hits += sum(relevant)
                shown += len(box)
                dcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(relevant))
                ndcg += dcg / sum(1 / math.log2(i + 2) for i in range(LIMIT))
                dup_boxes += any(a.score > near_duplicate for a in box)
                short_boxes += len(box) < LIMIT
    n = len(rows)
    return {"precision_at_10": hits / (n * LIMIT), "ndcg_at_10": ndcg / n,
            "precision_of_shown": hits / max(shown, 1), "mean_box": shown / n,
            "boxes_with_near_duplicate": dup_boxes, "short_boxes": short_boxes,
            "seconds": time.monotonic() - started}


# (name, index kind, policy controls, filter by the query's own section)
TEXT_CONFIGS = [
    ("plain kNN: no suppression, no diversity", "exact",
     dict(duplicate_threshold=1.0, diversity_lambda=1.0), False),
    ("default policy (server flags)", "exact", {}, False),
    ("default policy, HNSW index", "hnsw", {}, False),
    # A shorter box instead of weak filler: a similarity floor.
    ("score floor 0.5", "exact", dict(min_score=0.5), False),
    ("score floor 0.6", "exact", dict(min_score=0.6), False),
    ("score floor 0.7", "exact", dict(min_score=0.7), False),
]
CONFIGS = [
    ("plain kNN (baseline): no suppression, no diversity", "exact",
     dict(duplicate_threshold=1.0, diversity_lambda=1.0), False),
    ("default policy (server flags)", "exact", {}, False),
    ("near-duplicate suppression only (0.95)", "exact",
     dict(duplicate_threshold=0.95, diversity_lambda=1.0), False),
    ("diversity only, MMR lambda 0.8", "exact",
     dict(duplicate_threshold=1.0, diversity_lambda=0.8), False),
    ("diversity only, MMR lambda 0.5", "exact",
     dict(duplicate_threshold=1.0, diversity_lambda=0.5), False),
    ("recency only, half-life 7 d, weight 0.3", "exact",
     dict(duplicate_threshold=1.0, recency_half_life_hours=168, recency_weight=0.3, now=True),
     False),
    ("max age 14 d", "exact", dict(max_age_days=14, now=True), False),
    ("same section filter", "exact", {}, True),
    ("default policy, HNSW index", "hnsw", {}, False),
]


def language_rows(args, stubs, tmp):
    """The same-language rule on the demo corpus (120 articles in 24
    stories; 6 of them in German or French, in English stories): for every
    article's box of 4, how many boxes hold another language than the
    query's, and the share of the box from the query's own story."""
    corpus = os.path.join(_REPO, "demo", "articles.jsonl")
    rows = load(corpus)
    model = os.path.join(tmp, "demo-model.bin")
    subprocess.run([args.cli, "train", corpus, f"--out={model}"], check=True,
                   capture_output=True)
    server = related_server.ServerProcess(args.server, [
        "--index=hnsw", f"--embedder_model={model}", "--ranking_duplicate_threshold=1"])
    server.start()
    out = []
    try:
        channel = grpc.insecure_channel(server.grpc_address)
        server.wait_until_serving(stubs, channel)
        stub = stubs.related_pb2_grpc.RelatedArticlesStub(channel)
        pb = stubs.related_pb2
        request = pb.UpsertArticlesRequest()
        for row in rows:
            a = request.articles.add(id=row["id"], text=row["text"])
            a.metadata.title = row["title"]
            a.metadata.language = row["language"]
        stub.UpsertArticles(request, timeout=120)
        by_id = {row["id"]: row for row in rows}
        for same_language in (False, True):
            p = pb.RankingPolicy()
            p.same_language.value = same_language
            foreign = same_story = 0
            for row in rows:
                reply = stub.GetRelated(pb.GetRelatedRequest(
                    article_id=row["id"], limit=4, policy=p), timeout=10)
                box = [by_id[a.article_id] for a in reply.articles]
                foreign += any(b["language"] != row["language"] for b in box)
                same_story += sum(b["attributes"]["topic"] == row["attributes"]["topic"]
                                  for b in box)
            out.append((same_language, foreign, same_story / (4 * len(rows)), len(rows)))
    finally:
        server.stop()
    return out


def measure(args, stubs, rows, upstream, configs, flags, bodies=None):
    """Runs `configs` on a server per index kind started with `flags`."""
    results = []
    for kind in ("exact", "hnsw"):
        if not any(c[1] == kind for c in configs):
            continue
        server = related_server.ServerProcess(
            args.server, [f"--index={kind}", *flags, *args.server_flag])
        server.start()
        try:
            channel = grpc.insecure_channel(server.grpc_address)
            server.wait_until_serving(stubs, channel)
            stub = stubs.related_pb2_grpc.RelatedArticlesStub(channel)
            import_articles(stubs, stub, rows, bodies)
            for name, config_kind, controls, same_section in configs:
                if config_kind != kind:
                    continue
                figures = evaluate(stubs, stub, rows,
                                   lambda: policy(stubs, **controls), same_section,
                                   NEAR_DUPLICATE[upstream])
                results.append({"upstream": upstream, "config": name, "index": kind,
                                **figures})
                print(f"  measured: {upstream}, {name}", file=sys.stderr)
        finally:
            server.stop()
    return results


def self_trained_rows(args, stubs, rows, bodies, train_after, stream):
    """Zero configuration: a server with no model, sent the articles as text
    only, trains its first model itself once it holds `train_after` of them
    (at the end of an import stream: on all of them; sent in separate calls:
    on the first `train_after`) and embeds them all with it. Returns the
    default policy's row and the seconds from the last write until every
    article was served."""
    server = related_server.ServerProcess(args.server, [
        "--index=hnsw", f"--embedder_train_after={train_after}",
        # What a restart would pick for a model the server trained; the
        # first run keeps 0.95 unless told (docs/text.md).
        "--ranking_duplicate_threshold=0.98", *args.server_flag])
    server.start()
    try:
        channel = grpc.insecure_channel(server.grpc_address)
        server.wait_until_serving(stubs, channel)
        stub = stubs.related_pb2_grpc.RelatedArticlesStub(channel)
        import_articles(stubs, stub, rows, bodies, stream)
        imported = time.monotonic()
        while True:
            stats = stub.GetStats(stubs.related_pb2.GetStatsRequest(), timeout=10)
            if stats.embedder_model and stats.held_text_articles == 0:
                break
            if time.monotonic() - imported > 600:
                raise RuntimeError(f"no model after 600 s:\n{server.log_tail()}")
            time.sleep(0.2)
        waited = time.monotonic() - imported
        figures = evaluate(stubs, stub, rows, lambda: policy(stubs), False,
                           NEAR_DUPLICATE["self"])
        print(f"  measured: self-trained at {train_after}", file=sys.stderr)
    finally:
        server.stop()
    name = (f"default policy, server-trained, {train_after}, "
            + ("one import" if stream else "upserts"))
    return {"upstream": "self", "config": name, "index": "hnsw", **figures}, waited


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=os.path.join(_REPO, "..", "shared", "datasets",
                                                          "agnews.jsonl"))
    parser.add_argument("--server", default=os.path.join(_REPO, "build", "related-server"))
    parser.add_argument("--cli", default=os.path.join(_REPO, "build", "related-cli"))
    parser.add_argument("--json", default=os.path.join(_REPO, "build", "bench",
                                                       "quality.json"))
    parser.add_argument("--server_flag", action="append", default=[],
                        help="extra related-server flag (repeatable), e.g. a default policy")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        embedded = os.path.join(tmp, "agnews_lsa.jsonl")
        sys.argv = ["embed_agnews.py", args.dataset, embedded]
        embed_agnews.main()
        rows = load(embedded)
        stubs = related_server.generate_stubs(os.path.join(_REPO, "proto"),
                                               os.path.join(tmp, "stubs"))
        results = measure(args, stubs, rows, "LSA", CONFIGS,
                          [f"--dim={embed_agnews.DIMENSION}"])
        model = os.path.join(tmp, "model.bin")
        started = time.monotonic()
        trained = subprocess.run([args.cli, "train", args.dataset, f"--out={model}"],
                                 capture_output=True, text=True, check=True)
        training = (f"related-cli train: {time.monotonic() - started:.1f} s; "
                    + trained.stdout.strip().splitlines()[-1])
        bodies = {r["id"]: r["body"] for r in load(args.dataset)}
        results += measure(args, stubs, rows, "text", TEXT_CONFIGS,
                           [f"--embedder_model={model}"], bodies)
        self_trained = []
        for stream in (True, False):
            row, waited = self_trained_rows(args, stubs, rows, bodies, 1000, stream)
            results.append(row)
            self_trained.append(
                f"trained by the server (--embedder_train_after=1000), articles sent "
                f"{'in one import stream' if stream else 'in UpsertArticles calls of 500'}: "
                f"all served {waited:.1f} s after the last write")
        languages = language_rows(args, stubs, tmp)

    baseline = results[0]
    print(f"\nAG News, {len(rows)} articles, limit {LIMIT}; upstream LSA "
          f"{embed_agnews.DIMENSION} dims or text in (the server's model); "
          f"dup boxes: a box holding an article with cosine > {NEAR_DUPLICATE['LSA']} (LSA) "
          f"or > {NEAR_DUPLICATE['text']} (text) to the query; "
          f"dP@10 against LSA plain kNN")
    print(training)
    for line in self_trained:
        print(line)
    print(f"{'upstream':<8} {'configuration':<55} {'index':<6} {'P@10':>6} {'dP@10':>7} "
          f"{'nDCG@10':>8} {'dup boxes':>9} {'short':>5} {'P shown':>7} {'box':>5}")
    for r in results:
        delta = r["precision_at_10"] - baseline["precision_at_10"]
        print(f"{r['upstream']:<8} {r['config']:<55} {r['index']:<6} "
              f"{r['precision_at_10']:6.4f} {delta:+7.4f} "
              f"{r['ndcg_at_10']:8.4f} {r['boxes_with_near_duplicate']:9d} "
              f"{r['short_boxes']:5d} {r['precision_of_shown']:7.4f} {r['mean_box']:5.2f}")
    print("\nDemo corpus, text in, boxes of 4: the same-language rule")
    print(f"{'same_language':<14} {'boxes with another language':>28} {'same-story share':>17}")
    for same_language, foreign, share, n in languages:
        print(f"{str(same_language).lower():<14} {foreign:>21} of {n:<4} {share:>17.3f}")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"articles": len(rows), "limit": LIMIT, "results": results}, f, indent=2)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
