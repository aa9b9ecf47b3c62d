#!/usr/bin/python3
"""Restarts of the real server on its data directory, seen by a client.

A restart loads the graph and the related lists from the snapshot instead
of rebuilding them (read on /metrics: related_recovery_part_loaded), and
answers GetRelated with the same bytes as before; writes made after the
snapshot are replayed from the log; a large import is followed by a
snapshot of its own, so that a crash right after it loads, not replays.
"""

import random
import signal
import tempfile
import time

import grpc

import related_testlib
from related_testlib import RPC_TIMEOUT_S, ServerProcess

DIM = 16
COUNT = 1500


class RestartTest(related_testlib.StubsTestCase):
    TMP_PREFIX = "related-restart-"

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(dir=self._tmp.name)
        self.server = None
        self.channel = None

    def tearDown(self):
        self.stop(signal.SIGKILL)

    def start(self, *flags):
        self.server = ServerProcess(self.CONFIG.server, [
            "--index=hnsw", f"--dim={DIM}", f"--data_dir={self.data_dir}",
            "--snapshot_interval=0s", *flags])
        self.server.start()
        self.channel = grpc.insecure_channel(self.server.grpc_address)
        self.server.wait_until_serving(self.pb, self.channel)
        self.stub = self.pb.related_pb2_grpc.RelatedArticlesStub(self.channel)

    def metrics(self):
        return related_testlib.scrape_metrics(self.server.metrics_address)

    def stop(self, how):
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.server is not None:
            if how == signal.SIGKILL:
                self.server.kill()
            else:
                self.assertEqual(self.server.stop(), 0, self.server.log_tail())
            self.server = None

    def articles(self, first, count, seed):
        rng = random.Random(seed)
        centres = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(20)]
        out = []
        for i in range(first, first + count):
            centre = centres[i % len(centres)]
            out.append(self.pb.related_pb2.Article(
                id=f"story/{i}", embedding=[c + rng.gauss(0, 0.4) for c in centre],
                metadata=self.pb.related_pb2.ArticleMetadata(
                    title=f"Story {i}", section=("world", "sport")[i % 2])))
        return out

    def import_articles(self, articles):
        batches = [self.pb.related_pb2.ImportArticlesRequest(articles=articles[i:i + 300])
                   for i in range(0, len(articles), 300)]
        reply = self.stub.ImportArticles(iter(batches), timeout=120)
        self.assertEqual(reply.upserted, len(articles))

    def boxes(self, ids):
        """id -> GetRelated's response bytes, as the server sent them."""
        call = self.channel.unary_unary(
            "/related.v1.RelatedArticles/GetRelated",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=None)
        return {i: call(self.pb.related_pb2.GetRelatedRequest(article_id=i),
                        timeout=RPC_TIMEOUT_S) for i in ids}

    def test_restart_loads_graph_and_lists_and_answers_the_same_bytes(self):
        """after SIGTERM, a restart loads graph and lists and answers byte for byte as before"""
        self.start()
        articles = self.articles(0, COUNT, 1)
        self.import_articles(articles)
        self.stub.DeleteArticles(self.pb.related_pb2.DeleteArticlesRequest(
            article_ids=["story/3", "story/4"]), timeout=RPC_TIMEOUT_S)
        ids = [a.id for a in articles if a.id not in ("story/3", "story/4")]
        before = self.boxes(ids)
        self.stop(signal.SIGTERM)  # a final snapshot
        self.start()
        seen = self.metrics()
        self.assertEqual(seen['related_recovery_part_loaded{part="graph"}'], 1)
        self.assertEqual(seen['related_recovery_part_loaded{part="lists"}'], 1)
        self.assertEqual(seen["related_recovery_log_records"], 0)
        after = self.boxes(ids)
        differ = [i for i in ids if before[i] != after[i]]
        self.assertEqual(differ, [], f"{len(differ)} of {len(ids)} boxes changed")

    def test_writes_after_the_snapshot_are_replayed(self):
        """writes the snapshot lacks come back from the log after kill -9"""
        self.start()
        self.import_articles(self.articles(0, COUNT, 2))
        self.stop(signal.SIGTERM)
        self.start()
        late = self.articles(COUNT, 20, 3)
        self.stub.UpsertArticles(self.pb.related_pb2.UpsertArticlesRequest(articles=late),
                                 timeout=RPC_TIMEOUT_S)
        self.stop(signal.SIGKILL)
        self.start()
        seen = self.metrics()
        self.assertEqual(seen['related_recovery_part_loaded{part="graph"}'], 1)
        self.assertGreater(seen["related_recovery_log_records"], 0)
        got = self.stub.GetArticle(self.pb.related_pb2.GetArticleRequest(
            article_id=late[5].id), timeout=RPC_TIMEOUT_S)
        self.assertEqual(got.article.metadata.title, late[5].metadata.title)
        reply = self.stub.GetRelated(self.pb.related_pb2.GetRelatedRequest(
            article_id=late[5].id, policy=self.pb.related_pb2.RankingPolicy(debug=True)),
            timeout=RPC_TIMEOUT_S)
        self.assertTrue(reply.debug.precomputed, "a replayed article has its list")

    def test_a_large_import_is_followed_by_a_snapshot(self):
        """an import of at least --snapshot_after_import articles is snapshotted in the background"""
        self.start("--snapshot_after_import=1000")
        self.import_articles(self.articles(0, COUNT, 4))
        deadline = time.monotonic() + 60
        while self.metrics().get('related_snapshots_total{result="ok"}', 0) < 1:
            if time.monotonic() > deadline:
                self.fail("no snapshot within 60 s of the import\n" + self.server.log_tail())
            time.sleep(0.1)  # poll interval, bounded by the deadline
        self.assertGreater(self.metrics()["related_snapshot_size_bytes"], 0)
        self.stop(signal.SIGKILL)  # no final snapshot: the import's must do
        self.start()
        seen = self.metrics()
        self.assertEqual(seen["related_recovery_log_records"], 0,
                         "the restart replayed the import from the log")
        self.assertEqual(seen['related_recovery_part_loaded{part="lists"}'], 1)


if __name__ == "__main__":
    related_testlib.run_server_tests(RestartTest, __doc__.split("\n")[0])
