#!/usr/bin/python3
"""Embeds the AG News articles as a newsroom's own model would, upstream of
related-articles: LSA (TF-IDF, then truncated SVD to 256 dimensions) with
Debian's python3-sklearn. Writes related-cli's import format (JSONL).

The data set has no dates; each article gets a publication time spread over
the 30 days before 2026-11-28, fixed by its ID, so that the recency and age
controls have something to work on. The section is the AG News category.

  /usr/bin/python3 bench/quality/embed_agnews.py ../shared/datasets/agnews.jsonl out.jsonl
"""

import argparse
import datetime
import hashlib
import json
import sys
import time

from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

DIMENSION = 256
SEED = 0
NEWEST = datetime.datetime(2026, 11, 28, tzinfo=datetime.timezone.utc)


def published_at(article_id):
    """A fixed time within 30 days before NEWEST, from a hash of the ID."""
    minutes = int(hashlib.sha256(article_id.encode()).hexdigest(), 16) % (30 * 24 * 60)
    return (NEWEST - datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("output")
    args = parser.parse_args()

    started = time.monotonic()
    with open(args.dataset, encoding="utf-8") as f:
        articles = [json.loads(line) for line in f if line.strip()]
    texts = [a["title"] + " " + a["body"] for a in articles]
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english")
    matrix = tfidf.fit_transform(texts)
    svd = TruncatedSVD(n_components=DIMENSION, random_state=SEED)
    embeddings = normalize(svd.fit_transform(matrix))

    with open(args.output, "w", encoding="utf-8") as out:
        for article, vector in zip(articles, embeddings):
            out.write(json.dumps({
                "id": article["id"],
                "title": article["title"],
                "section": article["category"].lower(),
                "language": "en",
                "published_at": published_at(article["id"]),
                "embedding": [round(float(x), 6) for x in vector],
            }) + "\n")
    print(f"embedded {len(articles)} articles: TF-IDF vocabulary {matrix.shape[1]}, "
          f"SVD to {DIMENSION} dims (explained variance "
          f"{svd.explained_variance_ratio_.sum():.2f}), {time.monotonic() - started:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
