import json
import os
import pickle
import statistics
import timeit
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from navenvs import geo
from navenvs.files import PANO_MAPPING_FILE, RouteDataError
from navenvs.render.panorama import (
    DEFAULT_CACHE_BYTES,
    GRID_HEADING_OFFSETS,
    SEPARATOR_COLOUR,
    SEPARATOR_PX,
    PanoramaSource,
    grid_cell_size,
    make_synthetic_panorama_set,
    perspective_crop,
    synthetic_hue_bearing,
)

POINTS = [(40.7000, -74.0000), (40.7010, -74.0000), (40.7020, -74.0010)]
HUE_TOLERANCE = 6.0  # degrees: JPEG chroma subsampling and bilinear blending


def circular_gap(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def centre_bearing(view: np.ndarray) -> float:
    """The bearing the synthetic hue encodes at the centre of a view (a horizon patch)."""
    n = view.shape[0]
    patch = view[n // 2 - 2 : n // 2 + 2, n // 2 - 1 : n // 2 + 1].reshape(-1, 3)
    return synthetic_hue_bearing(patch.mean(axis=0))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("panos")
    make_synthetic_panorama_set(root, POINTS, width=1024, seed=3)
    return root


@pytest.fixture(scope="module")
def source(folder: Path) -> PanoramaSource:
    return PanoramaSource(folder)


@pytest.fixture
def copy_folder(tmp_path: Path) -> Path:
    make_synthetic_panorama_set(tmp_path, POINTS, width=256, seed=1)
    return tmp_path


def pano_array(source: PanoramaSource, index: int = 0) -> tuple[np.ndarray, float]:
    panorama = source.panorama(source.pano_id_at(*POINTS[index]))
    return np.array(panorama.image), panorama.rotation


# ---------------------------------------------------------------------------
# perspective_crop
# ---------------------------------------------------------------------------


def test_crop_shape_and_dtype(source: PanoramaSource) -> None:
    pano, rotation = pano_array(source)
    assert pano.shape == (512, 1024, 3)
    for size in (1, 64, 255):
        view = perspective_crop(pano, 10.0, rotation, size=size)
        assert view.shape == (size, size, 3)
        assert view.dtype == np.uint8
        assert view.flags.writeable


@pytest.mark.parametrize("heading", [0.5, 5.0, 100.0, 200.5, 300.0, 359.0])
def test_crop_centre_shows_the_heading(source: PanoramaSource, heading: float) -> None:
    pano, rotation = pano_array(source)
    view = perspective_crop(pano, heading, rotation, size=128)
    assert circular_gap(centre_bearing(view), heading) <= HUE_TOLERANCE


def test_crop_columns_follow_the_pinhole_model(source: PanoramaSource) -> None:
    pano, rotation = pano_array(source)
    size = 256
    view = perspective_crop(pano, 150.0, rotation, size=size)
    row = view[size // 2]
    for column in (20, 70, 180, 235):
        # Pixel centre x at (column + 0.5 - size / 2) / (size / 2) of the focal length.
        expected = 150.0 + np.degrees(np.arctan((column + 0.5 - size / 2) / (size / 2)))
        bearing = synthetic_hue_bearing(row[column - 1 : column + 2].mean(axis=0))
        assert circular_gap(bearing, expected) <= HUE_TOLERANCE


def test_crop_wraps_around_north(source: PanoramaSource) -> None:
    pano, rotation = pano_array(source)
    near = perspective_crop(pano, 359.0, rotation, size=64)
    assert np.array_equal(near, perspective_crop(pano, -1.0, rotation, size=64))
    assert np.array_equal(near, perspective_crop(pano, 719.0, rotation, size=64))
    # Roll the panorama so that north is its left edge: a view at north straddles both edges.
    width = pano.shape[1]
    k = round(((-rotation) % 360.0) / 360.0 * width)
    rolled = np.roll(pano, -k, axis=1)
    rolled_rotation = (rotation + 360.0 * k / width) % 360.0
    assert circular_gap(rolled_rotation, 0.0) < 1.0
    edge = perspective_crop(rolled, 0.0, rolled_rotation, size=64)
    assert circular_gap(centre_bearing(edge), 0.0) <= HUE_TOLERANCE
    for column in (2, 20, 44, 61):
        expected = np.degrees(np.arctan((column + 0.5 - 32) / 32))
        bearing = synthetic_hue_bearing(edge[32, column])
        assert circular_gap(bearing, expected) <= 8.0


def test_rotation_is_the_bearing_of_the_left_edge(source: PanoramaSource) -> None:
    pano, rotation = pano_array(source)
    width = pano.shape[1]
    # Rolling the panorama left by k columns moves its left edge k columns clockwise.
    for k in (1, 100, 700):
        rolled = np.roll(pano, -k, axis=1)
        new_rotation = rotation + 360.0 * k / width
        for heading in (0.0, 123.4):
            a = perspective_crop(pano, heading, rotation, size=96).astype(int)
            b = perspective_crop(rolled, heading, new_rotation, size=96).astype(int)
            assert np.abs(a - b).max() <= 2
    # Column u looks at (rotation + 360 (u + 0.5) / W): a view at that bearing is centred on it.
    plain = np.zeros((64, 128, 3), dtype=np.uint8)
    plain[:, 37] = 255
    view = perspective_crop(plain, 50.0 + 360.0 * 37.5 / 128, 50.0, size=33)
    assert np.argmax(view[16, :, 0]) == 16


def test_north_marker_and_pitch(source: PanoramaSource) -> None:
    # The synthetic white marker sits at north, elevations 8 to 30, whatever the rotation.
    for index in range(len(POINTS)):
        pano, rotation = pano_array(source, index)
        up = perspective_crop(pano, 0.0, rotation, size=64, pitch=19.0)
        assert (up[32, 31:33] > 220).all()
        level = perspective_crop(pano, 0.0, rotation, size=64)
        assert not (level[32, 31:33] > 220).all()
        south = perspective_crop(pano, 180.0, rotation, size=64, pitch=19.0)
        assert not (south[32, 31:33] > 220).all()


def test_crop_rejects_bad_arguments() -> None:
    pano = np.zeros((8, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="H x W x 3"):
        perspective_crop(np.zeros((8, 16), dtype=np.uint8), 0.0, 0.0)
    with pytest.raises(ValueError, match="uint8"):
        perspective_crop(pano.astype(np.float32), 0.0, 0.0)
    with pytest.raises(ValueError, match="fov"):
        perspective_crop(pano, 0.0, 0.0, fov=180.0)
    with pytest.raises(ValueError, match="size"):
        perspective_crop(pano, 0.0, 0.0, size=0)
    with pytest.raises(ValueError, match="heading"):
        perspective_crop(pano, float("nan"), 0.0)
    with pytest.raises(TypeError):
        perspective_crop([[0]], 0.0, 0.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# PanoramaSource.grid
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("heading", [0.0, 37.0, 271.5])
def test_grid_quadrants_look_front_right_back_left(source: PanoramaSource, heading: float) -> None:
    size = 512
    grid = source.grid(*POINTS[1], heading, size=size)
    assert grid.shape == (size, size, 3)
    assert grid.dtype == np.uint8
    cell = grid_cell_size(size)
    assert cell == (size - 3) // 2 == 254
    starts = (0, cell + SEPARATOR_PX)
    for index, offset in enumerate(GRID_HEADING_OFFSETS):
        top, left = starts[index // 2], starts[index % 2]
        quadrant = grid[top : top + cell, left : left + cell]
        assert np.array_equal(quadrant, source.view(*POINTS[1], heading + offset, size=cell))
        assert circular_gap(centre_bearing(quadrant), heading + offset) <= HUE_TOLERANCE
    assert GRID_HEADING_OFFSETS == (0.0, 90.0, 180.0, 270.0)
    separators = np.zeros((size, size), dtype=bool)
    separators[cell : cell + SEPARATOR_PX] = True
    separators[:, cell : cell + SEPARATOR_PX] = True
    separators[2 * cell + SEPARATOR_PX :] = True  # the spare row/column of an odd remainder
    separators[:, 2 * cell + SEPARATOR_PX :] = True
    assert (grid[separators] == SEPARATOR_COLOUR).all()


def test_grid_sizes(source: PanoramaSource) -> None:
    for size in (5, 64, 101, 259):
        assert source.grid(*POINTS[0], 0.0, size=size).shape == (size, size, 3)
    with pytest.raises(ValueError, match="size"):
        source.grid(*POINTS[0], 0.0, size=4)


def test_nearest_pano_within_20_m(source: PanoramaSource) -> None:
    lat, lng = POINTS[2]
    near = geo.offset(lat, lng, 45.0, 12.0)
    assert source.pano_id_at(*near) == source.pano_id_at(lat, lng)
    assert np.array_equal(source.grid(*near, 80.0, size=64), source.grid(lat, lng, 80.0, size=64))
    far = geo.offset(lat, lng, 225.0, 30.0)
    with pytest.raises(RouteDataError, match="no panorama within 20 m") as err:
        source.grid(*far, 80.0)
    assert str(far[0]) in str(err.value)
    assert str(far[1]) in str(err.value)


def test_determinism(tmp_path: Path, source: PanoramaSource, folder: Path) -> None:
    again = make_synthetic_panorama_set(tmp_path, POINTS, width=1024, seed=3)
    assert again == source.mapping
    for name in sorted(os.listdir(folder / "street_views")):
        assert (tmp_path / "street_views" / name).read_bytes() == (
            folder / "street_views" / name
        ).read_bytes()
    assert (tmp_path / PANO_MAPPING_FILE).read_bytes() == (folder / PANO_MAPPING_FILE).read_bytes()
    first = source.grid(*POINTS[0], 12.5, size=128)
    assert np.array_equal(first, source.grid(*POINTS[0], 12.5, size=128))
    assert np.array_equal(first, PanoramaSource(tmp_path).grid(*POINTS[0], 12.5, size=128))
    other = make_synthetic_panorama_set(tmp_path / "other", POINTS, width=1024, seed=4)
    assert other != again


def test_synthetic_set_files(folder: Path) -> None:
    with open(folder / PANO_MAPPING_FILE, "rb") as handle:
        raw = handle.read()
    assert raw[:2] == b"\x80\x04"  # protocol 4
    mapping = pickle.loads(raw)  # our own file, written by the test fixture
    assert type(mapping) is dict and set(mapping) == set(POINTS)
    for pano_id in mapping.values():
        meta = json.loads((folder / "street_views" / f"{pano_id}.metadata.json").read_text())
        assert 0.0 <= meta["rotation"] < 360.0
        with Image.open(folder / "street_views" / f"{pano_id}.jpg") as image:
            assert image.size == (1024, 512)
    rotations = {
        json.loads((folder / "street_views" / f"{p}.metadata.json").read_text())["rotation"]
        for p in mapping.values()
    }
    assert len(rotations) == len(POINTS)


def test_max_width_downscales(folder: Path) -> None:
    small = PanoramaSource(folder, max_width=256)
    panorama = small.panorama(small.pano_id_at(*POINTS[0]))
    assert panorama.image.shape == (128, 256, 3)
    view = small.view(*POINTS[0], 222.0, size=64)
    assert circular_gap(centre_bearing(view), 222.0) <= 8.0


def test_panorama_cache_is_bounded(copy_folder: Path) -> None:
    source = PanoramaSource(copy_folder, cache_size=2)
    ids = [source.pano_id_at(*point) for point in POINTS]
    for point in POINTS:
        source.grid(*point, 0.0, size=32)
    # The two most recent stay cached; the first was evicted and must be read again.
    (copy_folder / "street_views" / f"{ids[0]}.jpg").unlink()
    (copy_folder / "street_views" / f"{ids[2]}.jpg").unlink()
    source.grid(*POINTS[2], 0.0, size=32)
    with pytest.raises(RouteDataError, match=f"{ids[0]}.jpg"):
        source.grid(*POINTS[0], 0.0, size=32)


def test_panorama_cache_is_bounded_in_bytes(copy_folder: Path) -> None:
    assert DEFAULT_CACHE_BYTES == 256 * 1024 * 1024
    assert PanoramaSource(copy_folder).cache_bytes == DEFAULT_CACHE_BYTES
    one = 128 * (256 + 2) * 4  # a 256 x 128 panorama, packed as 4 bytes a pixel plus 2 columns
    source = PanoramaSource(copy_folder, cache_bytes=2 * one)
    ids = [source.pano_id_at(*point) for point in POINTS]
    for point in POINTS:
        source.grid(*point, 0.0, size=32)
        assert source.cached_bytes <= 2 * one
    assert source.cached_bytes == 2 * one
    (copy_folder / "street_views" / f"{ids[0]}.jpg").unlink()
    source.grid(*POINTS[2], 0.0, size=32)  # still cached
    with pytest.raises(RouteDataError, match=f"{ids[0]}.jpg"):
        source.grid(*POINTS[0], 0.0, size=32)
    # A panorama larger than the whole budget is used but not kept.
    tiny = PanoramaSource(copy_folder, cache_bytes=one - 1)
    first = tiny.grid(*POINTS[1], 0.0, size=32)
    assert tiny.cached_bytes == 0
    assert np.array_equal(first, tiny.grid(*POINTS[1], 0.0, size=32))


def test_hostile_panorama_files_are_refused(
    copy_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = PanoramaSource(copy_folder, cache_size=1)
    ids = [source.pano_id_at(*point) for point in POINTS]
    views = copy_folder / "street_views"
    outside = tmp_path_factory.mktemp("outside")
    make_synthetic_panorama_set(outside, POINTS, width=256, seed=1)
    # A link to a panorama outside the folder: refused, never read.
    image = views / f"{ids[0]}.jpg"
    image.unlink()
    image.symlink_to(outside / "street_views" / f"{ids[0]}.jpg")
    with pytest.raises(RouteDataError, match="leads out of the route folder") as err:
        source.grid(*POINTS[0], 0.0, size=32)
    assert str(image) in str(err.value)
    # Metadata that is a link to /dev/zero, then a FIFO: refused at once.
    metadata = views / f"{ids[1]}.metadata.json"
    metadata.unlink()
    metadata.symlink_to("/dev/zero")
    with pytest.raises(RouteDataError, match="leads out of the route folder"):
        source.grid(*POINTS[1], 0.0, size=32)
    metadata.unlink()
    os.mkfifo(metadata)
    with pytest.raises(RouteDataError, match="FIFO"):
        source.grid(*POINTS[1], 0.0, size=32)
    # A directory in the image's place.
    image = views / f"{ids[2]}.jpg"
    image.unlink()
    image.mkdir()
    with pytest.raises(RouteDataError, match="directory") as err:
        source.grid(*POINTS[2], 0.0, size=32)
    assert str(image) in str(err.value)


def test_street_views_and_mapping_links_out_are_refused(
    copy_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    make_synthetic_panorama_set(outside, POINTS, width=256, seed=1)
    mapping = copy_folder / PANO_MAPPING_FILE
    mapping.unlink()
    mapping.symlink_to(outside / PANO_MAPPING_FILE)
    with pytest.raises(RouteDataError, match="leads out of the route folder"):
        PanoramaSource(copy_folder)
    mapping.unlink()
    (copy_folder / PANO_MAPPING_FILE).write_bytes((outside / PANO_MAPPING_FILE).read_bytes())
    for child in (copy_folder / "street_views").iterdir():
        child.unlink()
    (copy_folder / "street_views").rmdir()
    (copy_folder / "street_views").symlink_to(outside / "street_views")
    with pytest.raises(RouteDataError, match="street_views"):
        PanoramaSource(copy_folder)


def test_missing_route_folder(tmp_path: Path) -> None:
    with pytest.raises(RouteDataError, match="route folder is missing"):
        PanoramaSource(tmp_path / "nowhere")


# ---------------------------------------------------------------------------
# bad folders and files
# ---------------------------------------------------------------------------


def test_missing_folder_parts(copy_folder: Path) -> None:
    (copy_folder / PANO_MAPPING_FILE).unlink()
    with pytest.raises(RouteDataError, match=PANO_MAPPING_FILE):
        PanoramaSource(copy_folder)
    make_synthetic_panorama_set(copy_folder, POINTS, width=256, seed=1)
    for child in (copy_folder / "street_views").iterdir():
        child.unlink()
    (copy_folder / "street_views").rmdir()
    with pytest.raises(RouteDataError, match="street_views"):
        PanoramaSource(copy_folder)


@pytest.mark.parametrize("suffix", [".jpg", ".metadata.json"])
def test_missing_pano_files_name_the_file(copy_folder: Path, suffix: str) -> None:
    source = PanoramaSource(copy_folder)
    pano_id = source.pano_id_at(*POINTS[1])
    missing = copy_folder / "street_views" / f"{pano_id}{suffix}"
    missing.unlink()
    with pytest.raises(RouteDataError) as err:
        source.grid(*POINTS[1], 0.0)
    assert str(missing) in str(err.value)
    source.grid(*POINTS[0], 0.0, size=32)  # the others still work


def test_bad_metadata_and_image(copy_folder: Path) -> None:
    source = PanoramaSource(copy_folder)
    first, second = (source.pano_id_at(*POINTS[i]) for i in (0, 1))
    (copy_folder / "street_views" / f"{first}.metadata.json").write_text('{"heading": 3}')
    with pytest.raises(RouteDataError, match="rotation"):
        source.grid(*POINTS[0], 0.0)
    (copy_folder / "street_views" / f"{second}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(RouteDataError, match=f"{second}.jpg"):
        source.grid(*POINTS[1], 0.0)


def test_pano_ids_cannot_leave_street_views(copy_folder: Path) -> None:
    source = PanoramaSource(copy_folder)
    with open(copy_folder / PANO_MAPPING_FILE, "wb") as handle:
        pickle.dump({POINTS[0]: "../secret"}, handle, protocol=4)
    # Refused when the mapping is read, naming the mapping file ...
    with pytest.raises(
        RouteDataError, match=r"pano id '\.\./secret' .* not a safe file name"
    ) as err:
        PanoramaSource(copy_folder)
    assert str(copy_folder / PANO_MAPPING_FILE) in str(err.value)
    # ... and when a caller asks for such an id directly.
    for bad in ("../secret", "a/b", "", "x" * 129, "nul\x00"):
        with pytest.raises(RouteDataError, match="not a safe file name"):
            source.panorama(bad)


def test_malicious_pickle_is_refused_without_running(copy_folder: Path) -> None:
    sentinel = copy_folder / "pwned"
    # Protocol-0 opcodes for os.system("touch <sentinel>"), written by hand: never unpickled here.
    payload = b"cos\nsystem\n(S'" + f"touch {sentinel}".encode() + b"'\ntR."
    (copy_folder / PANO_MAPPING_FILE).write_bytes(payload)
    with pytest.raises(RouteDataError, match=r"refused global os\.system"):
        PanoramaSource(copy_folder)
    assert not sentinel.exists()


def test_source_rejects_bad_arguments(copy_folder: Path) -> None:
    with pytest.raises(ValueError, match="cache_size"):
        PanoramaSource(copy_folder, cache_size=0)
    with pytest.raises(ValueError, match="cache_bytes"):
        PanoramaSource(copy_folder, cache_bytes=-1)
    with pytest.raises(ValueError, match="max_pixels"):
        PanoramaSource(copy_folder, max_pixels=True)
    with pytest.raises(ValueError, match="max_distance"):
        PanoramaSource(copy_folder, max_distance=-1.0)
    with pytest.raises(ValueError, match="max_width"):
        PanoramaSource(copy_folder, max_width=2)


# ---------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------


def test_grid_speed(source: PanoramaSource) -> None:
    lat, lng = POINTS[0]
    source.grid(lat, lng, 0.0)  # warm-up: loads the panorama and the sampling plan
    times = timeit.repeat(lambda: source.grid(lat, lng, 33.0), number=1, repeat=15)
    median_ms = statistics.median(times) * 1e3
    print(f"PanoramaSource.grid(size=512) median: {median_ms:.2f} ms")
    assert median_ms < 150.0  # generous: the target is <= 15 ms, CI machines vary
