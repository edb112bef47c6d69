"""Noise evidence in the store: what `replay --noise` measured, per run, and the history a
run without `--noise` reads (the evidence of the latest runs that measured each endpoint)."""

from __future__ import annotations

from collections import defaultdict

from sqlite_utils import Database

from shadowdiff.compare.noise import EndpointNoise, FieldNoise, NoiseEvidence, field_rates
from shadowdiff.store.schema import write_transaction

HISTORY = 5  # runs that measured an endpoint, latest first, whose evidence a later run reads

# How a run's evidence adds up (several processes of one run, stores merged into one)
SAMPLED_COLUMNS = "run_id, endpoint, source, sampled"
ADD_SAMPLED = """ON CONFLICT (run_id, endpoint, source) DO UPDATE SET
      sampled = sampled + excluded.sampled"""
FIELD_COLUMNS = (
    "run_id, endpoint, source, field, kind, differences, max_delta, numeric, array_key, by_index"
)
ADD_FIELD = """ON CONFLICT (run_id, endpoint, source, field, kind) DO UPDATE SET
      differences = differences + excluded.differences,
      max_delta = max(max_delta, excluded.max_delta),
      numeric = min(numeric, excluded.numeric),
      array_key = coalesce(array_key, excluded.array_key),
      by_index = min(by_index, excluded.by_index)"""
_INSERT_SAMPLED = f"INSERT INTO noise_samples ({SAMPLED_COLUMNS}) VALUES (?, ?, ?, ?) {ADD_SAMPLED}"
_INSERT_FIELD = f"""INSERT INTO noise_fields ({FIELD_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {ADD_FIELD}"""


def save_noise(db: Database, run_id: int, evidence: NoiseEvidence) -> None:
    """Add a run's evidence (several processes of one run add up)."""
    if not evidence.sampled:
        return
    with write_transaction(db):
        for (endpoint, source), count in evidence.sampled.items():
            db.execute(_INSERT_SAMPLED, [run_id, endpoint, source, count])
        for (endpoint, source, path, kind), noise in evidence.fields.items():
            db.execute(
                _INSERT_FIELD,
                [
                    run_id,
                    endpoint,
                    source,
                    path,
                    kind,
                    noise.differences,
                    noise.max_delta,
                    int(noise.numeric),
                    noise.array_key,
                    int(noise.by_index),
                ],
            )


def run_noise(db: Database, run_id: int, history: int = HISTORY) -> dict[str, EndpointNoise]:
    """endpoint -> its noise evidence for this run: its own when the run measured the
    endpoint, else the sum over the latest `history` runs before it that did."""
    if not db.table("noise_samples").exists():  # a store read as it is (schema before v3)
        return {}
    sql = """SELECT s.endpoint, s.run_id, r.name FROM noise_samples s JOIN runs r ON r.id = s.run_id
             WHERE s.run_id <= ? GROUP BY s.endpoint, s.run_id ORDER BY s.run_id DESC"""
    chosen: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for endpoint, measured_in, name in db.execute(sql, [run_id]).fetchall():
        runs = chosen[endpoint]
        own = runs and runs[0][0] == run_id
        if not own and len(runs) < history:
            runs.append((measured_in, name))
    return {endpoint: _evidence(db, endpoint, runs) for endpoint, runs in sorted(chosen.items())}


def _evidence(db: Database, endpoint: str, runs: list[tuple[int, str]]) -> EndpointNoise:
    ids = [run for run, _ in runs]
    marks = ", ".join("?" for _ in ids)
    sampled: dict[str, int] = {}
    sql = f"""SELECT source, sum(sampled) FROM noise_samples
              WHERE endpoint = ? AND run_id IN ({marks}) GROUP BY source"""
    for source, count in db.execute(sql, [endpoint, *ids]).fetchall():
        sampled[source] = int(count)
    sql = f"""SELECT source, field, kind, sum(differences), max(max_delta), min(numeric),
                     max(array_key), min(by_index)
              FROM noise_fields WHERE endpoint = ? AND run_id IN ({marks})
              GROUP BY source, field, kind"""
    fields = [
        (source, path, kind, FieldNoise(int(n), float(delta or 0), bool(numeric), key, bool(ix)))
        for source, path, kind, n, delta, numeric, key, ix in db.execute(sql, [endpoint, *ids])
    ]
    return EndpointNoise(
        max(sampled.values(), default=0),
        field_rates(sampled, fields),
        tuple(name for _, name in runs),
    )
