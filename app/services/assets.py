"""Equipment: orders by profile for joiners, and return requests for leavers.

A provisioning system (see ``app.services.hr_records`` for the shared contract): every write is idempotent
by key, every write has an idempotent compensation that returns whether it changed anything, and
``live_records`` lists what is still in force for a person. In this build an order is fulfilled at once:
each item of the profile becomes an asset (``AST`` + 7 digits) assigned to the person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.schema import AssetOrderRow, AssetRow, utcnow
from app.services.hr_records import aware, aware_or_none, claim_action, first_by_key, insert_once, person_key, reference

SERVICE = "assets"

# What each equipment profile orders: one asset per entry, so a repeated item means several of it.
#   standard  — office staff: 14-inch laptop, one monitor, dock, headset
#   developer — engineers: 16-inch laptop, two monitors, dock, headset
#   finance   — finance staff: 14-inch laptop, two monitors, dock, headset, privacy filter (sensitive screens)
#   remote    — home workers: 14-inch laptop, one monitor, dock, headset, webcam, keyboard, mouse (no office kit)
PROFILES: dict[str, tuple[str, ...]] = {
    "standard": ("laptop-14in", "monitor", "dock", "headset"),
    "developer": ("laptop-16in", "monitor", "monitor", "dock", "headset"),
    "finance": ("laptop-14in", "monitor", "monitor", "dock", "headset", "privacy-filter"),
    "remote": ("laptop-14in", "monitor", "dock", "headset", "webcam", "keyboard", "mouse"),
}
ORDER_STATUSES = ("placed", "cancelled")
ASSET_STATUSES = ("assigned", "return_requested", "cancelled")
_ORDER_REF = re.compile(r"ORD(\d{7})")


@dataclass(frozen=True)
class AssetOrder:
    reference: str  # ORD + 7 digits
    person_id: str
    profile: str
    items: tuple[str, ...]
    status: str  # placed | cancelled
    created_at: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True)
class Asset:
    tag: str  # AST + 7 digits
    person_id: str
    item: str
    order_reference: str | None
    status: str  # assigned | return_requested | cancelled
    updated_at: datetime


class Assets(Protocol):
    def order_equipment(self, person_id: str, profile: str, *, idempotency_key: str) -> AssetOrder: ...
    def cancel_order(self, target: str, *, idempotency_key: str) -> bool: ...
    def request_return(self, person_id: str, *, idempotency_key: str) -> list[Asset]: ...
    def cancel_return(self, person_id: str, *, idempotency_key: str) -> bool: ...
    def assets_of(self, person_id: str) -> list[Asset]: ...
    def live_records(self, person_id: str) -> list[AssetOrder | Asset]: ...


class SqlAssets:
    def __init__(self, db: Database):
        self.db = db

    def order_equipment(self, person_id: str, profile: str, *, idempotency_key: str) -> AssetOrder:
        """Order the profile's equipment; its items are assigned to the person as assets."""
        if profile not in PROFILES:
            raise ValueError(f"profile is one of {', '.join(PROFILES)}")
        pid = person_key(person_id)
        with self.db.session() as s:
            existing = first_by_key(s, AssetOrderRow, idempotency_key, pid)
            if existing is not None:
                return _order(existing)
            now = utcnow()
            row = AssetOrderRow(idempotency_key=idempotency_key, person_id=pid, profile=profile,
                                items=list(PROFILES[profile]), status="placed", created_at=now)
            row, created = insert_once(s, row, AssetOrderRow, idempotency_key)
            if created:
                s.add_all(AssetRow(order_id=row.id, person_id=pid, item=item, status="assigned", created_at=now,
                                   updated_at=now) for item in PROFILES[profile])
                s.commit()
            return _order(row)

    def cancel_order(self, target: str, *, idempotency_key: str) -> bool:
        """Undo ``order_equipment``. ``target`` is an order reference (that order) or a person id (all their
        placed orders); the orders' assets are cancelled with them."""
        with self.db.session() as s:
            orders, pid = self._orders_for(s, target)
            entry, fresh = claim_action(s, SERVICE, "cancel_order", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for order in orders:
                order.status, order.cancelled_at = "cancelled", now
                for asset in s.scalars(select(AssetRow).where(AssetRow.order_id == order.id,
                                                              AssetRow.status != "cancelled")):
                    asset.status, asset.updated_at = "cancelled", now
                entry.changed = True
            entry.detail = {"orders": [reference("ORD", o.id) for o in orders]}
            s.commit()
            return entry.changed

    def request_return(self, person_id: str, *, idempotency_key: str) -> list[Asset]:
        """A leaver's assigned assets are all asked back (``return_requested``); returns those assets.
        A retry returns the same assets as they are now."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "request_return", pid, idempotency_key)
            if not fresh:
                ids = [int(tag[3:]) for tag in (entry.detail or {}).get("assets", [])]
                rows = s.scalars(select(AssetRow).where(AssetRow.id.in_(ids)).order_by(AssetRow.id)) if ids else []
                return [_asset(r) for r in rows]
            now = utcnow()
            rows = list(s.scalars(_of(pid).where(AssetRow.status == "assigned")))
            for row in rows:
                row.status, row.updated_at = "return_requested", now
            entry.changed = bool(rows)
            entry.detail = {"assets": [reference("AST", r.id) for r in rows]}
            s.commit()
            return [_asset(r) for r in rows]

    def cancel_return(self, person_id: str, *, idempotency_key: str) -> bool:
        """Undo ``request_return``: the person's assets awaiting return are assigned to them again."""
        pid = person_key(person_id)
        with self.db.session() as s:
            entry, fresh = claim_action(s, SERVICE, "cancel_return", pid, idempotency_key)
            if not fresh:
                return False
            now = utcnow()
            for row in s.scalars(_of(pid).where(AssetRow.status == "return_requested")):
                row.status, row.updated_at = "assigned", now
                entry.changed = True
            s.commit()
            return entry.changed

    def assets_of(self, person_id: str) -> list[Asset]:
        """The person's assets that are not cancelled (assigned or awaiting return)."""
        with self.db.session() as s:
            return [_asset(r) for r in s.scalars(_of(person_key(person_id)).where(AssetRow.status != "cancelled"))]

    def orders_of(self, person_id: str) -> list[AssetOrder]:
        """Every order of the person, oldest first, cancelled ones included."""
        with self.db.session() as s:
            q = select(AssetOrderRow).where(AssetOrderRow.person_id == person_key(person_id))
            return [_order(r) for r in s.scalars(q.order_by(AssetOrderRow.id))]

    def live_records(self, person_id: str) -> list[AssetOrder | Asset]:
        """What is in force for the person: placed orders and assets that are not cancelled."""
        pid = person_key(person_id)
        with self.db.session() as s:
            q = select(AssetOrderRow).where(AssetOrderRow.person_id == pid, AssetOrderRow.status == "placed")
            out: list[AssetOrder | Asset] = [_order(r) for r in s.scalars(q.order_by(AssetOrderRow.id))]
            out += [_asset(r) for r in s.scalars(_of(pid).where(AssetRow.status != "cancelled"))]
            return out

    @staticmethod
    def _orders_for(s: Session, target: str) -> tuple[list[AssetOrderRow], str]:
        """The placed orders ``target`` names (an order reference or a person id), and whose they are."""
        m = _ORDER_REF.fullmatch(target.strip().upper())
        order = s.get(AssetOrderRow, int(m.group(1))) if m else None
        if order is not None:
            return ([order] if order.status == "placed" else []), order.person_id
        pid = person_key(target)
        q = select(AssetOrderRow).where(AssetOrderRow.person_id == pid, AssetOrderRow.status == "placed")
        return list(s.scalars(q.order_by(AssetOrderRow.id))), pid


def _of(pid: str):
    return select(AssetRow).where(AssetRow.person_id == pid).order_by(AssetRow.id)


def _order(row: AssetOrderRow) -> AssetOrder:
    return AssetOrder(reference("ORD", row.id), row.person_id, row.profile, tuple(row.items or ()), row.status,
                      aware(row.created_at), aware_or_none(row.cancelled_at))


def _asset(row: AssetRow) -> Asset:
    order_ref = reference("ORD", row.order_id) if row.order_id is not None else None
    return Asset(reference("AST", row.id), row.person_id, row.item, order_ref, row.status, aware(row.updated_at))

