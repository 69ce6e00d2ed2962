"""Finished outputs read back: `open_normals` (`datasets`), stores per chain (`export`), `climnorm verify` (`verify`),
all through the manifest.
"""
