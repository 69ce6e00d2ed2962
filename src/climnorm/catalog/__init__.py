"""The catalog: files and objects found and understood by name alone (`filenames`), grouped into chains with their
versions and years (`scan`; `remote` lists `s3://` roots). Nothing here opens a file.
"""
