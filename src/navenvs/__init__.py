"""V-IRL-style navigation: follow a route instruction through city streets.

Importing the package registers the ids (see :mod:`navenvs.registration`)::

    import gymnasium as gym
    import navenvs

    env = gym.make("navenvs/Navigation-v0")             # absolute actions (north, east, ...)
    env = gym.make("navenvs/Navigation-RuleOOD-v0")     # relative actions (left, right, ...)
    env = gym.make("navenvs/Navigation-v0", routes="path/to/route_infos.json")  # real V-IRL routes

Everything runs offline: procedural cities are built with shapely, once per
(layout, seed), and real V-IRL route files are read from disk.
"""

from navenvs.actions import ABSOLUTE, RELATIVE, Action, parse_action, vocabulary
from navenvs.city import LAYOUTS, City, build_city, sample_route
from navenvs.data import RouteDataError, dump_routes, load_routes
from navenvs.env import NavigationEnv
from navenvs.model import Milestone, Place, Route
from navenvs.registration import PRESETS, oodgym_presets, register_presets
from navenvs.visuals import CityTheme, city_themes, register_theme

__all__ = [
    "ABSOLUTE",
    "LAYOUTS",
    "PRESETS",
    "RELATIVE",
    "Action",
    "City",
    "CityTheme",
    "Milestone",
    "NavigationEnv",
    "Place",
    "Route",
    "RouteDataError",
    "build_city",
    "city_themes",
    "dump_routes",
    "load_routes",
    "oodgym_presets",
    "parse_action",
    "register_presets",
    "register_theme",
    "sample_route",
    "vocabulary",
]

register_presets()
