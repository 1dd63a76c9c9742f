"""Server version reported by /api/info.

The ayon-python-api client switches behaviour on the version, so we report the
AYON API level we implement, with our own release in the build metadata.
"""

AYON_API_LEVEL = "1.16.0"
CORE_RELEASE = "0.1.0"
__version__ = f"{AYON_API_LEVEL}+core.{CORE_RELEASE}"
