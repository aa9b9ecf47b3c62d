#!/usr/bin/python3
"""Editorial ranking as a backend in another language uses it: policies
sent from Python's grpcio, checked against a brute-force computation here.

  /usr/bin/python3 tests/python/ranking_interop_test.py --server build/related-server
"""

import random

import grpc
from google.protobuf import wrappers_pb2

import related_testlib

DIM = 8
SECTIONS = ["world", "sport", "culture"]
NOW = 1795824000  # 2026-11-28T00:00:00Z
RPC_TIMEOUT_S = related_testlib.RPC_TIMEOUT_S


unit = related_testlib.unit
dot = related_testlib.cosine


class RankingInteropTest(related_testlib.ServerTestCase):
    """The server runs with its default policy (near-duplicates > 0.95 dropped),
    except that languages mix unless a request asks for the same-language
    rule (its default, on, is checked in text_test.py and the core tests)."""

    @classmethod
    def server_flags(cls, config):
        return [f"--dim={DIM}", f"--index={config.index}", "--ranking_same_language=false"]

    @classmethod
    def set_up_data(cls):
        pb = cls.pb.related_pb2
        rng = random.Random(42)
        cls.vectors = {}
        cls.meta = {}
        articles = []
        for i in range(120):
            article_id = f"story-{i:03d}"
            vector = unit([rng.gauss(0, 1) for _ in range(DIM)])
            if i % 10 == 1:  # a syndicated copy of the previous story
                vector = unit([x + rng.gauss(0, 0.01) for x in cls.vectors[f"story-{i - 1:03d}"]])
            meta = pb.ArticleMetadata(title=f"Story {i}", section=SECTIONS[i % 3],
                                      language="en" if i % 4 else "de",
                                      attributes={"type": "news" if i % 2 else "opinion"})
            meta.published_at.seconds = NOW - 3600 * i
            cls.vectors[article_id] = vector
            cls.meta[article_id] = meta
            articles.append(pb.Article(id=article_id, embedding=vector, metadata=meta))
        cls.stub.UpsertArticles(pb.UpsertArticlesRequest(articles=articles),
                                timeout=RPC_TIMEOUT_S)

    def related(self, article_id, limit=10, timeout=RPC_TIMEOUT_S, **policy_fields):
        pb = self.pb.related_pb2
        request = pb.GetRelatedRequest(article_id=article_id, limit=limit,
                                       policy=pb.RankingPolicy(**policy_fields))
        return self.stub.GetRelated(request, timeout=timeout)

    def test_same_language_keeps_the_query_language(self):
        """policy.same_language keeps only the query article's language; false mixes them"""
        wrappers = self.pb.related_pb2.RankingPolicy().same_language.__class__
        for query in ("story-004", "story-005"):
            language = self.meta[query].language
            reply = self.related(query, limit=20, same_language=wrappers(value=True), debug=True)
            self.assertEqual(len(reply.articles), 20)
            self.assertEqual({a.metadata.language for a in reply.articles}, {language})
            self.assertTrue(reply.debug.applied_policy.same_language.value)
        mixed = self.related("story-004", limit=20, debug=True)
        self.assertEqual(len({a.metadata.language for a in mixed.articles}), 2)
        self.assertFalse(mixed.debug.applied_policy.same_language.value)

    def test_default_policy_drops_syndicated_copy(self):
        """by default the query's syndicated copy (cosine > 0.95) is not in its box"""
        reply = self.related("story-000", limit=20)
        ids = [a.article_id for a in reply.articles]
        self.assertEqual(len(ids), 20)
        self.assertNotIn("story-001", ids)
        self.assertGreater(dot(self.vectors["story-000"], self.vectors["story-001"]), 0.95)

    def test_policy_can_turn_suppression_off(self):
        """duplicate_threshold 1 brings the copy back, as the top result"""
        reply = self.related("story-000", duplicate_threshold=wrappers_pb2.FloatValue(value=1.0))
        self.assertEqual(reply.articles[0].article_id, "story-001")

    def test_filters_and_debug_counts(self):
        """section, language and attribute filters hold; debug counts what they removed"""
        reply = self.related("story-005", limit=8, sections=["sport"], languages=["en"],
                             required_attributes={"type": "news"}, debug=True)
        self.assertEqual(len(reply.articles), 8)
        for a in reply.articles:
            meta = self.meta[a.article_id]
            self.assertEqual((meta.section, meta.language, meta.attributes["type"]),
                             ("sport", "en", "news"))
        d = reply.debug
        self.assertGreater(d.removed_by_section, 0)
        self.assertGreater(d.removed_by_attributes + d.removed_by_language, 0)
        self.assertEqual(list(d.applied_policy.sections), ["sport"])
        self.assertAlmostEqual(d.applied_policy.duplicate_threshold.value, 0.95, places=5)
        self.assertTrue(d.applied_policy.debug)

    def test_exact_filtered_order_matches_brute_force(self):
        """with the exact index a filtered box is the brute-force cosine order"""
        if self.config.index != "exact":
            self.skipTest("exact index only")
        query = "story-007"
        reply = self.related(query, limit=10, exclude_sections=["world"],
                             duplicate_threshold=wrappers_pb2.FloatValue(value=1.0))
        want = sorted((i for i in self.vectors if i != query
                       and self.meta[i].section != "world"),
                      key=lambda i: -dot(self.vectors[query], self.vectors[i]))[:10]
        self.assertEqual([a.article_id for a in reply.articles], want)

    def test_max_age_uses_request_clock(self):
        """max_age is measured from policy.now"""
        pb = self.pb.related_pb2
        policy = pb.RankingPolicy()
        policy.max_age.seconds = 24 * 3600
        policy.now.seconds = NOW
        policy.duplicate_threshold.value = 1.0  # keep the syndicated copies in
        reply = self.stub.GetRelated(pb.GetRelatedRequest(article_id="story-050", limit=30,
                                                          policy=policy), timeout=RPC_TIMEOUT_S)
        self.assertEqual(len(reply.articles), 25)  # story-000 .. story-024
        for a in reply.articles:
            self.assertGreaterEqual(self.meta[a.article_id].published_at.seconds, NOW - 24 * 3600)

    def test_search_by_vector_for_a_draft(self):
        """SearchByVector ranks stored articles for an unstored vector"""
        pb = self.pb.related_pb2
        draft = unit([x + 0.001 for x in self.vectors["story-030"]])
        reply = self.stub.SearchByVector(
            pb.SearchByVectorRequest(embedding=draft, limit=5,
                                     policy=pb.RankingPolicy(
                                         duplicate_threshold=wrappers_pb2.FloatValue(value=1.0))),
            timeout=RPC_TIMEOUT_S)
        self.assertEqual(reply.articles[0].article_id, "story-030")
        self.assertEqual(len(reply.articles), 5)

    def test_batch_applies_policy_to_each_item(self):
        """BatchGetRelated applies one policy to every item"""
        pb = self.pb.related_pb2
        reply = self.stub.BatchGetRelated(
            pb.BatchGetRelatedRequest(article_ids=["story-002", "story-003"], limit=4,
                                      policy=pb.RankingPolicy(sections=["culture"], debug=True)),
            timeout=RPC_TIMEOUT_S)
        for result in reply.results:
            self.assertEqual(result.code, 0)
            self.assertEqual(len(result.articles), 4)
            self.assertTrue(all(self.meta[a.article_id].section == "culture"
                                for a in result.articles))
            self.assertGreater(result.debug.removed_by_section, 0)

    def test_bad_policy_is_invalid_argument_naming_the_field(self):
        """a policy value out of range is INVALID_ARGUMENT naming policy.<field>"""
        cases = [
            (dict(diversity_lambda=wrappers_pb2.FloatValue(value=1.5)), "policy.diversity_lambda"),
            (dict(recency_weight=wrappers_pb2.FloatValue(value=0.5)), "policy.recency_half_life"),
            (dict(sections=["world"], exclude_sections=["world"]), "policy.sections"),
            (dict(candidates=-1), "policy.candidates"),
        ]
        for fields, fragment in cases:
            with self.subTest(fragment=fragment):
                self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.related,
                                    "story-000", fragments=(fragment,), **fields)


if __name__ == "__main__":
    related_testlib.parse_args_then_run(__doc__.splitlines()[0])
