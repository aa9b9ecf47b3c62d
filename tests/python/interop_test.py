#!/usr/bin/python3
"""Interop test: calls a real related-server as a website backend would.

The client side uses nothing from this repo but the .proto: Python stubs are
generated at test time (related.proto, grpc.health.v1, grpc.reflection.v1alpha).
One server is started for the whole run; every check is one unittest method,
printed as one line.

Run:
  /usr/bin/python3 tests/python/interop_test.py \
      --server build/related-server --proto_dir proto [--index exact|hnsw]

All data is deterministic (fixed seed). The test keeps a mirror of everything
it has stored, so every GetRelated answer is compared against a brute-force
cosine ranking over the server's whole content, whatever order the checks
run in.
"""

import array
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402

import related_testlib  # noqa: E402
from related_testlib import RPC_TIMEOUT_S  # noqa: E402

SEED = 20261128
CORPUS_SIZE = 40
SERVICE = "related.v1.RelatedArticles"

# Defaults promised by the proto and the server's flags.
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_BATCH_SIZE = 1000
MAX_ID_BYTES = 256

# related.proto: a list longer than max_batch_size is INVALID_ARGUMENT.
BATCH_LIMIT_CODE = grpc.StatusCode.INVALID_ARGUMENT

# float32 scores against float64 brute force.
SCORE_TOL = 1e-4
# For --index=hnsw: the least recall of the true top-k allowed per query.
HNSW_MIN_RECALL = 0.8

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def as_float32(values):
    """The values exactly as a float32 wire field will carry them."""
    return list(array.array("f", values))


unit = related_testlib.unit
cosine = related_testlib.cosine


