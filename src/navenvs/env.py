"""The V-IRL-style navigation environment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from navenvs.actions import parse_action, vocabulary
from navenvs.city import LAYOUTS, City, build_city, sample_route
from navenvs.instructions import (
    FEEDBACK_LEVELS,
    PromptRenderer,
    action_space_text,
    instruction_lines,
    observation_text,
    paper_feedback,
    resolve_prompt,
)
from navenvs.model import Route
from navenvs.routes import RailStep, build_rail, random_init_heading
from oodgym.caching import warm_once
from oodgym.responses import MAX_RESPONSE_CHARS
from oodgym.rewards import merge_rewards
from oodgym.textspace import action_space, observation_space, prompt_image_space
from oodgym.validation import check_int

__all__ = ["DEFAULT_REWARDS", "MAX_OBSERVATION_CHARS", "NavigationEnv", "intersection_claim"]


def _renderer(city: City, theme: Any) -> Any:
    """The street-view renderer of a (city, theme) pair, built once.

    Renderers are kept in a cache bounded in bytes (``navenvs.render.streetview.RENDERERS``).
    """
    from navenvs.render.streetview import street_renderer

    return street_renderer(city, theme)


#: Longest prompt (instruction + full history + feedback).
MAX_OBSERVATION_CHARS = 32_768
MAX_MILESTONES = 8
#: Episodes a new environment plays privately at construction (see ``warm_up``),
#: in text and in image mode (each of the latter draws its frames).
_WARM_UP_EPISODES = 8
_WARM_UP_IMAGE_EPISODES = 1


DEFAULT_REWARDS: Mapping[str, float] = {
    "correct": 1.0,
    "wrong_action": -1.0,
    "invalid_action": -1.0,
    "wrong_intersection": -1.5,
    "exhausted": -1.0,
}
_NEGATION = re.compile(
    r"\b(?:no|not|without|never|isn't|aren't|don't|doesn't|cannot|can't)\b[^.;,\n]{0,40}"
    r"\bintersections?\b|\bintersections?\b[^.;,\n]{0,20}\b(?:absent|not)\b",
    re.IGNORECASE,
)


def intersection_claim(observation: object) -> bool | None:
    """What the model's "current observation" says about an intersection.

    ``True`` if it says the agent is at an intersection; ``False`` if it says it
    is not, or does not mention one (an observation that leaves out the
    intersection in front of the agent claims there is none, as in the
    reference); ``None`` when the answer has no observation at all (no claim).
    """
    if not isinstance(observation, str):
        return None
    if "intersection" not in observation.lower():
        return False
    return _NEGATION.search(observation[:2000]) is None


def _milestone_range(milestones: object) -> tuple[int, int]:
    if isinstance(milestones, int) and not isinstance(milestones, bool):
        low = high = milestones
    elif (
        isinstance(milestones, (list, tuple))
        and len(milestones) == 2
        and all(isinstance(m, int) and not isinstance(m, bool) for m in milestones)
    ):
        low, high = milestones
    else:
        raise ValueError(
            f"milestones must be an int or a [low, high] pair of ints, got {milestones!r}"
        )
    if not 1 <= low <= high <= MAX_MILESTONES:
        raise ValueError(
            f"milestones must lie in 1..{MAX_MILESTONES} with low <= high, got {milestones!r}"
        )
    return low, high


class NavigationEnv(gym.Env[Any, str]):
    """Follow a written route instruction through city streets, one decision per step.

    ## Description
    An episode is one route: from a start place, through milestones (the
    intersections where the route turns), to a destination. The agent reads a
    V-IRL-style instruction ("1. First, turn left to face east. 2. Move forward
    until you reach the next intersection where Café Lumière is on your left
    front. ...") and, at every step, its current observation, then answers with
    one action. Routes come from procedural cities (offline, built once per
    layout and seed) or from a real V-IRL ``route_infos.json`` file.

    ## Action Space
    ``spaces.Text``: the model's raw answer,
    ``{"current observation": ..., "current instruction": ..., "action": "forward()"}``
    (JSON or JSON-ish; the ``"action"`` value must be exactly one action), or
    an answer that is exactly one action (whitespace, case, quotes, a code
    fence or an ``action:`` label around it are tolerated). Prose that merely
    mentions actions, or several actions, is ``invalid_action``. Actions:
    ``forward()``, ``stop()`` and ``turn_direction(x)`` with x a compass word
    (``actions="absolute"``) or one of left, right, slightly left, slightly right
    (``actions="relative"``).

    ## Observation Space
    ``observation="text"``: ``spaces.Text``: the prompt with the instruction,
    the action vocabulary, the history (``O_1: ...``, ``A_1: ...``), the
    current observation and, after a failed attempt, its feedback. The charset
    covers every character of the place and street names the environment can show.

    ``observation="image"``: ``spaces.Dict({"text": Text, "image": Box(0, 255,
    (image_size, image_size, 3), uint8)})``: the same prompt (plus one sentence
    on the image layout) and a 2x2 grid of street views, top-left front,
    top-right right, bottom-left back, bottom-right left of the agent's heading,
    rendered from the procedural city in the episode's theme (or cut from the
    real panoramas of a V-IRL route folder). A new grid is rendered whenever the
    agent moves or turns; every returned image is a fresh array.

    ## Rewards
    The paper's table: ``correct`` +1 (the agent advances to the next rail
    entry; what the answer says about intersections does not change it);
    ``wrong_action`` -1, or ``wrong_intersection`` -1.5 when the wrong action's
    "current observation" is also wrong about the intersection (claims one where
    there is none, or leaves out or denies the one that is there; checked
    against the truth, not against the landmark text as the reference did);
    ``invalid_action`` -1 (no single action found). The agent stays after a
    failed attempt. ``exhausted`` (default -1, the paper's) is added when the
    attempts at a step run out.

    ## Episode End
    ``terminated`` (success) on a correct ``stop()`` at the destination;
    ``truncated`` when ``max_attempts`` attempts at one step all fail.

    ## Info
    ``instruction``, ``expert_action`` (the correct action of the current step,
    ``None`` once the episode is over), ``step`` (index of the current rail
    step), ``steps`` (rail length), ``at_intersection``, ``city``, ``theme``,
    ``position`` ((lat, lng) of the agent), ``heading`` (degrees) and
    ``observation`` (the current observation sentence exactly as the prompt
    shows it); after a step
    also ``verdict``, ``feedback``, ``is_success`` and ``step_accuracy``
    (correct attempts / attempts so far).

    ## Arguments
    * ``actions``: ``"absolute"`` (default) or ``"relative"``.
    * ``routes``: ``None`` (procedural, default) or a path to a V-IRL
      ``route_infos.json`` (or its folder); the seed chooses the route.
    * ``city``: procedural layout, one of ``navenvs.city.LAYOUTS`` (default ``"grid"``).
    * ``n_cities``: procedural cities of that layout to draw from, 1..64 (default 4).
    * ``max_attempts``: attempts per step, >= 1 (default 2).
    * ``milestones``: milestones per procedural route, an int or ``[low, high]`` in
      1..8 (default ``[2, 3]``, like the V-IRL mini benchmark).
    * ``forward_points``: points interpolated per leg, 0..20 (default 5).
    * ``drop_rate``: probability of dropping each point, in [0, 1) (default 0.5).
    * ``rewards``: per-category overrides of ``DEFAULT_REWARDS``.
    * ``observation``: ``"text"`` (default) or ``"image"``.
    * ``image_size``: side of the square street-view grid, 224..1200 (default 512).
    * ``theme``: city theme(s) for images: a name from ``navenvs.city_themes()``
      (default ``"default"``, the training theme), a mapping ``{"name": ..., **overrides}``,
      or a list of those: episodes then cycle through the list, two consecutive
      seeds per theme (seeds 0..17 cover nine themes twice, like the V-IRL mini
      benchmark). Each theme's cities use the theme's layout unless ``city`` is given.
    * ``prompt``: the prompt template: ``None``/``"default"`` (ood-gym's wording),
      ``"sectioned"``, a name from ``navenvs.instructions.TEMPLATES``, a path to a
      template file or a mapping ``{"template": ..., "fields": {...}}``; fields
      ``instruction``, ``action_space``, ``obs_act_seq`` (the reference's names),
      ``observation``, ``step``, ``history``, ``feedback``, ``answer_format``.
    * ``feedback``: ``"detailed"`` (default: what was wrong, the allowed words on a
      parse error) or ``"paper"`` (only that the action was wrong, or that the agent
      is / is not at an intersection, with the answer format; the registered ids use it).
    * ``render_mode``: ``None``, ``"ansi"`` (the current prompt) or ``"rgb_array"``
      (the street-view grid; drawn on demand for text observations).

    ## Version History
    * v0: initial release.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}  # noqa: RUF012

    def __init__(
        self,
        actions: str = "absolute",
        routes: str | os.PathLike[str] | None = None,
        city: str | None = None,
        n_cities: int = 4,
        max_attempts: int = 2,
        milestones: int | Sequence[int] = (2, 3),
        forward_points: int = 5,
        drop_rate: float = 0.5,
        rewards: Mapping[str, float] | None = None,
        observation: str = "text",
        image_size: int = 512,
        theme: Any = None,
        prompt: Any = None,
        feedback: str = "detailed",
        render_mode: str | None = None,
    ) -> None:
        from navenvs.visuals import TRAINING_THEME, resolve_theme

        self.vocabulary = vocabulary(actions)
        if city is not None and city not in LAYOUTS:
            raise ValueError(f"city must be one of {list(LAYOUTS)} or None; got {city!r}")
        if observation not in ("text", "image"):
            raise ValueError(f"observation must be one of ['text', 'image']; got {observation!r}")
        if feedback not in FEEDBACK_LEVELS:
            raise ValueError(f"feedback must be one of {list(FEEDBACK_LEVELS)}; got {feedback!r}")
        self.feedback_level = feedback
        self._renderer = PromptRenderer(resolve_prompt(prompt))
        image_size = check_int("image_size", image_size, 224, 1200)
        n_cities = check_int("n_cities", n_cities, 1, 64)
        max_attempts = check_int("max_attempts", max_attempts, 1)
        forward_points = check_int("forward_points", forward_points, 0, 20)
        if not isinstance(drop_rate, (int, float)) or not 0.0 <= float(drop_rate) < 1.0:
            raise ValueError(f"drop_rate must be a number in [0, 1); got {drop_rate!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}; "
                f"got {render_mode!r}"
            )
        self.milestone_range = _milestone_range(milestones)
        self.max_attempts = max_attempts
        self.forward_points = forward_points
        self.drop_rate = float(drop_rate)
        self.rewards = merge_rewards(DEFAULT_REWARDS, rewards)
        self.render_mode = render_mode
        self.observation_mode = observation
        self.image_size = image_size
        specs = theme if isinstance(theme, (list, tuple)) else [theme or TRAINING_THEME]
        if not specs:
            raise ValueError("theme: an empty list; give a theme name or a list of names")
        self.themes = tuple(resolve_theme(spec) for spec in specs)

        chars: set[str] = set()
        self._routes: list[Route] | None = None
        # One list of cities per theme (the theme's layout unless `city` overrides it).
        self._cities: list[list[City]] = []
        self._panoramas: Any = None
        self._pano_folder: str | None = None
        if routes is not None:
            from navenvs.data import load_routes

            self._routes = load_routes(routes)
            if not self._routes:
                raise ValueError(f"routes: {os.fspath(routes)!r} holds no route")
            for route in self._routes:
                chars.update(route.destination.name)
                for milestone in route.milestones:
                    chars.update(milestone.sentence(destination=route.destination))
                    if milestone.landmark is not None:
                        chars.update(milestone.landmark.name)
            if observation == "image" or render_mode == "rgb_array":
                from navenvs.render.panorama import PanoramaSource

                folder = os.fspath(routes)
                if os.path.isfile(folder):
                    folder = os.path.dirname(os.path.abspath(folder))
                # Real routes are shown as real panoramas; missing files fail here, clearly.
                self._panoramas = PanoramaSource(folder)
                self._pano_folder = folder
        else:
            for spec in self.themes:
                layout = city or spec.layout
                cities = [build_city(layout, seed) for seed in range(n_cities)]
                self._cities.append(cities)
                for built in cities:
                    chars.update(built.charset())
        self.layout = city
        chars.update(c for c in self._renderer.extra_chars if c not in "\t\n")
        text_space = observation_space(MAX_OBSERVATION_CHARS, "".join(sorted(chars)))
        self.observation_space: spaces.Space[Any] = (
            prompt_image_space(text_space, image_size) if observation == "image" else text_space
        )
        # The expert's answer repeats observation and instruction text: the names' letters too.
        self.action_space = action_space(MAX_RESPONSE_CHARS, "".join(sorted(chars)))
        self._vocabulary_sentence = action_space_text(self.vocabulary.name)
        if observation == "image":
            from navenvs.render.streetview import LAYOUT_TEXT

            self._vocabulary_sentence += f"\n{LAYOUT_TEXT}"

        self._route: Route | None = None
        self._rail: tuple[RailStep, ...] = ()
        self._instruction: list[str] = []
        self._instruction_text = ""
        self._instruction_of_step: list[int] = []
        self._history: list[str] = []
        self._index = 0
        self._attempts_here = 0
        self._attempts = 0
        self._correct = 0
        self._done = True
        self._prompt = ""
        self._cycle = -1
        self._theme_index = 0
        self._city: City | None = None
        self._frame: np.ndarray | None = None
        self._frame_step = -1
        self._street_view: Any = None
        if type(self) is NavigationEnv:
            key = (
                self.observation_mode if self._panoramas is None else "text",
                self.vocabulary.name,
                self.image_size,
                self.themes[0],
                self.layout,
                len(self._cities[0]) if self._cities else 0,
            )
            warm_once(key, self.warm_up)  # what a warm-up warms is process-wide

    def warm_up(self) -> None:
        """Play private episodes through ``reset`` and ``step`` now, not in the user's first steps.

        A fresh process pays for code it has not run yet (the interpreter
        specialises hot code over its first calls; a (city, theme) lays out its
        streets, facades and lettering on its first frame), so the first correct
        answer cost ~4x a later one and the first image reset ~50 ms. Here
        :data:`_WARM_UP_EPISODES` episodes (seeds 0, 1, ...) are played with the
        expert's answers, and one more is failed with a wrong one; in image mode
        :data:`_WARM_UP_IMAGE_EPISODES` episode draws its frames, and the street
        renderer of every city of the first theme is built and drawn once (~60 ms
        each; later themes are built on their first reset). Real routes with
        panoramas warm the text path only (decoding panoramas at construction
        would cost much and warm nothing shared). Afterwards the instance's
        ``__dict__`` is put back as it was (no random stream exists, ``step``
        still needs ``reset``); what stays warm is process-wide.

        ``NavigationEnv.__init__`` calls it for instances of this class only: a
        subclass's overrides could need state its own ``__init__`` has not set
        yet, so a subclass opts in by calling ``self.warm_up()`` at the end of its
        ``__init__``. Safe at any time: the instance is left exactly as it was.
        """
        saved = self.__dict__.copy()
        cls = NavigationEnv
        image = self.observation_mode == "image" and self._panoramas is None
        try:
            if self._panoramas is not None:
                self.observation_mode, self.render_mode = "text", None
            episodes = _WARM_UP_IMAGE_EPISODES if image else _WARM_UP_EPISODES
            for seed in range(episodes):
                cls.reset(self, seed=seed)
                for _ in range(len(self._rail)):  # the expert ends the route within it
                    if self._done:
                        break
                    cls.step(self, cls.expert_action(self))
            cls.reset(self, seed=0)
            cls.step(self, "I am lost.")
            if image:
                theme = self.themes[0]
                for city in self._cities[0]:
                    route = sample_route(
                        city, np.random.default_rng(0), milestones=self.milestone_range
                    )
                    start = route.start
                    _renderer(city, theme).render(
                        start.lat, start.lng, route.start_heading, size=self.image_size
                    )
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)

    # ------------------------------------------------------------------ episode
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start a new route (procedural, or one of the loaded routes, chosen by the seed).

        ``options={"route": k}`` plays loaded route ``k`` (the seed still draws
        the rail's dropped points and a random initial heading); the same seed
        draws the same numbers whether or not a route is chosen.
        """
        super().reset(seed=seed)
        chosen = self._route_option(options)
        rng = self.np_random
        # Theme cycle: two consecutive seeds per theme (seed s -> theme (s // 2) mod n).
        self._cycle = seed if seed is not None else self._cycle + 1
        self._theme_index = (self._cycle // 2) % len(self.themes)
        if self._routes is not None:
            drawn = int(rng.integers(len(self._routes)))
            route = self._routes[drawn if chosen is None else chosen]
            self._city = None
        else:
            cities = self._cities[self._theme_index]
            city = cities[int(rng.integers(len(cities)))]
            self._city = city
            route = sample_route(city, rng, milestones=self.milestone_range)
        init = route.init_heading
        if init is None:
            init = random_init_heading(rng)
        self._route = route
        self._rail = build_rail(
            route, init, rng, forward_points=self.forward_points, drop_rate=self.drop_rate
        )
        self._instruction = instruction_lines(route, init)
        self._instruction_text = "\n".join(self._instruction)
        self._instruction_of_step = self._map_instructions(self._rail)
        self._history = []
        self._index = 0
        self._attempts_here = 0
        self._attempts = 0
        self._correct = 0
        self._done = False
        self._prompt = self._compose()
        self._frame = self._render_frame() if self.observation_mode == "image" else None
        return self._observe(), self._info()

    def _route_option(self, options: Mapping[str, Any] | None) -> int | None:
        """The ``route`` reset option: index of a loaded route (``None``: drawn by the seed)."""
        if not options:
            return None
        unknown = sorted(set(options) - {"route"})
        if unknown:
            raise ValueError(f"options: unknown keys {unknown}; allowed: ['route']")
        if self._routes is None:
            raise ValueError("options['route'] needs routes=<route_infos.json> (procedural: none)")
        index = options["route"]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"options['route'] must be an int; got {index!r}")
        if not 0 <= index < len(self._routes):
            raise ValueError(f"options['route'] must be in 0..{len(self._routes) - 1}; got {index}")
        return int(index)

    def _render_frame(self) -> np.ndarray:
        """The street-view grid at the current rail step."""
        step = self._rail[min(self._index, len(self._rail) - 1)]
        if self._panoramas is not None:
            self._street_view = None
            frame: np.ndarray = self._panoramas.grid(
                step.lat, step.lng, step.heading, size=self.image_size
            )
            return frame
        assert self._city is not None
        view = _renderer(self._city, self.themes[self._theme_index]).render(
            step.lat, step.lng, step.heading, size=self.image_size
        )
        self._street_view = view
        image: np.ndarray = view.image
        return image

    def _observe(self) -> Any:
        if self.observation_mode == "image":
            assert self._frame is not None
            # A fresh copy per call: returned observations never share memory.
            return {"text": self._prompt, "image": self._frame.copy()}
        return self._prompt

    @staticmethod
    def _map_instructions(rail: Sequence[RailStep]) -> list[int]:
        """Index of the instruction sentence each rail step carries out.

        Sentence 0 is the first turn; sentence 2k+1 moves along leg k (to
        milestone k) and 2k+2 turns at milestone k; ``stop()`` at the destination
        shares the last "move" sentence (as in the reference).
        """
        out = [0]
        leg = 0
        for step in rail[1:]:
            if step.milestone is None:
                out.append(2 * leg + 1)
            elif step.is_final:
                out.append(2 * step.milestone + 1)
            else:
                out.append(2 * step.milestone + 2)
                leg = step.milestone + 1
        return out

    def _expert(self, step: RailStep) -> str:
        return step.absolute if self.vocabulary.name == "absolute" else step.relative

    def _observation(self, step: RailStep) -> str:
        return observation_text(step, image=self.observation_mode == "image")

    def _compose(self, feedback: str = "") -> str:
        current = self._observation(self._rail[min(self._index, len(self._rail) - 1)])
        return self._renderer.render(
            self._instruction_text,
            self._vocabulary_sentence,
            self._history,
            current,
            feedback,
            max_chars=MAX_OBSERVATION_CHARS,
        )

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """Judge one answer; see the class docstring for rewards and episode end."""
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        parsed = parse_action(action, self.vocabulary)
        step = self._rail[self._index]
        expert = self._expert(step)
        if parsed.action is None:
            verdict = "invalid_action"
            feedback = parsed.error or "No valid action found."
        elif str(parsed.action) == expert:
            # Correct is correct: what the answer says about intersections does not change it.
            verdict = "correct"
            feedback = f"Correct: {expert}."
        else:
            claim = intersection_claim(parsed.observation)
            if claim is not None and claim != step.at_intersection:
                verdict = "wrong_intersection"
                feedback = (
                    f"{parsed.action} is not the right action here, and you said you observe "
                    "an intersection, but there is none here."
                    if claim
                    else f"{parsed.action} is not the right action here, and you are at an "
                    "intersection, which your observation did not say."
                )
            else:
                verdict = "wrong_action"
                feedback = f"{parsed.action} is not the right action here."
        if verdict != "correct" and self.feedback_level == "paper":
            feedback = paper_feedback(verdict, intersection_claim(parsed.observation))
        self._attempts += 1
        terminated = truncated = False
        reward = self.rewards[verdict]
        if verdict == "correct":
            self._correct += 1
            step_no = self._index + 1
            self._history.append(f"O_{step_no}: {self._observation(step)}")
            self._history.append(f"A_{step_no}: {expert}")
            self._index += 1
            self._attempts_here = 0
            terminated = step.is_final
            self._prompt = self._compose()
            if self.observation_mode == "image" and not terminated:
                self._frame = self._render_frame()  # the agent moved or turned
        else:
            self._attempts_here += 1
            left = self.max_attempts - self._attempts_here
            if left <= 0:
                truncated = True
                reward += self.rewards["exhausted"]
                tail = "No attempts left at this step."
            else:
                tail = f"{left} attempt{'s' if left != 1 else ''} left at this step."
            self._prompt = self._compose(f"Feedback: your last answer failed: {feedback} {tail}")
        self._done = terminated or truncated
        info = self._info()
        info["verdict"] = verdict
        info["feedback"] = feedback
        info["is_success"] = terminated
        info["step_accuracy"] = self._correct / self._attempts
        return self._observe(), reward, terminated, truncated, info

    def _info(self) -> dict[str, Any]:
        assert self._route is not None
        pending = self._index < len(self._rail) and not self._done
        step = self._rail[min(self._index, len(self._rail) - 1)]
        return {
            "instruction": "\n".join(self._instruction),
            "expert_action": self._expert(step) if pending else None,
            "step": self._index,
            "steps": len(self._rail),
            "at_intersection": step.at_intersection,
            "city": self._route.city,
            "theme": self.themes[self._theme_index].name,
            "position": (step.lat, step.lng),
            "heading": step.heading,
            "observation": self._observation(step),
        }

    # ------------------------------------------------------------------ helpers
    def expert_action(self, rng: np.random.Generator | None = None) -> str:
        """A correct answer for the current step, in the paper's answer shape.

        Args:
            rng: Accepted for symmetry with GeneralPoints (whose expert draws
                among a hand's solutions); navigation has one correct action.
        """
        if self._done or not self._rail:
            raise RuntimeError("no step is pending: call reset() first")
        step = self._rail[self._index]
        line = self._instruction[self._instruction_of_step[self._index]]
        return json.dumps(
            {
                "current observation": self._observation(step),
                "current instruction": line.split(". ", 1)[-1],
                "action": self._expert(step),
            },
            ensure_ascii=False,
        )

    def render(self) -> Any:
        """``"ansi"``: the current prompt; ``"rgb_array"``: the street-view grid; else ``None``."""
        if self.render_mode == "ansi":
            return self._prompt
        if self.render_mode == "rgb_array":
            if not self._rail:
                raise RuntimeError("call reset() before render()")
            if self.observation_mode != "image":
                # Text observations: draw the current step on demand, once per step.
                if self._frame is None or self._frame_step != self._index:
                    self._frame = self._render_frame()
                    self._frame_step = self._index
            assert self._frame is not None
            return self._frame.copy()
        return None

    def __getstate__(self) -> dict[str, Any]:
        # Cities and panoramas are seed-independent caches: rebuild them, don't pickle them.
        state = self.__dict__.copy()
        state["_cities"] = [[(c.layout, c.seed) for c in cities] for cities in self._cities]
        state["_city"] = None if self._city is None else (self._city.layout, self._city.seed)
        state["_panoramas"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_cities"] = [[build_city(*key) for key in keys] for keys in state["_cities"]]
        if state["_city"] is not None:
            state["_city"] = build_city(*state["_city"])
        if state["_pano_folder"] is not None:
            from navenvs.render.panorama import PanoramaSource

            state["_panoramas"] = PanoramaSource(state["_pano_folder"])
        self.__dict__.update(state)

    @property
    def street_view(self) -> Any:
        """The last procedural street view (image and sign boxes), or ``None``."""
        return self._street_view

    @property
    def route(self) -> Route | None:
        """The current route."""
        return self._route

    @property
    def rail(self) -> tuple[RailStep, ...]:
        """The current expert rail."""
        return self._rail
