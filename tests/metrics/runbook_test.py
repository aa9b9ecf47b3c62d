#!/usr/bin/python3
"""Every alert of deploy/prometheus/alerts.yml has a runbook_url pointing at a
section of docs/runbook.md, and every runbook section is an alert's.

Run: /usr/bin/python3 tests/metrics/runbook_test.py
"""

import os
import re
import sys
import unittest

import yaml  # Debian's python3-yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class RunbookTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(REPO, "deploy", "prometheus", "alerts.yml")) as f:
            groups = yaml.safe_load(f)["groups"]
        self.alerts = [r for g in groups for r in g["rules"] if "alert" in r]
        with open(os.path.join(REPO, "docs", "runbook.md")) as f:
            self.sections = re.findall(r"^## (\S+)$", f.read(), flags=re.M)

    def test_every_alert_links_its_own_section(self):
        """runbook_url ends in #<alert name in lower case>, and that section exists"""
        self.assertGreater(len(self.alerts), 10)
        for alert in self.alerts:
            name = alert["alert"]
            url = alert.get("annotations", {}).get("runbook_url", "")
            self.assertTrue(url.endswith(f"docs/runbook.md#{name.lower()}"), f"{name}: {url!r}")
            self.assertIn(name, self.sections, f"docs/runbook.md has no section for {name}")

    def test_every_section_is_an_alert(self):
        """no runbook section for an alert that no longer exists"""
        names = {a["alert"] for a in self.alerts}
        for section in self.sections:
            self.assertIn(section, names, f"docs/runbook.md section {section} has no alert")

    def test_every_alert_has_a_severity_summary_and_description(self):
        """labels.severity in critical/warning/info, and both annotations set"""
        for alert in self.alerts:
            self.assertIn(alert.get("labels", {}).get("severity"), ("critical", "warning", "info"),
                          alert["alert"])
            for key in ("summary", "description"):
                self.assertTrue(alert.get("annotations", {}).get(key), f"{alert['alert']}: {key}")


if __name__ == "__main__":
    unittest.main(argv=sys.argv, verbosity=2)
