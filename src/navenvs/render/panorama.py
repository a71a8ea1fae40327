"""Street views cut from real equirectangular panoramas (the V-IRL ``street_views/`` folder).

A V-IRL route folder holds ``gps_pano_mapping.pkl`` (``{(lat, lng): pano_id}``)
and ``street_views/{pano_id}.jpg`` (a 360-degree equirectangular panorama) with
``street_views/{pano_id}.metadata.json`` (``"rotation"``). :class:`PanoramaSource`
turns a position and heading into the same 2x2 grid the procedural renderer
draws, so the environment can swap one source for the other.

Conventions (all angles in degrees, bearings clockwise from north):

* **Panorama columns.** Column ``u`` of a panorama ``W`` pixels wide (pixel
  centre at ``u + 0.5``) looks at bearing ``(rotation + 360 * (u + 0.5) / W) % 360``:
  ``rotation`` is the bearing of the panorama's *left edge*, and bearings grow
  to the right. North is therefore at column ``((-rotation) % 360) / 360 * W``.
* **Panorama rows.** Row ``v`` of a panorama ``H`` pixels high looks at
  elevation ``90 - 180 * (v + 0.5) / H``: the top row is the zenith, the middle
  the horizon.
* **Crops.** :func:`perspective_crop` is a square pinhole camera (``fov`` is
  both the horizontal and the vertical field of view) centred on ``heading``
  and tilted up by ``pitch``; its sampling is bilinear, wraps around in
  longitude and clamps at the poles.
* **Grid.** ``size x size`` pixels of separator colour ``(20, 20, 20)`` holding
  four ``(size - 3) // 2`` crops at offsets ``0`` and ``cell + 3``: top-left
  FRONT (heading), top-right RIGHT (heading + 90), bottom-left BACK
  (heading + 180), bottom-right LEFT (heading + 270). When ``size - 3`` is odd
  the spare row and column at the bottom and right edge keep the separator colour.

Nothing here touches the network: a missing file is a
:class:`~navenvs.files.RouteDataError` naming it. The folder comes from a
stranger, so every file is read through :mod:`navenvs.files`: paths stay inside
the folder, only regular files of bounded size are read, the mapping pickle is
read opcode by opcode (never unpickled), only JPEG and PNG images are decoded and
their size is checked before decoding. Decoded panoramas are cached up to a
number of bytes (:data:`DEFAULT_CACHE_BYTES` unless told otherwise).
"""

from __future__ import annotations

import colorsys
import functools
import json
import math
import os
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from navenvs.data import nearest_pano
from navenvs.files import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_METADATA_BYTES,
    MAX_PANO_MAPPING_BYTES,
    MAX_PANORAMA_BYTES,
    PANO_MAPPING_FILE,
    RouteDataError,
    check_pano_id,
    open_image,
    parse_pano_mapping,
    read_bytes,
    read_json,
    resolve_inside,
)

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "GRID_HEADING_OFFSETS",
    "SEPARATOR_COLOUR",
    "SEPARATOR_PX",
    "STREET_VIEWS_DIR",
    "Panorama",
    "PanoramaSource",
    "grid_cell_size",
    "make_synthetic_panorama_set",
    "perspective_crop",
    "synthetic_hue_bearing",
]

#: Folder (inside a route folder) that holds the panoramas and their metadata.
STREET_VIEWS_DIR: Final = "street_views"
#: Width of the dark lines between the four views of a grid, in pixels.
SEPARATOR_PX: Final = 3
#: Colour of those lines (and of any spare pixel of the grid).
SEPARATOR_COLOUR: Final = (20, 20, 20)
#: Heading offsets of the grid cells: top-left, top-right, bottom-left, bottom-right.
GRID_HEADING_OFFSETS: Final = (0.0, 90.0, 180.0, 270.0)

