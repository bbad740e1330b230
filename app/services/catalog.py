"""The IT service catalog: configuration items (devices, apps) and third-party vendors, from YAML files.

A company edits ``app/catalog/*.yaml`` (or points ``CONCIERGE_CI_CATALOG`` / ``CONCIERGE_VENDOR_CATALOG`` at
its own copies). Loading validates both files and names the file and entry of every problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from app.errors import ConciergeError


class CatalogError(ConciergeError):
    code = "catalog_invalid"
    user_message = "The IT service catalog is misconfigured; IT has been told."


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str
    contact: str
    sla_hours: int


@dataclass(frozen=True)
class ConfigurationItem:
    id: str
    name: str
    category: str
    subcategory: str
    group: str
    keywords: tuple[str, ...]
    vendor: str | None = None
    escalate: str = "always"  # always | widespread


class Catalog:
    """Recognise configuration items in free text and look up their vendor."""

    def __init__(self, items: list[ConfigurationItem], vendors: dict[str, Vendor]):
        self.items = items
        self.vendors = vendors
        self._patterns = [
            (item, re.compile(r"\b(" + "|".join(re.escape(k) for k in item.keywords) + r")\b", re.I))
            for item in items
        ]

    def find(self, text: str) -> ConfigurationItem | None:
        """The first item (in file order: specific before general) named in the text."""
        for item, pattern in self._patterns:
            if pattern.search(text):
                return item
        return None

    def get(self, item_id: str | None) -> ConfigurationItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def vendor_for(self, item: ConfigurationItem | None, *, widespread: bool = True) -> Vendor | None:
        """The vendor to escalate to, if this item is theirs and the escalation rule says so."""
        if not item or not item.vendor or (item.escalate == "widespread" and not widespread):
            return None
        return self.vendors.get(item.vendor)

    @classmethod
    def load(cls, ci_path: Path, vendor_path: Path) -> Catalog:
        vendors = {v.id: v for v in _load_vendors(vendor_path)}
        items = _load_items(ci_path, vendors)
        return cls(items, vendors)


def _read(path: Path, key: str) -> list[dict]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from exc
    entries = (data or {}).get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{path}: expected a non-empty list under '{key}:'")
    return entries


def _load_vendors(path: Path) -> list[Vendor]:
    out = []
    for i, e in enumerate(_read(path, "vendors"), 1):
        try:
            out.append(Vendor(str(e["id"]), str(e["name"]), str(e["contact"]), int(e["sla_hours"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"{path}: vendor #{i}: missing or invalid field {exc}") from exc
    return out


def _load_items(path: Path, vendors: dict[str, Vendor]) -> list[ConfigurationItem]:
    out = []
    for i, e in enumerate(_read(path, "items"), 1):
        where = f"{path}: item #{i} ({e.get('id', '?') if isinstance(e, dict) else '?'})"
        try:
            keywords = tuple(str(k).lower() for k in e["keywords"])
            item = ConfigurationItem(
                str(e["id"]), str(e["name"]), str(e["category"]), str(e.get("subcategory", "")),
                str(e["group"]), keywords, e.get("vendor"), str(e.get("escalate", "always")),
            )
        except (KeyError, TypeError) as exc:
            raise CatalogError(f"{where}: missing or invalid field {exc}") from exc
        if not keywords:
            raise CatalogError(f"{where}: needs at least one keyword")
        if item.escalate not in ("always", "widespread"):
            raise CatalogError(f"{where}: escalate must be 'always' or 'widespread'")
        if item.vendor and item.vendor not in vendors:
            raise CatalogError(f"{where}: unknown vendor {item.vendor!r}")
        out.append(item)
    return out
