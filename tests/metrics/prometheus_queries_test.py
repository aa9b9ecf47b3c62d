#!/usr/bin/python3
"""Every dashboard query and every alerting rule, against a real Prometheus.

Starts a single nats-server, a standalone related-server and a replicated
one (so that the storage and the replication series both exist), puts a
little load on them, and has Debian's `prometheus` scrape both (1 s, job
"related-articles", with the namespace and pod labels the Kubernetes scrape
configuration gives) with deploy/prometheus/alerts.yml loaded. Then, through
Prometheus' HTTP API:

- every rule group loads, and every rule evaluates without error;
- every expression of deploy/grafana/related-articles.json and every rule
  expression parses and evaluates;
- every recording rule returns data;
- a dashboard query returns data whenever every related_* series it reads is
  exported by the servers, and every related_* name a rule or panel reads
  is in the scrape with job="related-articles" when the servers export it.

Run:
  /usr/bin/python3 tests/metrics/prometheus_queries_test.py --server build/related-server
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import grpc  # noqa: E402

import related_testlib  # noqa: E402
from nats_cluster import NatsCluster, free_port  # noqa: E402

DIM = 8
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "related-articles.json")
RULES = os.path.join(REPO, "deploy", "prometheus", "alerts.yml")
READY_TIMEOUT_S = 60.0
# Scrapes to wait for before querying: rates need several samples.
SCRAPED_SECONDS = 12


def dashboard_queries():
    """(panel title, expression) for every target, Grafana variables replaced
    the way the dashboard's "All" selection would."""
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$__rate_interval", "10s")
                    .replace("$namespace", ".*").replace("$pod", ".*"))
            out.append((panel["title"], expr))
    return out


def rule_expressions():
    """(name, expression, is_recording) for every rule of alerts.yml."""
    import yaml  # Debian's python3-yaml
    with open(RULES) as f:
        groups = yaml.safe_load(f)["groups"]
    return [(r.get("record") or r.get("alert"), r["expr"], "record" in r)
            for g in groups for r in g["rules"]]


def related_names(expr):
    """The related_* metric names an expression reads (without the histogram
    suffixes' base)."""
    return set(re.findall(r"\b(related_[a-z_]+)\b", expr))


