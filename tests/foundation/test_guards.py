"""The uptime checks' JSON matchers: what each expected value becomes, and that a string's regex
accepts the value with or without JSON quotes and nothing else."""

from __future__ import annotations

import re

from components.monitoring import content_matcher


def test_json_literals_are_matched_exactly():
    for value, content in ((True, "true"), (False, "false"), (3, "3"), (0.5, "0.5")):
        matcher = content_matcher("a.b", value)
        assert (matcher.content, matcher.matcher) == (content, "MATCHES_JSON_PATH")
        assert matcher.json_path_matcher.json_path == "$.a.b"
        assert matcher.json_path_matcher.json_matcher == "EXACT_MATCH"


def test_strings_match_with_or_without_quotes_and_nothing_more():
    matcher = content_matcher("status", "ok (v1.2)")
    assert matcher.json_path_matcher.json_matcher == "REGEX_MATCH"
    pattern = re.compile(matcher.content)
    assert pattern.search("ok (v1.2)") and pattern.search('"ok (v1.2)"')
    for other in ("ok (v1x2)", "not ok (v1.2)", '"ok (v1.2)" and more', "ok"):
        assert not pattern.search(other), other
