"""Existence of many paths with few storage calls, for the routing step (jobgraph.steps).

A rerun over a catalogue whose outputs mostly exist is routing plus one existence check per
element; on an object store each check is one request. `Existence.check(paths)` answers a
chunk of paths together:

- local paths: one `os.path.exists` each (what Beam's LocalFileSystem.exists does, without
  FileSystems' dispatch; a stat costs microseconds, far less than anything a listing saves);
- other schemes (gs://, ...): the paths are grouped by folder, and a group of at least
  LIST_MIN_PATHS paths is answered by one `FileSystems.match` listing of the group's longest
  common prefix (`gs://b/out/vid*`), which costs one request per 1,000 objects on GCS. A listing
  may hold at most LIST_ENTRIES_PER_PATH objects per path asked (the `limits` of the match): a
  prefix that holds more is not listed further and its paths are checked one by one, so a
  listing never costs more than 1/50 of the per-path requests it replaces (GCS pages of 1,000),
  and a prefix found too large is remembered (for chunks no larger) so it is not tried again.
  (Objects in sub-folders under the prefix are listed by GCS but not counted by the bound: keep
  data locations flat, as `{location}/{id}{suffix}` makes them.)
  A listing that fails, or whose paths are not spelled as asked, falls back to per-path checks,
  so each path gets the answer (or the error) FileSystems.exists would give it.

Outputs and inputs appear while a pipeline runs (in a batch graph the parent writes the child's
inputs in the same fused stage), so "does not exist" is never kept beyond one call: it may only
answer elements that had arrived before it was computed. "Exists" is kept until `forget()`,
which the routing step calls at each bundle's start and end, never across bundles: a rerun's
first chunk lists the catalogue once and the bundle's later chunks need no request.
"""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Iterable

from apache_beam.io.filesystems import FileSystems

LIST_MIN_PATHS = 16
LIST_ENTRIES_PER_PATH = 20
_MEMO_SIZE = 1024
_KNOWN_MAX = 400_000  # paths known to exist within a bundle: two full listings, ~50 MB
_GLOB = frozenset("*?[\\")  # a prefix or name with these cannot be matched literally

Answers = dict  # path -> True / False, or the Exception its check raised


def _is_local(path: str) -> bool:
    return "://" not in path


def _check_one(path: str) -> bool | Exception:
    try:
        return os.path.exists(path) if _is_local(path) else FileSystems.exists(path)
    except Exception as exc:  # noqa: BLE001 - an answer for this path only
        return exc


class Existence:
    """Batched existence checks; one instance per DoFn instance (the too-large memo is a cost
    hint only, never an existence answer).

    min_listing: fewest paths in a folder for which a listing is tried.
    entries_per_path: most listed objects per path asked before the listing gives up.
    """

    def __init__(self, min_listing: int = LIST_MIN_PATHS, entries_per_path: int = LIST_ENTRIES_PER_PATH):
        self.min_listing, self.entries_per_path = min_listing, entries_per_path
        self._too_large: dict[str, int] = {}  # prefix -> the listing held more than this many
        self._existing: set[str] = set()  # seen existing since forget()

    def forget(self) -> None:
        """Drop what is known to exist (at a bundle's start and end)."""
        self._existing = set()

    def check(self, paths: Iterable[str]) -> Answers:
        """{path: True/False or the Exception} for each distinct path in `paths`."""
        answers: Answers = {}
        groups: dict[str, list[str]] = defaultdict(list)
        for path in dict.fromkeys(paths):
            if path in self._existing:
                answers[path] = True
            elif _is_local(path) or _GLOB.intersection(path):
                answers[path] = _check_one(path)
            else:
                groups[path.rsplit("/", 1)[0]].append(path)
        for group in groups.values():
            listed = self._listing(group) if len(group) >= self.min_listing else None
            for path in group:
                answers[path] = (path in listed) if listed is not None else _check_one(path)
            if listed is not None:
                self._remember(listed)
        self._remember(path for path, answer in answers.items() if answer is True and not _is_local(path))
        return answers

    def _remember(self, existing: Iterable[str]) -> None:
        self._existing.update(existing)
        if len(self._existing) > _KNOWN_MAX:  # a cost saving only: forgetting is safe
            self._existing = set()

    def _listing(self, group: list[str]) -> set[str] | None:
        """The paths under the group's common prefix, or None: check the group path by path."""
        prefix = os.path.commonprefix(group)
        bound = self.entries_per_path * len(group)
        if any(known.startswith(prefix) and held >= bound for known, held in self._too_large.items()):
            return None
        try:
            found = FileSystems.match([prefix + "*"], limits=[bound + 1])[0].metadata_list
        except Exception:  # noqa: BLE001 - per-path checks give each path its own answer
            return None
        if len(found) > bound:
            if len(self._too_large) >= _MEMO_SIZE:  # a cost hint: forgetting is harmless
                self._too_large.clear()
            self._too_large[prefix] = max(bound, self._too_large.get(prefix, 0))
            return None
        listed = {meta.path for meta in found}
        if any(not path.startswith(prefix) for path in listed):
            return None  # this filesystem spells its listed paths differently
        return listed
