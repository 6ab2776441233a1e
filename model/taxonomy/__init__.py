"""IAB Content Taxonomy 3.0: category ids, names and tier paths.

The data is IAB Tech Lab's own file, vendored unchanged beside this module
(content-taxonomy-3.1.tsv: 704 categories; 3.1 is a minor release of 3.0; where it comes from
and its licence: SOURCE.txt). The default "visual" subset a model predicts lives in
model/taxonomy/visual-categories.yaml (rationale in that file).
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

import yaml

TAXONOMY_VERSION = "IAB Content Taxonomy 3.0"
VISUAL_CATEGORIES_FILE = "visual-categories.yaml"
TAXONOMY_FILE = "content-taxonomy-3.1.tsv"
# IAB's layout: a title row, then the column names, then one category per row.
TAXONOMY_COLUMNS = ["Unique ID", "Parent", "Name", "Tier 1", "Tier 2", "Tier 3", "Tier 4"]


@dataclass(frozen=True)
class Category:
    """One class of a model: IAB id, name and tier path (tier 1 first); anonymous classes
    (no IAB mapping, e.g. the YouTube-8M vocabulary) have an empty tier path."""

    id: str
    name: str
    tier_path: tuple[str, ...]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["tier_path"] = list(self.tier_path)
        return out


class Taxonomy:
    """Lookup of IAB 3.0 categories by id."""

    def __init__(self, categories: list[Category], version: str = TAXONOMY_VERSION):
        self.version = version
        self._by_id = {c.id: c for c in categories}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def __iter__(self):
        return iter(self._by_id.values())

    def get(self, category_id: str) -> Category:
        try:
            return self._by_id[str(category_id)]
        except KeyError:
            raise ValueError(f"{category_id!r} is not a {self.version} category id") from None


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """IAB Content Taxonomy 3.x from the vendored IAB Tech Lab file."""
    text = (resources.files("model.taxonomy") / TAXONOMY_FILE).read_text(encoding="utf-8")
    return Taxonomy(parse_taxonomy_tsv(text))


def parse_taxonomy_tsv(text: str) -> list[Category]:
    """Categories from IAB Tech Lab's TSV: id = Unique ID, name = Name, tier path = the
    non-empty Tier 1..4 columns (Parent and Extension are not used)."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t"))
    if len(rows) < 2 or [c.strip() for c in rows[1][:len(TAXONOMY_COLUMNS)]] != TAXONOMY_COLUMNS:
        raise ValueError(f"{TAXONOMY_FILE}: expected the columns {TAXONOMY_COLUMNS} in row 2")
    return [Category(row[0].strip(), row[2].strip(), tuple(t.strip() for t in row[3:7] if t.strip()))
            for row in rows[2:] if row and row[0].strip()]


def load_category_list(path: str) -> tuple[str, ...]:
    """IAB ids from a category-list YAML (`categories:` list of ids or {id, name} mappings).

    Every id must exist in the taxonomy and a given name must match it; ValueError otherwise.
    """
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    entries = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list under 'categories'")
    taxonomy = load_taxonomy()
    ids = []
    for i, entry in enumerate(entries):
        category_id, name = (entry.get("id"), entry.get("name")) if isinstance(entry, dict) else (entry, None)
        if category_id is None:
            raise ValueError(f"{path}: categories[{i}]: missing 'id'")
        try:
            category = taxonomy.get(str(category_id))
        except ValueError as exc:
            raise ValueError(f"{path}: categories[{i}]: {exc}") from None
        if name is not None and name != category.name:
            raise ValueError(f"{path}: categories[{i}]: id {category_id} is {category.name!r}, "
                             f"not {name!r}")
        ids.append(category.id)
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate category ids")
    return tuple(ids)


def visual_categories_path() -> str:
    """The default visual-category list, shipped beside this module (with its rationale)."""
    return str(resources.files("model.taxonomy") / VISUAL_CATEGORIES_FILE)


def visual_categories() -> tuple[Category, ...]:
    """The default visual categories a model predicts."""
    taxonomy = load_taxonomy()
    return tuple(taxonomy.get(i) for i in load_category_list(visual_categories_path()))


def model_categories(category_ids: tuple[str, ...], num_classes: int) -> list[Category]:
    """The Category of every class of a model: IAB categories, or anonymous 'class i'."""
    if not category_ids:
        return [Category(str(i), f"class {i}", ()) for i in range(num_classes)]
    if len(category_ids) != num_classes:
        raise ValueError(f"{len(category_ids)} category ids for {num_classes} classes")
    taxonomy = load_taxonomy()
    return [taxonomy.get(i) for i in category_ids]
