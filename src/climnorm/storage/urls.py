"""`s3://bucket/key` URLs: parsing, joining, and telling them apart from local paths."""

from __future__ import annotations

from dataclasses import dataclass

from climnorm.storage.errors import StorageError

SCHEME = "s3://"


def is_s3_url(location: object) -> bool:
    """Whether `location` is an `s3://` URL (anything else is a local path)."""
    return isinstance(location, str) and location.startswith(SCHEME)


@dataclass(frozen=True)
class S3Url:
    """A bucket and a key (or a key prefix, possibly empty) in that bucket."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Url:
        """Split `s3://bucket/key`; raise `StorageError` for anything else."""
        if not is_s3_url(url):
            raise StorageError(url, "not an s3:// URL")
        bucket, _, key = url[len(SCHEME) :].partition("/")
        if not bucket or "?" in url or "#" in url:
            raise StorageError(url, "expected s3://bucket/key with no query or fragment")
        return cls(bucket, key)

    @property
    def folder(self) -> str:
        """The key as a folder prefix: empty, or ending in exactly one '/'."""
        key = self.key.strip("/")
        return f"{key}/" if key else ""

    def child(self, key: str) -> S3Url:
        """The URL of `key` (a full key in the same bucket)."""
        return S3Url(self.bucket, key)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"


@dataclass(frozen=True, order=True)
class ObjectPath:
    """An object's URL where a catalog holds a local file's `Path`: it has a `name` and prints as the URL.

    A `pathlib.Path` cannot hold a URL (it folds `s3://` into `s3:/`); this is what `FileEntry.path` is for an
    object, so messages, records and sorting treat both alike.
    """

    url: str

    @property
    def name(self) -> str:
        """The last part of the key (the file name)."""
        return self.url.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.url
