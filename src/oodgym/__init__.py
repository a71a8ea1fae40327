"""ood-gym: environments for studying how post-training memorises or generalises.

The shared core. Environment families (``cardenvs``, ``navenvs``) build on it;
this package never imports them: it reaches environments through Gymnasium ids
and the ``oodgym.envs`` entry-point group.
"""

from oodgym._version import __version__
from oodgym.registry import Registry
from oodgym.responses import Extraction, extract_fields

__all__ = ["Extraction", "Registry", "__version__", "extract_fields"]
