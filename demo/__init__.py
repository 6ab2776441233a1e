"""The embedded demo set (generated videos, demo PCA and demo model); see demo/README.md."""