class Prometheus:
    def __init__(self, work_dir, targets):
        self.port = free_port()
        self.config = os.path.join(work_dir, "prometheus.yml")
        static = "\n".join(
            f"      - targets: ['{address}']\n"
            f"        labels: {{namespace: test, pod: {pod}}}"
            for pod, address in targets)
        with open(self.config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {RULES}
scrape_configs:
  - job_name: related-articles
    static_configs:
{static}
""")
        self.log = open(os.path.join(work_dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(work_dir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return json.loads(reply.read().decode())
        except urllib.error.HTTPError as err:  # 400/422: a bad query
            return json.loads(err.read().decode())

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}")
            try:
                targets = self.api("/api/v1/targets")["data"]["activeTargets"]
                if targets and all(t["health"] == "up" for t in targets):
                    return
            except (OSError, ValueError):
                # Not listening yet, or still starting: Prometheus answers
                # 503 with a plain-text body until its storage is ready.
                pass
            time.sleep(0.2)  # poll interval, bounded by the deadline
        raise RuntimeError("prometheus: targets not up in time")

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


class PrometheusQueriesTest(unittest.TestCase):
    CONFIG = None

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="related-prometheus-")
        work = cls._tmp.name
        cls.pb = related_testlib.generate_stubs(cls.CONFIG.proto_dir, work)
        cls.nats = NatsCluster(work, size=1)
        cls.nats.start()
        common = ["--index=exact", f"--dim={DIM}", "--snapshot_interval=2s"]
        cls.servers = [
            related_testlib.ServerProcess(cls.CONFIG.server, common + [
                f"--data_dir={os.path.join(work, 'standalone')}"]),
            related_testlib.ServerProcess(cls.CONFIG.server, common + [
                f"--data_dir={os.path.join(work, 'replica')}",
                f"--nats_url={cls.nats.url}", "--nats_replicas=1"]),
        ]
        cls.channels = []
        for server in cls.servers:
            server.start()
            channel = grpc.insecure_channel(server.grpc_address)
            server.wait_until_serving(cls.pb, channel)
            cls.channels.append(channel)
        cls.prometheus = Prometheus(work, [(f"related-articles-{i}", s.metrics_address)
                                           for i, s in enumerate(cls.servers)])
        cls.prometheus.wait_ready()
        cls.run_load(SCRAPED_SECONDS)
        cls.exposed = set()
        for server in cls.servers:
            text = urllib.request.urlopen(f"http://{server.metrics_address}/metrics",
                                          timeout=10).read().decode()
            cls.exposed |= set(re.findall(r"^(related_[a-z_]+)", text, flags=re.M))

    @classmethod
    def run_load(cls, seconds):
        """Writes and lookups of every outcome on both servers, for `seconds`."""
        pb = cls.pb.related_pb2
        stubs = [cls.pb.related_pb2_grpc.RelatedArticlesStub(c) for c in cls.channels]
        for s, stub in enumerate(stubs):
            stub.ImportArticles(iter([pb.ImportArticlesRequest(articles=[
                pb.Article(id=f"s{s}-{i}", embedding=[float((i * 7 + d) % 11) + 1 for d in range(DIM)])
                for i in range(50)])]), timeout=30)
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            for s, stub in enumerate(stubs):
                # Edits and deletes go to articles 50-59; lookups to 0-49.
                stub.UpsertArticles(pb.UpsertArticlesRequest(articles=[pb.Article(
                    id=f"s{s}-{50 + i % 10}", embedding=[float((i + d) % 5) + 1 for d in range(DIM)])]),
                    timeout=10)
                stub.GetRelated(pb.GetRelatedRequest(article_id=f"s{s}-{i % 50}"), timeout=10)
                try:
                    stub.GetRelated(pb.GetRelatedRequest(article_id="missing"), timeout=10)
                except grpc.RpcError:
                    pass  # NOT_FOUND: a caller's status, counted
                if i % 10 == 0:
                    stub.DeleteArticles(pb.DeleteArticlesRequest(article_ids=[f"s{s}-{50 + i % 10}"]),
                                        timeout=10)
            i += 1
            time.sleep(0.02)  # a steady trickle, bounded by `seconds`

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.stop()
        for channel in cls.channels:
            channel.close()
        for server in cls.servers:
            server.stop()
        cls.nats.stop()
        cls._tmp.cleanup()

    def assertEvaluates(self, what, expr):
        reply = self.prometheus.query(expr)
        self.assertEqual(reply.get("status"), "success",
                         f"{what}: {reply.get('error')}\n{expr}")
        return reply["data"]["result"]

    def test_every_rule_loads_and_evaluates_without_error(self):
        """every group of alerts.yml is loaded and each rule's last evaluation is healthy"""
        deadline = time.monotonic() + 30
        while True:
            groups = self.prometheus.api("/api/v1/rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            if rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules):
                break
            self.assertLess(time.monotonic(), deadline, "rules not evaluated in time")
            time.sleep(0.2)  # poll interval, bounded by the deadline
        self.assertEqual(len(rules), len(rule_expressions()))
        for rule in rules:
            self.assertEqual(rule["health"], "ok", f"{rule['name']}: {rule.get('lastError')}")

    def test_every_rule_expression_evaluates_and_recordings_return_data(self):
        """each rule's expression evaluates; each recording rule returns data"""
        for name, expr, recording in rule_expressions():
            result = self.assertEvaluates(name, expr)
            if recording:
                self.assertTrue(result, f"recording rule {name} returned no data")

    def test_every_dashboard_query_evaluates_and_returns_data_where_exported(self):
        """each panel query evaluates, and returns data when the servers export what it reads"""
        queries = dashboard_queries()
        self.assertGreater(len(queries), 15)
        for title, expr in queries:
            result = self.assertEvaluates(title, expr)
            names = related_names(expr)
            exported = all(n in self.exposed or re.sub(r"_(bucket|count|sum)$", "", n)
                           in self.exposed for n in names)
            reads_other = "kube_" in expr
            if names and exported and not reads_other:
                self.assertTrue(result, f"panel {title!r} returned no data:\n{expr}")

    def test_every_series_read_is_in_the_scrape_with_the_job_label(self):
        """each related_* name a rule or panel reads is scraped with job=related-articles"""
        names = set()
        for _, expr, _ in rule_expressions():
            names |= related_names(expr)
        for _, expr in dashboard_queries():
            names |= related_names(expr)
        self.assertGreater(len(names), 20)
        for name in sorted(names):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if name not in self.exposed and base not in self.exposed:
                self.fail(f"{name} is read by a rule or panel but no server exports it")
            result = self.assertEvaluates(name, f'count({name}{{job="related-articles"}})')
            self.assertTrue(result, f"{name} exported but not scraped with job=related-articles")


if __name__ == "__main__":
    related_testlib.run_server_tests(PrometheusQueriesTest, __doc__.split("\n")[0])
