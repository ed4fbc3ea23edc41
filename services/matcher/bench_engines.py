"""The engines the benchmark measures the matcher against, on the same services and
requests: a naive rapidfuzz scan, SQLite FTS5 ranked by bm25() and PostgreSQL pg_trgm."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process

from services.matcher.ranking import MatchRequest, ServiceRecord, eligibility_problem

__all__ = ["LexicalSearch", "NaiveScan", "TrigramSearch"]


class NaiveScan:
    """Score every service's text against the referral text with rapidfuzz, then keep the
    eligible best: what you would write first, and what the index has to beat."""

    def __init__(self, services: Sequence[ServiceRecord]) -> None:
        self.services = services
        self.texts = [
            f"{s.name} {s.description} {' '.join(s.categories)}".lower() for s in services
        ]

    def rank(self, request: MatchRequest, top: int = 5) -> list[str]:
        scores = process.cdist(
            [request.needs_text.lower()], self.texts, scorer=fuzz.token_set_ratio, workers=1
        )[0]
        out = []
        for i in np.argsort(-scores, kind="stable"):
            s = self.services[int(i)]
            if eligibility_problem(s, request.age, request.gender) is None and s.places_left != 0:
                out.append(s.id)
                if len(out) == top:
                    break
        return out


class LexicalSearch:
    """SQLite FTS5 ranked by bm25() (in the standard library): an OR of the needs' words over
    name, description and categories, with the same hard constraints in SQL."""

    def __init__(self, services: Sequence[ServiceRecord]) -> None:
        import sqlite3

        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            "CREATE VIRTUAL TABLE texts USING fts5(body, tokenize='porter unicode61')"
        )
        self.conn.execute(
            "CREATE TABLE facts (id INTEGER PRIMARY KEY, service TEXT, min_age INT, "
            "max_age INT, genders TEXT, places INT)"
        )
        rows = [
            (
                i,
                s.id,
                s.min_age,
                s.max_age,
                "," + ",".join(s.genders) + "," if s.genders else None,
                s.places_left,
            )
            for i, s in enumerate(services, start=1)
        ]
        self.conn.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.conn.executemany(
            "INSERT INTO texts (rowid, body) VALUES (?, ?)",
            (
                (i, f"{s.name} {s.description} {' '.join(s.categories)}")
                for i, s in enumerate(services, start=1)
            ),
        )
        self.conn.commit()

    def rank(self, request: MatchRequest, top: int = 5) -> list[str]:
        words = dict.fromkeys(w for w in re.findall(r"[a-z]+", request.needs_text.lower()))
        query = " OR ".join(f'"{w}"' for w in words if len(w) > 2)
        if not query:
            return []
        age_ok = (
            "f.min_age IS NULL AND f.max_age IS NULL"
            if request.age is None
            else "(f.min_age IS NULL OR f.min_age <= :age) "
            "AND (f.max_age IS NULL OR f.max_age >= :age)"
        )
        gender_ok = "f.genders IS NULL" + (
            "" if request.gender is None else " OR instr(f.genders, :gender) > 0"
        )
        rows = self.conn.execute(
            "SELECT f.service FROM texts JOIN facts f ON f.id = texts.rowid "
            f"WHERE texts MATCH :q AND {age_ok} AND ({gender_ok}) "
            "AND (f.places IS NULL OR f.places > 0) ORDER BY bm25(texts) LIMIT :top",
            {"q": query, "age": request.age, "gender": f",{request.gender},", "top": top},
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


class TrigramSearch:
    """PostgreSQL pg_trgm similarity over the same services, in a throwaway schema."""

    SCHEMA = "matcher_bench"

    def __init__(self, services: Sequence[ServiceRecord], dsn: str) -> None:
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True)
        available = self.conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
        ).fetchone()
        if not available:
            raise RuntimeError("pg_trgm is not available on this server")
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        self.conn.execute(f"DROP SCHEMA IF EXISTS {self.SCHEMA} CASCADE")
        self.conn.execute(f"CREATE SCHEMA {self.SCHEMA}")
        self.conn.execute(
            f"CREATE TABLE {self.SCHEMA}.services (id text PRIMARY KEY, body text, "
            "min_age int, max_age int, genders text[], places int)"
        )
        with self.conn.cursor().copy(
            f"COPY {self.SCHEMA}.services (id, body, min_age, max_age, genders, places) FROM STDIN"
        ) as copy:
            for s in services:
                body = f"{s.name} {s.description} {' '.join(s.categories)}".lower()
                copy.write_row(
                    (
                        s.id,
                        body,
                        s.min_age,
                        s.max_age,
                        list(s.genders) if s.genders else None,
                        s.places_left,
                    )
                )
        self.conn.execute(f"CREATE INDEX ON {self.SCHEMA}.services USING gin (body gin_trgm_ops)")
        self.conn.execute(f"ANALYZE {self.SCHEMA}.services")
        self.conn.execute("SET pg_trgm.word_similarity_threshold = 0.3")

    def rank(self, request: MatchRequest, top: int = 5) -> list[str]:
        age_ok = (
            "min_age IS NULL AND max_age IS NULL"
            if request.age is None
            else "(min_age IS NULL OR min_age <= %(age)s) "
            "AND (max_age IS NULL OR max_age >= %(age)s)"
        )
        gender_ok = "genders IS NULL" + (
            "" if request.gender is None else " OR %(gender)s = ANY(genders)"
        )
        rows = self.conn.execute(
            f"SELECT id FROM {self.SCHEMA}.services WHERE %(q)s <%% body AND {age_ok} "
            f"AND ({gender_ok}) AND (places IS NULL OR places > 0) "
            "ORDER BY word_similarity(%(q)s, body) DESC LIMIT %(top)s",
            {
                "q": request.needs_text.lower(),
                "age": request.age,
                "gender": request.gender,
                "top": top,
            },
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.execute(f"DROP SCHEMA IF EXISTS {self.SCHEMA} CASCADE")
        self.conn.close()
