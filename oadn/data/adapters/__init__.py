"""Built-in data set adapters; importing this package registers them all."""

from oadn.data import synthetic  # noqa: F401
from oadn.data.adapters import affectnet, fedro, ferplus, folder, joint, rafdb, subsets  # noqa: F401
from oadn.occlusion import dataset as _occluded  # noqa: F401  (registers "occluded")
