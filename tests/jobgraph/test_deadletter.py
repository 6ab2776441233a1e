"""Dead-letter records stay small whatever the input, and still identify what they dropped."""
from __future__ import annotations

import hashlib
import json

from jobgraph.deadletter import RAW_LIMIT, DeadLetter
from jobgraph.steps import DEAD_LETTER, dead_letter


def test_large_raw_message_is_truncated_with_its_length_and_hash():
    raw = bytes(range(256)) * 10_000  # 2.5 MB of every byte value: JSON-escaping inflates it
    letter = dead_letter("video-features", "", "parse", "unparseable-message", "not a KlioMessage",
                         raw=raw)
    assert letter.tag == DEAD_LETTER
    record = json.loads(letter.value.to_json())
    assert record["raw_length"] == len(raw)
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert record["raw"].encode("latin-1") == raw[:RAW_LIMIT]
    assert len(letter.value.to_json()) < 128 * 1024  # far below Pub/Sub's 10 MB per message


def test_long_element_and_message_are_clipped_and_say_their_length():
    letter = DeadLetter(job="j", element="x" * 5000, stage="s", reason="r", message="m" * 50_000)
    assert len(letter.element) == 300 and "(5000 characters)" in letter.element
    assert len(letter.message) == 2000 and "(50000 characters)" in letter.message
    assert DeadLetter.from_json(letter.to_json()) == letter


def test_small_records_are_unchanged():
    letter = DeadLetter(job="j", element="abc", stage="s", reason="r", message="why")
    assert (letter.element, letter.message, letter.raw, letter.raw_length) == ("abc", "why", None, None)
