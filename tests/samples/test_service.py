"""The sample service (both builds, real servers on 127.0.0.1), its traffic and its rules."""

from __future__ import annotations

import gzip
import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shadowdiff.exchange import Request, Response
from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord, read_gor
from shadowdiff.samples import generate, sample_rules_dir, sample_traffic_dir
from shadowdiff.samples.service import SampleService

EXPECTED_MIX = Counter(generate.MIX)
ENDPOINTS = [
    ("GET", "/api/users/7", None, 200),
    ("GET", "/api/orders/42", None, 200),
    ("GET", "/api/products/13", None, 200),
    ("GET", "/api/search?q=usb-c+cable&limit=5", None, 200),
    ("GET", "/api/config", None, 200),
    ("GET", "/api/export/9", None, 200),
    ("POST", "/api/cart", {"items": [{"sku": "SKU-1", "qty": 2, "price": 1.25}]}, 201),
    ("GET", "/api/items?page=2", None, 200),
    ("GET", "/api/health", None, 200),
]


@pytest.fixture(scope="module")
def baseline() -> Iterator[httpx.Client]:
    with SampleService("baseline") as service, httpx.Client(base_url=service.url) as client:
        yield client


@pytest.fixture(scope="module")
def candidate() -> Iterator[httpx.Client]:
    with SampleService("candidate") as service, httpx.Client(base_url=service.url) as client:
        yield client


def _get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("method", "path", "body", "status"), ENDPOINTS)
def test_every_endpoint_answers_in_the_baseline(
    baseline: httpx.Client, method: str, path: str, body: Any, status: int
) -> None:
    response = baseline.request(method, path, json=body)
    assert response.status_code == status
    assert response.headers["Date"] and response.headers["Server"].startswith("sample-service")
    assert response.json()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [e for e in ENDPOINTS if not e[1].startswith("/api/export/")],  # F: no answer, see below
)
def test_every_endpoint_answers_in_the_candidate(
    candidate: httpx.Client, method: str, path: str, body: Any, status: int
) -> None:
    response = candidate.request(method, path, json=body)
    expected = 500 if path.startswith("/api/search") else status
    assert response.status_code == expected
    assert json.loads(response.content)


def test_unknown_user_and_path_are_json_404(baseline: httpx.Client) -> None:
    for path in ("/api/users/51", "/api/users/0", "/api/nothing"):
        response = baseline.get(path)
        assert (response.status_code, response.json()) == (404, {"error": "not found"})


def test_baseline_payload_shapes(baseline: httpx.Client) -> None:
    user = _get(baseline, "/api/users/3")
    assert set(user) == {"id", "name", "email", "roles", "profile", "request_id", "meta"}
    assert 2 <= len(user["roles"]) <= 3 and set(user["profile"]) == {"nickname", "joined"}
    order = _get(baseline, "/api/orders/5")
    assert order["status"] in ("paid", "shipped") and len(order["items"]) == 3
    assert order["total"] == round(sum(i["qty"] * i["price"] for i in order["items"]), 2)
    search = _get(baseline, "/api/search?q=dock&limit=5")
    assert search["query"] == "dock" and len(search["results"]) == 5
    assert _get(baseline, "/api/export/9")["url"] == "/files/export-9.csv"


def test_regression_a_users_nickname_missing(
    baseline: httpx.Client, candidate: httpx.Client
) -> None:
    base, cand = _get(baseline, "/api/users/7"), _get(candidate, "/api/users/7")
    assert "nickname" in base["profile"] and "nickname" not in cand["profile"]
    assert base["profile"]["joined"] == cand["profile"]["joined"]
    assert (base["name"], base["email"]) == (cand["name"], cand["email"])


def test_regression_b_orders_second_item_price(
    baseline: httpx.Client, candidate: httpx.Client
) -> None:
    base, cand = _get(baseline, "/api/orders/42"), _get(candidate, "/api/orders/42")
    assert cand["items"][1]["price"] == pytest.approx(base["items"][1]["price"] + 1.5)
    for index in (0, 2):
        assert cand["items"][index]["price"] == base["items"][index]["price"]
    assert cand["total"] == base["total"]
    assert abs(cand["balance"] - base["balance"]) <= 0.0004 + 1e-9


def test_regression_c_products_stock_is_a_string(
    baseline: httpx.Client, candidate: httpx.Client
) -> None:
    base, cand = _get(baseline, "/api/products/13"), _get(candidate, "/api/products/13")
    assert isinstance(base["stock"], int)
    assert cand["stock"] == str(base["stock"])
    assert sorted(cand["tags"]) == sorted(base["tags"]) and cand["tags"] != base["tags"]


def test_regression_d_search_fails(baseline: httpx.Client, candidate: httpx.Client) -> None:
    assert baseline.get("/api/search?q=ssd").status_code == 200
    response = candidate.get("/api/search?q=ssd")
    assert (response.status_code, response.json()) == (500, {"error": "internal"})


def test_regression_e_config_content_type(baseline: httpx.Client, candidate: httpx.Client) -> None:
    base, cand = baseline.get("/api/config"), candidate.get("/api/config")
    assert base.content == cand.content and base.json()["version"] == "2.3"
    assert base.headers["Content-Type"] == "application/json"
    assert cand.headers["Content-Type"] == "text/plain"


