"""Models: the process-wide pool and the profiles that map roles to weights.

Nothing here loads weights on import; see ``pool.ModelPool``.
"""

from tools.models.pool import ModelPool, PoolStats
from tools.models.profile import Profile, RoleSpec, available_profiles, load_profile

__all__ = ["ModelPool", "PoolStats", "Profile", "RoleSpec", "available_profiles", "load_profile"]
