"""Integration test of related-cli against the real related-server.

Trains a text model on the demo corpus with `related-cli train`, starts
related-server with it on 127.0.0.1 with OS-chosen ports, waits until
`related-cli health` says SERVING, imports the demo corpus (text, no
embeddings) with the CLI, reads back the vectors the server made, and
then checks every subcommand's output and exit code the way a person or a
script would use them. Stops the server with SIGTERM and expects exit code 0.

  /usr/bin/python3 tests/integration/cli_test.py --server build/related-server \
      --cli build/related-cli --demo demo/articles.jsonl [unittest args, e.g. -k json]
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from related_testlib import (START_TIMEOUT_S, ServerProcess, SetupError,  # noqa: E402
                             scrape_metrics)

# Filled from the command line in main().
CONFIG = None

# Bound on one CLI run; the demo import is the slowest and takes well under 1 s.
CLI_RUN_TIMEOUT_S = 60.0
# Small enough that one article with a large attribute exceeds it, large
# enough for the demo import's batches of 50 (about 60 KB each).
MAX_MESSAGE_BYTES = 1 << 20
DEMO_COUNT = 120
DEMO_DIM = 100  # the trained model's
RELATED_KEYS = ["rank", "score", "article_id", "title", "url", "section", "language",
                "published_at", "attributes"]


def unused_port():
    """A port nothing listens on (bound and released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table_rows(stdout):
    """Splits a `related` table into lists of cells (header first)."""
    return [re.split(r" {2,}", line.strip()) for line in stdout.splitlines()]


class CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="related-cli-test-")
        model = os.path.join(cls.tmp.name, "model.bin")
        trained = subprocess.run([CONFIG.cli, "train", CONFIG.demo, f"--out={model}",
                                  # One thread: fastText is then deterministic,
                                  # so every run ranks with the same model.
                                  "--threads=1"],
                                 capture_output=True, text=True, timeout=300)
        if trained.returncode != 0:
            cls.tmp.cleanup()
            raise SetupError(f"related-cli train failed:\n{trained.stderr}")
        # Boxes of every language: these checks compare lookups with
        # searches, which have no query language.
        cls.server = ServerProcess(CONFIG.server, ["--index=exact",
                                                   f"--max_message_bytes={MAX_MESSAGE_BYTES}",
                                                   f"--embedder_model={model}",
                                                   "--ranking_same_language=false"])
        try:
            cls.server.start()
            cls.address = cls.server.grpc_address
            cls.wait_until_healthy()
            with open(CONFIG.demo, encoding="utf-8") as f:
                cls.demo = [json.loads(line) for line in f if line.strip()]
            cls.demo_by_id = {a["id"]: a for a in cls.demo}
            cls.demo_import = cls.run_cli("import", CONFIG.demo, "--batch_size=50")
            for article in cls.demo:
                got = cls.run_cli("--json", "get", "--embedding", article["id"])
                article["embedding"] = json.loads(got.stdout)["embedding"]
        except BaseException:
            cls.server.kill()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        log = cls.server.log_tail()
        cls.tmp.cleanup()
        if code != 0:
            raise AssertionError(f"server exit code after SIGTERM: {code}, want 0\n{log}")

    @classmethod
    def run_cli(cls, *args, address=None, stdin=None, env=None):
        """Runs related-cli; output is decoded strictly, so invalid UTF-8 fails the test."""
        run_env = dict(os.environ)
        run_env.pop("COLUMNS", None)
        run_env.update(env or {})
        return subprocess.run(
            [CONFIG.cli, f"--address={address or cls.address}", *args],
            input=stdin, capture_output=True, text=True, encoding="utf-8", errors="strict",
            env=run_env, timeout=CLI_RUN_TIMEOUT_S)

    @classmethod
    def wait_until_healthy(cls):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            result = cls.run_cli("--timeout=1s", "health")
            if result.returncode == 0 and result.stdout.strip() == "SERVING":
                return
            if time.monotonic() > deadline:
                raise SetupError(f"`related-cli health` did not succeed within "
                                 f"{START_TIMEOUT_S:.0f}s; last: {result.stdout}{result.stderr}\n"
                                 f"{cls.server.log_tail()}")
            time.sleep(0.05)  # poll interval; the loop is bounded by the deadline

    def write_jsonl(self, name, lines):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        return path

    def article(self, article_id, source=0, **fields):
        """A valid article line with the embedding of demo article `source`."""
        record = {"id": article_id, "embedding": self.demo[source]["embedding"]}
        record.update(fields)
        return json.dumps(record, ensure_ascii=False)

    def delete_later(self, *ids):
        self.addCleanup(self.run_cli, "delete", *ids)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code,
                         f"exit code {result.returncode}, want {code}\nstdout: {result.stdout}"
                         f"\nstderr: {result.stderr}")

    # --- import ---------------------------------------------------------------

    def test_import_demo_corpus(self):
        """the demo corpus imports in 3 batches of at most 50 with a summary line"""
        self.assertExit(self.demo_import, 0)
        self.assertRegex(self.demo_import.stdout,
                         r"^imported 120 articles in 3 batches, skipped 0 bad lines, "
                         r"\d+ articles/s\n$")
        self.assertEqual(self.demo_import.stderr, "")

    def test_import_reports_bad_lines_and_imports_the_rest(self):
        """bad lines are reported by number and field, skipped, exit code 3"""
        good = ["cli-test/good-1", "cli-test/ünïcödé/東京-2", "cli-test/good-3"]
        self.delete_later(*good)
        lines = [
            self.article(good[0], 1, title="Good one"),                         # 1
            '{"id": "cli-test/broken", "embedding": [1, 2',                    # 2
            "",                                                                 # 3
            json.dumps({"embedding": self.demo[2]["embedding"]}),               # 4
            json.dumps({"id": "cli-test/short", "embedding": [1, 2, 3]}),       # 5
            self.article(good[1], 3, title="東京タワー — Ünïcödé",
                         published_at=1764322200),                              # 6
            self.article("cli-test/when", 4, published_at="yesterday"),         # 7
            self.article("cli-test/attr", 5, attributes={"pages": 3}),          # 8
            json.dumps({"id": "cli-test/zero", "embedding": [0] * DEMO_DIM}),   # 9
            self.article("cli-test/title", 6, title=5),                         # 10
            self.article(good[2], 7, published_at="2026-11-28T11:30:00+02:00"),  # 11
        ]
        result = self.run_cli("import", self.write_jsonl("bad.jsonl", lines))
        self.assertExit(result, 3)
        self.assertRegex(result.stdout, r"^imported 3 articles in 1 batches, skipped 7 bad lines, "
                                        r"\d+ articles/s\n$")
        reported = result.stderr.splitlines()
        self.assertEqual([int(re.match(r"line (\d+): ", r).group(1)) for r in reported],
                         [2, 4, 5, 7, 8, 9, 10], result.stderr)
        self.assertRegex(reported[0], r"^line 2: json: not valid JSON: ")
        self.assertEqual(reported[1], "line 4: id: missing")
        self.assertEqual(reported[2],
                         f"line 5: embedding: expected {DEMO_DIM} values, got 3")
        self.assertRegex(reported[3], r'^line 7: published_at: cannot parse "yesterday"')
        self.assertEqual(reported[4], "line 8: attributes.pages: expected a string, got number")
        self.assertRegex(reported[5], r"^line 9: embedding: the zero vector")
        self.assertEqual(reported[6], "line 10: title: expected a string, got number")

        for article_id in good:
            got = self.run_cli("get", article_id)
            self.assertExit(got, 0)
            self.assertIn(f"id: {article_id}\n", got.stdout)
        unicode = json.loads(self.run_cli("--json", "get", good[1]).stdout)
        self.assertEqual(unicode["title"], "東京タワー — Ünïcödé")
        self.assertEqual(unicode["published_at"], "2025-11-28T09:30:00Z")
        offset = json.loads(self.run_cli("get", "--json", good[2]).stdout)
        self.assertEqual(offset["published_at"], "2026-11-28T09:30:00Z")
        self.assertExit(self.run_cli("get", "cli-test/when"), 1)

    def test_import_duplicate_id_later_line_wins(self):
        """a repeated ID goes into a later batch, and its later line wins"""
        self.delete_later("cli-test/dup", "cli-test/other")
        lines = [self.article("cli-test/dup", 1, title="first"),
                 self.article("cli-test/other", 2, title="other"),
                 self.article("cli-test/dup", 3, title="second")]
        result = self.run_cli("import", "-", stdin="".join(line + "\n" for line in lines))
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"^imported 3 articles in 2 batches, skipped 0 bad lines")
        self.assertIn("title: second\n", self.run_cli("get", "cli-test/dup").stdout)

    def test_import_stops_when_the_server_rejects_a_batch(self):
        """a batch the server rejects ends the import with its code, exit 1"""
        self.delete_later("cli-test/before-reject", "cli-test/too-big")
        lines = [self.article("cli-test/before-reject", 1),
                 self.article("cli-test/too-big", 2, attributes={"body": "x" * MAX_MESSAGE_BYTES})]
        result = self.run_cli("import", self.write_jsonl("big.jsonl", lines), "--batch_size=1")
        self.assertExit(result, 1)
        self.assertRegex(result.stderr, r"^related-cli: RESOURCE_EXHAUSTED: .*\n"
                                        r"related-cli: the import stopped at line 2, ")
        self.assertEqual(result.stdout, "")
        self.assertExit(self.run_cli("get", "cli-test/before-reject"), 0)
        self.assertExit(self.run_cli("get", "cli-test/too-big"), 1)

    def test_import_missing_file_is_a_usage_error(self):
        """a file that cannot be opened: clear message, exit 2"""
        result = self.run_cli("import", os.path.join(self.tmp.name, "nope.jsonl"))
        self.assertExit(result, 2)
        self.assertIn("cannot open", result.stderr)
        self.assertIn("nope.jsonl", result.stderr)

    # --- related / batch ------------------------------------------------------

    def test_related_table(self):
        """`related` prints 10 ranked rows with the stored titles, never the query"""
        query = self.demo[0]["id"]
        result = self.run_cli("related", query)
        self.assertExit(result, 0)
        rows = table_rows(result.stdout)
        self.assertEqual(rows[0], ["rank", "score", "id", "title", "section"])
        self.assertEqual(len(rows), 11, result.stdout)
        scores = []
        for rank, (rank_cell, score, article_id, title, section) in enumerate(rows[1:], 1):
            self.assertEqual(rank_cell, str(rank))
            self.assertRegex(score, r"^-?\d\.\d{3}$")
            scores.append(float(score))
            self.assertNotEqual(article_id, query)
            self.assertIn(article_id, self.demo_by_id)
            # Output to a pipe is not cut to a terminal width.
            self.assertEqual(title, self.demo_by_id[article_id]["title"])
            self.assertEqual(section, self.demo_by_id[article_id]["section"])
        self.assertEqual(scores, sorted(scores, reverse=True))

    def test_related_table_cuts_titles_to_the_terminal_without_breaking_utf8(self):
        """with COLUMNS set, long titles are cut with … on a character boundary"""
        title = "東京タワー Ünïcödé — " * 6
        self.delete_later("cli-test/twin")
        # The same embedding as demo[0], so it is its top related article
        # once near-duplicate suppression, which would drop it, is off.
        imported = self.run_cli("import", "-", stdin=self.article("cli-test/twin", 0, title=title))
        self.assertExit(imported, 0)
        result = self.run_cli("related", self.demo[0]["id"], "--duplicate_threshold=1",
                              env={"COLUMNS": "70"})
        self.assertExit(result, 0)  # and stdout decoded as strict UTF-8
        rows = table_rows(result.stdout)
        self.assertEqual(rows[1][2], "cli-test/twin")
        cut = rows[1][3]
        self.assertTrue(cut.endswith("…"), cut)
        self.assertTrue(title.startswith(cut[:-1]), cut)
        self.assertLess(len(cut), len(title))

    def test_related_json_matches_limit_and_stored_metadata(self):
        """`--json related --limit=5` gives 5 items with the documented keys"""
        query = self.demo[10]["id"]
        result = self.run_cli("--json", "related", query, "--limit=5")
        self.assertExit(result, 0)
        doc = json.loads(result.stdout)
        self.assertEqual(list(doc), ["article_id", "related"])
        self.assertEqual(doc["article_id"], query)
        self.assertEqual(len(doc["related"]), 5)
        for rank, item in enumerate(doc["related"], 1):
            self.assertEqual(list(item), RELATED_KEYS)
            self.assertEqual(item["rank"], rank)
            self.assertNotEqual(item["article_id"], query)
            stored = self.demo_by_id[item["article_id"]]
            for key in ("title", "url", "section", "language", "published_at", "attributes"):
                self.assertEqual(item[key], stored[key], key)
        scores = [item["score"] for item in doc["related"]]
        self.assertEqual(scores, sorted(scores, reverse=True))

    def test_related_exclude(self):
        """--exclude keeps the named IDs out of the results"""
        query = self.demo[20]["id"]
        # Without near-duplicate suppression: excluding an article would
        # otherwise let back in a candidate that was dropped as its
        # near-duplicate (the demo model puts a story's pieces above 0.98).
        plain = "--duplicate_threshold=1"
        top = [i["article_id"] for i in json.loads(self.run_cli(
            "--json", "related", query, "--limit=3", plain).stdout)["related"]]
        result = self.run_cli("--json", "related", query, "--limit=3", plain,
                              f"--exclude={top[0]},{top[1]}")
        self.assertExit(result, 0)
        ids = [i["article_id"] for i in json.loads(result.stdout)["related"]]
        self.assertEqual(len(ids), 3)
        self.assertEqual(ids[0], top[2])
        self.assertNotIn(top[0], ids)
        self.assertNotIn(top[1], ids)

    def test_related_unknown_id(self):
        """an unknown ID: NOT_FOUND on stderr, exit 1"""
        result = self.run_cli("related", "cli-test/no-such-article")
        self.assertExit(result, 1)
        self.assertRegex(result.stderr, r"^related-cli: NOT_FOUND: .*no-such-article")

    def test_batch_groups_results_and_shows_item_errors(self):
        """`batch` prints one group per ID and the item's own error"""
        known = self.demo[5]["id"]
        result = self.run_cli("batch", known, "cli-test/missing", "--limit=2")
        self.assertExit(result, 1)
        self.assertIn(f"== {known} ==\n", result.stdout)
        self.assertRegex(result.stdout, r"== cli-test/missing ==\nerror: NOT_FOUND: ")
        doc = json.loads(self.run_cli("--json", "batch", known, "cli-test/missing").stdout)
        self.assertEqual([r["code"] for r in doc["results"]], ["OK", "NOT_FOUND"])
        self.assertEqual(len(doc["results"][0]["related"]), 10)
        self.assertIn("error", doc["results"][1])

    # --- ranking policy and search ------------------------------------------

    def test_related_sections_filter_with_debug(self):
        """--sections keeps other sections out; --debug prints the policy and counts after the table"""
        query = self.demo[0]["id"]  # a science article
        result = self.run_cli("related", query, "--sections=sport", "--debug")
        self.assertExit(result, 0)
        table, _, debug_text = result.stdout.partition("\n\n")
        rows = table_rows(table)
        self.assertEqual(rows[0], ["rank", "score", "id", "title", "section"])
        self.assertEqual({row[4] for row in rows[1:]}, {"sport"}, result.stdout)
        debug = dict(line.split(": ", 1) for line in debug_text.splitlines())
        # 20 sport articles; the box is 10 of those the policy keeps (the
        # demo's small model puts some of a story's pieces above the 0.98
        # near-duplicate line).
        kept = (20 - int(debug["removed_as_near_duplicate"])
                - int(debug["removed_by_language"]))
        self.assertEqual(len(rows) - 1, min(10, kept), result.stdout)
        self.assertEqual(debug["applied_policy.sections"], "sport")
        # The server's defaults fill what the command line left out.
        self.assertEqual(debug["applied_policy.duplicate_threshold"], "0.98")  # with --embedder_model
        # The exact index examines all 100 articles outside sport but the query.
        self.assertEqual(int(debug["removed_by_section"]), 99)
        self.assertEqual(int(debug["removed_by_language"]), 0)
        self.assertGreaterEqual(int(debug["search_rounds"]), 1)

        doc = json.loads(self.run_cli("--json", "related", query, "--sections=sport",
                                      "--languages=en", "--debug").stdout)
        self.assertEqual(list(doc), ["article_id", "related", "debug"])
        self.assertEqual({item["section"] for item in doc["related"]}, {"sport"})
        self.assertEqual({item["language"] for item in doc["related"]}, {"en"})
        self.assertEqual(doc["debug"]["applied_policy"]["sections"], ["sport"])
        self.assertEqual(doc["debug"]["applied_policy"]["languages"], ["en"])
        self.assertIsNone(doc["debug"]["applied_policy"]["max_age"])
        self.assertGreater(doc["debug"]["removed_by_section"], 0)
        # Without --debug there is no debug output.
        plain = self.run_cli("--json", "related", query, "--sections=sport")
        self.assertNotIn("debug", json.loads(plain.stdout))

    def test_duplicate_threshold_1_disables_suppression(self):
        """an exact twin of the query is dropped by default and shown with --duplicate_threshold=1"""
        query = self.demo[30]["id"]
        self.delete_later("cli-test/syndicated-copy")
        imported = self.run_cli("import", "-", stdin=self.article("cli-test/syndicated-copy", 30))
        self.assertExit(imported, 0)

        default = json.loads(self.run_cli("--json", "related", query, "--debug").stdout)
        self.assertNotIn("cli-test/syndicated-copy",
                         [item["article_id"] for item in default["related"]])
        self.assertGreaterEqual(default["debug"]["removed_as_near_duplicate"], 1)

        result = self.run_cli("--json", "related", query, "--debug", "--duplicate_threshold=1")
        self.assertExit(result, 0)
        doc = json.loads(result.stdout)
        self.assertEqual(doc["related"][0]["article_id"], "cli-test/syndicated-copy")
        self.assertEqual(doc["debug"]["removed_as_near_duplicate"], 0)
        self.assertEqual(doc["debug"]["applied_policy"]["duplicate_threshold"], 1.0)

    def test_policy_filters_by_date_attributes_and_age(self):
        """--published_after, --require and --max_age with --now filter as asked"""
        query = self.demo[0]["id"]
        doc = json.loads(self.run_cli(
            "--json", "related", query, "--limit=20", "--require=type=analysis",
            "--published_after=2026-10-15T00:00:00Z", "--debug").stdout)
        self.assertTrue(doc["related"])
        for item in doc["related"]:
            self.assertEqual(item["attributes"]["type"], "analysis")
            self.assertGreaterEqual(item["published_at"], "2026-10-15T00:00:00Z")
        self.assertGreater(doc["debug"]["removed_by_attributes"], 0)
        self.assertGreater(doc["debug"]["removed_by_date"], 0)

        doc = json.loads(self.run_cli(
            "--json", "related", query, "--limit=100", "--max_age=72h",
            "--now=2026-11-30T14:00:00Z", "--debug").stdout)
        self.assertEqual(doc["debug"]["applied_policy"]["max_age"], "72h")
        self.assertEqual(doc["debug"]["applied_policy"]["now"], "2026-11-30T14:00:00Z")
        self.assertTrue(doc["related"])
        for item in doc["related"]:
            self.assertGreaterEqual(item["published_at"], "2026-11-27T14:00:00Z")

    def test_policy_value_out_of_range_is_the_servers_error(self):
        """a value that parses but is out of range: the server names the field, exit 1"""
        result = self.run_cli("related", self.demo[0]["id"], "--diversity=2")
        self.assertExit(result, 1)
        self.assertRegex(result.stderr,
                         r"^related-cli: INVALID_ARGUMENT: policy\.diversity_lambda: ")

    def test_batch_applies_the_policy_to_every_item(self):
        """`batch --sections --debug` filters each item and gives each its own debug"""
        ids = [self.demo[0]["id"], self.demo[40]["id"]]
        doc = json.loads(self.run_cli("--json", "batch", *ids, "--limit=3",
                                      "--sections=culture", "--debug").stdout)
        self.assertEqual([r["article_id"] for r in doc["results"]], ids)
        for result in doc["results"]:
            self.assertEqual(len(result["related"]), 3)
            self.assertEqual({item["section"] for item in result["related"]}, {"culture"})
            self.assertEqual(result["debug"]["applied_policy"]["sections"], ["culture"])
            self.assertGreater(result["debug"]["removed_by_section"], 0)
        text = self.run_cli("batch", *ids, "--limit=3", "--sections=culture", "--debug")
        self.assertExit(text, 0)
        self.assertEqual(text.stdout.count("applied_policy.sections: culture\n"), 2)

    def test_search_by_vector(self):
        """`search` ranks a vector as `related` ranks a stored article, from --vector or a file"""
        source = self.demo[50]
        vector_file = os.path.join(self.tmp.name, "draft.json")
        with open(vector_file, "w", encoding="utf-8") as f:
            json.dump(source["embedding"], f)
        # The stored article is the draft's own near-duplicate, first once
        # suppression is off.
        result = self.run_cli("search", f"--vector_file={vector_file}", "--limit=3",
                              "--duplicate_threshold=1")
        self.assertExit(result, 0)
        rows = table_rows(result.stdout)
        self.assertEqual(len(rows), 4, result.stdout)
        self.assertEqual(rows[1][2], source["id"])
        self.assertEqual(rows[1][1], "1.000")

        # By default it is dropped, which leaves what `related` gives.
        vector = ",".join(repr(v) for v in source["embedding"])
        searched = json.loads(self.run_cli("--json", "search", f"--vector={vector}",
                                           "--debug").stdout)
        self.assertEqual(list(searched), ["related", "debug"])
        self.assertGreaterEqual(searched["debug"]["removed_as_near_duplicate"], 1)
        related = json.loads(self.run_cli("--json", "related", source["id"]).stdout)
        self.assertEqual([i["article_id"] for i in searched["related"]],
                         [i["article_id"] for i in related["related"]])

        filtered = json.loads(self.run_cli("--json", "search", f"--vector={vector}",
                                           "--sections=business", "--limit=4").stdout)
        self.assertEqual(len(filtered["related"]), 4)
        self.assertEqual({i["section"] for i in filtered["related"]}, {"business"})

        wrong_size = self.run_cli("search", "--vector=1,2,3")
        self.assertExit(wrong_size, 1)
        self.assertRegex(wrong_size.stderr,
                         r"^related-cli: INVALID_ARGUMENT: embedding: expected "
                         rf"{DEMO_DIM} values, got 3")

    # --- get / delete / stats / health / ping --------------------------------

    def test_get_text_and_json(self):
        """`get` shows the stored article; --embedding adds the unit-length vector"""
        stored = self.demo[0]
        result = self.run_cli("get", stored["id"])
        self.assertExit(result, 0)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], f"id: {stored['id']}")
        self.assertIn(f"title: {stored['title']}", lines)
        self.assertIn(f"published_at: {stored['published_at']}", lines)
        self.assertFalse(any(line.startswith("embedding:") for line in lines))
        doc = json.loads(self.run_cli("--json", "get", "--embedding", stored["id"]).stdout)
        self.assertEqual(doc["title"], stored["title"])
        self.assertEqual(len(doc["embedding"]), DEMO_DIM)
        self.assertAlmostEqual(sum(v * v for v in doc["embedding"]), 1.0, places=4)

    def test_delete_then_get_fails(self):
        """`delete` counts what existed; `get` afterwards is NOT_FOUND, exit 1"""
        self.assertExit(self.run_cli("import", "-", stdin=self.article("cli-test/delete-me", 9)), 0)
        result = self.run_cli("delete", "cli-test/delete-me", "cli-test/never-existed")
        self.assertExit(result, 0)
        self.assertEqual(result.stdout, "deleted 1 of 2\n")
        got = self.run_cli("get", "cli-test/delete-me")
        self.assertExit(got, 1)
        self.assertRegex(got.stderr, r"^related-cli: NOT_FOUND: ")

    def test_stats(self):
        """`stats` reports the corpus size and dimension"""
        result = self.run_cli("stats")
        self.assertExit(result, 0)
        lines = result.stdout.splitlines()
        self.assertIn(f"article_count: {DEMO_COUNT}", lines)
        self.assertIn(f"dimension: {DEMO_DIM}", lines)
        self.assertIn("index_kind: exact", lines)
        doc = json.loads(self.run_cli("stats", "--json").stdout)
        self.assertEqual(doc["article_count"], DEMO_COUNT)
        self.assertGreater(doc["index_memory_bytes"], 0)

    def test_health(self):
        """`health` prints SERVING and exits 0; an unknown service exits 1"""
        result = self.run_cli("health")
        self.assertExit(result, 0)
        self.assertEqual(result.stdout, "SERVING\n")
        self.assertExit(self.run_cli("health", "--service=related.v1.RelatedArticles"), 0)
        self.assertExit(self.run_cli("health", "--service=no.such.Service"), 1)

    def test_ping(self):
        """`ping` answers"""
        result = self.run_cli("ping")
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"^pong in \d+\.\d\d ms\n$")

    # --- bench ----------------------------------------------------------------

    def rpc_count(self, method, code="OK", server=None):
        """A server's own count of `method` calls that ended with `code`
        (this class's server by default)."""
        key = f'related_rpc_requests_total{{code="{code}",method="{method}"}}'
        return scrape_metrics((server or self.server).metrics_address).get(key, 0.0)

    def test_bench_makes_exactly_the_calls_it_reports(self):
        """`bench --calls=N --json`: N GetRelated calls, all OK on the server too"""
        ids = [a["id"] for a in self.demo[:5]]
        before = self.rpc_count("GetRelated")
        result = self.run_cli("--json", "bench", *ids, "--calls=300", "--concurrency=3",
                              "--limit=4")
        self.assertExit(result, 0)
        report = json.loads(result.stdout)
        self.assertEqual(self.rpc_count("GetRelated") - before, 300)
        self.assertEqual((report["method"], report["article_ids"], report["concurrency"]),
                         ("GetRelated", 5, 3))
        self.assertEqual((report["calls"], report["succeeded"], report["failed"]), (300, 300, 0))
        self.assertEqual(report["failures"], {})
        self.assertFalse(report["stopped_by_duration"])
        self.assertEqual(report["articles_per_box"], 4.0)  # --limit reached the server
        latency = report["latency_ms"]
        self.assertGreater(latency["p50"], 0)
        self.assertLessEqual(latency["p50"], latency["p90"])
        self.assertLessEqual(latency["p90"], latency["p99"])
        self.assertLessEqual(latency["p99"], latency["max"])
        self.assertAlmostEqual(report["calls_per_second"], 300 / report["seconds"], places=3)

    def test_bench_text_with_ids_from_an_import_file_and_a_duration(self):
        """`bench --ids_file=<import file> --duration`: stops in time, prints its lines"""
        started = time.monotonic()
        result = self.run_cli("bench", f"--ids_file={CONFIG.demo}", "--duration=1s",
                              "--concurrency=2")
        self.assertLess(time.monotonic() - started, 20)
        self.assertExit(result, 0)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], f"GetRelated over {DEMO_COUNT} article IDs in turn, "
                                   "2 calls in flight")
        self.assertRegex(lines[1], r"^calls: \d+ in \d+\.\d\d s, [\d.]+ calls/s; failed: 0$")
        self.assertRegex(lines[2], r"^latency ms: mean [\d.]+, p50 [\d.]+, p90 [\d.]+, "
                                   r"p99 [\d.]+, max [\d.]+$")
        self.assertRegex(lines[3], r"^articles per box: \d+\.\d$")

    def test_bench_ping(self):
        """`bench --ping` times Ping, not GetRelated"""
        before = self.rpc_count("GetRelated"), self.rpc_count("Ping")
        result = self.run_cli("--json", "bench", "--ping", "--calls=50", "--concurrency=1")
        self.assertExit(result, 0)
        report = json.loads(result.stdout)
        self.assertEqual((report["method"], report["succeeded"]), ("Ping", 50))
        self.assertIsNone(report["articles_per_box"])
        # 50 measured calls and the one that opens the connection.
        self.assertEqual((self.rpc_count("GetRelated"), self.rpc_count("Ping")),
                         (before[0], before[1] + 51))

    def test_a_target_of_two_servers_takes_calls_in_turn(self):
        """--address=ipv4:A,B: the calls of one CLI run reach both servers (round_robin)"""
        other = ServerProcess(CONFIG.server, ["--dim=4"])
        other.start()
        try:
            before = self.rpc_count("Ping"), self.rpc_count("Ping", server=other)
            result = self.run_cli("bench", "--ping", "--calls=200", "--concurrency=2",
                                  address=f"ipv4:{self.address},{other.grpc_address}")
            self.assertExit(result, 0)
            got = (self.rpc_count("Ping") - before[0],
                   self.rpc_count("Ping", server=other) - before[1])
        finally:
            other.stop()
        self.assertEqual(sum(got), 201, got)  # and the Ping that opens the connection
        # In turn once both connections are up; the first calls may all go
        # to the one that came up first.
        self.assertGreaterEqual(min(got), 50, got)

    def test_reads_go_on_when_one_of_two_servers_is_killed(self):
        """bench over ipv4:A,B, B killed with SIGKILL mid-run: no call fails (retried on A)"""
        other = ServerProcess(CONFIG.server, ["--index=exact", f"--dim={DEMO_DIM}"])
        other.start()
        try:
            copy = "".join(json.dumps({"id": a["id"], "embedding": a["embedding"]}) + "\n"
                           for a in self.demo)
            self.assertExit(self.run_cli("import", "-", stdin=copy,
                                         address=other.grpc_address), 0)
            ids = os.path.join(self.tmp.name, "ids.txt")
            with open(ids, "w", encoding="utf-8") as f:
                f.write("".join(a["id"] + "\n" for a in self.demo))
            bench = subprocess.Popen(
                [CONFIG.cli, f"--address=ipv4:{self.address},{other.grpc_address}", "--json",
                 "bench", f"--ids_file={ids}", "--duration=3s", "--concurrency=4"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(1.0)  # calls reach both servers by then
                served_by_other = self.rpc_count("GetRelated", server=other)
                other.kill()
                out, err = bench.communicate(timeout=CLI_RUN_TIMEOUT_S)
            finally:
                if bench.poll() is None:
                    bench.kill()
                    bench.wait()
        finally:
            other.kill()
        self.assertGreater(served_by_other, 0)
        self.assertEqual(bench.returncode, 0, f"{out}{err}")
        report = json.loads(out)
        self.assertEqual(report["failed"], 0, report)
        self.assertGreater(report["succeeded"], served_by_other)

    def test_bench_counts_failures_and_exits_1(self):
        """an unknown ID's calls fail: counted by code, one message on stderr, exit 1"""
        known = self.demo[0]["id"]
        result = self.run_cli("--json", "bench", known, "cli-test/not-there", "--calls=20",
                              "--concurrency=2")
        self.assertExit(result, 1)
        report = json.loads(result.stdout)
        self.assertEqual((report["calls"], report["succeeded"], report["failed"]), (20, 10, 10))
        self.assertEqual(report["failures"], {"NOT_FOUND": 10})
        self.assertIn("cli-test/not-there", report["example_failure"])
        self.assertEqual(result.stderr, "related-cli: 10 of 20 calls failed, for example "
                                        "NOT_FOUND: article 'cli-test/not-there' not found\n")

    def test_bench_unreachable_server_fails_at_once(self):
        """no server: the first Ping's error, exit 1, no report"""
        result = self.run_cli("--timeout=1s", "bench", "x", address=f"127.0.0.1:{unused_port()}")
        self.assertExit(result, 1)
        self.assertRegex(result.stderr, r"^related-cli: (UNAVAILABLE|DEADLINE_EXCEEDED): ")
        self.assertEqual(result.stdout, "")

    def test_bench_usage_errors_exit_2(self):
        """bench: no IDs, IDs twice, --ping with IDs, bounds, a bad ID file: exit 2"""
        bad_file = os.path.join(self.tmp.name, "bad-ids.jsonl")
        with open(bad_file, "w", encoding="utf-8") as f:
            f.write('a\n{"title": "no id"}\n')
        for args, message in (
                (["bench"], "bench needs article IDs"),
                (["bench", "a", f"--ids_file={CONFIG.demo}"], "not both"),
                (["bench", "--ping", "a"], "takes no article IDs"),
                (["bench", "a", "--concurrency=0"], "--concurrency must be in [1, 1000]"),
                (["bench", "a", "--calls=-1"], "--calls must be in"),
                (["bench", "a", "--duration=0s"], "--duration in (0, 1h]"),
                (["bench", "a", "--duration=2h"], "--duration in (0, 1h]"),
                (["bench", "a", "--min_score=high"], "min_score"),
                (["bench", f"--ids_file={bad_file}"], "line 2:"),
                (["bench", f"--ids_file={self.tmp.name}"], "cannot read")):
            result = self.run_cli(*args)
            self.assertExit(result, 2)
            self.assertIn(message, result.stderr)
            self.assertEqual(result.stdout, "")

    # --- failures and usage ---------------------------------------------------

    def test_wrong_address_fails_within_the_timeout(self):
        """no server at the address: UNAVAILABLE or DEADLINE_EXCEEDED, exit 1, quickly"""
        address = f"127.0.0.1:{unused_port()}"
        for command in ("stats", "health"):
            start = time.monotonic()
            result = self.run_cli("--timeout=1s", command, address=address)
            elapsed = time.monotonic() - start
            self.assertExit(result, 1)
            self.assertRegex(result.stderr, r"^related-cli: (UNAVAILABLE|DEADLINE_EXCEEDED): ")
            # 1 s deadline plus generous room for process start on a busy box.
            self.assertLess(elapsed, 10.0)

    def test_usage_errors_exit_2(self):
        """unknown command, missing argument, unknown or misplaced flag: exit 2"""
        unknown = self.run_cli("frobnicate")
        self.assertExit(unknown, 2)
        self.assertIn("unknown command 'frobnicate'", unknown.stderr)
        self.assertIn("related <id>", unknown.stderr)  # the list of commands
        self.assertEqual(unknown.stdout, "")
        for args in (["related"], ["get", "a", "b"], ["stats", "--limit=3"],
                     ["--no_such_flag", "stats"], ["related", "x", "--limit=many"],
                     ["related", "x", "--limit=-1"], [],
                     # policy flags: misplaced, or text that does not parse
                     ["stats", "--debug"], ["get", "x", "--sections=world"],
                     ["related", "x", "--vector=1,2"], ["related", "x", "--max_age=2 days"],
                     ["related", "x", "--published_after=yesterday"],
                     ["batch", "x", "--require=type"], ["related", "x", "--min_score=high"],
                     ["related", "x", "--candidates=-5"], ["related", "x", "--debug=maybe"],
                     # search: exactly one vector source, no positional argument
                     ["search"], ["search", "--vector=1", f"--vector_file={CONFIG.demo}"],
                     ["search", "x", "--vector=1"], ["search", "--vector=1,x"],
                     ["search", "--vector=0,0"],
                     ["search", f"--vector_file={os.path.join(self.tmp.name, 'nope.json')}"],
                     ["search", f"--vector_file={CONFIG.demo}"]):
            result = self.run_cli(*args)
            self.assertExit(result, 2)
            self.assertTrue(result.stderr.startswith("related-cli: "), result.stderr)
            self.assertEqual(result.stdout, "")

    def test_help_lists_commands_and_flags(self):
        """--help lists the commands and the CLI's flags"""
        result = self.run_cli("--help")
        for text in ("related <id>", "search --vector", "import <file.jsonl", "health", "bench <id>",
                     "--batch_size", "--exclude", "--sections", "--duplicate_threshold",
                     "--vector_file", "--timeout", "--concurrency", "--ids_file", "Exit codes"):
            self.assertIn(text, result.stdout)


def main():
    global CONFIG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path to related-server")
    parser.add_argument("--cli", required=True, help="path to related-cli")
    parser.add_argument("--demo", required=True, help="path to demo/articles.jsonl")
    CONFIG, rest = parser.parse_known_args()
    CONFIG.server = os.path.abspath(CONFIG.server)
    CONFIG.cli = os.path.abspath(CONFIG.cli)
    for path in (CONFIG.server, CONFIG.cli):
        if not os.access(path, os.X_OK):
            parser.error(f"not an executable: {path}")
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
