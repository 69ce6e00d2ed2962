"""The run configuration: a YAML file (`file`) validated into a pydantic model (`model`) with its nested sections
(`sections`, `zonal`) before any work starts.
"""