DEFAULT_CACHE_BYTES: Final = 256 * 1024 * 1024
"""Default byte budget of a :class:`PanoramaSource`'s cache of decoded panoramas: 256 MiB.

A cached panorama takes ``4 * H * (W + 2)`` bytes: 32 MiB at 4096 x 2048 (the
default ``max_width``), 8 MiB at 2048 x 1024. 256 MiB keeps the last eight
full-width panoramas, enough for the views around one route, and any single
panorama the readers accept (at most :data:`~navenvs.files.MAX_IMAGE_PIXELS`
pixels, 128 MiB packed) fits. Each environment has its own source: lower it for
many environments in one process.
"""

_MAX_DISTANCE_M: Final = 20.0
#: The separator colour as a packed pixel (the same bytes in every position).
_SEPARATOR_PACKED: Final = int(np.array([*SEPARATOR_COLOUR, 0], dtype=np.uint8).view(np.uint32)[0])
_UInt8Image = npt.NDArray[np.uint8]


def grid_cell_size(size: int) -> int:
    """Side of one view in a ``size`` x ``size`` grid: ``(size - 3) // 2``.

    Raises:
        ValueError: if ``size`` leaves no pixel for a view (``size < 5``).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 2 + SEPARATOR_PX:
        raise ValueError(f"grid size must be an int >= {2 + SEPARATOR_PX}, got {size!r}")
    return (size - SEPARATOR_PX) // 2


# ---------------------------------------------------------------------------
# perspective crops
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _ray_angles(
    size: int, fov: float, pitch: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Yaw (relative to the heading) and elevation, in degrees, of every pixel's ray.

    Returns two read-only ``(size, size)`` arrays; row 0 is the top of the view.
    """
    focal = (size / 2.0) / math.tan(math.radians(fov) / 2.0)
    centres = (np.arange(size, dtype=np.float64) + 0.5 - size / 2.0) / focal
    x = np.broadcast_to(centres[np.newaxis, :], (size, size))
    y = np.broadcast_to(-centres[:, np.newaxis], (size, size))
    # Tilt the camera up by ``pitch``: rotate (y, z=1) about the x axis.
    sin_p, cos_p = math.sin(math.radians(pitch)), math.cos(math.radians(pitch))
    y_world = y * cos_p + sin_p
    z_world = cos_p - y * sin_p
    yaw = np.degrees(np.arctan2(x, z_world))
    elevation = np.degrees(np.arctan2(y_world, np.hypot(x, z_world)))
    yaw.flags.writeable = False
    elevation.flags.writeable = False
    return yaw, elevation


@dataclass(frozen=True)
class _SamplingPlan:
    """What a crop needs that depends only on the camera and the panorama's shape."""

    x_base: npt.NDArray[np.float64]  # (n,) column coordinate of each ray when heading == rotation
    row0: npt.NDArray[np.intp]  # (n,) flat index of the upper sample row (row * stride)
    row1: npt.NDArray[np.intp]  # (n,) flat index of the lower sample row
    weight_y: npt.NDArray[np.uint32]  # (n,) weight of the lower row, in 1/256ths


@functools.lru_cache(maxsize=32)
def _sampling_plan(size: int, fov: float, pitch: float, height: int, width: int) -> _SamplingPlan:
    yaw, elevation = _ray_angles(size, fov, pitch)
    y = (90.0 - elevation.ravel()) * (height / 180.0) - 0.5
    np.clip(y, 0.0, height - 1.0, out=y)
    y0 = np.floor(y).astype(np.intp)
    y1 = np.minimum(y0 + 1, height - 1)
    weight_y = np.round((y - y0) * 256.0).astype(np.uint32)
    x_base = yaw.ravel() * (width / 360.0)
    stride = width + _PAD
    plan = _SamplingPlan(x_base, y0 * stride, y1 * stride, weight_y)
    for array in (plan.x_base, plan.row0, plan.row1, plan.weight_y):
        array.flags.writeable = False
    return plan


