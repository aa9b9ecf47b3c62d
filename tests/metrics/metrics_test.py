#!/usr/bin/python3
"""Metrics test: the Prometheus exposition of a real related-server.

Starts the server (127.0.0.1, port 0), makes a known set of successful and
failing calls through stubs generated from the .proto, then fetches
http://METRICS/metrics and checks names, types, label values and values
against the calls made, and that `promtool check metrics` finds no problem.

Run:
  /usr/bin/python3 tests/metrics/metrics_test.py --server build/related-server \
      [--proto_dir proto] [--promtool /usr/bin/promtool]
"""

import math
import os
import random
import re
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import grpc  # noqa: E402

import related_testlib  # noqa: E402
from related_testlib import RPC_TIMEOUT_S  # noqa: E402

SEED = 424242
METHODS = ("GetRelated", "SearchByVector", "BatchGetRelated", "UpsertArticles",
           "ImportArticles", "DeleteArticles", "GetArticle", "GetStats", "Ping")

# The families the server promises, with their Prometheus types.
EXPECTED_TYPES = {
    "related_rpc_requests_total": "counter",
    "related_rpc_duration_seconds": "histogram",
    "related_index_articles": "gauge",
    "related_index_memory_bytes": "gauge",
    "related_articles_upserted_total": "counter",
    "related_articles_deleted_total": "counter",
    "related_getrelated_boxes_total": "counter",
    "related_getrelated_box_cache_hits_total": "counter",
    "related_getrelated_box_cache_checks_total": "counter",
    "related_build_info": "gauge",
    "related_cards_memory_bytes": "gauge",
    "related_card_pages_per_box": "gauge",
    "related_card_layout_seconds": "gauge",
    "related_card_layout_pause_seconds": "gauge",
    "related_index_tombstone_ratio": "gauge",
    "related_text_held_articles": "gauge",
    "related_compactions_total": "counter",
    "related_compaction_duration_seconds": "gauge",
    "related_compaction_running": "gauge",
    "related_recovery_duration_seconds": "gauge",
    "related_recovery_part_loaded": "gauge",
    "related_recovery_log_records": "gauge",
    "related_snapshot_last_success_timestamp_seconds": "gauge",
    "related_snapshot_size_bytes": "gauge",
    "related_snapshot_duration_seconds": "gauge",
    "related_snapshots_total": "counter",
    "related_wal_fsync_duration_seconds": "histogram",
    "related_wal_bytes_since_snapshot": "gauge",
    "related_write_failures_total": "counter",
}

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


class Exposition:
    """A parsed Prometheus text exposition (format 0.0.4)."""

    def __init__(self, text):
        self.text = text
        self.types = {}   # family name -> type
        self.helps = {}   # family name -> help text
        self.samples = []  # (name, {label: value}, float)
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3].strip() if len(parts) > 3 else ""
                elif len(parts) >= 3 and parts[1] == "HELP":
                    self.helps[parts[2]] = parts[3] if len(parts) > 3 else ""
                continue
            match = _SAMPLE_RE.match(line)
            if not match:
                raise ValueError(f"line {number} is not a sample: {line!r}")
            name, label_text, value = match.groups()
            self.samples.append((name, self._labels(label_text or "", line), float(value)))

    @staticmethod
    def _labels(text, line):
        labels = {}
        pos = 0
        while pos < len(text):
            match = _LABEL_RE.match(text, pos)
            if not match:
                raise ValueError(f"cannot parse labels in {line!r}")
            raw = match.group(2)
            labels[match.group(1)] = (raw.replace("\\n", "\n").replace('\\"', '"')
                                      .replace("\\\\", "\\"))
            pos = match.end()
        return labels

    def select(self, name, **labels):
        """Samples named `name` whose labels include `labels`."""
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == want for k, want in labels.items())]

    def value(self, name, default=None, **labels):
        """The value of the one sample matching, or default if there is none."""
        found = self.select(name, **labels)
        if not found:
            return default
        if len(found) > 1:
            raise AssertionError(f"{len(found)} samples match {name} {labels}: {found}")
        return found[0][1]