def test_regression_f_export_resets_the_connection(
    baseline: httpx.Client, candidate: httpx.Client
) -> None:
    assert baseline.get("/api/export/9").status_code == 200
    with pytest.raises(httpx.TransportError):
        candidate.get("/api/export/9")
    # the server keeps serving, on a new connection
    assert candidate.get("/api/health").json() == {"status": "ok"}


def test_regression_f_is_a_tcp_reset() -> None:
    with (
        SampleService("candidate") as service,
        socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock,
    ):
        sock.sendall(b"GET /api/export/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)


def test_noise_differs_between_calls(baseline: httpx.Client, candidate: httpx.Client) -> None:
    for client in (baseline, candidate):
        first, second = client.get("/api/users/7"), client.get("/api/users/7")
        assert first.json()["request_id"] != second.json()["request_id"]
        assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
        orders = [_get(client, "/api/orders/42") for _ in range(2)]
        assert orders[0]["request_id"] != orders[1]["request_id"]
        carts = [client.post("/api/cart", json={"items": []}).json() for _ in range(2)]
        assert carts[0]["cart_id"] != carts[1]["cart_id"]
    took = {_get(baseline, "/api/search?q=dock")["took_ms"] for _ in range(8)}
    assert len(took) > 1
    balances = {_get(candidate, "/api/orders/42")["balance"] for _ in range(4)}
    assert len(balances) > 1
    assert _get(baseline, "/api/users/7")["roles"][::-1] == _get(candidate, "/api/users/7")["roles"]


def test_identical_endpoints_match_apart_from_noise(
    baseline: httpx.Client, candidate: httpx.Client
) -> None:
    for path in ("/api/items?page=3", "/api/health"):
        assert _get(baseline, path) == _get(candidate, path)
    cart = {"items": [{"sku": "SKU-9", "qty": 3, "price": 2.5}]}
    base, cand = (c.post("/api/cart", json=cart).json() for c in (baseline, candidate))
    assert base.pop("cart_id") != cand.pop("cart_id")
    assert base == cand == {"items": cart["items"], "total": 7.5}


def test_items_are_chunked_and_gzipped_on_request(baseline: httpx.Client) -> None:
    with baseline.stream("GET", "/api/items?page=1", headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in r.headers
    assert r.headers["Content-Encoding"] == "gzip"
    items = json.loads(gzip.decompress(raw))
    assert len(items) == 20 and set(items[0]) == {"id", "title", "tags"}
    plain = baseline.get("/api/items?page=1", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and plain.json() == items


def test_bad_cart_body_is_400(baseline: httpx.Client) -> None:
    assert baseline.post("/api/cart", content=b"not json").status_code == 400
    assert baseline.post("/api/cart", json={"items": [{"sku": 1}]}).status_code == 400


# -- the recorded traffic ----------------------------------------------------------------------


def _read_exchanges(path: Path) -> list[tuple[GorRecord, GorRecord]]:
    problems: list[object] = []
    records = list(read_gor(path, problems.append))
    assert problems == []
    requests = {r.id: r for r in records if r.type == REQUEST}
    responses = {r.id: r for r in records if r.type == RESPONSE}
    assert len(records) == len(requests) + len(responses)
    assert requests.keys() == responses.keys()
    return [(requests[key], responses[key]) for key in requests]


def _check_traffic(path: Path) -> None:
    exchanges = _read_exchanges(path)
    families: Counter[str] = Counter()
    for request_record, response_record in exchanges:
        assert len(request_record.id) == 24 and int(request_record.id, 16) >= 0
        assert response_record.timestamp >= request_record.timestamp
        request, response = (
            Request.parse(request_record.payload),
            Response.parse(response_record.payload),
        )
        assert request.header("Host") == "api.example.com"
        assert response.status in (200, 201)
        assert response.json() is not None
        families[request.path.split("/")[2]] += 1
        if request.method == "POST":
            assert request.header("Content-Length") == str(len(request.body))
    assert families == EXPECTED_MIX and sum(families.values()) == 240


def test_bundled_sample_traffic_reads_back() -> None:
    path = sample_traffic_dir() / "sample.gor"
    assert path.stat().st_size < 300_000
    _check_traffic(path)


def test_bundled_traffic_has_realistic_variety() -> None:
    exchanges = _read_exchanges(sample_traffic_dir() / "sample.gor")
    requests = [Request.parse(req.payload) for req, _ in exchanges]
    responses = [Response.parse(resp.payload) for _, resp in exchanges]
    agents = {r.header("User-Agent") for r in requests}
    assert len(agents) >= 4
    assert any(r.header("Authorization") for r in requests)
    assert any(not r.header("Authorization") for r in requests)
    chunked = [r for r in responses if r.header("Transfer-Encoding") == "chunked"]
    assert len(chunked) == 30 and any(r.header("Content-Encoding") == "gzip" for r in chunked)


def test_regenerating_gives_the_same_mix(tmp_path: Path) -> None:
    output = tmp_path / "traffic.gor"
    counts = generate.generate(output, seed=7)
    assert counts == EXPECTED_MIX
    _check_traffic(output)


def test_bundled_rules_cover_every_endpoint_family() -> None:
    from shadowdiff.rules.load import load_rules

    rules = load_rules(sample_rules_dir())
    matches = {rule.match for rule in rules.endpoints}
    assert matches == {
        "GET /api/users/{id}",
        "GET /api/orders/{id}",
        "GET /api/products/{id}",
        "GET /api/search",
        "GET /api/config",
        "GET /api/export/{id}",
        "POST /api/cart",
        "GET /api/items",
        "GET /api/health",
    }