_LANES: Final = np.uint32(0x00FF00FF)
_HIGH_LANES: Final = np.uint32(0xFF00FF00)
_HALF: Final = np.uint32(0x00800080)
_EIGHT: Final = np.uint32(8)
_ONE: Final = np.uint32(256)
#: Columns repeated after the right edge of a packed panorama (columns 0 and 1), so that
#: the two columns of a bilinear sample never need a second wrap-around.
_PAD: Final = 2


def _lerp(
    a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32], weight: npt.NDArray[np.uint32]
) -> npt.NDArray[np.uint32]:
    """Per-byte ``a + (b - a) * weight / 256`` on four packed 8-bit channels (rounded).

    Bytes 0 and 2 and bytes 1 and 3 are blended as two pairs of 16-bit lanes:
    ``255 * 256`` fits a lane, so one uint32 multiply blends two channels.
    """
    inverse = _ONE - weight
    low = (a & _LANES) * inverse + (b & _LANES) * weight + _HALF
    high = ((a >> _EIGHT) & _LANES) * inverse + ((b >> _EIGHT) & _LANES) * weight + _HALF
    blended: npt.NDArray[np.uint32] = ((low >> _EIGHT) & _LANES) | (high & _HIGH_LANES)
    return blended


@dataclass(frozen=True)
class _PackedPanorama:
    """A panorama as ``H x (W + 2)`` uint32 pixels (4 bytes each: RGB and one ignored byte).

    The last two columns repeat the first two (see ``_PAD``).
    """

    pixels: npt.NDArray[np.uint32]  # (H * (W + 2),), read-only
    height: int
    width: int

    @classmethod
    def from_rgbx(cls, image: npt.NDArray[np.uint8]) -> _PackedPanorama:
        """Pack an ``H x W x 3`` or ``H x W x 4`` uint8 image (only the first 3 bytes count)."""
        height, width, channels = image.shape
        padded = np.zeros((height, width + _PAD, 4), dtype=np.uint8)
        padded[:, :width, : min(channels, 4)] = image[:, :, :4]
        padded[:, width:] = padded[:, :_PAD]
        pixels = padded.reshape(-1, 4).view(np.uint32).reshape(-1)
        pixels.flags.writeable = False
        return cls(pixels, height, width)

    def rgb(self) -> npt.NDArray[np.uint8]:
        """A read-only ``H x W x 3`` view of the pixels (no copy)."""
        bytes_ = self.pixels.view(np.uint8).reshape(self.height, self.width + _PAD, 4)
        return bytes_[:, : self.width, :3]

    def sample(
        self, heading: float, rotation: float, size: int, fov: float, pitch: float
    ) -> npt.NDArray[np.uint32]:
        """The packed ``size x size`` pinhole view (see :func:`perspective_crop`)."""
        width = self.width
        plan = _sampling_plan(size, fov, pitch, self.height, width)
        shift = ((heading - rotation) % 360.0) * (width / 360.0) - 0.5
        x = plan.x_base + shift
        # Into [0, W]; a rounding error may give exactly W, which the padding covers.
        x -= np.floor(x * (1.0 / width)) * width
        x0f = np.floor(x)
        weight_x = ((x - x0f) * 256.0 + 0.5).astype(np.uint32)
        x0 = x0f.astype(np.intp)
        np.clip(x0, 0, width, out=x0)
        x1 = x0 + 1
        pixels = self.pixels
        top = _lerp(pixels.take(plan.row0 + x0), pixels.take(plan.row0 + x1), weight_x)
        bottom = _lerp(pixels.take(plan.row1 + x0), pixels.take(plan.row1 + x1), weight_x)
        return _lerp(top, bottom, plan.weight_y).reshape(size, size)


