#!/usr/bin/python3
"""How long related-cli train takes on 100,000 articles, with its progress.

No 100k-article news corpus is available here, so one is made from AG News:
each article is a run of real articles (title and body) joined until it
reaches --bytes (default 2,048, a typical article's text). The words and
their statistics are real news; the "articles" are longer than AG News's own.

  /usr/bin/python3 bench/quality/train_100k.py \\
      --dataset ../shared/datasets/agnews.jsonl --cli build/related-cli
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

_REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=os.path.join(_REPO, "..", "shared", "datasets",
                                                          "agnews.jsonl"))
    parser.add_argument("--cli", default=os.path.join(_REPO, "build", "related-cli"))
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--bytes", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with open(args.dataset, encoding="utf-8") as f:
        texts = [(r["title"], r["body"]) for r in map(json.loads, f) if r]
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.jsonl")
        total = 0
        with open(corpus, "w", encoding="utf-8") as out:
            for i in range(args.articles):
                title, body = rng.choice(texts)
                parts = [body]
                while sum(len(p) + 1 for p in parts) < args.bytes:
                    parts.append(" ".join(rng.choice(texts)))
                text = " ".join(parts)[:args.bytes]
                total += len(text)
                out.write(json.dumps({"id": f"a{i}", "title": title, "text": text}) + "\n")
        print(f"corpus: {args.articles} articles, {total / args.articles:.0f} bytes of text "
              f"on average", flush=True)
        started = time.monotonic()
        done = subprocess.run([args.cli, "train", corpus, f"--out={tmp}/model.bin",
                               f"--threads={args.threads}"], stdout=subprocess.PIPE,
                              text=True)
        seconds = time.monotonic() - started
        sys.stdout.write(done.stdout)
        print(f"related-cli train: {seconds:.1f} s wall clock for {args.articles} articles "
              f"(target: 600 s)")
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
