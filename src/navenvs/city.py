"""Procedural cities: street graphs, named places and route sampling.

A :class:`City` is a street graph (intersections joined by named street
segments) with places (shops, cafes, ...) set back from the streets near the
intersections. :func:`build_city` makes one deterministically from a layout name
and a seed; :func:`sample_route` draws a V-IRL-style :class:`~navenvs.model.Route`
(start place, destination place, milestones at the turns) from a city.

Layouts (:data:`LAYOUTS`):

* ``"grid"``: a regular, axis-aligned grid (numbered cross streets, named avenues).
* ``"perturbed-grid"``: the grid with jittered intersections and some street
  segments removed (the graph stays connected and has no dead ends).
* ``"irregular"``: random, evenly spread intersections joined by their
  relative-neighbourhood graph plus the Gabriel-graph edges that close blocks
  without sharp corners (planar, non-orthogonal streets; names follow straight runs).

Places: 2-4 per block face, set back 6-10 m from the centre line (at least 5 m
from every street), mostly mid-block, some near the corners, so most but not
all intersections (about 85%) have a landmark within 18 m. Names come from
per-type templates (several thousand candidates, many non-ASCII, some with
apostrophes, quotes or ampersands) and are unique within a city; review counts
are log-normal (heavy-tailed).

Conventions:

* Local geometry is in metres east/north of ``City.origin`` (the projection of
  :func:`navenvs.geo.to_xy`); street lengths are the lengths of the local
  segments (they differ from :func:`navenvs.geo.haversine` by < 1e-4 relative).
* Headings are :func:`navenvs.geo.bearing` values between intersections.
* Shortest paths minimise street length; equal lengths (common in the regular
  grid) are broken by fixed per-street weights drawn from the seed, so grid
  routes look like real walking directions: sometimes L-shaped, sometimes
  staircases. Everything is integer arithmetic (millimetres), so the result does
  not depend on the platform or on ``PYTHONHASHSEED``.
* A route has a milestone wherever its heading changes by more than
  :data:`TURN_THRESHOLD` degrees, plus one at the destination.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from navenvs import geo
from navenvs.model import Milestone, Place, Route

__all__ = [
    "LANDMARK_RADIUS",
    "LAYOUTS",
    "NEARBY_RADIUS",
    "PLACE_TYPES",
    "TURN_THRESHOLD",
    "City",
    "Intersection",
    "Street",
    "build_city",
    "clear_city_cache",
    "sample_route",
]

#: The procedural layouts :func:`build_city` knows.
LAYOUTS: Final = ("grid", "perturbed-grid", "irregular")
#: A route turns (and gets a milestone) where its heading changes by more than this (degrees).
TURN_THRESHOLD: Final = 30.0
#: Default search radius for a milestone's landmark (metres; V-IRL uses 18).
LANDMARK_RADIUS: Final = 20.0
#: Shortest route (metres) :func:`sample_route` draws: the destination is never next to the start.
MIN_ROUTE_LENGTH: Final = 10.0
#: A place whose foot point lies this close (metres) to an intersection is reached there.
FOOT_AT_NODE: Final = 0.5
#: Radius of :attr:`City.node_places`, the per-intersection index of nearby places (metres).
NEARBY_RADIUS: Final = 25.0

_TIE_SCALE: Final = 1 << 32  # path key = millimetres * _TIE_SCALE + sum of tie weights
_TIE_MAX: Final = 1 << 16  # tie weights lie in [0, _TIE_MAX); fine for < 65536 nodes
_MAX_BLOCKS: Final = 40
_BLOCK_SIZE_RANGE: Final = (30.0, 300.0)

# --------------------------------------------------------------------------- vocabulary

_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "adj": (
        "Blue", "Golden", "Little", "Old", "Green", "Red", "Silver", "Happy", "Royal", "Urban",
        "Sunny", "Lucky", "Hidden", "Grand", "Bright", "Quiet", "Wild", "Velvet", "Copper",
        "Crimson", "Amber", "Ivory", "Northern", "Midnight", "Rustic", "Humble", "Brave",
        "Gentle", "Secret", "Jolly",
    ),
    "noun": (
        "Door", "Fox", "Lantern", "Oak", "Anchor", "Sparrow", "Bridge", "Garden", "Harbor",
        "Moon", "Star", "Crown", "Rose", "Bell", "Tiger", "Owl", "Pine", "River", "Compass",
        "Feather", "Pearl", "Meadow", "Stone", "Kettle", "Wren", "Bear", "Otter", "Lion",
        "Whale", "Heron",
    ),
    "surname": (
        "Smith", "Rossi", "Müller", "García", "Nguyen", "O'Brien", "Kowalski", "Dubois",
        "Tanaka", "Okafor", "Haddad", "Silva", "Novák", "Jensen", "Papadopoulos", "Lefèvre",
        "Øberg", "Şahin", "Núñez", "Björk", "Chen", "Patel", "Kim", "Adeyemi", "Costa",
        "Fischer", "Moreau", "Horváth", "Ferreira", "Murphy", "Schröder", "Ibáñez", "Dvořák",
        "Kaya", "Lindqvist", "Mendoza", "Bianchi", "Yamamoto", "Mensah", "Wójcik",
    ),
    "first": (
        "Joe", "Maria", "Luigi", "Ana", "Sam", "Kenji", "Amara", "Zoë", "José", "Chloé",
        "Björn", "Aïsha", "François", "Lena", "Omar", "Priya", "Mateo", "Inès", "Rosa", "Hugo",
        "Yuki", "Noor", "Olga", "Tomás", "Ada", "Felix", "Marta", "Kofi", "Leila", "Ivan",
    ),
    "fr": (
        "Lumière", "Rêverie", "Étoile", "Mirabelle", "Bohème", "Soleil", "Flâneur", "Papillon",
        "Château", "Mistral", "Belle Époque", "Clair de Lune",
    ),
    "pl_adj": ("Złota", "Mała", "Stara", "Słoneczna", "Zielona", "Cicha", "Różana", "Wesoła"),
    "jp": (
        "Sakura", "Hoshi", "Tsuki", "Kaze", "Yuki", "Hana", "Momiji", "Kumo", "Hikari", "Sora",
        "Umi", "Midori",
    ),
    "it": (
        "da Gino", "Bella Napoli", "del Ponte", "La Lanterna", "Il Gufo", "dei Fiori",
        "al Duomo", "Mamma Rosa", "del Sole", "Vecchia Roma",
    ),
    "es": (
        "del Sol", "La Esquina", "El Faro", "Santa Fe", "La Paloma", "Don Quijote", "Los Andes",
        "Mañana",
    ),
    "es_animal": ("Ñandú", "Toro", "Cóndor", "Puma", "Jaguar", "Colibrí", "Carpincho", "Zorro"),
    "saint": (
        "Sainte-Anne", "Saint-Malo", "Sainte-Odile", "Saint-Yves", "Saint-Brieuc",
        "Saint-Jacques", "Sainte-Claire",
    ),
    "vi": ("Hà Nội", "Sài Gòn", "Huế", "Đà Nẵng", "Hội An", "Phố Cổ"),
    "de": ("Markt", "Rathaus", "Dom", "Hafen", "Stadtpark", "Bahnhof", "Lindenplatz", "Schloss"),
    "pt": ("Bertrand", "do Chiado", "Lello", "da Vila", "das Letras", "Ribeira"),
    "flower": (
        "Tulip", "Peony", "Orchid", "Lily", "Daisy", "Lotus", "Iris", "Camellia", "Dahlia",
        "Violet",
    ),
    "topic": (
        "Modern Art", "Natural History", "the Moving Image", "Maps", "Glass", "Clocks", "Jazz",
        "Photography", "Ceramics", "Textiles", "Science", "Toys",
    ),
}  # fmt: skip
_WORDS["noun2"] = _WORDS["noun"]

#: Place types: (primary type, sampling weight, name templates, extra types).
PLACE_TYPES: Final[tuple[tuple[str, float, tuple[str, ...], tuple[str, ...]], ...]] = (
    ("restaurant", 0.16, (
        "{first}'s Diner", "Trattoria {it}", "寿司 {jp}", "{es_animal} Parrilla",
        "Crêperie {saint}", "{adj} {noun} Kitchen", "{surname} & Sons Grill", "Bistro {fr}",
        "Phở {vi}", "Ramen {jp}", 'Restaurant "{adj} {noun}"',
    ), ("food",)),
    ("cafe", 0.12, (
        "{adj} {noun} Café", "{first}'s Coffee", "Café {fr}", "{pl_adj} Kawiarnia",
        "喫茶 {jp}", "{noun} & {noun2} Coffee Co.", "Caffè {surname}",
    ), ("food",)),
    ("bar", 0.07, (
        "The {adj} {noun}", "The {noun} & {noun2}", "{surname}'s Pub", "Bodega {es}",
        'Bar "{noun}"', "{first}'s Tap Room",
    ), ("food",)),
    ("bakery", 0.06, (
        "{surname} Bakery", "Bäckerei {surname}", "Boulangerie {fr}", "{adj} {noun} Bakery",
        "Panadería {es}", "{first}'s Bakehouse", "Pâtisserie {saint}",
    ), ("food", "store")),
    ("pharmacy", 0.05, (
        "{surname} Pharmacy", "Farmacia {surname}", "Apotheke am {de}", "{adj} Cross Pharmacy",
        "Pharmacie {saint}", "{first}'s Drugstore",
    ), ("health", "store")),
    ("book_store", 0.05, (
        "{adj} {noun} Books", "{surname} & Daughters Booksellers", "Librería {es}",
        "Livraria {pt}", "Buchhandlung {surname}", "{noun} Books & Maps", "書店 {jp}",
    ), ("store",)),
    ("bank", 0.05, (
        "{surname} Savings Bank", "First {adj} Bank", "{noun} Trust & Savings", "Banco {es}",
        "Caisse d'Épargne {saint}", "{surname} Credit Union",
    ), ("finance",)),
    ("gym", 0.04, (
        "{adj} {noun} Fitness", "{surname}'s Boxing Club", "{noun} CrossFit", "Iron {noun} Gym",
        "Yoga {jp}", "{first}'s Pilates Studio",
    ), ("health",)),
    ("museum", 0.03, (
        "Museum of {topic}", "{surname} Gallery", "Musée {fr}", "Museo {surname}",
        "The {adj} {noun} Museum",
    ), ("tourist_attraction",)),
    ("hotel", 0.05, (
        "Hôtel {fr}", "The {adj} {noun} Inn", "{surname} Suites", "Hotel {surname}",
        "旅館 {jp}", "{noun} House B&B",
    ), ("lodging",)),
    ("florist", 0.04, (
        "{adj} {flower} Florist", "{first}'s Flowers", "Fleurs de {fr}", "Blumen {surname}",
        "花屋 {jp}", "{flower} & {noun} Flowers",
    ), ("store",)),
    ("clothing_store", 0.08, (
        "{adj} {noun} Outfitters", "{surname} Tailors", "{first}'s Boutique",
        "Maison {surname}", "{noun} & Co.",
    ), ("store",)),
    ("supermarket", 0.05, (
        "{surname} Market", "{adj} {noun} Grocery", "Mercado {es}", "{first}'s Deli & Grocery",
    ), ("food", "store")),
    ("hair_care", 0.05, (
        "{first}'s Barbershop", "Salon {fr}", "{adj} {noun} Hair", "Friseur {surname}",
    ), ()),
    ("ice_cream_shop", 0.04, (
        "Gelateria {surname}", "{adj} {noun} Creamery", "{first}'s Ice Cream",
        "Heladería {es}",
    ), ("food",)),
)  # fmt: skip

_STREET_BASES: Final = (
    "Maple", "Oak", "Elm", "Cedar", "Birch", "Willow", "Chestnut", "Walnut", "Spruce",
    "Hickory", "Magnolia", "Linden", "Poplar", "Juniper", "Laurel", "Sycamore", "Park", "Lake",
    "Hill", "River", "Church", "Mill", "Market", "Bridge", "Union", "Liberty", "Franklin",
    "Jefferson", "Madison", "Hudson", "Bleecker", "Mercer", "Prince", "Spring", "Canal",
    "Orchard", "Meadow", "Summit", "Highland", "Sunset", "Bedford", "Carmine",
)  # fmt: skip
_STREET_SUFFIXES: Final = (
    "Street", "Avenue", "Boulevard", "Lane", "Road", "Place", "Drive", "Way", "Terrace",
)  # fmt: skip
_FOREIGN_STREETS: Final = (
    ("Rue {}", ("de la Paix", "des Lilas", "Saint-Honoré", "du Bac", "de Rivoli", "des Écoles",
                "de l'Église", "Mouffetard", "Lepic", "de la Huchette", "des Martyrs",
                "Montorgueil")),
    ("Calle {}", ("Mayor", "de Alcalá", "del Sol", "de Toledo", "Núñez de Balboa", "Preciados",
                  "del Arenal", "de la Montera")),
    ("Via {}", ("Roma", "Garibaldi", "Dante", "del Corso", "Montenapoleone", "della Spiga",
                "Manzoni", "Cavour")),
    ("{}straße", ("König", "Linden", "Friedrich", "Schiller", "Goethe", "Bahnhof", "Kaiser",
                  "Mühlen")),
    ("Ulica {}", ("Złota", "Długa", "Piękna", "Mokotowska", "Chmielna", "Żurawia")),
    ("Rua {}", ("Augusta", "da Prata", "do Ouro", "Garrett", "das Flores", "São Bento")),
    ("{} Dōri", ("Meiji", "Aoyama", "Shōwa", "Yasukuni", "Chūō", "Kottō")),
)  # fmt: skip
_STREET_PREFIXES: Final = ("", "Upper ", "Lower ", "Old ", "New ", "East ", "West ")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@functools.cache
def _street_pool() -> tuple[str, ...]:
    """Named streets (in a fixed order) for avenues and irregular streets."""
    names = [f"{base} {suffix}" for suffix in _STREET_SUFFIXES for base in _STREET_BASES]
    names += [template.format(word) for template, words in _FOREIGN_STREETS for word in words]
    names += [f"{_ordinal(k)} Avenue" for k in range(1, 13)]
    return tuple(names)


def _expand(template: str) -> tuple[str, ...]:
    slots = [slot for _, slot, _, _ in string.Formatter().parse(template) if slot]
    names = []
    for values in itertools.product(*(_WORDS[slot] for slot in slots)):
        if len(set(values)) < len(values):  # "Fox & Fox": skip repeated words
            continue
        names.append(template.format(**dict(zip(slots, values, strict=True))))
    return tuple(names)


@functools.cache
def _place_names() -> tuple[tuple[tuple[str, ...], ...], ...]:
    """For each entry of :data:`PLACE_TYPES`, the expanded names of each of its templates."""
    return tuple(tuple(_expand(t) for t in templates) for _, _, templates, _ in PLACE_TYPES)


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Intersection:
    """A street intersection (a node of the street graph).

    Attributes:
        index: Node id (its position in :attr:`City.intersections`).
        lat: Latitude.
        lng: Longitude.
        x: Metres east of the city origin.
        y: Metres north of the city origin.
    """

    index: int
    lat: float
    lng: float
    x: float
    y: float


@dataclass(frozen=True)
class Street:
    """A street segment between two adjacent intersections (an edge of the street graph).

    Attributes:
        a: One end (node id, ``a < b``).
        b: The other end.
        name: Street name, shared by the segments of one street.
        length: Length in metres (local projection).
        line: The centre line, a shapely ``LineString`` in local metres (``a`` to ``b``).
    """

    a: int
    b: int
    name: str
    length: float
    line: Any = field(compare=False, repr=False)


@dataclass(frozen=True, repr=False)
class City:
    """A procedural city: a street graph with named places.

    Build one with :func:`build_city`; the constructor accepts any street graph
    (e.g. a hand-made one in tests) and derives the indexes from it.

    Attributes:
        name: City name (also the prefix of its place ids).
        layout: One of :data:`LAYOUTS` (free text for hand-made cities).
        seed: The seed it was built from.
        origin: (lat, lng) of the local metre frame's origin.
        intersections: The nodes; ``intersections[i].index == i``.
        streets: The edges, each between two adjacent intersections.
        places: Named places, set back from the streets.
        tie_breaks: Per-street integer weights in ``[0, 65536)`` that break
            equal-length ties between shortest paths (all zeros if empty).
        adjacency: For each node, ``(neighbour, street index)`` pairs sorted by neighbour.
        place_node: For each place, its nearest intersection.
        node_places: For each node, the places within :data:`NEARBY_RADIUS`,
            most reviewed first (ties by name).
    """

    name: str
    layout: str
    seed: int
    origin: tuple[float, float]
    intersections: tuple[Intersection, ...]
    streets: tuple[Street, ...]
    places: tuple[Place, ...]
    tie_breaks: tuple[int, ...] = ()
    adjacency: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, compare=False)
    place_node: tuple[int, ...] = field(init=False, compare=False)
    node_places: tuple[tuple[int, ...], ...] = field(init=False, compare=False)
    _edge_of: dict[tuple[int, int], int] = field(init=False, compare=False)
    _bearing: dict[tuple[int, int], float] = field(init=False, compare=False)
    _weights: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, compare=False)
    _node_xy: npt.NDArray[np.float64] = field(init=False, compare=False)
    _place_node_arr: npt.NDArray[np.intp] = field(init=False, compare=False)
    _place_tree: Any = field(init=False, compare=False)
    _node_tree: Any = field(init=False, compare=False)
    _street_tree: Any = field(init=False, compare=False)
    place_street: tuple[int, ...] = field(init=False, compare=False)
    place_foot: tuple[tuple[float, float], ...] = field(init=False, compare=False)
    _place_along: npt.NDArray[np.float64] = field(init=False, compare=False)
    # Per place: its street's ends, length and bearings both ways (same for every source).
    _place_geometry: tuple[npt.NDArray[Any], ...] = field(init=False, compare=False)
    _place_reaches: dict[
        tuple[int, float],
        tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.intp]],
    ] = field(init=False, compare=False, default_factory=dict)
    _trees: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(
        init=False, compare=False, default_factory=dict
    )
    _counts: dict[tuple[int, float], tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = field(
        init=False, compare=False, default_factory=dict
    )
    _landmarks: dict[tuple[int, float], Place | None] = field(
        init=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        n = len(self.intersections)
        if n < 2:
            raise ValueError("a city needs at least two intersections")
        for i, node in enumerate(self.intersections):
            if node.index != i:
                raise ValueError(f"intersections[{i}] has index {node.index}")
        ties = self.tie_breaks or (0,) * len(self.streets)
        if len(ties) != len(self.streets) or not all(0 <= t < _TIE_MAX for t in ties):
            raise ValueError(f"tie_breaks must hold one int in [0, {_TIE_MAX}) per street")
        set_("tie_breaks", tuple(ties))

        adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        edge_of: dict[tuple[int, int], int] = {}
        bearing: dict[tuple[int, int], float] = {}
        for s, street in enumerate(self.streets):
            a, b = street.a, street.b
            if not (0 <= a < b < n):
                raise ValueError(f"street {s} must join nodes a < b in 0..{n - 1}; got {a}, {b}")
            if (a, b) in edge_of:
                raise ValueError(f"street {s} duplicates street {edge_of[a, b]}")
            if not street.length > 0:
                raise ValueError(f"street {s} has non-positive length {street.length}")
            edge_of[a, b] = edge_of[b, a] = s
            adjacency[a].append((b, s))
            adjacency[b].append((a, s))
            na, nb = self.intersections[a], self.intersections[b]
            bearing[a, b] = geo.bearing(na.lat, na.lng, nb.lat, nb.lng)
            bearing[b, a] = geo.bearing(nb.lat, nb.lng, na.lat, na.lng)
        adj = tuple(tuple(sorted(row)) for row in adjacency)
        set_("adjacency", adj)
        set_("_edge_of", edge_of)
        set_("_bearing", bearing)
        set_(
            "_weights",
            tuple(
                tuple(
                    (v, round(self.streets[s].length * 1000.0) * _TIE_SCALE + ties[s])
                    for v, s in row
                )
                for row in adj
            ),
        )

        node_xy = np.array([(p.x, p.y) for p in self.intersections], dtype=np.float64)
        set_("_node_xy", node_xy)
        node_points = shapely.points(node_xy)
        set_("_node_tree", shapely.STRtree(node_points))
        set_("_street_tree", shapely.STRtree([street.line for street in self.streets]))
        place_xy = np.array(
            [geo.to_xy(p.lat, p.lng, self.origin) for p in self.places], dtype=np.float64
        ).reshape(-1, 2)
        place_points = shapely.points(place_xy)
        set_("_place_tree", shapely.STRtree(place_points))

        # nearest intersection of each place (equidistant ties: the lowest node id)
        place_node = [n] * len(self.places)
        if self.places:
            pi, ni = self._node_tree.query_nearest(place_points, all_matches=True)
            for p, v in zip(pi.tolist(), ni.tolist(), strict=True):
                place_node[p] = min(place_node[p], v)
        set_("place_node", tuple(place_node))
        set_("_place_node_arr", np.array(place_node, dtype=np.intp))

        near: list[list[int]] = [[] for _ in range(n)]
        if self.places:
            vi, pi = self._place_tree.query(
                node_points, predicate="dwithin", distance=NEARBY_RADIUS
            )
            for v, p in zip(vi.tolist(), pi.tolist(), strict=True):
                near[v].append(p)
        set_("node_places", tuple(tuple(sorted(row, key=self._prominence)) for row in near))

        # Each place's street (the nearest centre line) and its foot point on it:
        # routes to a place end there, in front of it.
        if self.places:
            _, nearest = self._street_tree.query_nearest(place_points, all_matches=False)
            lines = np.array([self.streets[s].line for s in nearest.tolist()], dtype=object)
            along = shapely.line_locate_point(lines, place_points)
            feet = shapely.get_coordinates(shapely.line_interpolate_point(lines, along))
            set_("place_street", tuple(int(s) for s in nearest.tolist()))
            set_("_place_along", np.asarray(along, dtype=np.float64))
            set_(
                "place_foot",
                tuple(geo.to_latlng(float(x), float(y), self.origin) for x, y in feet),
            )
        else:
            set_("place_street", ())
            set_("_place_along", np.zeros(0))
            set_("place_foot", ())
        ends_a = np.array([self.streets[s].a for s in self.place_street], dtype=np.intp)
        ends_b = np.array([self.streets[s].b for s in self.place_street], dtype=np.intp)
        pairs = list(zip(ends_a.tolist(), ends_b.tolist(), strict=True))
        set_(
            "_place_geometry",
            (
                ends_a,
                ends_b,
                np.array([self.streets[s].length for s in self.place_street], dtype=np.float64),
                np.array([bearing[a, b] for a, b in pairs], dtype=np.float64),
                np.array([bearing[b, a] for a, b in pairs], dtype=np.float64),
            ),
        )

    def _prominence(self, index: int) -> tuple[int, str]:
        place = self.places[index]
        return -place.n_reviews, place.name

    def __repr__(self) -> str:
        return (
            f"City(name={self.name!r}, layout={self.layout!r}, seed={self.seed}, "
            f"intersections={len(self.intersections)}, streets={len(self.streets)}, "
            f"places={len(self.places)})"
        )

    # ------------------------------------------------------------------ graph queries
    def _check_node(self, node: int, what: str = "node") -> None:
        if isinstance(node, bool) or not isinstance(node, (int, np.integer)):
            raise ValueError(f"{what} must be an intersection id (int); got {node!r}")
        if not 0 <= node < len(self.intersections):
            raise ValueError(f"{what} must be in 0..{len(self.intersections) - 1}; got {node}")

    def latlng(self, node: int) -> tuple[float, float]:
        """The (lat, lng) of an intersection."""
        p = self.intersections[node]
        return p.lat, p.lng

    def neighbors(self, node: int) -> tuple[int, ...]:
        """The intersections adjacent to ``node``, in increasing id order."""
        self._check_node(node)
        return tuple(v for v, _ in self.adjacency[node])

    def street_between(self, a: int, b: int) -> Street:
        """The street segment joining two adjacent intersections.

        Raises:
            ValueError: if ``a`` and ``b`` are not adjacent.
        """
        try:
            return self.streets[self._edge_of[a, b]]
        except KeyError:
            raise ValueError(f"intersections {a} and {b} are not adjacent") from None

    def heading(self, a: int, b: int) -> float:
        """Bearing from intersection ``a`` to the adjacent intersection ``b``."""
        try:
            return self._bearing[a, b]
        except KeyError:
            raise ValueError(f"intersections {a} and {b} are not adjacent") from None

    def nearest_intersection(self, lat: float, lng: float) -> int:
        """The intersection closest to (lat, lng) (equidistant ties: the lowest id)."""
        x, y = geo.to_xy(lat, lng, self.origin)
        d2 = (self._node_xy[:, 0] - x) ** 2 + (self._node_xy[:, 1] - y) ** 2
        return int(np.argmin(d2))

    def _tree(self, source: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Dijkstra from ``source``: (predecessor per node, nodes in settling order)."""
        cached = self._trees.get(source)
        if cached is not None:
            return cached
        n = len(self.intersections)
        best = [-1] * n
        pred = [-1] * n
        done = [False] * n
        order: list[int] = []
        best[source] = 0
        heap = [(0, source)]
        weights = self._weights
        while heap:
            key, u = heapq.heappop(heap)
            if done[u]:
                continue
            done[u] = True
            order.append(u)
            for v, w in weights[u]:
                new = key + w
                if not done[v] and (best[v] < 0 or new < best[v]):
                    best[v] = new
                    pred[v] = u
                    heapq.heappush(heap, (new, v))
        result = (tuple(pred), tuple(order))
        self._trees[source] = result
        return result

    def shortest_path(self, a: int, b: int) -> list[int]:
        """The shortest street path from intersection ``a`` to ``b`` (both included).

        Dijkstra on street lengths (whole millimetres); equal lengths are broken by
        :attr:`tie_breaks`, then by settling order (lowest key, then lowest node id),
        so the result is deterministic.

        Raises:
            ValueError: for unknown nodes, or if ``b`` cannot be reached from ``a``.
        """
        self._check_node(a, "a")
        self._check_node(b, "b")
        a, b = int(a), int(b)
        pred, _ = self._tree(a)
        path = [b]
        while path[-1] != a:
            p = pred[path[-1]]
            if p < 0:
                raise ValueError(f"intersection {b} cannot be reached from {a}")
            path.append(p)
        path.reverse()
        return path

    def path_length(self, path: Sequence[int]) -> float:
        """Total street length of a path of adjacent intersections (metres)."""
        return sum(self.street_between(u, v).length for u, v in itertools.pairwise(path))

    def is_connected(self) -> bool:
        """Whether every intersection can be reached from every other."""
        return len(self._tree(0)[1]) == len(self.intersections)

    def _reach(
        self, source: int, threshold: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Per node: milestone count (0: unreachable or the source) and path length from source."""
        key = (source, threshold)
        cached = self._counts.get(key)
        if cached is not None:
            return cached
        pred, order = self._tree(source)
        n = len(self.intersections)
        turns = [0] * n
        counts = np.zeros(n, dtype=np.int64)
        lengths = np.full(n, np.inf)
        lengths[source] = 0.0
        bearing = self._bearing
        for v in order[1:]:
            p = pred[v]
            if p != source:
                turn = geo.signed_turn(bearing[pred[p], p], bearing[p, v])
                turns[v] = turns[p] + (abs(turn) > threshold)
            counts[v] = turns[v] + 1
            lengths[v] = lengths[p] + self.streets[self._edge_of[p, v]].length
        self._counts[key] = (counts, lengths)
        return counts, lengths

    def _place_reach(
        self, source: int, threshold: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        """Per place: milestone count, route length and end node of the route from ``source``.

        A route to a place ends at its foot point on its street; it reaches that
        street through whichever end is shorter (ties: the street's ``a``) and
        may turn there. Counts are 0 where the place cannot be reached.
        """
        key = (source, threshold)
        cached = self._place_reaches.get(key)
        if cached is not None:
            return cached
        counts, lengths = self._reach(source, threshold)
        pred, _ = self._tree(source)
        n = len(self.intersections)
        incoming = np.full(n, np.nan)
        for v in range(n):
            if v != source and pred[v] >= 0:
                incoming[v] = self._bearing[pred[v], v]
        turns = np.where(counts > 0, counts - 1, 0)
        ends_a, ends_b, street_len, bearing_ab, bearing_ba = self._place_geometry
        along = self._place_along
        via_a = lengths[ends_a] + along
        via_b = lengths[ends_b] + (street_len - along)
        # A foot point on an intersection (within FOOT_AT_NODE) ends the route there.
        at_a = along < FOOT_AT_NODE
        at_b = ~at_a & (along > street_len - FOOT_AT_NODE)
        use_a = at_a | (~at_b & (via_a <= via_b))
        end = np.where(use_a, ends_a, ends_b)
        onto = np.where(use_a, bearing_ab, bearing_ba)
        delta = (onto - incoming[end]) % 360.0
        delta = np.where(delta > 180.0, delta - 360.0, delta)
        turned = ~(at_a | at_b) & (end != source) & (np.abs(np.nan_to_num(delta)) > threshold)
        place_counts = (turns[end] + turned + 1).astype(np.int64)
        place_lengths = np.where(use_a, via_a, via_b)
        reachable = np.isfinite(place_lengths)
        place_counts[~reachable] = 0
        result = (place_counts, place_lengths, end.astype(np.intp))
        self._place_reaches[key] = result
        return result

    # ------------------------------------------------------------------ places
    def places_near(self, lat: float, lng: float, radius: float = LANDMARK_RADIUS) -> list[Place]:
        """Places within ``radius`` metres (haversine), most reviewed first (ties by name)."""
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius >= 0):
            raise ValueError(f"radius must be a finite number >= 0; got {radius!r}")
        if not self.places:
            return []
        x, y = geo.to_xy(lat, lng, self.origin)
        slack = 1e-3 * radius + 0.01  # the local projection vs haversine
        found = self._place_tree.query(
            shapely.Point(x, y), predicate="dwithin", distance=radius + slack
        )
        hits = [
            int(i)
            for i in found.tolist()
            if geo.haversine(lat, lng, self.places[i].lat, self.places[i].lng) <= radius
        ]
        return [self.places[i] for i in sorted(hits, key=self._prominence)]

    def landmark_near(
        self, lat: float, lng: float, radius: float = LANDMARK_RADIUS
    ) -> Place | None:
        """The most reviewed place within ``radius`` metres (ties: smallest name), or ``None``."""
        near = self.places_near(lat, lng, radius)
        return near[0] if near else None

    def landmark_at(self, node: int, radius: float = LANDMARK_RADIUS) -> Place | None:
        """:meth:`landmark_near` of an intersection (cached)."""
        key = (node, float(radius))
        if key not in self._landmarks:
            p = self.intersections[node]
            self._landmarks[key] = self.landmark_near(p.lat, p.lng, radius)
        return self._landmarks[key]

    # ------------------------------------------------------------------ text
    def charset(self) -> str:
        """Every character used in place and street names, sorted, without repeats."""
        chars: set[str] = set()
        for place in self.places:
            chars.update(place.name)
        for street in self.streets:
            chars.update(street.name)
        return "".join(sorted(chars))

    def digest(self) -> str:
        """A SHA-256 of the city's content (nodes, streets, places), for determinism checks."""
        h = hashlib.sha256()
        h.update(f"{self.name}|{self.layout}|{self.seed}|{self.origin!r}\n".encode())
        for p in self.intersections:
            h.update(f"{p.index}|{p.lat!r}|{p.lng!r}\n".encode())
        for s, t in zip(self.streets, self.tie_breaks, strict=True):
            h.update(f"{s.a}|{s.b}|{s.name}|{s.length!r}|{t}\n".encode())
        for q in self.places:
            h.update(
                f"{q.place_id}|{q.name}|{q.lat!r}|{q.lng!r}|{q.types}|{q.n_reviews}|"
                f"{q.rating!r}\n".encode()
            )
        return h.hexdigest()


# --------------------------------------------------------------------------- layouts


def _components_ok(n: int, edges: Sequence[tuple[int, int]], skip: int = -1) -> bool:
    """Whether the graph stays connected without edge ``skip``."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for k, (a, b) in enumerate(edges):
        if k != skip:
            adj[a].append(b)
            adj[b].append(a)
    seen = [False] * n
    seen[0] = True
    stack = [0]
    count = 1
    while stack:
        u = stack.pop()
        for v in adj[u]:
            if not seen[v]:
                seen[v] = True
                count += 1
                stack.append(v)
    return count == n


def _prune(
    n: int,
    edges: Sequence[tuple[int, int]],
    candidates: Sequence[int],
    *,
    min_degree: int,
    limit: int | None = None,
) -> list[int]:
    """Indexes of the candidate edges to remove, in order, keeping connectivity and degrees."""
    degree = [0] * n
    for a, b in edges:
        degree[a] += 1
        degree[b] += 1
    removed: list[int] = []
    gone: set[int] = set()
    for k in candidates:
        if limit is not None and len(removed) >= limit:
            break
        a, b = edges[k]
        if degree[a] <= min_degree or degree[b] <= min_degree:
            continue
        trial = [e for j, e in enumerate(edges) if j != k and j not in gone]
        if _components_ok(n, trial):
            removed.append(k)
            gone.add(k)
            degree[a] -= 1
            degree[b] -= 1
    return removed


def _grid(
    rng: np.random.Generator, blocks: int, block_size: float, perturbed: bool
) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]], list[str]]:
    m = blocks + 1
    half = blocks * block_size / 2.0
    ii, jj = np.meshgrid(np.arange(m), np.arange(m))  # node id = j * m + i
    xy = np.stack([ii.ravel() * block_size - half, jj.ravel() * block_size - half], axis=1)
    xy = xy.astype(np.float64)
    edges: list[tuple[int, int]] = []
    lines: list[tuple[str, int]] = []  # ("row", j) or ("col", i)
    for j in range(m):
        for i in range(m):
            v = j * m + i
            if i + 1 < m:
                edges.append((v, v + 1))
                lines.append(("row", j))
            if j + 1 < m:
                edges.append((v, v + m))
                lines.append(("col", i))
    first = int(rng.integers(1, 60))
    pool = _street_pool()
    picks = rng.choice(len(pool), size=m, replace=False)
    row_names = [f"{_ordinal(first + j)} Street" for j in range(m)]
    col_names = [pool[int(k)] for k in picks]
    names = [row_names[k] if kind == "row" else col_names[k] for kind, k in lines]
    if perturbed:
        jitter = rng.normal(0.0, 0.06 * block_size, size=xy.shape)
        xy = xy + np.clip(jitter, -0.15 * block_size, 0.15 * block_size)
        order = [int(k) for k in rng.permutation(len(edges))]
        gone = set(_prune(m * m, edges, order, min_degree=2, limit=round(0.12 * len(edges))))
        names = [name for k, name in enumerate(names) if k not in gone]
        edges = [edge for k, edge in enumerate(edges) if k not in gone]
    return xy, edges, names


def _irregular(
    rng: np.random.Generator, blocks: int, block_size: float
) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]], list[str]]:
    side = blocks * block_size
    half = side / 2.0
    min_dist = 0.68 * block_size
    target = (blocks + 1) ** 2
    points: list[tuple[float, float]] = []
    cell = min_dist / math.sqrt(2.0)
    grid: dict[tuple[int, int], int] = {}
    candidates = rng.uniform(-half, half, size=(40 * target, 2))
    for x, y in candidates.tolist():
        cx, cy = int((x + half) // cell), int((y + half) // cell)
        ok = True
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                k = grid.get((cx + dx, cy + dy))
                if k is not None:
                    px, py = points[k]
                    if (px - x) ** 2 + (py - y) ** 2 < min_dist**2:
                        ok = False
                        break
            if not ok:
                break
        if ok:
            grid[cx, cy] = len(points)
            points.append((x, y))
            if len(points) >= target:
                break
    xy = np.array(points, dtype=np.float64)
    n = len(xy)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    # relative-neighbourhood and Gabriel graphs over the pairs closer than 2 blocks
    ia, ib = np.nonzero(np.triu(d2 < (2.0 * block_size) ** 2, k=1))
    gabriel = np.ones(len(ia), dtype=bool)
    relative = np.ones(len(ia), dtype=bool)
    for lo in range(0, len(ia), 2048):  # chunks bound the (pairs x nodes) matrices
        ca, cb = ia[lo : lo + 2048], ib[lo : lo + 2048]
        mid = (xy[ca] + xy[cb]) / 2.0
        to_mid = ((xy[None, :, :] - mid[:, None, :]) ** 2).sum(axis=2)
        rows = np.arange(len(ca))
        to_mid[rows, ca] = np.inf
        to_mid[rows, cb] = np.inf
        span = d2[ca, cb][:, None]
        gabriel[lo : lo + 2048] = (to_mid >= span / 4.0 - 1e-9).all(axis=1)
        relative[lo : lo + 2048] = ~(np.maximum(d2[ca], d2[cb]) < span - 1e-9).any(axis=1)
    # streets: the relative-neighbourhood graph (connected, no sharp angles), plus the
    # shorter Gabriel edges that close blocks without sharp angles or crowded nodes
    pairs = [(int(a), int(b)) for a, b in zip(ia.tolist(), ib.tolist(), strict=True)]
    edges = [e for e, keep in zip(pairs, relative.tolist(), strict=True) if keep]
    angles: list[list[float]] = [[] for _ in range(n)]

    def direction(a: int, b: int) -> float:
        return math.atan2(xy[b, 1] - xy[a, 1], xy[b, 0] - xy[a, 0])

    def open_at(a: int, b: int) -> bool:
        here = direction(a, b)
        return len(angles[a]) < 4 and all(
            abs((here - other + math.pi) % (2 * math.pi) - math.pi) >= math.radians(50.0)
            for other in angles[a]
        )

    for a, b in edges:
        angles[a].append(direction(a, b))
        angles[b].append(direction(b, a))
    extra = [e for e, g, r in zip(pairs, gabriel, relative, strict=True) if g and not r]
    for a, b in sorted(extra, key=lambda e: (float(d2[e]), e)):
        if d2[a, b] <= (1.5 * block_size) ** 2 and open_at(a, b) and open_at(b, a):
            edges.append((a, b))
            angles[a].append(direction(a, b))
            angles[b].append(direction(b, a))
    return xy, edges, _continuation_names(rng, xy, edges)


def _continuation_names(
    rng: np.random.Generator, xy: npt.NDArray[np.float64], edges: Sequence[tuple[int, int]]
) -> list[str]:
    """Name streets: segments that continue each other (< 30 degree bend) share a name."""
    n = len(xy)
    incident: list[list[int]] = [[] for _ in range(n)]
    for k, (a, b) in enumerate(edges):
        incident[a].append(k)
        incident[b].append(k)
    parent = list(range(len(edges)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for v in range(n):
        pairs = []
        for k1, k2 in itertools.combinations(incident[v], 2):
            o1 = edges[k1][1] if edges[k1][0] == v else edges[k1][0]
            o2 = edges[k2][1] if edges[k2][0] == v else edges[k2][0]
            a1 = math.atan2(xy[o1, 1] - xy[v, 1], xy[o1, 0] - xy[v, 0])
            a2 = math.atan2(xy[o2, 1] - xy[v, 1], xy[o2, 0] - xy[v, 0])
            bend = math.pi - abs((a1 - a2 + math.pi) % (2 * math.pi) - math.pi)
            if bend < math.radians(30.0):
                pairs.append((bend, k1, k2))
        used: set[int] = set()
        for _, k1, k2 in sorted(pairs):
            if k1 not in used and k2 not in used:
                used.update((k1, k2))
                parent[find(k1)] = find(k2)
    groups: dict[int, int] = {}
    for k in range(len(edges)):
        groups.setdefault(find(k), len(groups))
    pool = _street_pool()
    picks = [int(k) for k in rng.permutation(len(pool))]
    names = []
    for g in range(len(groups)):
        prefix = _STREET_PREFIXES[(g // len(pool)) % len(_STREET_PREFIXES)]
        names.append(prefix + pool[picks[g % len(pool)]])
    return [names[groups[find(k)]] for k in range(len(edges))]


def _place_positions(
    rng: np.random.Generator, xy: npt.NDArray[np.float64], edges: Sequence[tuple[int, int]]
) -> npt.NDArray[np.float64]:
    """Places along every block face: 2-4 per face, most near the face's ends."""
    out: list[tuple[float, float]] = []
    for a, b in edges:
        start, end = xy[a], xy[b]
        length = float(math.dist(start, end))
        u = (end - start) / length
        normal = np.array([-u[1], u[0]])
        for side in (1.0, -1.0):
            for _ in range(int(rng.integers(2, 5))):
                if rng.random() < 0.2:  # near an end of the block face
                    t = float(rng.uniform(6.0, 14.0))
                    if rng.random() < 0.5:
                        t = length - t
                else:
                    t = float(rng.uniform(20.0, max(20.0, length - 20.0)))
                setback = float(rng.uniform(6.0, 10.0))
                p = start + u * t + normal * (side * setback)
                out.append((float(p[0]), float(p[1])))
    positions = np.array(out, dtype=np.float64).reshape(-1, 2)
    lines = shapely.linestrings([[xy[a], xy[b]] for a, b in edges])
    tree = shapely.STRtree(lines)
    too_close, _ = tree.query(shapely.points(positions), predicate="dwithin", distance=5.0)
    clear = np.ones(len(positions), dtype=bool)
    clear[too_close] = False
    # greedy spacing: drop a place closer than 6 m to an earlier one
    spacing = 6.0
    kept: list[int] = []
    cells: dict[tuple[int, int], list[int]] = {}
    for k in np.flatnonzero(clear).tolist():
        x, y = positions[k]
        cx, cy = int(x // spacing), int(y // spacing)
        crowded = any(
            (positions[j, 0] - x) ** 2 + (positions[j, 1] - y) ** 2 < spacing**2
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            for j in cells.get((cx + dx, cy + dy), ())
        )
        if not crowded:
            kept.append(k)
            cells.setdefault((cx, cy), []).append(k)
    return positions[kept]


def _place_attributes(
    rng: np.random.Generator, count: int
) -> list[tuple[str, tuple[str, ...], int, float]]:
    """Unique names, types, review counts and ratings for ``count`` places."""
    weights = np.array([w for _, w, _, _ in PLACE_TYPES])
    kinds = rng.choice(len(PLACE_TYPES), size=count, p=weights / weights.sum())
    reviews = np.rint(rng.lognormal(mean=4.0, sigma=1.4, size=count)).astype(np.int64)
    ratings = np.round(np.clip(rng.normal(4.2, 0.45, size=count), 1.0, 5.0), 1)
    names_by_kind = _place_names()
    used: set[str] = set()
    out = []
    for k in range(count):
        kind = int(kinds[k])
        templates = names_by_kind[kind]
        candidate = ""
        for _ in range(40):
            options = templates[int(rng.integers(len(templates)))]
            candidate = options[int(rng.integers(len(options)))]
            if candidate not in used:
                break
        name, branch = candidate, 2
        while name in used:  # vocabulary nearly exhausted (huge cities): number the branches
            name = f"{candidate} {branch}"
            branch += 1
        used.add(name)
        primary, _, _, extra = PLACE_TYPES[kind]
        out.append((name, (primary, *extra), int(reviews[k]), float(ratings[k])))
    return out


def _city_name(
    layout: str, seed: int, origin: tuple[float, float], blocks: int, block_size: float
) -> str:
    name = f"{layout}-{seed}"
    if (blocks, block_size) != (8, 80.0):
        name += f"-{blocks}x{block_size:g}m"
    if origin != (40.73, -73.99):
        name += f"@{origin[0]:g},{origin[1]:g}"
    return name


@functools.lru_cache(maxsize=128)
def _build_city(
    layout: str, seed: int, origin: tuple[float, float], blocks: int, block_size: float
) -> City:
    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    if layout == "irregular":
        xy, edges, names = _irregular(stream(0), blocks, block_size)
    else:
        xy, edges, names = _grid(stream(0), blocks, block_size, layout == "perturbed-grid")
    name = _city_name(layout, seed, origin, blocks, block_size)
    intersections = tuple(
        Intersection(i, *geo.to_latlng(float(x), float(y), origin), float(x), float(y))
        for i, (x, y) in enumerate(xy.tolist())
    )
    ordered = sorted(
        (min(a, b), max(a, b), street) for (a, b), street in zip(edges, names, strict=True)
    )
    lines = shapely.linestrings([[xy[a], xy[b]] for a, b, _ in ordered])
    streets = tuple(
        Street(a, b, street, float(math.dist(xy[a], xy[b])), line)
        for (a, b, street), line in zip(ordered, lines, strict=True)
    )
    ties = tuple(int(t) for t in stream(1).integers(0, _TIE_MAX, size=len(streets)))
    positions = _place_positions(stream(2), xy, [(s.a, s.b) for s in streets])
    attributes = _place_attributes(stream(3), len(positions))
    places = tuple(
        Place(
            name=place_name,
            lat=lat,
            lng=lng,
            types=types,
            n_reviews=n_reviews,
            rating=rating,
            place_id=f"{name}-{k}",
        )
        for k, ((x, y), (place_name, types, n_reviews, rating)) in enumerate(
            zip(positions.tolist(), attributes, strict=True)
        )
        for lat, lng in [geo.to_latlng(x, y, origin)]
    )
    return City(name, layout, seed, origin, intersections, streets, places, ties)


def build_city(
    layout: str = "grid",
    seed: int = 0,
    *,
    origin: tuple[float, float] = (40.73, -73.99),
    blocks: int = 8,
    block_size: float = 80.0,
) -> City:
    """Build (once per argument tuple; cached) a procedural city.

    Args:
        layout: One of :data:`LAYOUTS`.
        seed: Non-negative int; the city is a deterministic function of the arguments.
        origin: (lat, lng) of the city centre; latitude within +-80 degrees.
        blocks: Blocks per side (the grid has ``(blocks + 1) ** 2`` intersections;
            the irregular layout about as many), 2..40.
        block_size: Typical block length in metres, 30..300 (60-120 is street-like).

    Returns:
        The (shared, immutable) city.

    Raises:
        ValueError: naming the bad argument and its allowed values.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}; got {layout!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")
    try:
        lat, lng = (float(v) for v in origin)
    except (TypeError, ValueError):
        raise ValueError(f"origin must be a (lat, lng) pair of numbers; got {origin!r}") from None
    if not (math.isfinite(lat) and math.isfinite(lng) and -80 <= lat <= 80 and -180 <= lng <= 180):
        raise ValueError(
            f"origin must have lat in [-80, 80] and lng in [-180, 180]; got {origin!r}"
        )
    if (
        isinstance(blocks, bool)
        or not isinstance(blocks, (int, np.integer))
        or not 2 <= blocks <= _MAX_BLOCKS
    ):
        raise ValueError(f"blocks must be an int in 2..{_MAX_BLOCKS}; got {blocks!r}")
    low, high = _BLOCK_SIZE_RANGE
    if (
        isinstance(block_size, bool)
        or not isinstance(block_size, (int, float))
        or not low <= block_size <= high
    ):
        raise ValueError(f"block_size must be a number in [{low:g}, {high:g}]; got {block_size!r}")
    return _build_city(layout, int(seed), (lat, lng), int(blocks), float(block_size))


def clear_city_cache() -> None:
    """Forget the cities :func:`build_city` has built."""
    _build_city.cache_clear()


# --------------------------------------------------------------------------- routes


def _milestone_bounds(milestones: object) -> tuple[int, int]:
    if isinstance(milestones, (int, np.integer)) and not isinstance(milestones, bool):
        low = high = int(milestones)
    elif (
        isinstance(milestones, (tuple, list))
        and len(milestones) == 2
        and all(isinstance(m, (int, np.integer)) and not isinstance(m, bool) for m in milestones)
    ):
        low, high = int(milestones[0]), int(milestones[1])
    else:
        raise ValueError(
            f"milestones must be an int or a (low, high) pair of ints; got {milestones!r}"
        )
    if not 1 <= low <= high:
        raise ValueError(f"milestones must satisfy 1 <= low <= high; got {milestones!r}")
    return low, high


def sample_route(
    city: City,
    rng: np.random.Generator,
    *,
    milestones: int | tuple[int, int] = (2, 3),
    max_tries: int = 200,
    landmark_radius: float = LANDMARK_RADIUS,
    turn_threshold: float = TURN_THRESHOLD,
    distance: tuple[float, float] | None = None,
) -> Route:
    """Draw a route between two places of ``city``.

    A start place is drawn uniformly; the destination is drawn uniformly among
    the places whose route from the start's intersection has an allowed number
    of milestones (a new start is drawn when there is none). The route follows
    :meth:`City.shortest_path` between the places' nearest intersections and has a
    milestone at every turn (heading change > ``turn_threshold`` degrees) plus
    one at the destination's intersection.

    Args:
        city: The city.
        rng: The only source of randomness (same state, same route).
        milestones: Exact count, or an inclusive ``(low, high)`` range, counting
            the destination.
        max_tries: Number of start places to try before giving up.
        landmark_radius: Search radius of the turn milestones' landmarks (metres).
        turn_threshold: Heading change (degrees) that makes a turn.
        distance: Optional inclusive ``(low, high)`` range of the route's length
            in metres (the street length between the two intersections).

    Returns:
        The route (``init_heading=None``, ``city=city.name``).

    Raises:
        ValueError: for bad arguments, or when no route with the requested
            milestone count was found in ``max_tries`` tries.
    """
    low, high = _milestone_bounds(milestones)
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ValueError(f"max_tries must be an int >= 1; got {max_tries!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    for what, value, top in (
        ("landmark_radius", landmark_radius, math.inf),
        ("turn_threshold", turn_threshold, 180.0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < top:
            raise ValueError(f"{what} must be a number in [0, {top:g}); got {value!r}")
    if distance is not None:
        if not (
            isinstance(distance, (tuple, list))
            and len(distance) == 2
            and all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in distance)
            and 0 <= distance[0] <= distance[1]
        ):
            raise ValueError(
                f"distance must be None or a (low, high) pair with 0 <= low <= high; "
                f"got {distance!r}"
            )
        distance = (float(distance[0]), float(distance[1]))
    if len(city.places) < 2:
        raise ValueError(f"city {city.name!r} has fewer than two places")
    for _ in range(max_tries):
        start = int(rng.integers(len(city.places)))
        source = city.place_node[start]
        counts, lengths, ends = city._place_reach(source, float(turn_threshold))
        ok = (counts >= low) & (counts <= high) & (lengths > MIN_ROUTE_LENGTH)
        ok[start] = False
        if distance is not None:
            ok &= (lengths >= distance[0]) & (lengths <= distance[1])
        candidates = np.flatnonzero(ok)
        if candidates.size:
            destination = int(candidates[int(rng.integers(candidates.size))])
            return _route(
                city,
                start,
                destination,
                int(ends[destination]),
                float(landmark_radius),
                float(turn_threshold),
            )
    wanted = str(low) if low == high else f"{low}-{high}"
    if distance is not None:
        wanted += f" (length {distance[0]:g}-{distance[1]:g} m)"
    raise ValueError(
        f"could not sample a route with {wanted} milestones in city {city.name!r} "
        f"after {max_tries} tries"
    )


def _route(
    city: City, start: int, destination: int, end: int, radius: float, threshold: float
) -> Route:
    """The route from ``start``'s intersection through ``end`` to ``destination``'s foot point."""
    path = city.shortest_path(city.place_node[start], end)
    street = city.streets[city.place_street[destination]]
    points = [city.latlng(v) for v in path]
    headings = [city.heading(a, b) for a, b in itertools.pairwise(path)]
    along = float(city._place_along[destination])
    if FOOT_AT_NODE <= along <= street.length - FOOT_AT_NODE:
        foot = city.place_foot[destination]
        points.append(foot)
        headings.append(geo.bearing(*points[-2], *foot))
    last = len(points) - 1
    stops = [
        i for i in range(1, last) if abs(geo.signed_turn(headings[i - 1], headings[i])) > threshold
    ]
    stops.append(last)
    goal = city.places[destination]
    milestones: list[Milestone] = []
    legs: list[tuple[tuple[float, float], ...]] = []
    previous = 0
    for i in stops:
        lat, lng = points[i]
        arrival = headings[i - 1]
        final = i == last
        landmark = goal if final else city.landmark_at(path[i], radius)
        relation = None
        if landmark is not None:
            relation = geo.relation_word(arrival, geo.bearing(lat, lng, landmark.lat, landmark.lng))
        leg = tuple(points[previous : i + 1])
        milestones.append(
            Milestone(
                lat=lat,
                lng=lng,
                arrival_heading=arrival,
                next_heading=None if final else headings[i],
                landmark=landmark,
                relation=relation,
                distance=sum(geo.haversine(*a, *b) for a, b in itertools.pairwise(leg)),
            )
        )
        legs.append(leg)
        previous = i
    return Route(
        start=city.places[start],
        destination=goal,
        start_heading=headings[0],
        milestones=tuple(milestones),
        legs=tuple(legs),
        init_heading=None,
        city=city.name,
    )