def _unpack(packed: npt.NDArray[np.uint32], out: npt.NDArray[np.uint8]) -> None:
    """Copy the RGB bytes of packed pixels (h x w) into ``out`` (h x w x 3)."""
    rgbx = packed.view(np.uint8).reshape(*packed.shape, 4)
    # Three plane copies are several times faster than one 4 -> 3 channel copy.
    for channel in range(3):
        out[:, :, channel] = rgbx[:, :, channel]


def _check_panorama(panorama: np.ndarray) -> None:
    if not isinstance(panorama, np.ndarray):
        raise TypeError(f"panorama must be a numpy array, got {type(panorama).__name__}")
    if panorama.dtype != np.uint8 or panorama.ndim != 3 or panorama.shape[2] != 3:
        raise ValueError(
            f"panorama must be an H x W x 3 uint8 array, got shape {panorama.shape} "
            f"and dtype {panorama.dtype}"
        )
    if panorama.shape[0] < 2 or panorama.shape[1] < 2:
        raise ValueError(f"panorama must be at least 2 x 2 pixels, got {panorama.shape[:2]}")


def _check_camera(size: int, fov: float, pitch: float) -> tuple[int, float, float]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    fov = float(fov)
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov must be in (0, 180) degrees, got {fov!r}")
    pitch = float(pitch)
    if not -90.0 <= pitch <= 90.0:
        raise ValueError(f"pitch must be in [-90, 90] degrees, got {pitch!r}")
    return size, fov, pitch


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def perspective_crop(
    panorama: np.ndarray,
    heading: float,
    rotation: float,
    *,
    fov: float = 90.0,
    size: int = 256,
    pitch: float = 0.0,
) -> _UInt8Image:
    """A pinhole view of an equirectangular panorama, looking at ``heading``.

    Column ``u`` of the panorama looks at bearing
    ``(rotation + 360 * (u + 0.5) / W) % 360`` (``rotation`` is the bearing of
    the left edge, as in ``{pano_id}.metadata.json``); the middle row is the
    horizon. Sampling is bilinear, wraps around in longitude and clamps at the
    poles. The ray grid for ``(size, fov, pitch)`` is cached, so a crop costs
    only the sampling.

    Args:
        panorama: ``H x W x 3`` uint8 equirectangular image (usually ``W == 2 * H``).
        heading: Bearing the camera looks at, degrees clockwise from north.
        rotation: Bearing of the panorama's left edge, degrees.
        fov: Horizontal (and vertical: the view is square) field of view in
            degrees, in ``(0, 180)``. Default 90.
        size: Side of the returned view in pixels. Default 256.
        pitch: Camera tilt in degrees, positive up, in ``[-90, 90]``. Default 0.

    Returns:
        A new ``size x size x 3`` uint8 array; the centre of the view looks at
        ``heading`` and elevation ``pitch``.

    Raises:
        TypeError: if ``panorama`` is not a numpy array.
        ValueError: for a wrongly shaped panorama or an out-of-range argument.
    """
    _check_panorama(panorama)
    size, fov, pitch = _check_camera(size, fov, pitch)
    heading = _finite(heading, "heading")
    rotation = _finite(rotation, "rotation")
    out = np.empty((size, size, 3), dtype=np.uint8)
    _unpack(_PackedPanorama.from_rgbx(panorama).sample(heading, rotation, size, fov, pitch), out)
    return out


# ---------------------------------------------------------------------------
# panoramas on disk
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Panorama:
    """One loaded panorama.

    Attributes:
        pano_id: Its id in ``gps_pano_mapping.pkl``.
        image: ``H x W x 3`` uint8, read-only.
        rotation: Bearing of the image's left edge in degrees (from the metadata).
    """

    pano_id: str
    image: _UInt8Image
    rotation: float


