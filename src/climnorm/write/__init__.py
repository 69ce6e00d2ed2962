"""The write stage: one CF-1.8 NetCDF file per output (`netcdf` shares what every file has; `days`, `periods` and
`products` per layout; `ensemble` the multi-model files), its checksum (`digests`) and the manifest (`manifest`).
Runs in the workers, except the manifest.
"""