class MetricsTest(related_testlib.ServerTestCase):

    @classmethod
    def set_up_data(cls):
        pb2 = cls.pb.related_pb2
        rng = random.Random(SEED)
        dim = cls.config.dim

        def article(article_id):
            return pb2.Article(id=article_id, embedding=[rng.gauss(0, 1) for _ in range(dim)],
                               metadata=pb2.ArticleMetadata(title=article_id))

        def call(method, request):
            return getattr(cls.stub, method)(request, timeout=RPC_TIMEOUT_S)

        def failing(method, request, code):
            try:
                call(method, request)
            except grpc.RpcError as err:
                if err.code() != code:
                    raise AssertionError(f"{method}: want {code.name}, got {err.code().name}: "
                                         f"{err.details()}")
                return
            raise AssertionError(f"{method}({request}) succeeded, want {code.name}")

        ids = [f"metrics/{i:02d}" for i in range(12)]
        upserted = call("UpsertArticles", pb2.UpsertArticlesRequest(
            articles=[article(i) for i in ids])).upserted
        upserted += call("UpsertArticles", pb2.UpsertArticlesRequest(
            articles=[article(ids[0]), article(ids[1])])).upserted   # 2 replacements
        bad = pb2.Article(id="metrics/bad", embedding=[0.0] * dim)
        failing("UpsertArticles", pb2.UpsertArticlesRequest(articles=[bad]),
                grpc.StatusCode.INVALID_ARGUMENT)
        batches = [pb2.ImportArticlesRequest(articles=[article(f"metrics/import-{b}-{i}")
                                                       for i in range(3)]) for b in range(2)]
        upserted += cls.stub.ImportArticles(iter(batches), timeout=RPC_TIMEOUT_S).upserted
        deleted = call("DeleteArticles", pb2.DeleteArticlesRequest(
            article_ids=[ids[10], ids[11], "metrics/never-existed"])).deleted
        for i in range(5):
            call("GetRelated", pb2.GetRelatedRequest(article_id=ids[i], limit=3))
        for missing in ("metrics/missing-1", "metrics/missing-2"):
            failing("GetRelated", pb2.GetRelatedRequest(article_id=missing),
                    grpc.StatusCode.NOT_FOUND)
        failing("GetRelated", pb2.GetRelatedRequest(article_id=ids[0], limit=-1),
                grpc.StatusCode.INVALID_ARGUMENT)
        call("GetArticle", pb2.GetArticleRequest(article_id=ids[0]))
        failing("GetArticle", pb2.GetArticleRequest(article_id="metrics/missing-3"),
                grpc.StatusCode.NOT_FOUND)

        cls.want_requests = {
            ("GetRelated", "OK"): 5,
            ("GetRelated", "NOT_FOUND"): 2,
            ("GetRelated", "INVALID_ARGUMENT"): 1,
            ("GetArticle", "OK"): 1,
            ("GetArticle", "NOT_FOUND"): 1,
            ("UpsertArticles", "OK"): 2,
            ("UpsertArticles", "INVALID_ARGUMENT"): 1,
            ("ImportArticles", "OK"): 1,
            ("DeleteArticles", "OK"): 1,
        }
        cls.want_upserted = upserted   # 12 + 2 + 6: replacements count as writes
        cls.want_deleted = deleted     # 2: the never-existing ID is not counted
        cls.want_articles = 12 + 6 - 2
        if (upserted, deleted) != (20, 2):
            raise AssertionError(f"setup: upserted={upserted} deleted={deleted}, want 20, 2")
        cls.stats = call("GetStats", pb2.GetStatsRequest())
        cls.content_type, text = cls.scrape()
        cls.metrics = Exposition(text)

    @classmethod
    def scrape(cls):
        url = f"http://{cls.server.metrics_address}/metrics"
        with urllib.request.urlopen(url, timeout=RPC_TIMEOUT_S) as reply:
            if reply.status != 200:
                raise AssertionError(f"GET {url}: HTTP {reply.status}")
            return reply.headers.get("Content-Type", ""), reply.read().decode("utf-8")

    def requests_total(self, metrics, method, code):
        return metrics.value("related_rpc_requests_total", 0.0, method=method, code=code)

    # ---- exposition format ---------------------------------------------------

    def test_content_type(self):
        """/metrics is served as text/plain (the text format, version 0.0.4 if stated)"""
        media_type, *params = [p.strip() for p in self.content_type.split(";")]
        self.assertEqual(media_type, "text/plain", f"Content-Type: {self.content_type!r}")
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "version":
                self.assertEqual(value.strip(), "0.0.4", f"Content-Type: {self.content_type!r}")

    def test_families_have_type_and_help(self):
        """every promised metric family is declared with its TYPE and a HELP text"""
        for family, want_type in EXPECTED_TYPES.items():
            self.assertEqual(self.metrics.types.get(family), want_type,
                             f"# TYPE {family} (declared: {sorted(self.metrics.types)})")
            self.assertTrue(self.metrics.helps.get(family, "").strip(), f"# HELP {family}")

    def test_promtool_check_metrics(self):
        """promtool check metrics accepts the exposition without any remark"""
        result = subprocess.run([self.config.promtool, "check", "metrics"],
                                input=self.metrics.text, capture_output=True, text=True,
                                timeout=60)
        output = (result.stdout + result.stderr).strip()
        self.assertEqual(result.returncode, 0, f"promtool exit code; output:\n{output}")
        self.assertEqual(output, "", "promtool reported problems")

    def test_no_duplicate_series(self):
        """no series (name and label set) appears twice"""
        seen = set()
        for name, labels, _ in self.metrics.samples:
            key = (name, tuple(sorted(labels.items())))
            self.assertNotIn(key, seen, f"duplicate series {name}{labels}")
            seen.add(key)

    # ---- related_rpc_requests_total -----------------------------------------

    def test_requests_total_get_related_ok(self):
        """requests_total{GetRelated,OK} equals the 5 successful calls"""
        self.assertEqual(self.requests_total(self.metrics, "GetRelated", "OK"), 5)

    def test_every_successful_get_related_box_has_a_source(self):
        """boxes_total{precomputed} + boxes_total{searched} equals the 5 successful GetRelated calls"""
        boxes = sum(self.metrics.value("related_getrelated_boxes_total", 0, source=source)
                    for source in ("precomputed", "searched"))
        self.assertEqual(boxes, 5)

    def test_requests_total_not_found(self):
        """requests_total counts NOT_FOUND for GetRelated (2) and GetArticle (1)"""
        self.assertEqual(self.requests_total(self.metrics, "GetRelated", "NOT_FOUND"), 2)
        self.assertEqual(self.requests_total(self.metrics, "GetArticle", "NOT_FOUND"), 1)

    def test_requests_total_invalid_argument(self):
        """requests_total counts INVALID_ARGUMENT for GetRelated and UpsertArticles"""
        self.assertEqual(self.requests_total(self.metrics, "GetRelated", "INVALID_ARGUMENT"), 1)
        self.assertEqual(
            self.requests_total(self.metrics, "UpsertArticles", "INVALID_ARGUMENT"), 1)

    def test_requests_total_every_call_counted(self):
        """requests_total matches every (method, code) called, incl. streaming Import"""
        for (method, code), want in sorted(self.want_requests.items()):
            self.assertEqual(self.requests_total(self.metrics, method, code), want,
                             f'related_rpc_requests_total{{method="{method}",code="{code}"}}')

    def test_requests_total_label_values(self):
        """method labels are RelatedArticles methods and codes are gRPC status names"""
        samples = self.metrics.select("related_rpc_requests_total")
        self.assertTrue(samples, "no related_rpc_requests_total samples")
        status_names = {c.name for c in grpc.StatusCode}
        for labels, value in samples:
            self.assertEqual(set(labels), {"method", "code"}, f"labels {labels}")
            self.assertIn(labels["method"], METHODS, f"labels {labels}")
            self.assertIn(labels["code"], status_names, f"labels {labels}")
            self.assertGreaterEqual(value, 0)
            self.assertEqual(value, math.floor(value), f"non-integer count {labels}={value}")

    # ---- related_rpc_duration_seconds ---------------------------------------

    def test_duration_histogram_get_related(self):
        """duration histogram for GetRelated: cumulative buckets, +Inf == count, sane sum"""
        name = "related_rpc_duration_seconds"
        buckets = sorted(((float(l["le"]), v) for l, v in
                          self.metrics.select(f"{name}_bucket", method="GetRelated")))
        self.assertGreaterEqual(len(buckets), 2, "GetRelated histogram buckets")
        self.assertEqual(buckets[-1][0], math.inf, "last bucket is le=+Inf")
        for (_, lower), (le, upper) in zip(buckets, buckets[1:]):
            self.assertLessEqual(lower, upper, f"bucket le={le} is not cumulative")
        count = self.metrics.value(f"{name}_count", method="GetRelated")
        total = self.metrics.value(f"{name}_sum", method="GetRelated")
        self.assertIsNotNone(count, f"{name}_count{{method=GetRelated}}")
        self.assertIsNotNone(total, f"{name}_sum{{method=GetRelated}}")
        self.assertEqual(buckets[-1][1], count, "+Inf bucket equals _count")
        calls = sum(v for (m, _), v in self.want_requests.items() if m == "GetRelated")
        # Successful calls are timed for sure; failed ones may be too.
        self.assertGreaterEqual(count, 5)
        self.assertLessEqual(count, calls)
        self.assertGreater(total, 0.0, "8 RPCs cannot take 0 s in total")
        self.assertLess(total, count * RPC_TIMEOUT_S, "sum above the calls' deadlines")

    def test_duration_histogram_labels(self):
        """every duration series carries a RelatedArticles method label"""
        for suffix in ("_bucket", "_sum", "_count"):
            samples = self.metrics.select("related_rpc_duration_seconds" + suffix)
            self.assertTrue(samples, f"no related_rpc_duration_seconds{suffix} samples")
            for labels, _ in samples:
                self.assertIn(labels.get("method"), METHODS, f"labels {labels}")

    # ---- index and write gauges/counters --------------------------------------

    def test_index_articles_gauge(self):
        """related_index_articles equals the stored count (16) and GetStats"""
        value = self.metrics.value("related_index_articles")
        self.assertEqual(value, self.want_articles)
        self.assertEqual(value, self.stats.article_count)

    def test_index_memory_bytes_gauge(self):
        """related_index_memory_bytes is at least the raw float32 vectors' size"""
        value = self.metrics.value("related_index_memory_bytes")
        self.assertIsNotNone(value, "related_index_memory_bytes missing")
        self.assertGreaterEqual(value, self.want_articles * self.config.dim * 4)
        # Plausible: a few MB at most for 16 tiny vectors, not a unit mix-up.
        self.assertLess(value, 1 << 30)

    def test_card_gauges(self):
        """the card layout gauges carry what GetStats' deprecated fields say"""
        self.assertGreater(self.metrics.value("related_cards_memory_bytes"), 0)
        self.assertEqual(self.metrics.value("related_cards_memory_bytes"),
                         self.stats.cards_memory_bytes)
        for gauge, field in (("related_card_pages_per_box", "card_pages_per_box"),
                             ("related_card_layout_seconds", "card_layout_seconds"),
                             ("related_card_layout_pause_seconds",
                              "card_layout_pause_seconds")):
            value = self.metrics.value(gauge)
            self.assertIsNotNone(value, f"{gauge} missing")
            self.assertAlmostEqual(value, getattr(self.stats, field), places=6, msg=gauge)

    def test_articles_upserted_total(self):
        """related_articles_upserted_total equals the articles written (20)"""
        self.assertEqual(self.metrics.value("related_articles_upserted_total"),
                         self.want_upserted)

    def test_articles_deleted_total(self):
        """related_articles_deleted_total counts only articles that existed (2)"""
        self.assertEqual(self.metrics.value("related_articles_deleted_total"),
                         self.want_deleted)

    def test_build_info(self):
        """related_build_info{version,index_kind} is one series with value 1"""
        samples = self.metrics.select("related_build_info")
        self.assertEqual(len(samples), 1, f"related_build_info samples: {samples}")
        labels, value = samples[0]
        self.assertEqual(value, 1)
        self.assertTrue(labels.get("version"), f"version label empty: {labels}")
        self.assertEqual(labels.get("index_kind"), self.config.index)

    # ---- live updates ------------------------------------------------------------

    def test_counters_follow_new_calls(self):
        """a new OK and a new NOT_FOUND GetRelated each add exactly 1"""
        _, text = self.scrape()
        before = Exposition(text)
        pb2 = self.pb.related_pb2
        self.stub.GetRelated(pb2.GetRelatedRequest(article_id="metrics/00"),
                             timeout=RPC_TIMEOUT_S)
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.stub.GetRelated,
                            pb2.GetRelatedRequest(article_id="metrics/missing-4"))
        _, text = self.scrape()
        after = Exposition(text)
        for code in ("OK", "NOT_FOUND"):
            self.assertEqual(self.requests_total(after, "GetRelated", code)
                             - self.requests_total(before, "GetRelated", code), 1, code)
        count = "related_rpc_duration_seconds_count"
        grew = (after.value(count, 0, method="GetRelated")
                - before.value(count, 0, method="GetRelated"))
        self.assertIn(grew, (1, 2), "duration histogram _count growth for 2 calls")


if __name__ == "__main__":
    def promtool_flag(parser):
        parser.add_argument("--promtool", default="/usr/bin/promtool",
                            help="promtool binary (default: %(default)s)")

    related_testlib.parse_args_then_run(__doc__.splitlines()[0], promtool_flag)
