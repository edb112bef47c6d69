"""Payload builders of the sample service, for both builds.

Everything is deterministic from the id (a `random.Random` seeded with it), except the noise
fields (uuids, timestamps, `took_ms`), which are really random or "now" on every response. The
candidate build adds more noise (reordered arrays, a jitter on `balance`) and the deliberate
regressions A-C (see service.py for D-F, which are about the HTTP answer, not the payload).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

Build = Literal["baseline", "candidate"]
Json = dict[str, Any]

FIRST_NAMES = (
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Donald",
    "Frances",
    "John",
    "Sophie",
    "Tim",
    "Hedy",
    "Niklaus",
)
LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Knuth",
    "Allen",
    "Backus",
    "Wilson",
    "Berners-Lee",
)
ROLES = ("viewer", "editor", "admin", "billing", "support", "auditor")
PRODUCTS = (
    "USB-C cable",
    "Mechanical keyboard",
    "Wireless mouse",
    "27in monitor",
    "Laptop stand",
    "Noise-cancelling headphones",
    "Webcam",
    "Desk lamp",
    "Docking station",
    "SSD 1TB",
)
TAGS = ("electronics", "office", "sale", "new", "bestseller", "eco", "gift", "refurbished")
USER_IDS = range(1, 51)

CONFIG_BODY = (
    b'{"feature_flags": {"new_checkout": true, "dark_mode": false, "search_v2": true, '
    b'"recommendations": "beta"}, "version": "2.3"}'
)


def now_iso() -> str:
    """ISO-8601 UTC now with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_id() -> str:
    return str(uuid.uuid4())


def _rng(kind: str, key: object) -> random.Random:
    return random.Random(f"{kind}:{key}")


def _shuffled_differently(items: list[str]) -> list[str]:
    """Candidate noise: the same elements in another order (a random non-zero rotation)."""
    if len(items) < 2:
        return items
    shift = random.randrange(1, len(items))
    return items[shift:] + items[:shift]


def user(user_id: int, build: Build) -> Json | None:
    if user_id not in USER_IDS:
        return None
    rng = _rng("user", user_id)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    roles = rng.sample(ROLES, rng.choice((2, 3)))
    profile: Json = {"nickname": f"{first.lower()}{user_id}", "joined": _joined(rng)}
    if build == "candidate":
        roles.reverse()  # noise: the new build reads roles from a set-backed query
        del profile["nickname"]  # REGRESSION A: $.profile.nickname is missing
    return {
        "id": user_id,
        "name": f"{first} {last}",
        "email": f"{first}.{last}@example.com".lower(),
        "roles": roles,
        "profile": profile,
        "request_id": request_id(),
        "meta": {"generated_at": now_iso()},
    }


def _joined(rng: random.Random) -> str:
    return f"20{rng.randint(18, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def order(order_id: int, build: Build) -> Json:
    rng = _rng("order", order_id)
    items = [_order_item(rng) for _ in range(3)]
    total = round(sum(item["qty"] * item["price"] for item in items), 2)
    balance = round(rng.uniform(0, 500), 2)
    if build == "candidate":
        balance += random.uniform(-0.0004, 0.0004)  # noise: float rounding in the new ledger
        items[1]["price"] = round(items[1]["price"] + 1.5, 2)  # REGRESSION B: $.items[1].price
    return {
        "id": order_id,
        "status": rng.choice(("paid", "shipped")),
        "items": items,
        "total": total,
        "balance": balance,
        "request_id": request_id(),
    }


def _order_item(rng: random.Random) -> Json:
    return {
        "sku": f"SKU-{rng.randint(10000, 99999)}",
        "qty": rng.randint(1, 4),
        "price": round(rng.uniform(2, 250), 2),
        "updated_at": now_iso(),
    }


def product(product_id: int, build: Build) -> Json:
    rng = _rng("product", product_id)
    stock: int | str = rng.randint(0, 200)
    tags = rng.sample(TAGS, rng.choice((2, 3)))
    if build == "candidate":
        tags = _shuffled_differently(tags)  # noise: tags come from an unordered store
        stock = str(stock)  # REGRESSION C: $.stock is a string
    return {
        "id": product_id,
        "name": rng.choice(PRODUCTS),
        "stock": stock,
        "tags": tags,
        "price": round(rng.uniform(5, 900), 2),
    }


def search(query: str, limit: int) -> Json:
    rng = _rng("search", query)
    count = min(max(limit, 0), 50)
    results = [
        {"id": (pid := rng.randint(1, 999)), "name": product(pid, "baseline")["name"]}
        for _ in range(count)
    ]
    return {"query": query, "results": results, "took_ms": random.randint(3, 120)}


def export(export_id: int) -> Json:
    rows = _rng("export", export_id).randint(10, 5000)
    return {"id": export_id, "rows": rows, "url": f"/files/export-{export_id}.csv"}


def items_page(page: int) -> list[Json]:
    first = (max(page, 1) - 1) * 20 + 1
    return [_item(item_id) for item_id in range(first, first + 20)]


def _item(item_id: int) -> Json:
    rng = _rng("item", item_id)
    return {
        "id": item_id,
        "title": f"{rng.choice(PRODUCTS)} #{item_id}",
        "tags": sorted(rng.sample(TAGS, 2)),
    }


def cart(payload: Any) -> Json | None:
    """The created cart, or None when the body is not `{"items": [{sku, qty, price}...]}`."""
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(_is_cart_item(item) for item in items):
        return None
    total = round(sum(item["qty"] * item["price"] for item in items), 2)
    return {"cart_id": request_id(), "items": items, "total": total}


def _is_cart_item(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("sku"), str)
        and isinstance(item.get("qty"), int)
        and isinstance(item.get("price"), int | float)
    )
