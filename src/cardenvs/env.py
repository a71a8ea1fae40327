"""The GeneralPoints environment."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cardenvs.cards import RANKS, SUIT_SETS, Card, deck, parse_cards
from cardenvs.prompts import PromptRenderer, feedback_text, paper_feedback, resolve_prompt
from cardenvs.render.table import check_image_size
from cardenvs.rules import Rule, resolve_rule
from cardenvs.solver import DEALS, HandSampler, all_solutions, hand_sampler
from cardenvs.verifier import FEEDBACK_LEVELS, Verdict, Verifier, resolve_rewards
from cardenvs.visuals import prepare_observations, render_observation, resolve_visuals
from oodgym.caching import warm_once
from oodgym.responses import MAX_RESPONSE_CHARS
from oodgym.templates import PromptTemplate
from oodgym.textspace import action_space, observation_space, prompt_image_space
from oodgym.validation import check_int

__all__ = ["MAX_OBSERVATION_CHARS", "GeneralPointsEnv"]

#: Upper bound of an observation's length (prompt plus one feedback message) with the
#: built-in templates; a longer template of one's own raises the bound to fit.
MAX_OBSERVATION_CHARS = 4096
# Room kept for one attempt's feedback; the longest message is well under 1000 characters.
_FEEDBACK_CHARS = 1024
_OBSERVATIONS = ("text", "image")
_RESET_OPTIONS = ("cards",)
#: Hands a new environment answers privately at construction (see ``warm_up``),
#: how many of them draw a frame in image mode, and the wrong answer it also sends.
_WARM_UP_HANDS = 32
_WARM_UP_FRAMES = 32
_WARM_UP_FRAME_SECONDS = 0.05  # ... or fewer frames, when costly variants make them slow
_WARM_UP_WRONG = '{"cards": [], "number": [], "formula": "1+2"}'


class GeneralPointsEnv(gym.Env[Any, str]):
    """GeneralPoints: reach the target number with the values of the dealt cards.

    ## Description
    A hand of cards (4 by default) is dealt without replacement from a deck of
    the chosen suits; every hand is solvable under the active rule (see
    ``deal`` for how face cards are forced in rule OOD). The agent
    (a language model) answers with free text holding a formula such as
    ``{"cards": ["3", "3", "8", "8"], "number": [3, 3, 8, 8], "formula": "8/(3-8/3)=24"}``.
    The formula is parsed by a hand-written parser, evaluated exactly with
    rationals and confirmed with sympy. Failed attempts are answered with a
    feedback message (``feedback``: the paper's or a detailed one) and the
    agent may try again.

    ## Action Space
    ``spaces.Text``: the model's raw answer (any ``str`` is accepted and judged;
    the space documents the characters and length a policy may send). A
    non-``str`` action raises ``TypeError``.

    ## Observation Space
    ``observation="text"``: ``spaces.Text`` (ASCII, up to ``MAX_OBSERVATION_CHARS``
    characters, or more for a longer template of one's own): the prompt naming
    the cards, the rule and the answer format, rendered from the ``prompt``
    template; after a judged attempt it also carries that attempt's feedback.
    A template's characters beyond ASCII are added to the space's charset.

    ``observation="image"``: ``spaces.Dict({"text": Text, "image": Box(0, 255,
    (image_size, image_size, 3), uint8)})``. The prompt does not name the
    cards: the model must read them from the image and report them in the
    ``"cards"`` field. The image is rendered once per reset (visual variants
    applied, randomness from a visual stream of ``np_random``) and the same
    frame is returned (as a fresh copy) by every step of the episode.

    ## Rewards
    One verdict per attempt (defaults are the paper's): ``correct`` +5,
    ``wrong_value`` -1, ``wrong_numbers`` -2, ``illegal_formula`` -3,
    ``wrong_recognition`` -1.5 (image mode); override with ``rewards={...}``.
    ``exhausted`` (default -1, the paper's) is added to the last failed attempt
    when the attempts run out: that step's reward is its verdict's plus -1.

    ## Starting State
    A random solvable hand (see ``deal``), or the hand given by
    ``reset(options={"cards": ["3S", "3C", "8S", "8C"]})``.

    ## Episode End
    ``terminated`` on a correct answer; ``truncated`` when the last of
    ``max_attempts`` attempts fails. Stepping a finished episode raises
    ``RuntimeError``; call ``reset()``.

    ## Info
    Always: ``cards`` (codes), ``numbers`` (values under the rule), ``target``,
    ``rule`` (name), ``attempts_left``, ``solution`` (one valid formula).
    After a step also ``verdict`` (category), ``feedback`` and ``is_success``.
    ``feedback`` is the attempt's short message: with ``feedback="detailed"``
    the verdict's message; with ``"paper"`` a message that reads on its own
    (the paper's conversation sends it as the whole user message after a
    failure): ``Your answer failed (wrong value). The formula does not evaluate
    to 24. Try again, answering in the same format.``

    ## Arguments
    * ``rule``: registered rule name (``"face-10"`` default, ``"face-11-12-13"``),
      a mapping ``{"name": ..., **field overrides}``, a ``"module:attr"`` path or
      a :class:`~cardenvs.rules.Rule`.
    * ``suits``: ``"black"`` (default: spades, clubs), ``"red"`` (hearts,
      diamonds) or ``"all"`` (52 cards: a rank can appear three times).
    * ``deal``: ``"uniform"`` (default): every solvable hand with the rule's
      minimum of face cards is equally likely; ``"paper"``: the paper's scheme:
      the rule's minimum of face cards is drawn from the deck's J/Q/K first and
      the rest from the remaining cards, unsolvable hands redrawn (rule OOD,
      52 cards: 1.58 face cards per hand on average, against 1.35). The two are
      the same for a rule without a minimum.
    * ``max_attempts``: graded attempts per episode, >= 1 (default 5).
    * ``rewards``: per-category reward overrides (default: the paper's).
    * ``feedback``: ``"detailed"`` (default: the value reached, error positions,
      misread ranks) or ``"paper"`` (the category and the offending numbers
      only, never the value reached or a hint toward a solution).
    * ``prompt``: the prompt template: ``None``/``"default"`` (ood-gym's wording),
      ``"sectioned"`` (task description, input, output format), another name
      registered in ``cardenvs.prompts.TEMPLATES``, a path to a template file,
      or a mapping ``{"template": ..., "fields": {...}}``. Fields: ``{cards}``
      (text mode only), ``{face_card_msg}``, ``{target_number}`` (the reference
      code's names), ``{rules}``, ``{operators}``, ``{hand_size}``; see
      :mod:`cardenvs.prompts`.
    * ``observation``: ``"text"`` (default) or ``"image"``.
    * ``image_size``: side of the square table image in pixels, 224..1200 (default 512).
    * ``visuals``: visual variants applied in order, as plain data, e.g.
      ``["rotate", {"name": "noise", "sigma": 5}]`` (see ``cardenvs.visual_variants()``);
      they change the image only, never the deal, the text, the info or the rewards.
    * ``render_mode``: ``None``, ``"ansi"`` (the current prompt) or ``"rgb_array"``
      (the table image; rendered on demand in text mode).

    ## Example
    >>> import gymnasium as gym, cardenvs
    >>> env = gym.make("cardenvs/GeneralPoints-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(
    ...     '{"formula": "%s"}' % info["solution"])
    >>> reward, terminated, info["verdict"]
    (5.0, True, 'correct')

    ## Version History
    * v0: initial release. Since then: ``prompt``, ``feedback`` and ``deal``
      arguments; ``exhausted`` defaults to -1; the registered ids use the
      paper's protocol (``deal="paper"``, ``feedback="paper"``, the text ids
      deal from all 52 cards).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}  # noqa: RUF012

    def __init__(
        self,
        rule: str | Mapping[str, Any] | Rule = "face-10",
        suits: str = "black",
        max_attempts: int = 5,
        rewards: Mapping[str, float] | None = None,
        observation: str = "text",
        image_size: int = 512,
        visuals: Sequence[str | Mapping[str, Any]] | None = None,
        render_mode: str | None = None,
        prompt: str | Mapping[str, Any] | PromptTemplate | None = None,
        feedback: str = "detailed",
        deal: str = "uniform",
    ) -> None:
        self.rule: Rule = resolve_rule(rule)
        if suits not in SUIT_SETS:
            raise ValueError(f"suits must be one of {sorted(SUIT_SETS)}; got {suits!r}")
        max_attempts = check_int("max_attempts", max_attempts, 1)
        if observation not in _OBSERVATIONS:
            raise ValueError(
                f"observation must be one of {list(_OBSERVATIONS)}; got {observation!r}"
            )
        if feedback not in FEEDBACK_LEVELS:
            raise ValueError(f"feedback must be one of {list(FEEDBACK_LEVELS)}; got {feedback!r}")
        if deal not in DEALS:
            raise ValueError(f"deal must be one of {list(DEALS)}; got {deal!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}; "
                f"got {render_mode!r}"
            )
        self.suits = suits
        self.deal = deal
        self.feedback = feedback
        self.max_attempts = max_attempts
        self.rewards = resolve_rewards(rewards)
        self.observation_mode = observation
        self.render_mode = render_mode
        self.image_size = check_image_size(image_size)
        self.visuals = resolve_visuals(visuals)
        if observation == "image" or render_mode == "rgb_array":
            # Card sprites and the table are drawn now, not during the first resets.
            prepare_observations(
                [card.code for card in deck(suits)],
                size=self.image_size,
                hand_size=self.rule.hand_size,
                variants=self.visuals,
            )
        self._verifier = Verifier(self.rule, self.rewards, feedback)
        self._render_prompt = PromptRenderer(resolve_prompt(prompt, observation), self.rule)
        self._value_of = {rank: self.rule.value_of(rank) for rank in RANKS}
        self._sampler: HandSampler = hand_sampler(self.rule, suits, deal)

        text_space = observation_space(
            max(MAX_OBSERVATION_CHARS, self._render_prompt.max_length + _FEEDBACK_CHARS),
            self._render_prompt.extra_chars,
        )
        self.observation_space: spaces.Space[Any] = (
            prompt_image_space(text_space, self.image_size)
            if observation == "image"
            else text_space
        )
        self.action_space = action_space(MAX_RESPONSE_CHARS)
        self._frame: np.ndarray | None = None

        self._cards: tuple[Card, ...] = ()
        self._codes: list[str] = []
        self._ranks: list[str] = []
        self._numbers: list[int] = []
        self._prompt = ""
        self._observation = ""
        self._attempts = 0
        self._done = True
        self._solution = ""
        self._visual_seed = 0
        self._draw_frames = True
        if type(self) is GeneralPointsEnv:
            variant_specs = tuple(  # plain data: variant objects may compare by identity
                (type(v).__module__, type(v).__qualname__, json.dumps(v.spec(), default=repr))
                for v in self.visuals
            )
            key = (observation, self.image_size, variant_specs, self.rule, suits, deal, feedback)
            warm_once(key, self.warm_up)  # what a warm-up warms is process-wide

    def warm_up(self) -> None:
        """Play private hands through ``reset`` and ``step`` now, not in the user's first steps.

        A fresh process pays for code it has not run yet (the interpreter
        specialises hot code over its first calls, sympy fills its number cache),
        so the first correct answer used to cost 6x a later one. Here
        :data:`_WARM_UP_HANDS` hands (seeds 0, 1, ...) are answered correctly and
        wrongly; in image mode they draw their frames, up to :data:`_WARM_UP_FRAMES`
        of them or :data:`_WARM_UP_FRAME_SECONDS` of drawing. It costs ~3 ms of
        construction plus those frames (~8 ms at 512 px). Afterwards the
        instance's ``__dict__`` is put back as it was (no random stream exists,
        ``step`` still needs ``reset``); what stays warm is process-wide (the
        interpreter's specialisations, sympy's and the sprites' caches).

        ``GeneralPointsEnv.__init__`` calls it for instances of this class only:
        a subclass's overrides could need state its own ``__init__`` has not set
        yet, so a subclass opts in by calling ``self.warm_up()`` at the end of its
        ``__init__``. Safe at any time: the instance is left exactly as it was.
        """
        saved = self.__dict__.copy()
        cls = GeneralPointsEnv
        try:
            started = time.perf_counter()
            for i in range(_WARM_UP_HANDS):
                self._draw_frames = (
                    i < _WARM_UP_FRAMES and time.perf_counter() - started < _WARM_UP_FRAME_SECONDS
                )
                cls.reset(self, seed=i)
                cls.step(self, cls.expert_action(self))
                cls.reset(self, seed=i)
                cls.step(self, _WARM_UP_WRONG)
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)

    # ------------------------------------------------------------------ episode
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Deal a new hand. ``options={"cards": [...]}`` fixes the deal."""
        super().reset(seed=seed)
        # Always the same two draws, whatever the options and observation mode, so that
        # a seed yields the same sequence of deals under every visual setting.
        draw = int(self.np_random.integers(self._sampler.draw_bound))
        self._visual_seed = int(self.np_random.bit_generator.random_raw())
        if options:
            cards = self._cards_from_options(options)
        else:
            cards = self._sampler.hand(draw)
        self._start(cards)
        return self._observe(), self._info()

    def _cards_from_options(self, options: Mapping[str, Any]) -> tuple[Card, ...]:
        if not isinstance(options, Mapping):
            raise ValueError(f"options must be a dict, got {type(options).__name__}")
        unknown = sorted(set(options) - set(_RESET_OPTIONS))
        if unknown:
            raise ValueError(f"options: unknown key(s) {unknown}; allowed: {list(_RESET_OPTIONS)}")
        cards = parse_cards(options["cards"])
        rule = self.rule
        if len(cards) != rule.hand_size:
            raise ValueError(
                f"options['cards'] must hold {rule.hand_size} cards for this rule, got {len(cards)}"
            )
        allowed = SUIT_SETS[self.suits]
        off_deck = [c.code for c in cards if c.suit not in allowed]
        if off_deck:
            raise ValueError(
                f"options['cards']: {off_deck} not in the {self.suits} deck (suits {allowed})"
            )
        faces = sum(c.is_face for c in cards)
        if faces < rule.min_face_cards:
            raise ValueError(
                f"options['cards']: rule {rule.name!r} needs at least {rule.min_face_cards} "
                f"face card(s), got {faces}"
            )
        if self._sampler.solution(cards) is None:
            values = [rule.value_of(c.rank) for c in cards]
            raise ValueError(
                f"options['cards']: {[c.code for c in cards]} (values {values}) cannot reach "
                f"{rule.target} under rule {rule.name!r}"
            )
        return cards

    def _start(self, cards: tuple[Card, ...]) -> None:
        self._cards = cards
        self._codes = [c.code for c in cards]
        self._ranks = [c.rank for c in cards]
        self._numbers = [self._value_of[r] for r in self._ranks]
        self._solution = self._sampler.table.get(tuple(sorted(self._numbers)), "")
        self._prompt = self._render_prompt(self._ranks)
        if self.observation_mode == "image":
            # Outside the warm-up every start draws; a warm-up hand may keep the last frame.
            if self._draw_frames or self._frame is None:
                self._frame = self._render_frame()
        else:
            self._frame = None
        self._observation = self._prompt
        self._attempts = 0
        self._done = False

    def _render_frame(self) -> np.ndarray:
        """The table image of the current hand (visual randomness from its own stream)."""
        rng = np.random.Generator(np.random.PCG64(self._visual_seed))
        frame = render_observation(
            self._codes, size=self.image_size, variants=self.visuals, rng=rng
        )
        frame.flags.writeable = False
        return frame

    def _observe(self) -> Any:
        if self.observation_mode == "image":
            # A fresh copy per call: users keep observations, and Gymnasium requires that
            # no two returned observations share memory. The master frame stays private.
            assert self._frame is not None
            return {"text": self._observation, "image": self._frame.copy()}
        return self._observation

    def step(self, action: str) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Judge one answer; see the class docstring for rewards and episode end."""
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        ranks = self._ranks if self.observation_mode == "image" else None
        verdict: Verdict = self._verifier.judge(action, self._numbers, ranks=ranks)
        self._attempts += 1
        terminated = verdict.is_success
        truncated = not terminated and self._attempts >= self.max_attempts
        reward = verdict.reward + (self.rewards["exhausted"] if truncated else 0.0)
        self._done = terminated or truncated
        self._observation = self._prompt + feedback_text(
            self._attempts, self.max_attempts, verdict.category, verdict.message
        )
        info = self._info()
        info["verdict"] = verdict.category
        info["feedback"] = (
            paper_feedback(verdict.category, verdict.message, info["attempts_left"])
            if self.feedback == "paper"
            else verdict.message
        )
        info["is_success"] = terminated
        return self._observe(), reward, terminated, truncated, info

    def _info(self) -> dict[str, Any]:
        return {
            "cards": list(self._codes),
            "numbers": list(self._numbers),
            "target": self.rule.target,
            "rule": self.rule.name,
            "attempts_left": self.max_attempts - self._attempts,
            "solution": self._solution,
        }

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def conformance_variants() -> list[dict[str, Any]]:
        """One ``{"visuals": [name]}`` per registered visual variant (``oodgym.testing``)."""
        from cardenvs.visuals import visual_variants

        return [{"visuals": [name]} for name in visual_variants()]

    def expert_action(self, rng: np.random.Generator | None = None) -> str:
        """A correct answer for the current hand, in the paper's answer shape.

        Args:
            rng: Without it, the hand's fixed solution (``info["solution"]``);
                with it, a formula drawn uniformly from every distinct solution
                of the hand (:func:`cardenvs.solver.solve`; formulas equal up to
                commutativity and associativity count once), e.g. for SFT data
                that does not always write the same formula for the same values.

        Raises:
            RuntimeError: before the first ``reset()``.
            TypeError: if ``rng`` is not a ``numpy.random.Generator``.
        """
        if not self._cards:
            raise RuntimeError("call reset() first")
        formula = self._solution
        if rng is not None:
            if not isinstance(rng, np.random.Generator):
                raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
            formulas = all_solutions(self._numbers, self.rule)
            formula = formulas[int(rng.integers(len(formulas)))]
        return json.dumps(
            {
                "cards": list(self._ranks),
                "number": list(self._numbers),
                "formula": f"{formula}={self.rule.target}",
            }
        )

    def render(self) -> Any:
        """``"ansi"``: the current prompt; ``"rgb_array"``: the table image; else ``None``."""
        if self.render_mode == "ansi":
            return self._observation
        if self.render_mode == "rgb_array":
            if not self._cards:
                raise RuntimeError("call reset() before render()")
            if self._frame is None:
                self._frame = self._render_frame()  # text mode: drawn on demand, once
            return self._frame.copy()
        return None

    @property
    def cards(self) -> tuple[Card, ...]:
        """The current hand."""
        return self._cards

    def __getstate__(self) -> dict[str, Any]:
        # The sampler is a cached, seed-independent table: rebuild it instead of pickling it.
        state = self.__dict__.copy()
        state.pop("_sampler", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_draw_frames", True)  # pickles of earlier versions
        self._sampler = hand_sampler(self.rule, self.suits, self.deal)
