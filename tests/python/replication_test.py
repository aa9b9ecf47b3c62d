#!/usr/bin/python3
"""Replicated mode with real processes: 3 nats-server nodes (a JetStream
cluster, the stream at 3 replicas) and related-server replicas, all on
loopback.

What is checked (docs/replication.md states the contract):
- read-your-writes on the replica that took the write;
- a retried publish (the same message ID) is stored and applied once;
- under 4 writers and readers spread over the replicas, with a replica
  killed and restarted, the stream's leader killed, 2 of 3 NATS nodes down
  (writes UNAVAILABLE, reads go on) and a fourth replica started empty:
  every replica ends with exactly the acknowledged state, nothing resurrected,
  each entry applied once, monotonic applied sequences, and (exact index)
  identical boxes on every replica;
- bad configuration exits non-zero with one line and never serves.
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc

import related_testlib
from nats_cluster import NatsCluster, NatsError, free_port
from nats_wire import NatsWire
from related_testlib import ServerProcess

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))

DIM = 8
IDS_PER_WRITER = 30
WRITERS = 4
# Bounds on every wait in this file.
CONVERGE_TIMEOUT_S = 60.0
WRITE_RETRY_S = 90.0


def unit(vector):
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


class Replica:
    """One related-server replica: the process, a channel, stubs."""

    def __init__(self, test, name, data_dir, extra_flags=(), dim=DIM):
        self.name = name
        self.data_dir = data_dir
        self.process = ServerProcess(test.CONFIG.server, [
            "--index=exact", *([f"--dim={dim}"] if dim else []), f"--data_dir={data_dir}",
            f"--nats_url={test.cluster.url}", f"--nats_stream={test.stream}",
            f"--nats_subject={test.stream}.writes", "--nats_timeout=1s",
            "--snapshot_interval=2s", *extra_flags])
        self.process.start()
        self.channel = grpc.insecure_channel(self.process.grpc_address)
        self.process.wait_until_serving(test.pb, self.channel, timeout_s=60)
        self.stub = test.pb.related_pb2_grpc.RelatedArticlesStub(self.channel)

    def metrics(self):
        return related_testlib.scrape_metrics(self.process.metrics_address)

    def applied(self):
        return self.metrics()["related_replication_applied_sequence"]

    def stop(self, kill=False):
        self.channel.close()
        if kill:
            self.process.kill()
        else:
            self.process.stop()


class ReplicationTest(related_testlib.StubsTestCase):
    TMP_PREFIX = "related-replication-"
    _streams = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = NatsCluster(os.path.join(cls._tmp.name), size=3)
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        super().tearDownClass()

    def setUp(self):
        # Each test has a stream of its own on the shared cluster.
        ReplicationTest._streams += 1
        self.stream = f"related-test-{ReplicationTest._streams}"
        self.replicas = []

    def tearDown(self):
        for replica in self.replicas:
            replica.stop(kill=True)
        for node in self.cluster.nodes:
            if not node.running():
                node.start()
        self.cluster.wait_ready()

    def start_replica(self, name, data_dir=None, extra_flags=(), dim=DIM):
        data_dir = data_dir or tempfile.mkdtemp(dir=self._tmp.name, prefix=f"{name}-")
        replica = Replica(self, name, data_dir, extra_flags, dim)
        self.replicas.append(replica)
        return replica

    def article(self, article_id, vector, title):
        pb = self.pb.related_pb2
        return pb.Article(id=article_id, embedding=vector,
                          metadata=pb.ArticleMetadata(title=title))

    def upsert(self, replica, articles, timeout=10):
        return replica.stub.UpsertArticles(
            self.pb.related_pb2.UpsertArticlesRequest(articles=articles), timeout=timeout)

    def delete(self, replica, ids, timeout=10):
        return replica.stub.DeleteArticles(
            self.pb.related_pb2.DeleteArticlesRequest(article_ids=ids), timeout=timeout)

    def get(self, replica, article_id):
        """The stored article, or None if NOT_FOUND."""
        try:
            return replica.stub.GetArticle(
                self.pb.related_pb2.GetArticleRequest(article_id=article_id), timeout=10).article
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def wait_converged(self, replicas):
        """Until every replica applied the stream up to its last entry."""
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while True:
            try:
                head = self.cluster.stream_last_sequence(self.stream)
            except NatsError:  # no leader agreed on yet: ask again
                head = None
            applied = [r.applied() for r in replicas]
            if all(a == head for a in applied):
                return head
            if time.monotonic() > deadline:
                self.fail(f"not converged within {CONVERGE_TIMEOUT_S:.0f}s: stream at {head}, "
                          f"replicas at {applied}; (node, its leader, its last_seq): "
                          f"{self.cluster.stream_views(self.stream)}")
            time.sleep(0.1)  # poll interval, bounded by the deadline

    # ------------------------------------------------------------------

    def test_read_your_writes(self):
        """a write acknowledged by a replica is in that replica's very next read"""
        replicas = [self.start_replica(n) for n in ("a", "b", "c")]
        rng = random.Random(1)
        for i in range(60):
            replica = rng.choice(replicas)
            article_id = f"ryw-{i}"
            vector = [rng.uniform(-1, 1) for _ in range(DIM)]
            self.upsert(replica, [self.article(article_id, vector, f"title {i}")])
            got = self.get(replica, article_id)
            self.assertIsNotNone(got, f"{article_id} missing on {replica.name} right after its write")
            self.assertEqual(got.metadata.title, f"title {i}")
            replica.stub.GetRelated(self.pb.related_pb2.GetRelatedRequest(article_id=article_id),
                                    timeout=10)
            if i % 3 == 0:
                self.assertEqual(self.delete(replica, [article_id]).deleted, 1)
                self.assertIsNone(self.get(replica, article_id),
                                  f"{article_id} still on {replica.name} after its delete")

    def test_text_is_embedded_once_and_every_replica_holds_its_vector(self):
        """text written to any replica reaches every replica as the same vector and text"""
        corpus = os.path.join(REPO, "demo", "articles.jsonl")
        model = os.path.join(self._tmp.name, "model.bin")
        cli = os.path.join(os.path.dirname(self.CONFIG.server), "related-cli")
        subprocess.run([cli, "train", corpus, f"--out={model}"], check=True,
                       capture_output=True, timeout=300)
        replicas = [self.start_replica(n, extra_flags=[f"--embedder_model={model}"], dim=None)
                    for n in ("a", "b", "c")]
        with open(corpus, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()][:40]
        pb = self.pb.related_pb2
        for i, row in enumerate(rows):
            self.upsert(replicas[i % 2], [pb.Article(
                id=row["id"], text=row["text"],
                metadata=pb.ArticleMetadata(title=row["title"], language=row["language"]))])
        self.wait_converged(replicas)
        for row in rows:
            seen = [r.stub.GetArticle(pb.GetArticleRequest(
                article_id=row["id"], include_embedding=True, include_text=True),
                timeout=10).article for r in replicas]
            self.assertEqual(len(seen[0].embedding), 100)
            for replica, article in zip(replicas[1:], seen[1:]):
                self.assertEqual(list(article.embedding), list(seen[0].embedding),
                                 f"{row['id']} differs on {replica.name}")
                self.assertEqual(article.text, row["text"])

    def test_replication_metrics_count_what_happened_and_pass_promtool(self):
        """publishes, applies, sequences, lag and connection state, checked by promtool"""
        a, b = self.start_replica("a"), self.start_replica("b")
        for i in range(5):
            self.upsert(a, [self.article(f"m-{i}", [1.0 + i] + [0.5] * (DIM - 1), f"m {i}")])
        self.delete(a, ["m-0"])
        self.delete(a, ["m-1"])
        head = self.wait_converged([a, b])
        self.assertEqual(head, 7)
        for replica, published in ((a, 7), (b, 0)):
            seen = replica.metrics()
            self.assertEqual(seen['related_replication_publishes_total{result="acknowledged"}'],
                             published, replica.name)
            self.assertEqual(seen['related_replication_publishes_total{result="failed"}'], 0)
            self.assertEqual(seen["related_replication_publish_seconds_count"], published)
            self.assertEqual(seen["related_replication_apply_seconds_count"], head)
            self.assertEqual(seen["related_replication_delay_seconds_count"], head)
            self.assertEqual(seen["related_replication_applied_sequence"], head)
            self.assertEqual(seen["related_replication_stream_sequence"], head)
            self.assertEqual(seen["related_replication_lag_messages"], 0)
            self.assertGreaterEqual(seen["related_replication_lag_seconds"], 0)
            self.assertEqual(seen["related_replication_nats_connected"], 1)
        text = urllib.request.urlopen(f"http://{a.process.metrics_address}/metrics",
                                      timeout=10).read()
        check = subprocess.run(["promtool", "check", "metrics"], input=text,
                               capture_output=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        types = dict(re.findall(r"^# TYPE (related_replication_\w+) (\w+)$",
                                text.decode(), flags=re.M))
        self.assertEqual(types, {
            "related_replication_applied_sequence": "gauge",
            "related_replication_stream_sequence": "gauge",
            "related_replication_lag_messages": "gauge",
            "related_replication_lag_seconds": "gauge",
            "related_replication_delay_seconds": "histogram",
            "related_replication_apply_seconds": "histogram",
            "related_replication_publish_seconds": "histogram",
            "related_replication_publishes_total": "counter",
            "related_replication_nats_connected": "gauge",
        })

    def test_a_retried_publish_is_stored_and_applied_once(self):
        """republishing an entry under its message ID is a duplicate: not stored, not applied again"""
        a, b = self.start_replica("a"), self.start_replica("b")
        self.upsert(a, [self.article("dup-1", [1.0] + [0.0] * (DIM - 1), "first")])
        head = self.wait_converged([a, b])
        applies = b.metrics()["related_replication_apply_seconds_count"]
        leader = self.cluster.node(self.cluster.stream_leader(self.stream))
        wire = NatsWire(leader.client_port)
        try:
            headers, payload = wire.stored_entry(self.stream, head)
            self.assertIn("Nats-Msg-Id", headers)
            ack = wire.request(f"{self.stream}.writes", payload, headers).decode()
        finally:
            wire.close()
        self.assertIn('"duplicate":true', ack.replace(" ", ""), ack)
        self.assertIn(f'"seq":{head}', ack.replace(" ", ""), ack)
        self.upsert(a, [self.article("dup-2", [0.0, 1.0] + [0.0] * (DIM - 2), "second")])
        self.assertEqual(self.wait_converged([a, b]), head + 1, "the duplicate was stored")
        self.assertEqual(b.metrics()["related_replication_apply_seconds_count"], applies + 1)

    def test_replicas_converge_under_load_and_faults(self):
        """4 writers, readers, a replica and the stream leader killed, no quorum, a new replica"""
        a, b, c = (self.start_replica(n) for n in ("a", "b", "c"))
        live = [a, b, c]
        live_lock = threading.Lock()
        model = {}  # id -> (unit vector, title), or None once deleted
        model_lock = threading.Lock()
        stop = threading.Event()
        errors = []
        counts = {"writes": 0, "write_retries": 0, "reads": 0}

        def pick():
            with live_lock:
                return random.choice(live)

        def acknowledged(op):
            """Applies `op` through random replicas until one acknowledges it."""
            deadline = time.monotonic() + WRITE_RETRY_S
            while True:
                replica = pick()
                try:
                    if op[0] == "upsert":
                        self.upsert(replica, [self.article(i, v, t) for i, v, t in op[1]], timeout=15)
                    else:
                        self.delete(replica, op[1], timeout=15)
                    return
                except grpc.RpcError as err:
                    if err.code() not in (grpc.StatusCode.UNAVAILABLE,
                                          grpc.StatusCode.DEADLINE_EXCEEDED,
                                          grpc.StatusCode.CANCELLED):
                        raise
                    if time.monotonic() > deadline:
                        raise
                    counts["write_retries"] += 1
                    time.sleep(0.2)  # back-off between retries, bounded above
                except ValueError:
                    # The replica picked was stopped and its channel closed
                    # meanwhile: nothing was sent; pick another.
                    counts["write_retries"] += 1

        def writer(w):
            rng = random.Random(100 + w)
            version = 0
            try:
                while not stop.is_set():
                    ids = rng.sample([f"w{w}-{i}" for i in range(IDS_PER_WRITER)], rng.randint(1, 3))
                    if rng.random() < 0.25:
                        acknowledged(("delete", ids))
                        with model_lock:
                            for i in ids:
                                model[i] = None
                    else:
                        version += 1
                        batch = [(i, [rng.uniform(-1, 1) for _ in range(DIM)], f"{i} v{version}")
                                 for i in ids]
                        acknowledged(("upsert", batch))
                        with model_lock:
                            for i, v, t in batch:
                                model[i] = (unit(v), t)
                    counts["writes"] += 1
            except Exception as err:  # reported by the main thread
                errors.append(f"writer {w}: {err!r}")

        def reader():
            rng = random.Random(7)
            while not stop.is_set():
                replica = pick()
                article_id = f"w{rng.randrange(WRITERS)}-{rng.randrange(IDS_PER_WRITER)}"
                try:
                    replica.stub.GetRelated(
                        self.pb.related_pb2.GetRelatedRequest(article_id=article_id), timeout=5)
                    counts["reads"] += 1
                except grpc.RpcError as err:
                    # (CANCELLED: the replica was killed under the call.)
                    if err.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE,
                                          grpc.StatusCode.CANCELLED):
                        errors.append(f"read {article_id} on {replica.name}: {err.code()} {err.details()}")
                        return
                except ValueError:
                    pass  # the replica was stopped under the call: pick another

        def monotonic_watch():
            """Each replica process's applied sequence never goes back."""
            seen = {}
            while not stop.is_set():
                with live_lock:
                    replicas = list(live)
                for replica in replicas:
                    try:
                        value = replica.applied()
                    except OSError:
                        continue  # being killed
                    key = replica.process
                    if value < seen.get(key, 0):
                        errors.append(f"{replica.name}: applied sequence went back "
                                      f"from {seen[key]} to {value}")
                    seen[key] = value
                time.sleep(0.05)  # sampling interval; the loop ends with the test

        threads = ([threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
                   + [threading.Thread(target=reader) for _ in range(2)]
                   + [threading.Thread(target=monotonic_watch)])
        for t in threads:
            t.start()
        try:
            time.sleep(2)  # load before the first fault
            # 1. kill -9 a replica; it restarts on its directory and catches up.
            with live_lock:
                live.remove(b)
            b.stop(kill=True)
            self.replicas.remove(b)
            time.sleep(1)
            b = self.start_replica("b", data_dir=b.data_dir)
            with live_lock:
                live.append(b)
            # It loaded its snapshot (--snapshot_interval=2s) and replayed
            # only the stream after it.
            resumed = re.search(r"catching up from entry (\d+)", b.process.log_tail(100))
            self.assertIsNotNone(resumed, b.process.log_tail())
            self.assertGreater(int(resumed.group(1)), 1, "the restart replayed the whole stream")
            # 2. kill -9 the stream's leader node: writes pause, then go on.
            leader = self.cluster.node(self.cluster.stream_leader(self.stream))
            leader.kill()
            writes_before = counts["writes"]
            deadline = time.monotonic() + 30
            while counts["writes"] < writes_before + 20:
                self.assertLess(time.monotonic(), deadline, "writes did not resume after a leader kill")
                time.sleep(0.1)  # poll interval, bounded by the deadline
            leader.start()
            self.cluster.wait_ready()
            # 3. 2 of 3 NATS nodes down: writes fail UNAVAILABLE, reads go on.
            down = self.cluster.nodes[:2]
            for node in down:
                node.stop()
            with self.assertRaises(grpc.RpcError) as raised:
                self.upsert(a, [self.article("no-quorum", [1.0] * DIM, "never")], timeout=30)
            self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE,
                             raised.exception.details())
            reads_before = counts["reads"]
            time.sleep(1)
            self.assertGreater(counts["reads"], reads_before, "reads stopped without a NATS quorum")
            for node in down:
                node.start()
            self.cluster.wait_ready()
            # 4. a fourth replica on an empty directory catches up, then serves.
            d = self.start_replica("d")
            with live_lock:
                live.append(d)
            time.sleep(2)  # load after the last fault
        finally:
            stop.set()
            for t in threads:
                t.join(WRITE_RETRY_S + 30)
        self.assertEqual(errors, [], "\n".join(errors))
        self.assertGreater(counts["writes"], 100)
        self.assertGreater(counts["write_retries"], 0, "no fault was seen by a writer")

        replicas = [a, b, c, d]
        head = self.wait_converged(replicas)
        # Replicas that never restarted applied each entry exactly once.
        for replica in (a, c):
            self.assertEqual(replica.metrics()["related_replication_apply_seconds_count"], head,
                             f"{replica.name} applied an entry twice or skipped one")
        # The write refused without a quorum was not acknowledged: JetStream
        # may still commit it once the nodes are back (a timeout cannot tell).
        # Whichever happened, it happened on every replica.
        refused = [self.get(r, "no-quorum") for r in replicas]
        self.assertEqual(len({x is None for x in refused}), 1, refused)
        for article_id, want in sorted(model.items()):
            for replica in replicas:
                got = self.get(replica, article_id)
                if want is None:
                    self.assertIsNone(got, f"{article_id} was deleted but is on {replica.name}")
                    continue
                self.assertIsNotNone(got, f"acknowledged {article_id} missing on {replica.name}")
                self.assertEqual(got.metadata.title, want[1], f"{article_id} on {replica.name}")
                for x, y in zip(got.embedding, want[0]):
                    self.assertAlmostEqual(x, y, places=5, msg=f"{article_id} on {replica.name}")
        # The exact index: every replica's box for every article is the same.
        for article_id, want in sorted(model.items()):
            if want is None:
                continue
            request = self.pb.related_pb2.GetRelatedRequest(article_id=article_id, limit=10)
            boxes = {r.name: r.stub.GetRelated(request, timeout=10).SerializeToString()
                     for r in replicas}
            self.assertEqual(len(set(boxes.values())), 1, f"boxes of {article_id} differ")
        sys.stderr.write(f"\n  {counts['writes']} writes ({counts['write_retries']} retries), "
                         f"{counts['reads']} reads, stream at entry {head}\n")

    def test_hnsw_replicas_agree_with_each_other_and_with_exact_search(self):
        """two HNSW replicas and an exact one on one stream, fed by an import and upserts: boxes agree"""
        h1 = self.start_replica("h1", extra_flags=["--index=hnsw"])
        h2 = self.start_replica("h2", extra_flags=["--index=hnsw"])
        exact = self.start_replica("exact")
        rng = random.Random(5)
        centres = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(20)]
        count = 2000
        articles = []
        for i in range(count):
            centre = centres[i % len(centres)]
            articles.append(self.article(f"h-{i}", [c + rng.gauss(0, 0.4) for c in centre],
                                         f"article {i}"))
        # Half in one import stream (a bulk load on every replica, whose
        # lists each builds when the import's end arrives), half as upserts.
        pb = self.pb.related_pb2
        reply = h1.stub.ImportArticles(
            iter([pb.ImportArticlesRequest(articles=articles[start:start + 250])
                  for start in range(0, count // 2, 250)]), timeout=60)
        self.assertEqual(reply.upserted, count // 2)
        for start in range(count // 2, count, 250):
            self.upsert(rng.choice([h1, h2]), articles[start:start + 250])
        self.wait_converged([h1, h2, exact])
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        for replica in (h1, h2, exact):
            while True:
                stats = replica.stub.GetStats(pb.GetStatsRequest(), timeout=10)
                self.assertEqual(stats.article_count, count, replica.name)
                if stats.related_lists_stale == 0:
                    break
                self.assertLess(time.monotonic(), deadline, f"{replica.name}: lists still stale")
                time.sleep(0.1)  # poll interval, bounded by the deadline
        request = self.pb.related_pb2.GetRelatedRequest
        agree = recall1 = recall2 = 0
        sample = rng.sample(range(count), 200)
        for i in sample:
            boxes = [{a.article_id for a in r.stub.GetRelated(
                request(article_id=f"h-{i}", limit=10), timeout=10).articles}
                for r in (h1, h2, exact)]
            agree += len(boxes[0] & boxes[1])
            recall1 += len(boxes[0] & boxes[2])
            recall2 += len(boxes[1] & boxes[2])
        total = 10 * len(sample)
        sys.stderr.write(f"\n  HNSW replicas agree on {agree / total:.3f} of box entries; "
                         f"recall against exact {recall1 / total:.3f} and {recall2 / total:.3f}\n")
        self.assertGreaterEqual(recall1 / total, 0.95)
        self.assertGreaterEqual(recall2 / total, 0.95)
        self.assertGreaterEqual(agree / total, 0.95)

    def test_bad_configuration_exits_with_one_line(self):
        """unreachable NATS, another dimension, wrong credentials, no JetStream, no --dim"""
        self.start_replica("a")  # creates the stream at dimension DIM
        base = [self.CONFIG.server, "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
                "--nats_timeout=1s", f"--nats_stream={self.stream}",
                f"--nats_subject={self.stream}.writes"]

        def refused(flags, fragment):
            run = subprocess.run(base + flags, stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=60)
            self.assertNotEqual(run.returncode, 0, run.stderr)
            self.assertIn(fragment, run.stderr)
            self.assertNotIn("serving", run.stderr)

        refused([f"--dim={DIM}", f"--nats_url=nats://127.0.0.1:{free_port()}"],
                "cannot connect to NATS")
        refused([f"--dim={DIM * 2}", f"--nats_url={self.cluster.url}"],
                f"holds embeddings of dimension {DIM}, this server has --dim={DIM * 2}")
        refused([f"--nats_url={self.cluster.url}"], "--nats_url needs --dim")
        with tempfile.TemporaryDirectory(dir=self._tmp.name) as work:
            secured = NatsCluster(work, size=1,
                                  extra_config='authorization { user: related, password: right }\n')
            secured.start()
            port = secured.nodes[0].client_port
            try:
                refused([f"--dim={DIM}", f"--nats_url=nats://related:wrong@127.0.0.1:{port}",
                         "--nats_replicas=1"], "Authorization Violation")
            finally:
                secured.stop()
        with tempfile.TemporaryDirectory(dir=self._tmp.name) as work:
            plain = NatsCluster(work, size=1, jetstream=False)
            plain.start()
            try:
                refused([f"--dim={DIM}", f"--nats_url={plain.url}", "--nats_replicas=1"],
                        "JetStream")
            finally:
                plain.stop()


if __name__ == "__main__":
    related_testlib.run_server_tests(ReplicationTest, __doc__.split("\n")[0])
