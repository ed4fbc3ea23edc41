"""Postcode -> ward and location, from the borough's place data shipped with the service.

Full postcodes the data knows map exactly; otherwise the outward code (``DA6``) maps to
the ward most of it lies in, at that ward's centroid. Unknown places stay unknown: the
matcher then ranks without distance rather than guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Place", "Places"]

PLACES_FILE = Path(__file__).parent / "data" / "places.json"


@dataclass(frozen=True, slots=True)
class Place:
    ward: str
    lat: float
    lon: float


class Places:
    def __init__(self, postcodes: dict[str, Place], districts: dict[str, Place]) -> None:
        self._postcodes = postcodes
        self._districts = districts

    @classmethod
    def load(cls, path: Path = PLACES_FILE) -> Places:
        data = json.loads(path.read_text())
        centroids = {w["name"]: Place(w["name"], w["lat"], w["lon"]) for w in data["wards"]}
        postcodes = {
            code.upper(): Place(p["ward"], p["lat"], p["lon"])
            for code, p in data.get("postcodes", {}).items()
        }
        districts: dict[str, Place] = {}
        for ward in data["wards"]:
            for district in ward.get("postcode_districts", []):
                districts.setdefault(district.upper(), centroids[ward["name"]])
        return cls(postcodes, districts)

    def locate(self, postcode: str) -> Place | None:
        code = postcode.upper().strip()
        return self._postcodes.get(code) or self._districts.get(code.split(" ")[0])

    @property
    def wards(self) -> list[str]:
        return sorted(
            {p.ward for p in self._postcodes.values()} | {p.ward for p in self._districts.values()}
        )