class InteropTest(related_testlib.ServerTestCase):

    @classmethod
    def server_flags(cls, config):
        # These checks compare with plain cosine ranking, so the server's
        # default near-duplicate suppression is turned off; the editorial
        # controls have their own test (ranking_interop_test.py). Languages
        # mix for the same reason.
        return super().server_flags(config) + ["--ranking_duplicate_threshold=1",
                                               "--ranking_same_language=false"]

    @classmethod
    def set_up_data(cls):
        cls.pb2 = cls.pb.related_pb2
        cls.dim = cls.config.dim
        cls.approximate = cls.config.index == "hnsw"
        cls.rng = random.Random(SEED)
        # id -> (unit embedding, ArticleMetadata) for everything stored.
        cls.stored = {}
        cls.corpus_ids = []
        articles = []
        sections = ["world", "sport", "culture", "business", "science"]
        for i in range(CORPUS_SIZE):
            section = sections[i % len(sections)]
            article_id = f"2026/11/{1 + i % 28:02d}/{section}/story-{i:03d}"
            meta = cls.pb2.ArticleMetadata(
                title=f"Story {i} in {section}",
                url=f"https://news.example/{article_id}",
                section=section,
                language=["en", "pt-BR", "de"][i % 3],
                attributes={"author": ["Ana Lúcia", "Jörg Weiß", "Li Wei"][i % 3],
                            "paywall": "true" if i % 4 == 0 else "false",
                            "content_type": "analysis" if i % 2 else "news"})
            if i % 5 != 4:  # every fifth story has no publication time
                meta.published_at.seconds = 1764288000 + 3600 * i
                meta.published_at.nanos = 1000 * i
            articles.append(cls.make_article(article_id, cls.random_vector(), meta))
            cls.corpus_ids.append(article_id)
        reply = cls.stub.UpsertArticles(cls.pb2.UpsertArticlesRequest(articles=articles),
                                        timeout=RPC_TIMEOUT_S)
        if reply.upserted != len(articles):
            raise AssertionError(f"corpus upsert: upserted={reply.upserted}, "
                                 f"want {len(articles)}")
        cls.remember(articles)

    # ---- helpers -----------------------------------------------------------

    @classmethod
    def random_vector(cls):
        return as_float32([cls.rng.gauss(0.0, 1.0) for _ in range(cls.dim)])

    @classmethod
    def near(cls, article_id, noise=0.05):
        """A vector close to a stored article's embedding."""
        base = cls.stored[article_id][0]
        return as_float32([v + cls.rng.gauss(0.0, noise) for v in base])

    @classmethod
    def make_article(cls, article_id, vector, meta=None):
        article = cls.pb2.Article(id=article_id, embedding=vector)
        if meta is not None:
            article.metadata.CopyFrom(meta)
        return article

    @classmethod
    def remember(cls, articles):
        for article in articles:
            cls.stored[article.id] = (unit(list(article.embedding)), article.metadata)

    def upsert(self, articles):
        reply = self.stub.UpsertArticles(self.pb2.UpsertArticlesRequest(articles=articles),
                                         timeout=RPC_TIMEOUT_S)
        self.assertEqual(reply.upserted, len(articles), "UpsertArticlesResponse.upserted")
        self.remember(articles)
        return reply

    def delete(self, ids):
        reply = self.stub.DeleteArticles(self.pb2.DeleteArticlesRequest(article_ids=ids),
                                         timeout=RPC_TIMEOUT_S)
        for article_id in ids:
            self.stored.pop(article_id, None)
        return reply

    def get_related(self, article_id, limit=0, exclude_ids=()):
        request = self.pb2.GetRelatedRequest(article_id=article_id, limit=limit,
                                             exclude_ids=list(exclude_ids))
        return list(self.stub.GetRelated(request, timeout=RPC_TIMEOUT_S).articles)

    def brute_force(self, article_id, exclude_ids=()):
        """Every candidate for article_id as (id, cosine), best first."""
        query = self.stored[article_id][0]
        excluded = set(exclude_ids) | {article_id}
        ranked = [(other, cosine(query, vec)) for other, (vec, _) in self.stored.items()
                  if other not in excluded]
        ranked.sort(key=lambda pair: -pair[1])
        return ranked

    def assert_ranking(self, article_id, got, limit=0, exclude_ids=()):
        """Checks a GetRelated answer against the brute-force ranking."""
        want_all = self.brute_force(article_id, exclude_ids)
        want_len = min(limit or DEFAULT_LIMIT, len(want_all))
        got_ids = [r.article_id for r in got]
        where = f"GetRelated({article_id!r}, limit={limit}, exclude={list(exclude_ids)})"
        self.assertNotIn(article_id, got_ids, f"{where} returned the query article")
        self.assertEqual(len(got_ids), len(set(got_ids)), f"{where} has duplicates: {got_ids}")
        for excluded in exclude_ids:
            self.assertNotIn(excluded, got_ids, f"{where} returned excluded {excluded!r}")
        self.assertEqual(len(got), want_len, f"{where}: result count")
        query = self.stored[article_id][0]
        for pos, related in enumerate(got):
            self.assertIn(related.article_id, self.stored,
                          f"{where}[{pos}] is not a stored article: {related.article_id!r}")
            vec, meta = self.stored[related.article_id]
            true_score = cosine(query, vec)
            self.assertAlmostEqual(related.score, true_score, delta=SCORE_TOL,
                                   msg=f"{where}[{pos}] {related.article_id!r}: score")
            self.assertProtoEqual(related.metadata, meta,
                                  f"{where}[{pos}] {related.article_id!r}: metadata")
            if pos > 0:
                self.assertLessEqual(related.score, got[pos - 1].score + 1e-6,
                                     f"{where}: not best first at {pos}")
        if self.approximate:
            want_ids = {other for other, _ in want_all[:want_len]}
            recall = len(want_ids & set(got_ids)) / max(1, want_len)
            self.assertGreaterEqual(recall, HNSW_MIN_RECALL, f"{where}: recall@{want_len}")
        else:
            # Exact search: position by position the same score as brute force,
            # i.e. the same ranking up to ties.
            for pos, related in enumerate(got):
                self.assertAlmostEqual(related.score, want_all[pos][1], delta=SCORE_TOL,
                                       msg=f"{where}[{pos}]: got {related.article_id!r}, "
                                           f"want {want_all[pos][0]!r}")

    def assert_not_stored(self, article_id, why="GetArticle"):
        try:
            reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=article_id),
                                         timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as err:
            self.assertEqual(err.code(), NOT_FOUND, f"{why}: GetArticle({article_id!r}) "
                             f"got {err.code().name}: {err.details()!r}")
            self.assertIn(article_id, err.details(), "NOT_FOUND message should name the ID")
        else:
            self.fail(f"{why}: GetArticle({article_id!r}) found it: {reply}")

    def article_count(self):
        return self.stub.GetStats(self.pb2.GetStatsRequest(), timeout=RPC_TIMEOUT_S).article_count

    def assert_invalid_upsert(self, bad, fragments, code=INVALID):
        """A batch [good, bad] must fail naming articles[1] and write nothing."""
        good = self.make_article(f"invalid-batch/good-{self.id()}", self.random_vector())
        before = self.article_count()
        self.assertRpcError(code, self.stub.UpsertArticles,
                            self.pb2.UpsertArticlesRequest(articles=[good, bad]),
                            fragments=fragments)
        self.assert_not_stored(good.id, "a valid article of a rejected batch was written")
        self.assertEqual(self.article_count(), before, "article_count after a rejected batch")

    # ---- health, reflection, ping ------------------------------------------

    def test_health_overall_serving(self):
        """health Check("") is SERVING"""
        health = self.pb.health_pb2_grpc.HealthStub(self.channel)
        reply = health.Check(self.pb.health_pb2.HealthCheckRequest(service=""),
                             timeout=RPC_TIMEOUT_S)
        self.assertEqual(reply.status, self.pb.health_pb2.HealthCheckResponse.SERVING)

    def test_health_service_serving(self):
        """health Check("related.v1.RelatedArticles") is SERVING"""
        health = self.pb.health_pb2_grpc.HealthStub(self.channel)
        reply = health.Check(self.pb.health_pb2.HealthCheckRequest(service=SERVICE),
                             timeout=RPC_TIMEOUT_S)
        self.assertEqual(reply.status, self.pb.health_pb2.HealthCheckResponse.SERVING)

    def test_health_unknown_service_not_found(self):
        """health Check of an unknown service name is NOT_FOUND"""
        health = self.pb.health_pb2_grpc.HealthStub(self.channel)
        self.assertRpcError(NOT_FOUND, health.Check,
                            self.pb.health_pb2.HealthCheckRequest(service="no.such.Service"))

    def reflect(self, **request_fields):
        try:
            return related_testlib.reflect(self.pb, self.channel, **request_fields)
        except related_testlib.ReflectionError as err:
            self.fail(str(err))

    def test_reflection_lists_services(self):
        """reflection list_services includes RelatedArticles, Health and ServerReflection"""
        reply = self.reflect(list_services="")
        names = {s.name for s in reply.list_services_response.service}
        for want in (SERVICE, "grpc.health.v1.Health",
                     "grpc.reflection.v1alpha.ServerReflection"):
            self.assertIn(want, names)

    def test_reflection_describes_related_service(self):
        """reflection file_containing_symbol gives a usable descriptor of RelatedArticles"""
        try:
            files = related_testlib.reflected_files(self.pb, self.channel, SERVICE)
        except related_testlib.ReflectionError as err:
            self.fail(str(err))
        owners = [f for f in files.values()
                  if f.package == "related.v1"
                  and any(s.name == "RelatedArticles" for s in f.service)]
        self.assertEqual(len(owners), 1, f"files returned: {sorted(files)}")
        related_file = owners[0]
        self.assertEqual(related_file.name, "related/v1/related.proto")
        self.assertIn("google/protobuf/timestamp.proto", related_file.dependency)
        pool = related_testlib.descriptor_pool_of(files)

        remote = pool.FindServiceByName(SERVICE)
        local = self.pb2.DESCRIPTOR.services_by_name["RelatedArticles"]
        self.assertEqual([m.name for m in remote.methods],
                         ["GetRelated", "SearchByVector", "BatchGetRelated", "UpsertArticles",
                          "ImportArticles",
                          "DeleteArticles", "GetArticle", "GetStats", "Ping"])
        for method in local.methods:
            theirs = remote.methods_by_name[method.name]
            self.assertEqual(theirs.input_type.full_name, method.input_type.full_name)
            self.assertEqual(theirs.output_type.full_name, method.output_type.full_name)
        import_proto = descriptor_pb2.MethodDescriptorProto()
        remote.methods_by_name["ImportArticles"].CopyToProto(import_proto)
        self.assertTrue(import_proto.client_streaming, "ImportArticles is client streaming")
        self.assertFalse(import_proto.server_streaming, "ImportArticles is not server streaming")
        self.assertEqual(sorted(m.name for m in related_file.message_type),
                         sorted(self.pb2.DESCRIPTOR.message_types_by_name))

    def test_ping(self):
        """Ping returns OK"""
        reply = self.stub.Ping(self.pb2.PingRequest(), timeout=RPC_TIMEOUT_S)
        self.assertProtoEqual(reply, self.pb2.PingResponse())

    # ---- GetStats ------------------------------------------------------------

    def test_stats_configuration(self):
        """GetStats reports dimension, index kind, limits and memory"""
        stats = self.stub.GetStats(self.pb2.GetStatsRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual(stats.dimension, self.dim)
        self.assertEqual(stats.index_kind, self.config.index)
        self.assertEqual(stats.default_limit, DEFAULT_LIMIT)
        self.assertEqual(stats.max_limit, MAX_LIMIT)
        self.assertEqual(stats.max_batch_size, MAX_BATCH_SIZE)
        self.assertEqual(stats.max_id_bytes, MAX_ID_BYTES)
        self.assertEqual(stats.article_count, len(self.stored))
        self.assertGreaterEqual(stats.index_memory_bytes, len(self.stored) * self.dim * 4,
                                "index_memory_bytes is below the raw float32 vectors' size")

    def test_stats_count_tracks_writes(self):
        """GetStats.article_count follows inserts, replacements and deletes"""
        base = self.article_count()
        self.assertEqual(base, len(self.stored))
        first = self.make_article("stats/first", self.random_vector())
        second = self.make_article("stats/second", self.random_vector())
        self.upsert([first, second])
        self.assertEqual(self.article_count(), base + 2, "after inserting 2")
        self.upsert([self.make_article("stats/first", self.random_vector())])
        self.assertEqual(self.article_count(), base + 2, "after replacing 1")
        self.assertEqual(self.delete(["stats/first"]).deleted, 1)
        self.assertEqual(self.article_count(), base + 1, "after deleting 1")
        self.assertEqual(self.delete(["stats/first"]).deleted, 0)
        self.assertEqual(self.article_count(), base + 1, "after deleting it again")

    # ---- UpsertArticles / GetArticle ---------------------------------------

    def test_get_article_round_trips_metadata(self):
        """GetArticle returns every corpus article's metadata as stored"""
        for article_id in self.corpus_ids:
            if article_id not in self.stored:
                continue
            reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=article_id),
                                         timeout=RPC_TIMEOUT_S)
            self.assertEqual(reply.article.id, article_id)
            self.assertProtoEqual(reply.article.metadata, self.stored[article_id][1],
                                  f"GetArticle({article_id!r}).article.metadata")
            self.assertEqual(len(reply.article.embedding), 0,
                             f"{article_id!r}: embedding returned without include_embedding")

    def test_get_article_keeps_unset_fields_unset(self):
        """an article stored without published_at or without metadata comes back so"""
        no_time = self.pb2.ArticleMetadata(title="no time", section="world")
        with_time = self.make_article("unset/no-published-at", self.random_vector(), no_time)
        bare = self.make_article("unset/no-metadata", self.random_vector())
        self.upsert([with_time, bare])
        reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=with_time.id),
                                     timeout=RPC_TIMEOUT_S)
        self.assertFalse(reply.article.metadata.HasField("published_at"),
                         f"published_at was set: {reply.article.metadata.published_at}")
        self.assertProtoEqual(reply.article.metadata, no_time)
        reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=bare.id),
                                     timeout=RPC_TIMEOUT_S)
        self.assertProtoEqual(reply.article.metadata, self.pb2.ArticleMetadata())

    def test_get_article_include_embedding_is_normalised(self):
        """GetArticle(include_embedding) returns the unit-length stored vector"""
        raw = as_float32([3.0 * (i + 1) for i in range(self.dim)])
        article = self.make_article("embedding/unnormalised", raw)
        self.upsert([article])
        reply = self.stub.GetArticle(
            self.pb2.GetArticleRequest(article_id=article.id, include_embedding=True),
            timeout=RPC_TIMEOUT_S)
        got = list(reply.article.embedding)
        self.assertEqual(len(got), self.dim)
        for g, w in zip(got, unit(raw)):
            self.assertAlmostEqual(g, w, delta=1e-5, msg=f"embedding {got}")

    def test_unicode_and_max_length_ids(self):
        """non-ASCII IDs and IDs of exactly max_id_bytes bytes round-trip"""
        ids = ["2026/11/28/kultur/münchen-straße",
               "2026/11/28/world/越南领导人访问北京",
               "a" * MAX_ID_BYTES,
               "é" * (MAX_ID_BYTES // 2)]  # 2 bytes each in UTF-8
        articles = [self.make_article(i, self.near(self.corpus_ids[0]),
                                      self.pb2.ArticleMetadata(title=i[:20])) for i in ids]
        self.upsert(articles)
        for article in articles:
            reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=article.id),
                                         timeout=RPC_TIMEOUT_S)
            self.assertEqual(reply.article.id, article.id)
            self.assert_ranking(article.id, self.get_related(article.id, MAX_LIMIT), MAX_LIMIT)
        got = {r.article_id for r in self.get_related(self.corpus_ids[0], MAX_LIMIT)}
        for article_id in ids:
            self.assertIn(article_id, got)

    # ---- GetRelated ------------------------------------------------------------

    def test_get_related_matches_brute_force(self):
        """GetRelated(limit=max_limit) of every article equals brute-force cosine"""
        for article_id in sorted(self.stored):
            self.assert_ranking(article_id, self.get_related(article_id, MAX_LIMIT), MAX_LIMIT)

    def test_get_related_default_limit(self):
        """GetRelated with limit 0 returns the default 10"""
        article_id = self.corpus_ids[1]
        got = self.get_related(article_id)
        self.assertEqual(len(got), DEFAULT_LIMIT)
        self.assert_ranking(article_id, got, 0)

    def test_get_related_honours_limit(self):
        """GetRelated with limit 1, 3, 7 returns that many, best first"""
        article_id = self.corpus_ids[2]
        for limit in (1, 3, 7):
            got = self.get_related(article_id, limit)
            self.assertEqual(len(got), limit)
            self.assert_ranking(article_id, got, limit)

    def test_get_related_exclude_ids(self):
        """GetRelated drops exclude_ids, ignoring unknown and self IDs"""
        article_id = self.corpus_ids[3]
        top = [r.article_id for r in self.get_related(article_id, 5)]
        exclude = top[:3] + ["no/such/article", article_id]
        got = self.get_related(article_id, 5, exclude)
        self.assertEqual(len(got), 5)
        self.assert_ranking(article_id, got, 5, exclude)

    def test_upsert_replacement_changes_results(self):
        """replacing an article moves it in the ranking; it stays one entry"""
        anchor_a, anchor_b = self.corpus_ids[4], self.corpus_ids[5]
        target = "replace/target"
        v1 = self.make_article(target, self.near(anchor_a, 0.01),
                               self.pb2.ArticleMetadata(title="version 1"))
        self.upsert([v1])
        count = self.article_count()
        first = self.get_related(target, 1)
        self.assertEqual(first[0].article_id, anchor_a)
        self.assert_ranking(target, self.get_related(target, MAX_LIMIT), MAX_LIMIT)

        v2 = self.make_article(target, self.near(anchor_b, 0.01),
                               self.pb2.ArticleMetadata(title="version 2", section="sport"))
        self.upsert([v2])
        self.assertEqual(self.article_count(), count, "count after replacing")
        second = self.get_related(target, 1)
        self.assertEqual(second[0].article_id, anchor_b)
        self.assert_ranking(target, self.get_related(target, MAX_LIMIT), MAX_LIMIT)
        reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=target),
                                     timeout=RPC_TIMEOUT_S)
        self.assertProtoEqual(reply.article.metadata, v2.metadata)
        # Seen from its new neighbour: present once, with the new vector's score.
        around_b = self.get_related(anchor_b, MAX_LIMIT)
        self.assertEqual([r.article_id for r in around_b].count(target), 1)
        self.assert_ranking(anchor_b, around_b, MAX_LIMIT)

    def raw_get_related(self, request):
        """GetRelated's response as the bytes on the wire."""
        call = self.channel.unary_unary("/related.v1.RelatedArticles/GetRelated")
        return call(request.SerializeToString(), timeout=RPC_TIMEOUT_S)

    def box_cache_hits(self):
        return related_testlib.scrape_metrics(self.server.metrics_address).get(
            "related_getrelated_box_cache_hits_total", 0.0)

    def box_cache_checks(self):
        """(current, changed): cached boxes of an older state checked so far."""
        metrics = related_testlib.scrape_metrics(self.server.metrics_address)
        return tuple(metrics.get(
            f'related_getrelated_box_cache_checks_total{{result="{result}"}}', 0.0)
            for result in ("current", "changed"))

    def test_default_box_served_again_shows_every_write(self):
        """the default box is served again byte for byte, across writes that cannot
        change it, and shows each write that does at once"""
        anchor = self.corpus_ids[8]
        target = "default-box/target"
        vector = self.near(anchor, 0.01)
        request = self.pb2.GetRelatedRequest(article_id=anchor)

        def default_box():
            raw = self.raw_get_related(request)
            box = self.pb2.GetRelatedResponse.FromString(raw).articles
            self.assert_ranking(anchor, box)
            return raw, {r.article_id: r.metadata.title for r in box}

        self.upsert([self.make_article(target, vector,
                                       self.pb2.ArticleMetadata(title="first title"))])
        first, titles = default_box()
        self.assertEqual(titles.get(target), "first title")
        # Asked again, also as the default limit and as an empty policy: the
        # same bytes, from the cache of encoded boxes where boxes are
        # precomputed (with HNSW; the exact index searches each time).
        listed = self.stub.GetStats(self.pb2.GetStatsRequest(),
                                    timeout=RPC_TIMEOUT_S).related_lists_precomputed
        hits = self.box_cache_hits()
        for again in (request,
                      self.pb2.GetRelatedRequest(article_id=anchor, limit=DEFAULT_LIMIT),
                      self.pb2.GetRelatedRequest(article_id=anchor,
                                                 policy=self.pb2.RankingPolicy())):
            self.assertEqual(self.raw_get_related(again), first)
        self.assertEqual(self.box_cache_hits() - hits, 3 if listed else 0)

        # A write that cannot change this box (an article opposite to the
        # anchor, far below its last article): served again from the cache,
        # the same bytes.
        opposite = "default-box/opposite"
        self.upsert([self.make_article(
            opposite, as_float32([-v for v in self.stored[anchor][0]]))])
        hits, (current, changed) = self.box_cache_hits(), self.box_cache_checks()
        self.assertEqual(self.raw_get_related(request), first)
        self.assertEqual(self.box_cache_hits() - hits, 1 if listed else 0)
        self.assertEqual(self.box_cache_checks(),
                         (current + 1, changed) if listed else (current, changed))
        self.delete([opposite])

        self.upsert([self.make_article(target, vector,
                                       self.pb2.ArticleMetadata(title="second title"))])
        hits, (current, changed) = self.box_cache_hits(), self.box_cache_checks()
        _, titles = default_box()
        self.assertEqual(titles.get(target), "second title")
        # The cached box was checked and found changed: encoded again.
        self.assertEqual(self.box_cache_hits(), hits)
        self.assertEqual(self.box_cache_checks(),
                         (current, changed + 1) if listed else (current, changed))
        self.delete([target])
        _, titles = default_box()
        self.assertNotIn(target, titles)

    def test_delete_removes_article(self):
        """DeleteArticles removes it from GetArticle and from every GetRelated"""
        anchor = self.corpus_ids[6]
        target = "delete/target"
        self.upsert([self.make_article(target, self.near(anchor, 0.01))])
        self.assertIn(target, [r.article_id for r in self.get_related(anchor, 3)])
        count = self.article_count()

        reply = self.delete([target, "delete/never-existed"])
        self.assertEqual(reply.deleted, 1, "deleted counts only existing articles")
        self.assertEqual(self.article_count(), count - 1)
        self.assert_not_stored(target, "after DeleteArticles")
        self.assertRpcError(NOT_FOUND, self.stub.GetRelated,
                            self.pb2.GetRelatedRequest(article_id=target), fragments=[target])
        for article_id in sorted(self.stored):
            got = self.get_related(article_id, MAX_LIMIT)
            self.assertNotIn(target, [r.article_id for r in got], f"GetRelated({article_id!r})")
            self.assert_ranking(article_id, got, MAX_LIMIT)
        self.assertEqual(self.delete([target]).deleted, 0, "a second delete is a no-op")

    # ---- BatchGetRelated -----------------------------------------------------

    def test_batch_get_related_per_item_status(self):
        """BatchGetRelated: unknown ID gets code 5, the others OK, in request order"""
        first, second, excluded = self.corpus_ids[7], self.corpus_ids[8], self.corpus_ids[9]
        unknown = "no/such/article-in-batch"
        request = self.pb2.BatchGetRelatedRequest(article_ids=[first, unknown, second],
                                                  limit=5, exclude_ids=[excluded])
        reply = self.stub.BatchGetRelated(request, timeout=RPC_TIMEOUT_S)
        self.assertEqual([r.article_id for r in reply.results], [first, unknown, second])
        self.assertEqual([r.code for r in reply.results], [0, 5, 0])
        missing = reply.results[1]
        self.assertEqual(len(missing.articles), 0)
        self.assertIn(unknown, missing.error_message)
        for result in (reply.results[0], reply.results[2]):
            self.assertEqual(result.error_message, "")
            self.assert_ranking(result.article_id, list(result.articles), 5, [excluded])
            alone = self.get_related(result.article_id, 5, [excluded])
            self.assertEqual([r.article_id for r in result.articles],
                             [r.article_id for r in alone], "same as GetRelated")

    # ---- ImportArticles --------------------------------------------------------

    def test_import_several_batches(self):
        """ImportArticles applies several batches in order and counts them"""
        before = self.article_count()
        batches = []
        for size, name in ((4, "a"), (5, "b"), (6, "c")):
            batches.append([self.make_article(f"import/{name}{i}", self.random_vector(),
                                              self.pb2.ArticleMetadata(title=f"{name}{i}"))
                            for i in range(size)])
        # The last batch replaces an article of the first: the later one wins.
        batches[2][0] = self.make_article("import/a0", self.random_vector(),
                                          self.pb2.ArticleMetadata(title="a0 replaced"))
        requests = [self.pb2.ImportArticlesRequest(articles=b) for b in batches]
        reply = self.stub.ImportArticles(iter(requests), timeout=RPC_TIMEOUT_S)
        self.assertEqual(reply.upserted, 15)
        self.assertEqual(reply.batches, 3)
        for batch in batches:
            self.remember(batch)
        self.assertEqual(self.article_count(), before + 14)
        got = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id="import/a0"),
                                   timeout=RPC_TIMEOUT_S)
        self.assertEqual(got.article.metadata.title, "a0 replaced")
        for article_id in ("import/a0", "import/b4", "import/c5"):
            self.assert_ranking(article_id, self.get_related(article_id, MAX_LIMIT), MAX_LIMIT)

    def test_import_empty_stream(self):
        """ImportArticles with no batches returns zero counts"""
        reply = self.stub.ImportArticles(iter([]), timeout=RPC_TIMEOUT_S)
        self.assertEqual((reply.upserted, reply.batches), (0, 0))

    def test_import_invalid_batch_ends_stream(self):
        """ImportArticles: an invalid batch ends the stream; earlier batches stay"""
        good = [self.make_article(f"import-bad/ok{i}", self.random_vector()) for i in range(3)]
        bad = [self.make_article("import-bad/in-bad-batch", self.random_vector()),
               self.make_article("import-bad/short", as_float32([1.0, 2.0, 3.0]))]
        after = [self.make_article("import-bad/after", self.random_vector())]
        # Sent as UpsertArticlesRequest, the stream's message type before
        # ImportArticlesRequest existed: the same bytes, so clients built
        # from the older .proto keep working.
        requests = [self.pb2.UpsertArticlesRequest(articles=b) for b in (good, bad, after)]
        err = self.assertRpcError(INVALID, self.stub.ImportArticles, iter(requests),
                                  fragments=["articles[1].embedding"])
        self.assertRegex(err.details(), r"\b3\b", "message should say 3 articles were imported")
        self.remember(good)
        for article in good:
            reply = self.stub.GetArticle(self.pb2.GetArticleRequest(article_id=article.id),
                                         timeout=RPC_TIMEOUT_S)
            self.assertEqual(reply.article.id, article.id)
        self.assert_not_stored("import-bad/in-bad-batch", "the invalid batch was written")
        self.assert_not_stored("import-bad/after", "a batch after the invalid one was written")
        self.assertEqual(self.article_count(), len(self.stored))

    # ---- invalid input: UpsertArticles -------------------------------------

    def test_invalid_upsert_empty_id(self):
        """UpsertArticles with an empty id: INVALID_ARGUMENT naming articles[1].id"""
        self.assert_invalid_upsert(self.make_article("", self.random_vector()),
                                   ["articles[1].id"])

    def test_invalid_upsert_oversized_id(self):
        """UpsertArticles with a 257-byte id: INVALID_ARGUMENT naming articles[1].id"""
        self.assert_invalid_upsert(self.make_article("x" * (MAX_ID_BYTES + 1),
                                                     self.random_vector()), ["articles[1].id"])

    def test_invalid_upsert_oversized_multibyte_id(self):
        """UpsertArticles with a 129-char, 258-byte id: INVALID_ARGUMENT (bytes count)"""
        self.assert_invalid_upsert(self.make_article("é" * (MAX_ID_BYTES // 2 + 1),
                                                     self.random_vector()), ["articles[1].id"])

    def test_invalid_upsert_control_character_id(self):
        """UpsertArticles with a control character in the id: INVALID_ARGUMENT"""
        self.assert_invalid_upsert(self.make_article("world/line\nbreak", self.random_vector()),
                                   ["articles[1].id"])

    def test_invalid_upsert_duplicate_id_in_batch(self):
        """UpsertArticles with one id twice in a batch: INVALID_ARGUMENT naming articles[1]"""
        first = self.make_article("dup/one", self.random_vector())
        second = self.make_article("dup/one", self.random_vector())
        before = self.article_count()
        self.assertRpcError(INVALID, self.stub.UpsertArticles,
                            self.pb2.UpsertArticlesRequest(articles=[first, second]),
                            fragments=["articles[1]"])
        self.assert_not_stored("dup/one", "a rejected batch was written")
        self.assertEqual(self.article_count(), before)

    def test_invalid_upsert_wrong_dimension(self):
        """UpsertArticles with 3 values instead of 8: INVALID_ARGUMENT naming the field and sizes"""
        err_fragments = ["articles[1].embedding", str(self.dim), "3"]
        self.assert_invalid_upsert(self.make_article("bad/dim", as_float32([1.0, 2.0, 3.0])),
                                   err_fragments)

    def test_invalid_upsert_empty_embedding(self):
        """UpsertArticles with no embedding: INVALID_ARGUMENT naming articles[1].embedding"""
        self.assert_invalid_upsert(self.make_article("bad/empty", []),
                                   ["articles[1].embedding"])

    def test_invalid_upsert_nan(self):
        """UpsertArticles with a NaN value: INVALID_ARGUMENT naming articles[1].embedding"""
        vector = self.random_vector()
        vector[2] = float("nan")
        self.assert_invalid_upsert(self.make_article("bad/nan", vector),
                                   ["articles[1].embedding"])

    def test_invalid_upsert_infinity(self):
        """UpsertArticles with +Inf or -Inf: INVALID_ARGUMENT naming articles[1].embedding"""
        for value in (float("inf"), float("-inf")):
            vector = self.random_vector()
            vector[-1] = value
            self.assert_invalid_upsert(self.make_article("bad/inf", vector),
                                       ["articles[1].embedding"])

    def test_invalid_upsert_all_zero(self):
        """UpsertArticles with an all-zero vector: INVALID_ARGUMENT naming articles[1].embedding"""
        self.assert_invalid_upsert(self.make_article("bad/zero", [0.0] * self.dim),
                                   ["articles[1].embedding"])

    def test_upsert_over_max_batch_size(self):
        """UpsertArticles with max_batch_size+1 articles: RESOURCE_EXHAUSTED, nothing written"""
        articles = [self.make_article(f"too-many/{i}", self.random_vector())
                    for i in range(MAX_BATCH_SIZE + 1)]
        before = self.article_count()
        self.assertRpcError(BATCH_LIMIT_CODE, self.stub.UpsertArticles,
                            self.pb2.UpsertArticlesRequest(articles=articles),
                            fragments=["articles", str(MAX_BATCH_SIZE)])
        self.assertEqual(self.article_count(), before)
        self.assert_not_stored("too-many/0", "a rejected batch was written")

    # ---- invalid input: reads and deletes ------------------------------------

    def test_get_related_unknown_id_not_found(self):
        """GetRelated of an unknown ID: NOT_FOUND naming the ID"""
        self.assertRpcError(NOT_FOUND, self.stub.GetRelated,
                            self.pb2.GetRelatedRequest(article_id="no/such/article"),
                            fragments=["no/such/article"])

    def test_invalid_get_related_empty_id(self):
        """GetRelated with an empty article_id: INVALID_ARGUMENT naming article_id"""
        self.assertRpcError(INVALID, self.stub.GetRelated,
                            self.pb2.GetRelatedRequest(article_id=""), fragments=["article_id"])

    def test_invalid_get_related_oversized_id(self):
        """GetRelated with a 257-byte article_id: INVALID_ARGUMENT naming article_id"""
        self.assertRpcError(INVALID, self.stub.GetRelated,
                            self.pb2.GetRelatedRequest(article_id="x" * (MAX_ID_BYTES + 1)),
                            fragments=["article_id"])

    def test_invalid_get_related_negative_limit(self):
        """GetRelated with limit -1: INVALID_ARGUMENT naming limit"""
        self.assertRpcError(INVALID, self.stub.GetRelated,
                            self.pb2.GetRelatedRequest(article_id=self.corpus_ids[0], limit=-1),
                            fragments=["limit"])

    def test_invalid_get_related_limit_over_max(self):
        """GetRelated with limit max_limit+1: INVALID_ARGUMENT naming limit"""
        self.assertRpcError(INVALID, self.stub.GetRelated,
                            self.pb2.GetRelatedRequest(article_id=self.corpus_ids[0],
                                                       limit=MAX_LIMIT + 1),
                            fragments=["limit"])

    def test_invalid_batch_get_related_empty_id(self):
        """BatchGetRelated with an empty ID: INVALID_ARGUMENT naming article_ids[1]"""
        self.assertRpcError(INVALID, self.stub.BatchGetRelated,
                            self.pb2.BatchGetRelatedRequest(
                                article_ids=[self.corpus_ids[0], ""]),
                            fragments=["article_ids[1]"])

    def test_invalid_batch_get_related_limit(self):
        """BatchGetRelated with limit max_limit+1: INVALID_ARGUMENT naming limit"""
        self.assertRpcError(INVALID, self.stub.BatchGetRelated,
                            self.pb2.BatchGetRelatedRequest(article_ids=[self.corpus_ids[0]],
                                                            limit=MAX_LIMIT + 1),
                            fragments=["limit"])

    def test_batch_get_related_over_max_batch_size(self):
        """BatchGetRelated with max_batch_size+1 IDs: RESOURCE_EXHAUSTED naming article_ids"""
        ids = [self.corpus_ids[i % CORPUS_SIZE] for i in range(MAX_BATCH_SIZE + 1)]
        self.assertRpcError(BATCH_LIMIT_CODE, self.stub.BatchGetRelated,
                            self.pb2.BatchGetRelatedRequest(article_ids=ids),
                            fragments=["article_ids", str(MAX_BATCH_SIZE)])

    def test_get_article_unknown_id_not_found(self):
        """GetArticle of an unknown ID: NOT_FOUND naming the ID"""
        self.assert_not_stored("no/such/article")

    def test_invalid_get_article_empty_id(self):
        """GetArticle with an empty article_id: INVALID_ARGUMENT naming article_id"""
        self.assertRpcError(INVALID, self.stub.GetArticle,
                            self.pb2.GetArticleRequest(article_id=""), fragments=["article_id"])

    def test_invalid_delete_empty_id(self):
        """DeleteArticles with an empty ID: INVALID_ARGUMENT naming article_ids[1]"""
        self.assertRpcError(INVALID, self.stub.DeleteArticles,
                            self.pb2.DeleteArticlesRequest(article_ids=["no/such", ""]),
                            fragments=["article_ids[1]"])

    def test_delete_over_max_batch_size(self):
        """DeleteArticles with max_batch_size+1 IDs: RESOURCE_EXHAUSTED naming article_ids"""
        ids = [f"no/such/{i}" for i in range(MAX_BATCH_SIZE + 1)]
        self.assertRpcError(BATCH_LIMIT_CODE, self.stub.DeleteArticles,
                            self.pb2.DeleteArticlesRequest(article_ids=ids),
                            fragments=["article_ids", str(MAX_BATCH_SIZE)])


if __name__ == "__main__":
    related_testlib.parse_args_then_run(__doc__.splitlines()[0])