def _read_rotation(folder: Path, relative: str) -> float:
    file = folder / relative
    data: Any = read_json(
        relative, limit=MAX_METADATA_BYTES, folder=folder, what="panorama metadata file"
    )
    if not isinstance(data, dict) or "rotation" not in data:
        raise RouteDataError(f"{file}: expected a JSON object with a 'rotation' field")
    raw = data["rotation"]
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise RouteDataError(f"{file}: 'rotation' must be a number, got {type(raw).__name__}")
    if isinstance(raw, str) and len(raw) > 40:
        raise RouteDataError(f"{file}: 'rotation' {raw[:40]!r}... is not a number")
    try:
        rotation = float(raw)
    except (ValueError, OverflowError):
        raise RouteDataError(f"{file}: 'rotation' {str(raw)[:40]!r} is not a number") from None
    if not math.isfinite(rotation):
        raise RouteDataError(f"{file}: 'rotation' {raw!r} is not finite")
    return rotation % 360.0


def _read_packed_image(
    folder: Path, relative: str, max_width: int | None, max_pixels: int
) -> _PackedPanorama:
    file = folder / relative
    image = open_image(
        relative,
        folder=folder,
        what="panorama image",
        limit=MAX_PANORAMA_BYTES,
        max_side=MAX_IMAGE_SIDE,
        max_pixels=max_pixels,
        draft_width=max_width,  # JPEG: decode at 1/2, 1/4 or 1/8 scale when possible
        mode="RGB",
    )
    try:
        if max_width is not None and image.width > max_width:
            target = (max_width, max(2, round(image.height * max_width / image.width)))
            image = image.resize(target, Image.Resampling.BOX)
        pixels = np.array(image, dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise RouteDataError(f"{file}: cannot read the panorama ({err})") from None
    finally:
        image.close()
    if pixels.ndim != 3 or pixels.shape[0] < 2 or pixels.shape[1] < 2:
        raise RouteDataError(f"{file}: panorama is only {pixels.shape[1]}x{pixels.shape[0]} px")
    return _PackedPanorama.from_rgbx(pixels)


class PanoramaSource:
    """Street-view grids cut from a V-IRL route folder's panoramas.

    The folder must hold ``gps_pano_mapping.pkl`` and ``street_views/``;
    panoramas (``street_views/{pano_id}.jpg``) and their metadata
    (``street_views/{pano_id}.metadata.json``, ``"rotation"`` = bearing of the
    image's left edge) are read lazily through :mod:`navenvs.files` (inside the
    folder, regular files, bounded sizes, JPEG or PNG only) and the most recently
    used are kept, within ``cache_size`` panoramas and ``cache_bytes`` bytes.
    Nothing is ever downloaded.

    Args:
        folder: The route folder.
        cache_size: Most decoded panoramas kept (least recently used are
            dropped first). Default 16.
        cache_bytes: Most bytes of decoded pixels kept, counted as
            ``4 * H * (W + 2)`` a panorama. A panorama larger than the whole
            budget is not cached (each use reads it again). Default
            :data:`DEFAULT_CACHE_BYTES` (256 MiB).
        max_distance: A position snaps to the nearest mapping point within this
            many metres. Default 20.
        max_width: Panoramas wider than this many pixels are scaled down (JPEGs
            are decoded at a reduced scale, then a box filter) when loaded, which
            bounds the memory of the cache and avoids aliasing; ``None`` keeps the
            full resolution. Default 4096, enough for 90-degree views of about
            1000 pixels.
        max_pixels: Most pixels decoded from one panorama file (after the
            reduced-scale JPEG decoding ``max_width`` allows). Default
            :data:`~navenvs.files.MAX_IMAGE_PIXELS`.

    Raises:
        RouteDataError: if the mapping file or ``street_views/`` is missing or
            leaves the folder (the message names the path), or the mapping is
            not exactly ``{(lat, lng): pano_id}`` (see
            :func:`navenvs.files.load_pano_mapping`).
        ValueError: for a bad ``cache_size``, ``cache_bytes``, ``max_distance``,
            ``max_width`` or ``max_pixels``.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = make_synthetic_panorama_set(folder, [(40.7, -74.0)])
        >>> PanoramaSource(folder).grid(40.7, -74.0, 90.0, size=128).shape
        (128, 128, 3)
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        cache_size: int = 16,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        max_distance: float = _MAX_DISTANCE_M,
        max_width: int | None = 4096,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        for name, value, low in (
            ("cache_size", cache_size, 1),
            ("cache_bytes", cache_bytes, 0),
            ("max_pixels", max_pixels, 4),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        max_distance = float(max_distance)
        if not (math.isfinite(max_distance) and max_distance >= 0.0):
            raise ValueError(f"max_distance must be a finite number >= 0, got {max_distance!r}")
        if max_width is not None and (
            isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 8
        ):
            raise ValueError(f"max_width must be None or an int >= 8, got {max_width!r}")
        self.folder = Path(folder)
        self._mapping_file = self.folder / PANO_MAPPING_FILE
        self._views = self.folder / STREET_VIEWS_DIR
        data = read_bytes(
            PANO_MAPPING_FILE, limit=MAX_PANO_MAPPING_BYTES, folder=self.folder, what="pano mapping"
        )
        self.mapping = parse_pano_mapping(data, source=self._mapping_file)
        if not resolve_inside(self.folder, STREET_VIEWS_DIR, what="street_views folder").is_dir():
            raise RouteDataError(f"{self._views}: street_views folder is missing")
        self.cache_size = cache_size
        self.cache_bytes = cache_bytes
        self.max_distance = max_distance
        self.max_width = max_width
        self.max_pixels = max_pixels
        # pano id -> (panorama, its packed pixels), least recently used first
        self._cache: OrderedDict[str, tuple[Panorama, _PackedPanorama]] = OrderedDict()
        self._cached_bytes = 0

    @property
    def cached_bytes(self) -> int:
        """Bytes of decoded pixels the cache holds now (at most ``cache_bytes``)."""
        return self._cached_bytes

    def __repr__(self) -> str:
        return f"PanoramaSource({str(self.folder)!r}, {len(self.mapping)} points)"

    def pano_id_at(self, lat: float, lng: float) -> str:
        """The id of the panorama nearest to (lat, lng), within ``max_distance`` metres.

        Raises:
            RouteDataError: if no mapping point is close enough (names the point).
        """
        pano_id = nearest_pano(self.mapping, float(lat), float(lng), self.max_distance)
        if pano_id is None:
            raise RouteDataError(
                f"{self._mapping_file}: no panorama within {self.max_distance:g} m of "
                f"({lat}, {lng})"
            )
        return pano_id

    def _load(self, pano_id: str) -> tuple[Panorama, _PackedPanorama]:
        cached = self._cache.get(pano_id)
        if cached is not None:
            self._cache.move_to_end(pano_id)
            return cached
        # Ids from the mapping were checked when it was read; this one may come from a caller.
        check_pano_id(pano_id, source=self._mapping_file)
        rotation = _read_rotation(self.folder, f"{STREET_VIEWS_DIR}/{pano_id}.metadata.json")
        packed = _read_packed_image(
            self.folder, f"{STREET_VIEWS_DIR}/{pano_id}.jpg", self.max_width, self.max_pixels
        )
        # The RGB image is a view of the packed pixels: one copy in memory per panorama.
        entry = (Panorama(pano_id, packed.rgb(), rotation), packed)
        size = packed.pixels.nbytes
        if size > self.cache_bytes:
            return entry  # larger than the whole budget: used once, not kept
        self._cache[pano_id] = entry
        self._cached_bytes += size
        while len(self._cache) > self.cache_size or self._cached_bytes > self.cache_bytes:
            _, (_, dropped) = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.pixels.nbytes
        return entry

    def panorama(self, pano_id: str) -> Panorama:
        """Load (or fetch from the cache) one panorama and its rotation.

        Raises:
            RouteDataError: if its image or metadata file is missing or unreadable
                (names the file).
        """
        return self._load(pano_id)[0]

    def view(
        self, lat: float, lng: float, heading: float, size: int = 256, *, fov: float = 90.0
    ) -> _UInt8Image:
        """One ``size x size`` perspective view at (lat, lng) looking at ``heading``.

        Raises:
            RouteDataError: if there is no panorama within reach or its files are bad.
        """
        size, fov, pitch = _check_camera(size, fov, 0.0)
        heading = _finite(heading, "heading")
        panorama, packed = self._load(self.pano_id_at(lat, lng))
        out = np.empty((size, size, 3), dtype=np.uint8)
        _unpack(packed.sample(heading, panorama.rotation, size, fov, pitch), out)
        return out

    def grid(self, lat: float, lng: float, heading: float, size: int = 512) -> _UInt8Image:
        """The 2x2 street-view grid at (lat, lng): [FRONT, RIGHT; BACK, LEFT].

        Four FOV-90 views of ``(size - 3) // 2`` pixels looking at ``heading``,
        ``heading + 90``, ``heading + 180`` and ``heading + 270``, separated by
        3-pixel lines of colour ``(20, 20, 20)`` (the procedural renderer's layout).

        Args:
            lat: Latitude of the viewer; snaps to the nearest panorama within
                ``max_distance`` metres.
            lng: Longitude of the viewer.
            heading: Bearing the viewer faces, degrees clockwise from north.
            size: Side of the square grid in pixels (>= 5). Default 512.

        Returns:
            A new ``size x size x 3`` uint8 array.

        Raises:
            RouteDataError: if no panorama is within reach (names the point) or
                its files are missing or unreadable (names the file).
            ValueError: for a bad ``size`` or a non-finite ``heading``.
        """
        cell = grid_cell_size(size)
        heading = _finite(heading, "heading")
        panorama, packed = self._load(self.pano_id_at(lat, lng))
        canvas = np.empty((size, size), dtype=np.uint32)
        canvas.fill(_SEPARATOR_PACKED)
        starts = (0, cell + SEPARATOR_PX)
        for index, offset in enumerate(GRID_HEADING_OFFSETS):
            top, left = starts[index // 2], starts[index % 2]
            canvas[top : top + cell, left : left + cell] = packed.sample(
                heading + offset, panorama.rotation, cell, 90.0, 0.0
            )
        out = np.empty((size, size, 3), dtype=np.uint8)
        _unpack(canvas, out)
        return out


# ---------------------------------------------------------------------------
# synthetic panoramas for tests and demos
# ---------------------------------------------------------------------------

#: Elevation band (degrees) of the white north marker in synthetic panoramas.
_MARKER_ELEVATION: Final = (8.0, 30.0)
_MARKER_HALF_WIDTH: Final = 4.0
_STRIPE_EVERY: Final = 45.0


def _hsv_to_rgb(
    hue: npt.NDArray[np.float64], saturation: float, value: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Vectorised HSV -> RGB (all in [0, 1]); ``hue`` and ``value`` broadcast together."""
    hue, value = np.broadcast_arrays(hue, value)
    sector = np.floor(hue * 6.0) % 6
    frac = hue * 6.0 - np.floor(hue * 6.0)
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * frac)
    t = value * (1.0 - saturation * (1.0 - frac))
    choices = [
        (value, t, p),
        (q, value, p),
        (p, value, t),
        (p, q, value),
        (t, p, value),
        (value, p, q),
    ]
    rgb = np.zeros((*hue.shape, 3), dtype=np.float64)
    for index, (r, g, b) in enumerate(choices):
        mask = sector == index
        rgb[mask, 0] = r[mask]
        rgb[mask, 1] = g[mask]
        rgb[mask, 2] = b[mask]
    return rgb


def synthetic_hue_bearing(rgb: Sequence[float]) -> float:
    """The bearing a synthetic panorama's colour encodes: its HSV hue times 360.

    Args:
        rgb: One colour, channels in ``[0, 255]``.
    """
    hue, _, _ = colorsys.rgb_to_hsv(*(float(c) / 255.0 for c in rgb))
    return hue * 360.0


def _synthetic_image(width: int, rotation: float, ground: float) -> _UInt8Image:
    height = width // 2
    bearings = (rotation + 360.0 * (np.arange(width) + 0.5) / width) % 360.0
    elevations = 90.0 - 180.0 * (np.arange(height) + 0.5) / height
    # Dark stripes every 45 degrees (at least about a pixel wide), same hue.
    to_stripe = np.abs((bearings + _STRIPE_EVERY / 2) % _STRIPE_EVERY - _STRIPE_EVERY / 2)
    stripe = to_stripe < max(1.0, 0.6 * 360.0 / width)
    value = (
        np.where(stripe, 0.45, 0.95)[np.newaxis, :]
        * np.where(elevations < -30.0, ground, 1.0)[:, np.newaxis]
    )
    rgb = _hsv_to_rgb((bearings / 360.0)[np.newaxis, :], 1.0, value)
    to_north = np.minimum(bearings, 360.0 - bearings)
    low, high = _MARKER_ELEVATION
    marker = (to_north < _MARKER_HALF_WIDTH)[np.newaxis, :] & (
        (elevations > low) & (elevations < high)
    )[:, np.newaxis]
    rgb[marker] = 1.0
    return np.asarray(np.round(rgb * 255.0), dtype=np.uint8)


def make_synthetic_panorama_set(
    folder: str | os.PathLike[str],
    points: Sequence[tuple[float, float]],
    *,
    width: int = 512,
    seed: int = 0,
) -> dict[tuple[float, float], str]:
    """Write a small synthetic V-IRL panorama set (for tests and demos).

    Writes ``gps_pano_mapping.pkl`` (a plain dict pickled with protocol 4),
    ``street_views/<id>.jpg`` and ``street_views/<id>.metadata.json`` with a
    random ``rotation``. Each image is ``width x width // 2`` and encodes
    direction: the hue of a column is its bearing (hue 0 = north, 1/3 =
    bearing 120, ...), dark stripes of the same hue mark every multiple of 45
    degrees, a white marker sits at north between elevations 8 and 30, and the
    ground (below elevation -30) has a per-panorama brightness. The same
    ``seed`` and arguments give the same files.

    Args:
        folder: Where to write (created if needed).
        points: ``(lat, lng)`` of each panorama.
        width: Panorama width in pixels (>= 8). Default 512.
        seed: Seed of the rotations and ground brightnesses. Default 0.

    Returns:
        The mapping that was written, ``{(lat, lng): pano_id}``.

    Raises:
        ValueError: for a bad ``width``, repeated points or a non-finite coordinate.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 8:
        raise ValueError(f"width must be an int >= 8, got {width!r}")
    keys = [(float(lat), float(lng)) for lat, lng in points]
    if not all(math.isfinite(v) for key in keys for v in key):
        raise ValueError("points must have finite coordinates")
    if len(set(keys)) != len(keys):
        raise ValueError("points must be distinct")
    root = Path(folder)
    views = root / STREET_VIEWS_DIR
    views.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    mapping: dict[tuple[float, float], str] = {}
    for index, key in enumerate(keys):
        pano_id = f"synth{seed}_{index:04d}"
        rotation = round(float(rng.uniform(0.0, 360.0)), 3)
        ground = float(rng.uniform(0.3, 0.7))
        image = _synthetic_image(width, rotation, ground)
        Image.fromarray(image).save(views / f"{pano_id}.jpg", quality=95)
        metadata = {"pano_id": pano_id, "lat": key[0], "lng": key[1], "rotation": rotation}
        (views / f"{pano_id}.metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        mapping[key] = pano_id
    with open(root / PANO_MAPPING_FILE, "wb") as handle:
        pickle.dump(mapping, handle, protocol=4)
    return mapping
